//! What a file is, by its content: magic bytes (`infer`), `PAR1` for Parquet, and clean UTF-8
//! text for CSV (or JSON, when the text opens with `{` or `[`). What the client claims (a file
//! name's extension, a content type) is read only to catch a contradiction.
//!
//! Guarantees: the decision reads the bytes only (never a name or header), in time linear in the
//! file; a ZIP is reported as [`Kind::Zip`] here and told apart from XLSX/DOCX by its central
//! directory ([`super::archive::office_kind`]), not by the order of its local headers.

/// A file type the upload gate can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PNG image.
    Png,
    /// JPEG image.
    Jpeg,
    /// GIF image.
    Gif,
    /// WebP image.
    Webp,
    /// PDF document.
    Pdf,
    /// ZIP archive (not an Office document).
    Zip,
    /// Excel workbook (Office Open XML, a ZIP).
    Xlsx,
    /// Word document (Office Open XML, a ZIP).
    Docx,
    /// Apache Parquet.
    Parquet,
    /// UTF-8 text, read as CSV.
    Csv,
    /// UTF-8 text opening with `{` or `[`, read as JSON.
    Json,
    /// Something else `infer` recognised (its usual extension), or `"unknown"` binary.
    Other(&'static str),
}

const NAMED: &[(&str, Kind)] = &[
    ("png", Kind::Png),
    ("jpeg", Kind::Jpeg),
    ("gif", Kind::Gif),
    ("webp", Kind::Webp),
    ("pdf", Kind::Pdf),
    ("zip", Kind::Zip),
    ("xlsx", Kind::Xlsx),
    ("docx", Kind::Docx),
    ("parquet", Kind::Parquet),
    ("csv", Kind::Csv),
    ("json", Kind::Json),
];

impl Kind {
    /// The kind a config type name means.
    pub fn named(name: &str) -> Option<Kind> {
        NAMED.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// Its name in config, problems and events.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Other(ext) => ext,
            k => NAMED
                .iter()
                .find(|(_, n)| *n == k)
                .map(|(n, _)| *n)
                .unwrap_or("unknown"),
        }
    }

    /// A client who claims `self` is not contradicted by content of `found` (a ZIP claim
    /// admits the Office formats, which are ZIPs).
    pub fn admits(self, found: Kind) -> bool {
        self == found || (self == Kind::Zip && matches!(found, Kind::Xlsx | Kind::Docx))
    }
}

/// The kind of `bytes`, by content only.
pub fn sniff(bytes: &[u8]) -> Kind {
    if bytes.len() >= 8 && bytes.starts_with(b"PAR1") {
        return Kind::Parquet;
    }
    let inferred = infer::get(bytes).map(|t| t.extension());
    let known = match inferred {
        Some("png") => Some(Kind::Png),
        Some("jpg") => Some(Kind::Jpeg),
        Some("gif") => Some(Kind::Gif),
        Some("webp") => Some(Kind::Webp),
        Some("pdf") => Some(Kind::Pdf),
        Some("zip" | "docx" | "xlsx" | "pptx" | "ooxml" | "jar" | "epub" | "apk") => {
            Some(Kind::Zip)
        }
        _ => None,
    };
    if let Some(k) = known {
        return k;
    }
    // Text wins over a weak magic match (`ID3…` opens an MP3 and a CSV header alike).
    if is_text(bytes) {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        return match first {
            Some(b'{' | b'[') => Kind::Json,
            _ => Kind::Csv,
        };
    }
    Kind::Other(inferred.unwrap_or("unknown"))
}

/// UTF-8 (an optional BOM), no control characters but tab, CR and LF.
fn is_text(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(b).is_ok()
        && !b
            .iter()
            .any(|&c| (c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n')) || c == 0x7F)
}

/// The kind a file name's extension claims, if it names one we know.
pub fn claimed_by_name(name: &str) -> Option<Kind> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => Some(Kind::Jpeg),
        "png" | "gif" | "webp" | "pdf" | "zip" | "xlsx" | "docx" | "parquet" | "csv" | "json" => {
            Kind::named(&ext)
        }
        _ => None,
    }
}

/// The kind a media type claims, if it names one we know (`application/octet-stream`,
/// `text/plain` and the like claim nothing).
pub fn claimed_by_media_type(media: &str) -> Option<Kind> {
    let essence = media.split(';').next()?.trim().to_ascii_lowercase();
    Some(match essence.as_str() {
        "image/png" => Kind::Png,
        "image/jpeg" | "image/jpg" => Kind::Jpeg,
        "image/gif" => Kind::Gif,
        "image/webp" => Kind::Webp,
        "application/pdf" => Kind::Pdf,
        "application/zip" | "application/x-zip-compressed" => Kind::Zip,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Kind::Xlsx,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Kind::Docx,
        "application/vnd.apache.parquet" | "application/x-parquet" => Kind::Parquet,
        "text/csv" => Kind::Csv,
        "application/json" => Kind::Json,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Kind::Png);
        assert_eq!(sniff(b"ID3,name\n1,2\n"), Kind::Csv);
        assert_eq!(sniff(b" {\"a\":1}"), Kind::Json);
        assert_eq!(sniff(b"PAR1\0\0\0\0PAR1"), Kind::Parquet);
        assert_eq!(sniff(b"\0\x01\x02\x03"), Kind::Other("unknown"));
        assert_eq!(claimed_by_name("report.CSV"), Some(Kind::Csv));
        assert_eq!(claimed_by_name("noext"), None);
        assert_eq!(
            claimed_by_media_type("text/csv; charset=utf-8"),
            Some(Kind::Csv)
        );
        assert_eq!(claimed_by_media_type("application/octet-stream"), None);
        assert!(Kind::Zip.admits(Kind::Xlsx) && !Kind::Xlsx.admits(Kind::Zip));
    }
}
