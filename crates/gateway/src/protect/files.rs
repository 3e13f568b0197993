//! Owner-only files and directories for what Palisade keeps on disk that others must not read:
//! the data dir, the dev master key and dev secrets. A file is created new (never overwritten)
//! with mode 0600, a directory with 0700; an existing directory keeps the mode its operator gave
//! it.

use std::io::Write;
use std::path::Path;

/// Creates `dir` (and missing parents) readable only by its owner (0700) if it does not exist;
/// an existing directory keeps the permissions its operator gave it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a new file readable only by its owner (0600), refusing to overwrite.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
