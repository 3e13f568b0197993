//! Fernet interoperability with Python's `cryptography` (the reference implementation): a token
//! made by Python decrypts here, and a token made here decrypts in Python. Installs
//! `cryptography` with pip when it is missing; prints "skipped" when python3 is absent.

use palisade_core::crypto::{CryptoError, Fernet};
use std::process::Command;

const NOW: u64 = 1_700_000_000;

/// Runs a Python snippet with arguments and returns its trimmed standard output.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn imports_cryptography() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography.fernet"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `Some(())` when python3 with `cryptography` is ready, `None` when python3 is absent.
fn python_ready() -> Option<()> {
    if Command::new("python3").arg("--version").output().is_err() {
        println!("skipped: python3 absent");
        return None;
    }
    if !imports_cryptography() {
        let pip = |extra: &[&str]| {
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "cryptography"])
                .args(extra)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !pip(&[]) {
            pip(&["--break-system-packages"]);
        }
        assert!(
            imports_cryptography(),
            "python3 is present but `cryptography` could not be installed with pip"
        );
    }
    Some(())
}

#[test]
fn python_tokens_decrypt_in_rust() {
    if python_ready().is_none() {
        return;
    }
    let key = python(
        "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())",
        &[],
    );
    let token = python(
        "import sys; from cryptography.fernet import Fernet\n\
         f = Fernet(sys.argv[1].encode())\n\
         print(f.encrypt_at_time(bytes(range(256)) + 'ü'.encode(), int(sys.argv[2])).decode())",
        &[&key, &NOW.to_string()],
    );
    let fernet = Fernet::new(&key).unwrap();
    let mut expected: Vec<u8> = (0..=255).collect();
    expected.extend("ü".as_bytes());
    assert_eq!(
        &fernet.decrypt(&token, NOW + 10, Some(60)).unwrap()[..],
        &expected[..]
    );
    assert_eq!(
        fernet.decrypt(&token, NOW + 61, Some(60)),
        Err(CryptoError::TokenExpired)
    );
    let other = Fernet::new(&Fernet::generate_key()).unwrap();
    assert_eq!(other.decrypt(&token, NOW, None), Err(CryptoError::Decrypt));
}

#[test]
fn rust_tokens_decrypt_in_python() {
    if python_ready().is_none() {
        return;
    }
    let key = Fernet::generate_key();
    let fernet = Fernet::new(&key).unwrap();
    let plaintext = b"\x00binary\xff and text \xc3\xa9";
    let token = fernet.encrypt(plaintext, NOW);
    let decrypt = "import sys; from cryptography.fernet import Fernet, InvalidToken\n\
         f = Fernet(sys.argv[1].encode())\n\
         try:\n    print(f.decrypt_at_time(sys.argv[2].encode(), 60, int(sys.argv[3])).hex())\n\
         except InvalidToken:\n    print('invalid')";
    let hex = python(decrypt, &[&key, &token, &(NOW + 30).to_string()]);
    assert_eq!(hex, hex::encode(plaintext));
    // Python applies the same TTL rule, and refuses a token under another key.
    assert_eq!(
        python(decrypt, &[&key, &token, &(NOW + 61).to_string()]),
        "invalid"
    );
    let stranger = Fernet::new(&Fernet::generate_key())
        .unwrap()
        .encrypt(plaintext, NOW);
    assert_eq!(
        python(decrypt, &[&key, &stranger, &NOW.to_string()]),
        "invalid"
    );
}
