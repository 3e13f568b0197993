//! The CLI's revocations take the gateway's path and land on the store's record: a block on
//! record is in force when `palisade serve` starts on the data dir (its hot state is primed from
//! the record), `palisade ip unblock` removes the record so the next start lets the address
//! through, and `palisade key revoke` records the revocation the next start refuses the key by.

use palisade_store::revocations::IpBlockRecord;
use palisade_store::revocations::RevocationStore;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn palisade(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out: Output = palisade(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `palisade serve` on the data dir until dropped (SIGTERM, then wait).
struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(dir: &Path) -> Served {
        let mut child = palisade(
            dir,
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("palisade printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("Palisade is listening on ") {
                break rest.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Served { child, base }
    }

    async fn me(&self, key: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/auth/me", self.base))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

async fn store(dir: &Path) -> palisade_store::sqlite::SqliteStore {
    palisade_store::sqlite::SqliteStore::open(&dir.join("data/palisade.db"))
        .await
        .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn cli_revocations_and_unblocks_are_on_record_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = ["--data-dir", "data"];
    let with =
        |args: &[&'static str]| -> Vec<&'static str> { args.iter().copied().chain(data).collect() };
    ok(d, &with(&["user", "add", "--email", "ops@example.com"]));
    let created = ok(
        d,
        &with(&[
            "key",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "ci",
        ]),
    );
    let key = created
        .lines()
        .find_map(|l| l.strip_prefix("key (shown once): "))
        .unwrap()
        .to_string();
    let listed = ok(d, &with(&["key", "list"]));
    let key_id = listed.split_whitespace().next().unwrap().to_string();

    // Blocks as the gateway records them (an alert, a threat level): this host, and another.
    let s = store(d).await;
    for ip in ["127.0.0.1", "10.1.2.4"] {
        s.ip_block_put(&IpBlockRecord {
            ip: ip.into(),
            until: now_ms() + 3_600_000,
            created_at: now_ms(),
            reason: "alert".into(),
        })
        .await
        .unwrap();
    }
    s.close().await;
    {
        let served = Served::start(d);
        assert_eq!(
            served.me(&key).await,
            403,
            "a block on record holds from the start"
        );
    }

    ok(d, &with(&["ip", "unblock", "127.0.0.1"]));
    ok(d, &["key", "revoke", &key_id, "--data-dir", "data"]);
    let s = store(d).await;
    let blocks: Vec<String> = s
        .ip_blocks_active(now_ms())
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.ip)
        .collect();
    assert_eq!(blocks, ["10.1.2.4"], "the unblock removed its record only");
    let revoked = s.api_keys_revoked_since(0).await.unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].id.to_string(), key_id);
    s.close().await;

    let served = Served::start(d);
    assert_eq!(
        served.me(&key).await,
        401,
        "unblocked, and the key revoked by the CLI is refused"
    );
}
