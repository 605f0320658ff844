//! UTC days as plain numbers, so counts can be keyed, windowed and compared without a date
//! library: a [`Day`] is the number of days since 1970-01-01, converted from and to the
//! proleptic Gregorian calendar by the usual civil-date arithmetic.

use std::fmt;

/// A UTC day: days since 1970-01-01 (negative before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

/// Days from 1970-01-01 to the given civil date (month 1-12, day 1-31; not range-checked).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Day {
    /// The day of a civil date, `None` when the date does not exist or is outside years
    /// 1970-9999.
    pub fn from_ymd(y: u32, m: u32, d: u32) -> Option<Day> {
        let y = i64::from(y);
        if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
            return None;
        }
        if d > days_in_month(y, m) {
            return None;
        }
        Some(Day(days_from_civil(y, m, d)))
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Day> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Day::from_ymd(num(&s[..4])?, num(&s[5..7])?, num(&s[8..])?)
    }

    /// The UTC day of a Unix time in seconds.
    pub fn from_unix(secs: i64) -> Day {
        Day(secs.div_euclid(86_400))
    }

    /// Today (UTC), from the system clock.
    pub fn today() -> Day {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Day::from_unix(secs)
    }

    /// The day `n` days later (earlier when negative).
    pub fn plus(self, n: i64) -> Day {
        Day(self.0 + n)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The UTC day of a common-log time, `DD/Mon/YYYY:HH:MM:SS ±HHMM` (nginx, Apache and S3 logs),
/// `None` when it is not one.
pub fn parse_clf_time(s: &str) -> Option<Day> {
    let (dt, zone) = s.split_once(' ')?;
    let mut parts = dt.splitn(3, '/');
    let (d, mon, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let m = MONTHS.iter().position(|x| *x == mon)? as u32 + 1;
    let mut hms = rest.split(':');
    let y = num(hms.next()?)?;
    let (h, mi, se) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    if hms.next().is_some() || h > 23 || mi > 59 || se > 60 || d.len() != 2 {
        return None;
    }
    let day = Day::from_ymd(y, m, num(d)?)?;
    let zb = zone.as_bytes();
    if zb.len() != 5 || !(zb[0] == b'+' || zb[0] == b'-') {
        return None;
    }
    let (zh, zm) = (num(&zone[1..3])?, num(&zone[3..])?);
    if zh > 23 || zm > 59 {
        return None;
    }
    let offset = i64::from(zh * 3600 + zm * 60) * if zb[0] == b'-' { -1 } else { 1 };
    let local = day.0 * 86_400 + i64::from(h * 3600 + mi * 60 + se);
    Some(Day::from_unix(local - offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_dates() {
        assert_eq!(Day::parse("1970-01-01"), Some(Day(0)));
        assert_eq!(Day::parse("2000-03-01").map(|d| d.0), Some(11_017));
        for s in ["2024-02-29", "2026-12-04", "1999-12-31", "2100-02-28"] {
            assert_eq!(Day::parse(s).unwrap().to_string(), s);
        }
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "20260101",
            "2026-00-10",
            "x",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn clf_time_is_converted_to_utc() {
        let d = |s| parse_clf_time(s).map(|d| d.to_string());
        assert_eq!(
            d("10/Oct/2026:13:55:36 +0000").as_deref(),
            Some("2026-10-10")
        );
        // 23:30 at -0700 is 06:30 the next day in UTC.
        assert_eq!(
            d("10/Oct/2026:23:30:00 -0700").as_deref(),
            Some("2026-10-11")
        );
        // 01:00 at +0200 is 23:00 the day before.
        assert_eq!(
            d("01/Jan/2026:01:00:00 +0200").as_deref(),
            Some("2025-12-31")
        );
        for bad in [
            "10/Foo/2026:13:55:36 +0000",
            "10/Oct/2026:25:55:36 +0000",
            "10/Oct/2026:13:55:36",
            "31/Feb/2026:00:00:00 +0000",
            "10/Oct/2026:13:55:36 0000",
        ] {
            assert_eq!(parse_clf_time(bad), None, "{bad}");
        }
    }
}
