//! The committed fuzz corpus of this crate's targets (`fuzz/corpus/TARGET/`, with the crash
//! regressions in `fuzz/regressions/TARGET/`), replayed through the same property checks the
//! fuzz targets run.

use palisade_core::fuzz_support::replay;

#[test]
fn backup() {
    let n = replay(
        env!("CARGO_MANIFEST_DIR"),
        "backup",
        crate::backup_format::fuzz_props::check,
    );
    assert!(n > 0);
}

#[test]
fn imports() {
    let n = replay(
        env!("CARGO_MANIFEST_DIR"),
        "imports",
        crate::import::fuzz_props::check,
    );
    assert!(n > 0);
}
