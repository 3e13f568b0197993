//! Country lookup for the firewall's country rules: a MaxMind-format database (`.mmdb`, GeoIP2 or
//! GeoLite2 Country or City, or any database whose records carry `country.iso_code`) that the
//! operator supplies; Palisade downloads nothing.
//!
//! Guarantees: the file is read once, at start (and by `config check`), and refused there if it is
//! not a MaxMind database or its records have no country; a lookup never panics and never touches
//! the disk. An address the database does not place is [`Country::Unknown`], and a record that
//! cannot be decoded is [`Country::Unreadable`]: the firewall refuses both wherever an allow list
//! applies, and the second under a deny list too (fail closed).

use std::net::IpAddr;
use std::path::Path;

/// An opened country database.
pub struct CountryDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for CountryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryDb")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

/// Where the database places an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Country {
    /// An ISO 3166-1 alpha-2 code, upper case.
    Code([u8; 2]),
    /// The database has no country for the address (private ranges, gaps).
    Unknown,
    /// The record could not be read (a damaged file).
    Unreadable,
}

impl Country {
    /// The code as text (`"unknown"`, `"unreadable"` otherwise), for events and problems.
    pub fn as_str(&self) -> &str {
        match self {
            Country::Code(c) => std::str::from_utf8(c).unwrap_or("unreadable"),
            Country::Unknown => "unknown",
            Country::Unreadable => "unreadable",
        }
    }
}

/// `code` is an ISO 3166-1 alpha-2 shape: two ASCII capital letters.
pub fn valid_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

impl CountryDb {
    /// Reads and checks the database at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| format!("{}: not a readable MaxMind database ({e})", path.display()))?;
        let db = Self { reader };
        // A database of another shape (ASN, anonymous IP) carries no country.
        let kind = &db.reader.metadata().database_type;
        if !(kind.contains("Country") || kind.contains("City")) {
            return Err(format!(
                "{}: a {kind} database has no countries (expected a Country or City database)",
                path.display()
            ));
        }
        Ok(db)
    }

    /// The country of `ip` (an IPv4-mapped IPv6 address as its IPv4 address).
    pub fn country(&self, ip: IpAddr) -> Country {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let Ok(found) = self.reader.lookup(ip) else {
            return Country::Unreadable;
        };
        match found.decode_path::<&str>(&[
            maxminddb::PathElement::Key("country"),
            maxminddb::PathElement::Key("iso_code"),
        ]) {
            Ok(Some(code)) if valid_code(code) => {
                let b = code.as_bytes();
                Country::Code([b[0], b[1]])
            }
            Ok(Some(_)) => Country::Unreadable,
            Ok(None) => Country::Unknown,
            Err(_) => Country::Unreadable,
        }
    }
}
