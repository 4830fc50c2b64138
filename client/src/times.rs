//! Dates, times and durations for people, read into and shown from the ledger's
//! milliseconds since the Unix epoch (with `jiff`; no time zone database is needed).
//!
//! Instants ([`parse_instant`]) are ISO 8601 / RFC 3339:
//! - a date and time with `Z` or an offset: `2026-12-24T17:00Z`, `2026-12-24T18:00+01:00`,
//!   `2026-12-24T18:00:30.5+01:00`;
//! - a bare date, `2026-12-24`, read in UTC and by what it ends or starts: as a *start*
//!   ([`Edge::Start`], e.g. `valid_from`) it is that day's first instant, 00:00 UTC; as an
//!   *end* ([`Edge::End`], e.g. `valid_until`, whose end is exclusive) it is the END of that
//!   day, i.e. the next midnight UTC, so `valid_until = "2026-12-24"` still accepts
//!   redemptions on the 24th and refuses them from 2026-12-25T00:00Z on.
//!
//! A date and time without an offset (`2026-12-24T18:00`) is refused as ambiguous: add `Z`
//! or an offset. Durations ([`parse_duration_ms`]) are `30d`, `12h`, `90m`, `2w`,
//! `1d 12h`, `45s` or ISO 8601 (`P30D`, `PT12H`); a day is 24 hours; months and years are
//! refused (their length varies: say `30d` or give an end date).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, SpanRelativeTo, Timestamp};

/// Why a date, time or duration could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    /// Not an ISO 8601 date or date-time.
    #[error(
        "{text:?} is not a date or time: use ISO 8601, e.g. 2026-12-24, 2026-12-24T18:00+01:00 or 2026-12-24T17:00Z ({why})"
    )]
    Malformed {
        /// What was given.
        text: String,
        /// The parser's reason.
        why: String,
    },
    /// A date and time without `Z` or an offset.
    #[error(
        "{0:?} has no time zone: add Z for UTC or an offset such as +01:00 (e.g. {0}Z), or give a bare date"
    )]
    NoOffset(String),
    /// Before the Unix epoch or too far ahead.
    #[error("{0:?} is out of range (1970 to 9999)")]
    OutOfRange(String),
    /// Not a duration.
    #[error(
        "{text:?} is not a duration: use e.g. 30d, 12h, 90m, 2w or 1d 12h (a day is 24 h; no months or years) ({why})"
    )]
    BadDuration {
        /// What was given.
        text: String,
        /// The parser's reason.
        why: String,
    },
    /// A duration of zero or less.
    #[error("{0:?} is not a positive duration")]
    NotPositive(String),
}

/// Which end of a window a bare date stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The start (inclusive): a bare date is its first instant, 00:00 UTC.
    Start,
    /// The end (exclusive): a bare date is the next midnight UTC, so that the whole day is
    /// inside the window.
    End,
}

fn millis(text: &str, t: Timestamp) -> Result<u64, TimeError> {
    u64::try_from(t.as_millisecond()).map_err(|_| TimeError::OutOfRange(text.into()))
}

/// An instant as people write it (see the module doc) in ms since the Unix epoch.
pub fn parse_instant(text: &str, edge: Edge) -> Result<u64, TimeError> {
    let t = text.trim();
    let has_time = t.contains(['T', 't', ' ']);
    if !has_time {
        let date: Date = t.parse().map_err(|e: jiff::Error| TimeError::Malformed {
            text: text.into(),
            why: e.to_string(),
        })?;
        let day = match edge {
            Edge::Start => date,
            Edge::End => date
                .tomorrow()
                .map_err(|_| TimeError::OutOfRange(text.into()))?,
        };
        let start = TimeZone::UTC
            .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|_| TimeError::OutOfRange(text.into()))?;
        return millis(text, start);
    }
    match t.parse::<Timestamp>() {
        Ok(ts) => millis(text, ts),
        Err(e) => {
            if t.parse::<DateTime>().is_ok() {
                Err(TimeError::NoOffset(t.into()))
            } else {
                Err(TimeError::Malformed {
                    text: text.into(),
                    why: e.to_string(),
                })
            }
        }
    }
}

/// A duration as people write it (`30d`, `12h`, `90m`, see the module doc) in ms.
pub fn parse_duration_ms(text: &str) -> Result<u64, TimeError> {
    let bad = |why: String| TimeError::BadDuration {
        text: text.into(),
        why,
    };
    let span: Span = text
        .trim()
        .parse()
        .map_err(|e: jiff::Error| bad(e.to_string()))?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| bad(e.to_string()))?;
    let ms = duration.as_millis();
    if ms <= 0 {
        return Err(TimeError::NotPositive(text.into()));
    }
    u64::try_from(ms).map_err(|_| bad("too long".into()))
}

