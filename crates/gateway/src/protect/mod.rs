//! Data protection: where the master key comes from ([`master_key`]), the field-encryption
//! keyring it unwraps ([`keyring`]: data keys, rotation, re-encryption), the secrets store over
//! it ([`vault`]), and owner-only files for what is kept on disk ([`files`]).
//!
//! Guarantees (DESIGN.md, "Data protection"): no key or value reaches a log, an error or a
//! `Debug` print; decrypted values live in zeroizing buffers; a ciphertext is bound to its key
//! id and its place (table, column, row) and decrypts nowhere else.
//!
//! Also the rules of input inspection ([`inspect`], with [`inspect_body`]): what the `inspect`
//! gate reads of a request and when it refuses; and the firewall's country lookup ([`geoip`]).
//! Content rules: bounded decompression of request bodies ([`decompress`]) and a route's
//! media-type allow list and JSON Schema ([`content`]).
//! The query firewall's and agent tools' use cases ([`query`], [`tools`]) read their fields out
//! of a request with [`body_fields`].

pub mod body_fields;
pub mod content;
pub mod decompress;
pub mod files;
pub mod geoip;
pub mod inspect;
pub mod inspect_body;
pub mod keyring;
pub mod master_key;
pub mod query;
pub mod tools;
pub mod upload;
pub mod vault;
