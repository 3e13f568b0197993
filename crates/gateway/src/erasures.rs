//! The erasure log: the tombstones of erased accounts (an account id and a time, no personal
//! data) in a JSON-lines file kept beside the data dir (`retention.erasure_log`, by default
//! `<data_dir>.erasures.jsonl`), outside what a backup holds and what a restore replaces, so a
//! restore of an older backup re-applies every erasure made since ([`reapply`]).
//!
//! Guarantees: a tombstone is appended and synced to disk *before* its account is purged (a
//! crash in between leaves a tombstone for an account still due for erasure: re-applying it
//! erases what was due anyway); a missing log reads as empty; a line that does not parse stops
//! the read naming its number (a damaged log must not silently skip an erasure).

use crate::identity::Identity;
use crate::identity::manage::By;
use palisade_store::deletion::Erasure;
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// `<data_dir>.erasures.jsonl`: beside the data dir, not in it.
pub fn default_path(data_dir: &Path) -> PathBuf {
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "palisade".into());
    data_dir.with_file_name(format!("{name}.erasures.jsonl"))
}

/// Appends one tombstone and syncs the file (created 0600).
pub fn append(path: &Path, erasure: &Erasure) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let line = serde_json::json!({ "user_id": erasure.user_id, "erased_at": erasure.erased_at });
    writeln!(file, "{line}")?;
    file.sync_all()
}

/// Every tombstone in the log (none when it does not exist).
pub fn read(path: &Path) -> Result<Vec<Erasure>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    #[derive(serde::Deserialize)]
    struct Line {
        user_id: Uuid,
        erased_at: i64,
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str::<Line>(l)
                .map(|t| Erasure {
                    user_id: t.user_id,
                    erased_at: t.erased_at,
                })
                .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))
        })
        .collect()
}

/// Re-applies `erasures` to the store (after a restore): each tombstone recorded, each account
/// still there erased through [`Identity::purge_user`] (no webhook: the upstream was told at the
/// first erasure). Returns how many accounts were erased again.
pub async fn reapply(
    identity: &Identity,
    erasures: &[Erasure],
    by: &By<'_>,
) -> Result<usize, String> {
    identity
        .store
        .erasures_record(erasures)
        .await
        .map_err(|e| e.to_string())?;
    let mut erased = 0;
    for e in erasures {
        if identity
            .purge_user(e.user_id, false, None, by)
            .await
            .map_err(|x| x.to_string())?
        {
            erased += 1;
        }
    }
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_sits_beside_the_data_dir_and_round_trips() {
        assert_eq!(
            default_path(Path::new("/var/lib/palisade")),
            Path::new("/var/lib/palisade.erasures.jsonl")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        assert_eq!(read(&path).unwrap(), Vec::new());
        let one = Erasure {
            user_id: Uuid::now_v7(),
            erased_at: 7,
        };
        append(&path, &one).unwrap();
        append(&path, &one).unwrap();
        assert_eq!(read(&path).unwrap(), vec![one, one]);
        std::fs::write(&path, "{\"user_id\":\"x\"}\n").unwrap();
        assert!(read(&path).unwrap_err().contains("line 1"));
    }
}
