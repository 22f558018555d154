//! Wall-clock instants as RFC 3339 text (UTC), the format of `expira_em`, `criado_em` and
//! `atualizado_em`, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SSZ` (whole seconds).
pub fn rfc3339(at: SystemTime) -> String {
    let (secs, _) = split(at);
    format_utc(secs, None)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds).
pub fn rfc3339_millis(at: SystemTime) -> String {
    let (secs, millis) = split(at);
    format_utc(secs, Some(millis))
}

fn split(at: SystemTime) -> (u64, u32) {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_millis())
}

fn format_utc(unix_secs: u64, millis: Option<u32>) -> String {
    let (y, m, d) = civil_from_days(unix_secs / 86_400);
    let rem = unix_secs % 86_400;
    let frac = millis.map(|ms| format!(".{ms:03}")).unwrap_or_default();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`,
/// restricted to non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds since the Unix epoch of a `YYYY-MM-DDTHH:MM:SS[.mmm]Z` text as the two
/// functions above write it; `None` for anything else.
pub fn millis_from_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let millis = match b.len() {
        20 if sep(19, b'Z') => 0,
        24 if sep(19, b'.') && sep(23, b'Z') => num(20..23)?,
        _ => return None,
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    if hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date from 1970 on (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400, 700)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(4_102_444_799, 0)), "2099-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_millis(at(951_782_400, 5)),
            "2000-02-29T00:00:00.005Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_700_000_000, 999)),
            "2023-11-14T22:13:20.999Z"
        );
    }

    #[test]
    fn reads_back_what_it_writes() {
        for (secs, ms) in [
            (0, 0),
            (951_782_400, 5),
            (1_700_000_000, 999),
            (4_102_444_799, 0),
        ] {
            let t = at(secs, ms);
            assert_eq!(
                millis_from_rfc3339(&rfc3339_millis(t)),
                Some(secs * 1000 + ms)
            );
            assert_eq!(millis_from_rfc3339(&rfc3339(t)), Some(secs * 1000));
        }
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20.99Z",
            "2023-11-14T22:1x:20Z",
        ] {
            assert_eq!(millis_from_rfc3339(bad), None, "{bad}");
        }
    }
}
