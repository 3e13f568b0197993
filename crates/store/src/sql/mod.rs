//! The SQL shared by the SQLite and PostgreSQL backends: one body of SQL per store trait,
//! instantiated for each backend by a macro.

mod emails;
mod revocations;
mod secrets;
