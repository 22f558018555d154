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
}
