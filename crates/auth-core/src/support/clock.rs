//! Wall-clock time as Unix seconds, and its RFC 3339 form for JSON.
//!
//! Sessions, users and logs all count in whole Unix seconds: the contract's
//! timeouts are in seconds, and one representation is one less thing to get
//! wrong.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `2026-11-26T18:00:00Z` for a Unix time in seconds.
///
/// ```
/// assert_eq!(auth_core::support::clock::rfc3339(1_795_716_000), "2026-11-26T18:00:00Z");
/// ```
pub fn rfc3339(unix_seconds: i64) -> String {
    Rfc3339(unix_seconds).to_string()
}

/// A Unix time that prints, and serializes into JSON, as RFC 3339 without
/// a `String` of its own: the user object on every session check carries
/// two of them.
#[derive(Clone, Copy, Debug)]
pub struct Rfc3339(pub i64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let second_of_day = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60
        )
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01, after
/// Howard Hinnant's `civil_from_days` (chrono-Compatible Low-Level Date
/// Algorithms).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_716_000), "2026-11-26T18:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn agrees_with_httpdate_on_the_calendar() {
        // httpdate formats the same instants independently.
        for t in [0i64, 86_399, 1_000_000_000, 1_795_716_000, 2_000_000_000] {
            let system = UNIX_EPOCH + std::time::Duration::from_secs(t as u64);
            let http = httpdate::fmt_http_date(system);
            let ours = rfc3339(t);
            let (day, month, year) = (&ours[8..10], &ours[5..7], &ours[0..4]);
            let month_name = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ][month.parse::<usize>().unwrap() - 1];
            assert!(
                http.contains(&format!("{day} {month_name} {year} {}", &ours[11..19])),
                "{http} vs {ours}"
            );
        }
    }
}
