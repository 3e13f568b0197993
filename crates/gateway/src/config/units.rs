//! Human-readable units in config: durations (`"30s"`, `"5m"`) and sizes (`"8MiB"`, `8192`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration written as a human string in config, e.g. `"30s"`, `"5m"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "{s:?} is not a duration like \"30s\" or \"5m\": {e}"
                ))
            })
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A size in bytes, written as an integer or a string with a unit: `"8MiB"`, `"64KiB"`, `"1GB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Reads `"8MiB"`, `"64KiB"`, `"1GB"` or a plain number of bytes.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a size like \"8MiB\" or 8388608"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "{s:?} has an unknown size unit {other:?} (use B, KiB, MiB, GiB, KB, MB, GB)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("{s:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"8MiB\" or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// An RFC 3339 time (`2026-12-05T10:00:00Z`, `2026-12-05T11:00:00.5+01:00`; `T` or a space,
/// any fraction, `Z` or a numeric offset), or `None`. Offsets are folded into UTC.
pub fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    use std::time::Duration;
    if let Some(base) = text.strip_suffix(['Z', 'z']) {
        return humantime::parse_rfc3339_weak(&format!("{base}Z")).ok();
    }
    let (base, offset) = text.split_at_checked(text.len().checked_sub(6)?)?;
    let (sign, hh_mm) = offset.split_at(1);
    let (hh, mm) = hh_mm.split_once(':')?;
    if hh.len() != 2 || mm.len() != 2 {
        return None;
    }
    let (hh, mm): (u64, u64) = (hh.parse().ok()?, mm.parse().ok()?);
    if hh > 23 || mm > 59 {
        return None;
    }
    let local = humantime::parse_rfc3339_weak(&format!("{base}Z")).ok()?;
    let shift = Duration::from_secs(hh * 3600 + mm * 60);
    match sign {
        "+" => local.checked_sub(shift),
        "-" => local.checked_add(shift),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("8MiB").unwrap().0, 8 << 20);
        assert_eq!(ByteSize::parse("64 KiB").unwrap().0, 64 << 10);
        assert_eq!(ByteSize::parse("1000").unwrap().0, 1000);
        assert_eq!(ByteSize::parse("2kb").unwrap().0, 2000);
        assert!(
            ByteSize::parse("8 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(ByteSize::parse("").is_err());
        assert!(ByteSize::parse("99999999999999999999GiB").is_err());
    }

    #[test]
    fn rfc3339_times_with_any_offset_are_read_in_utc() {
        let utc = parse_rfc3339("2026-12-05T10:00:00Z").unwrap();
        for same in [
            "2026-12-05T10:00:00z",
            "2026-12-05T11:00:00+01:00",
            "2026-12-05T05:30:00-04:30",
            "2026-12-05T10:00:00+00:00",
            "2026-12-05 10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(same), Some(utc), "{same}");
        }
        assert_eq!(
            parse_rfc3339("2026-12-05T10:00:00.250+00:00"),
            Some(utc + std::time::Duration::from_millis(250))
        );
        for bad in [
            "",
            "soon",
            "2026-12-05",
            "2026-12-05T10:00:00",
            "2026-12-05T10:00:00+1:00",
            "2026-12-05T10:00:00+24:00",
            "2026-12-05T10:00:00*01:00",
            "2026-13-05T10:00:00+01:00",
            "+01:00",
            "é2026-12-05T10:00:00+01:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
