//! The parts of the `palisade` command that read files made elsewhere, kept apart from the
//! binary so the fuzz targets (`fuzz/`) reach them: the backup header and the import lines (users, Fernet secrets, API keys).
#![forbid(unsafe_code)]

pub mod backup_format;
#[cfg(test)]
mod fuzz_replay;
pub mod import;
pub mod key_import;
pub mod user_import;
