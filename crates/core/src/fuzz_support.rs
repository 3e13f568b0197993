//! Replaying the fuzz corpus in ordinary tests.
//!
//! Each fuzz target (`fuzz/fuzz_targets/TARGET.rs`) is one call to a `fuzz_props::check` function
//! in the crate that owns the parser; that crate's unit tests replay every committed input of the
//! target through the same function with [`replay`]: the seed corpus `fuzz/corpus/TARGET/` (which
//! must exist and hold at least one input) and the crash regressions `fuzz/regressions/TARGET/`.

use std::path::{Path, PathBuf};

/// Runs `check` on every committed input of `target` and returns how many there were. Panics
/// naming the file when `check` panics on one, and when the seed corpus is missing or empty.
/// `manifest_dir` is the calling crate's `CARGO_MANIFEST_DIR` (`crates/NAME`).
pub fn replay(manifest_dir: &str, target: &str, check: impl Fn(&[u8])) -> usize {
    let fuzz = Path::new(manifest_dir).join("../../fuzz");
    let corpus = inputs(&fuzz.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is missing or empty: every target keeps its seed corpus"
    );
    let regressions = inputs(&fuzz.join("regressions").join(target));
    let all: Vec<PathBuf> = corpus.into_iter().chain(regressions).collect();
    for file in &all {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        if let Err(cause) = outcome {
            let message = cause
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| cause.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("fuzz target {target}: {} fails: {message}", file.display());
        }
    }
    all.len()
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