/// `ms` since the Unix epoch as a UTC date and time, `2026-03-01 12:00:00 UTC`.
pub fn format_time_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// A duration in ms for people: `30d`, `12h 30m`, `90s`, `250ms`.
pub fn format_duration_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut parts = Vec::new();
    for (unit, name) in UNITS {
        if rest >= unit {
            parts.push(format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;
    /// 2026-12-24T00:00:00Z.
    const XMAS_EVE: u64 = 1_798_070_400_000;

    #[test]
    fn instants_in_iso_8601() {
        assert_eq!(parse_instant("2026-12-24", Edge::Start), Ok(XMAS_EVE));
        // A bare date as an (exclusive) end is the end of that day: the next midnight.
        assert_eq!(parse_instant("2026-12-24", Edge::End), Ok(XMAS_EVE + DAY));
        let six_pm_utc = XMAS_EVE + 18 * 3_600_000;
        assert_eq!(
            parse_instant("2026-12-24T18:00Z", Edge::End),
            Ok(six_pm_utc)
        );
        assert_eq!(
            parse_instant("2026-12-24T19:00+01:00", Edge::Start),
            Ok(six_pm_utc)
        );
        assert_eq!(
            parse_instant("2026-12-24T18:00:00.250Z", Edge::Start),
            Ok(six_pm_utc + 250)
        );
        assert_eq!(
            parse_instant(" 2026-12-24T17:00-01:00 ", Edge::Start),
            Ok(six_pm_utc)
        );
        assert_eq!(format_time_ms(XMAS_EVE), "2026-12-24 00:00:00 UTC");
    }

    #[test]
    fn bad_instants_say_what_to_write() {
        assert_eq!(
            parse_instant("2026-12-24T18:00", Edge::Start),
            Err(TimeError::NoOffset("2026-12-24T18:00".into()))
        );
        assert!(
            parse_instant("2026-12-24T18:00", Edge::Start)
                .unwrap_err()
                .to_string()
                .contains("+01:00")
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "24.12.2026",
            "tomorrow",
            "",
            "1798070400000",
            "2026-12-24T25:00Z",
        ] {
            assert!(
                matches!(
                    parse_instant(bad, Edge::Start),
                    Err(TimeError::Malformed { .. })
                ),
                "{bad:?} accepted: {:?}",
                parse_instant(bad, Edge::Start)
            );
        }
        assert_eq!(
            parse_instant("1969-12-31", Edge::Start),
            Err(TimeError::OutOfRange("1969-12-31".into()))
        );
    }

    #[test]
    fn durations_in_days_hours_minutes() {
        assert_eq!(parse_duration_ms("30d"), Ok(30 * DAY));
        assert_eq!(parse_duration_ms("12h"), Ok(12 * 3_600_000));
        assert_eq!(parse_duration_ms("90m"), Ok(90 * 60_000));
        assert_eq!(parse_duration_ms("2w"), Ok(14 * DAY));
        assert_eq!(parse_duration_ms("1d 12h"), Ok(DAY + 12 * 3_600_000));
        assert_eq!(parse_duration_ms("30 days"), Ok(30 * DAY));
        assert_eq!(parse_duration_ms("P30D"), Ok(30 * DAY));
        assert_eq!(parse_duration_ms("PT12H"), Ok(12 * 3_600_000));
        for bad in ["30", "1 month", "1y", "d", "", "30x", "soon"] {
            assert!(
                matches!(parse_duration_ms(bad), Err(TimeError::BadDuration { .. })),
                "{bad:?} accepted: {:?}",
                parse_duration_ms(bad)
            );
        }
        assert_eq!(
            parse_duration_ms("0d"),
            Err(TimeError::NotPositive("0d".into()))
        );
        assert!(matches!(
            parse_duration_ms("-5d"),
            Err(TimeError::NotPositive(_))
        ));
        assert_eq!(format_duration_ms(30 * DAY), "30d");
        assert_eq!(format_duration_ms(DAY + 90 * 60_000), "1d 1h 30m");
        assert_eq!(format_duration_ms(0), "0s");
    }

    #[test]
    fn times_show_as_utc_dates() {
        assert_eq!(format_time_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time_ms(1_767_225_600_000), "2026-01-01 00:00:00 UTC");
        assert_eq!(format_time_ms(951_825_599_000), "2000-02-29 11:59:59 UTC");
        assert_eq!(
            format_time_ms(u64::MAX),
            format!("{} ms after the epoch", u64::MAX)
        );
    }
}
