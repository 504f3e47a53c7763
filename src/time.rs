//! Timestamps: microseconds since the Unix epoch, RFC 3339 at the edges.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub type Micros = i64;

/// Earliest and latest accepted instants: 0001-01-01 and 9999-12-31, the
/// range of google.protobuf.Timestamp.
pub const MIN_SECONDS: i64 = -62_135_596_800;
pub const MAX_SECONDS: i64 = 253_402_300_799;

pub fn now() -> Micros {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_micros() as Micros
}

pub fn parse_rfc3339(s: &str) -> Result<Micros, String> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2024-05-01T12:00:00Z ({e})"))?;
    Ok((t.unix_timestamp_nanos() / 1000) as Micros)
}

pub fn format_rfc3339(t: Micros) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(t as i128 * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// From protobuf seconds and nanos, checking the documented range.
pub fn from_parts(seconds: i64, nanos: i32) -> Result<Micros, String> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(format!(
            "published_at seconds {seconds} is outside 0001-01-01..9999-12-31"
        ));
    }
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(format!(
            "published_at nanos {nanos} is outside 0..999999999"
        ));
    }
    Ok(seconds * 1_000_000 + (nanos / 1000) as i64)
}

pub fn to_parts(t: Micros) -> (i64, i32) {
    (
        t.div_euclid(1_000_000),
        (t.rem_euclid(1_000_000) * 1000) as i32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_rfc3339("2017-03-19T21:07:38Z").unwrap();
        assert_eq!(format_rfc3339(t), "2017-03-19T21:07:38Z");
        let (s, n) = to_parts(t);
        assert_eq!(from_parts(s, n).unwrap(), t);
        assert_eq!(to_parts(-1), (-1, 999_999_000));
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(from_parts(MAX_SECONDS + 1, 0).is_err());
        assert!(from_parts(0, -1).is_err());
    }
}

/// Serde helper: micros as RFC 3339 text.
pub mod rfc3339 {
    use super::{format_rfc3339, Micros};
    pub fn serialize<S: serde::Serializer>(t: &Micros, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(*t))
    }
}
