//! Field encryption throughput: encrypt then decrypt one 256-byte value through the keyring
//! (random nonce, AAD building, base64url text format, key lookup), against a baseline in the
//! same run: a bare aws-lc-rs AES-256-GCM seal then open of 256 bytes with a fixed nonce.
//! Also the blind index of an e-mail address and a Fernet round trip, for scale.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_core::crypto::{Fernet, FieldContext, Keyring, MasterKey};
use std::hint::black_box;

const NOW_MS: u64 = 1_700_000_000_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("crypto");
    g.throughput(Throughput::Elements(1));
    let value = [0x5au8; 256];

    let bare = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key"));
    g.bench_function("baseline_aws_lc_seal_open_256", |b| {
        b.iter(|| {
            let mut buf = Vec::with_capacity(256 + 16);
            buf.extend_from_slice(black_box(&value));
            let nonce = [1u8; 12];
            bare.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut buf,
            )
            .expect("seal");
            let plain = bare
                .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
                .expect("open");
            black_box(plain.len())
        })
    });

    let master = MasterKey::from_bytes([9u8; 32]);
    let mut ring = Keyring::create(&master, NOW_MS).expect("keyring");
    // A decrypt-only key besides the primary, as after a rotation.
    ring.rotate(NOW_MS + 1);
    let ctx = FieldContext::new("users", "ssn", "018f2b6e-4c1a-7c3e-9d2f-5a6b7c8d9e0f");
    g.bench_function("field_encrypt_decrypt_256", |b| {
        b.iter(|| {
            let text = ring.encrypt_field(&ctx, black_box(&value));
            let plain = ring.decrypt_field(&ctx, &text).expect("round trip");
            black_box(plain.len())
        })
    });

    let index = ring.blind_index();
    g.bench_function("blind_index_email", |b| {
        b.iter(|| black_box(index.index("users.email", black_box(b"ann.smith@example.com"))))
    });

    let fernet = Fernet::from_bytes(&[3u8; 32]);
    g.bench_function("fernet_encrypt_decrypt_256", |b| {
        b.iter(|| {
            let token = fernet.encrypt(black_box(&value), NOW_MS / 1000);
            let plain = fernet
                .decrypt(&token, NOW_MS / 1000, Some(60))
                .expect("round trip");
            black_box(plain.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
