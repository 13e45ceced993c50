//! Times in the local zone, as lvm2 prints and reads them: `lv_time` and
//! lvdisplay's times, the comments and header of a backup file, and the
//! dates of a selection (`-S 'lv_time>2024-07-01'`) all follow C's
//! `localtime` and `mktime`, so the zone that `TZ` names.
//!
//! The library reads no environment: a caller gives the zone as a
//! [`Zone`], built from the value `TZ` has (or none) with
//! [`Zone::from_tz`]; the `lvmsim` binary passes its own `TZ`. The zone's
//! rules are looked up the first time a time is shown or read, not before.

use std::sync::OnceLock;

use jiff::tz::TimeZone;

/// A local time zone: its rules, and an instant's offset from UTC and
/// wall-clock time under them.
#[derive(Debug, Clone)]
pub struct Zone {
    /// What `TZ` held (`None`: unset, the system's zone).
    spec: Option<String>,
    /// The rules, looked up on first use.
    rules: OnceLock<TimeZone>,
}

impl Default for Zone {
    /// UTC.
    fn default() -> Zone {
        Zone::utc()
    }
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone::from_tz(Some("UTC"))
    }

    /// The zone a C program uses when `TZ` holds `tz` (`None`: unset).
    /// Unset: the system's zone (`/etc/localtime`, UTC without one). Set:
    /// empty is UTC; a leading `:` is dropped; a path names a TZif file;
    /// otherwise an IANA name (`Europe/Berlin`) or a POSIX rule (`EST5EDT`,
    /// `UTC-3`). A value that names no zone gives UTC, as glibc does.
    pub fn from_tz(tz: Option<&str>) -> Zone {
        Zone {
            spec: tz.map(str::to_owned),
            rules: OnceLock::new(),
        }
    }

    fn rules(&self) -> &TimeZone {
        self.rules.get_or_init(|| resolve(self.spec.as_deref()))
    }

    /// The zone's offset from UTC at instant `t` (seconds since the epoch),
    /// east positive. Instants jiff cannot represent (beyond year ±9999)
    /// get offset 0.
    pub fn offset_at(&self, t: i64) -> i32 {
        offset_in(self.rules(), t)
    }

    /// `t` as lvm2 prints `lv_time`, lvdisplay's times and the comments of
    /// a backup file: `strftime("%Y-%m-%d %T %z")` of `localtime(t)`.
    pub fn iso(&self, t: i64) -> String {
        lvm_meta::timefmt::iso_at_offset(t, self.offset_at(t))
    }

    /// `t` as C's `ctime` prints it in this zone, without the newline (the
    /// header of a backup file and its `creation_time` comment).
    pub fn ctime(&self, t: i64) -> String {
        lvm_meta::timefmt::ctime(t.saturating_add(i64::from(self.offset_at(t))))
    }

    /// C's `mktime` of a wall-clock time in this zone, `tm_isdst` unknown:
    /// fields out of range carry over (day 31 of a 30-day month is the
    /// 1st of the next, month 13 is January of the next year); a time that
    /// a change to summer time skips counts with the offset from before
    /// the change, one that occurs twice is its first occurrence.
    pub fn mktime(&self, year: i64, month0: i64, day: i64, h: i64, mi: i64, s: i64) -> i64 {
        let year = year + month0.div_euclid(12);
        let month = month0.rem_euclid(12) + 1;
        let wall = (days_from_civil(year, month, 1) + day - 1) * 86_400 + h * 3600 + mi * 60 + s;
        local_to_instant(self.rules(), wall)
    }
}

/// The instant whose wall-clock time in `tz` is `wall` (seconds since
/// the epoch of a UTC clock showing that time).
fn local_to_instant(tz: &TimeZone, wall: i64) -> i64 {
    let dt = jiff::Timestamp::from_second(wall)
        .map(|ts| TimeZone::UTC.to_datetime(ts))
        .ok();
    dt.and_then(|dt| tz.to_ambiguous_timestamp(dt).compatible().ok())
        .map_or_else(
            || wall - i64::from(offset_in(tz, wall)),
            |ts| ts.as_second(),
        )
}

fn resolve(spec: Option<&str>) -> TimeZone {
    let from_file = |path: &str| {
        std::fs::read(path)
            .ok()
            .and_then(|data| TimeZone::tzif(path, &data).ok())
    };
    let zone = match spec {
        None => from_file("/etc/localtime"),
        Some(v) => {
            let v = v.strip_prefix(':').unwrap_or(v);
            if v.is_empty() {
                None
            } else if v.starts_with('/') {
                from_file(v)
            } else {
                TimeZone::get(v).ok().or_else(|| TimeZone::posix(v).ok())
            }
        }
    };
    zone.unwrap_or(TimeZone::UTC)
}

fn offset_in(tz: &TimeZone, t: i64) -> i32 {
    jiff::Timestamp::from_second(t).map_or(0, |ts| tz.to_offset(ts).seconds())
}

/// Days from 1970-01-01 to a proleptic Gregorian date (month 1..=12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of zones whose rules are public knowledge, on both sides of
    /// a summer-time change.
    #[test]
    fn offsets_of_named_zones() {
        let berlin = Zone::from_tz(Some("Europe/Berlin"));
        // 2024-07-01 12:00 UTC: CEST; 2024-01-01 12:00 UTC: CET.
        assert_eq!(berlin.offset_at(1_719_835_200), 7200);
        assert_eq!(berlin.offset_at(1_704_110_400), 3600);
        let kolkata = Zone::from_tz(Some(":Asia/Kolkata"));
        assert_eq!(kolkata.offset_at(1_719_835_200), 19_800);
        let posix = Zone::from_tz(Some("EST5EDT,M3.2.0,M11.1.0"));
        assert_eq!(posix.offset_at(1_719_835_200), -4 * 3600);
        assert_eq!(posix.offset_at(1_704_110_400), -5 * 3600);
        assert_eq!(Zone::utc().offset_at(i64::MAX), 0);
        assert_eq!(Zone::from_tz(Some("")).offset_at(1_719_835_200), 0);
        assert_eq!(
            Zone::from_tz(Some("No/Such_Zone")).offset_at(1_719_835_200),
            0
        );
    }

    /// ctime and ISO forms in a zone east and one west of UTC (the forms
    /// date(1) gives: `TZ=Asia/Kolkata date -d @1796278967`).
    #[test]
    fn wall_clock_forms() {
        let k = Zone::from_tz(Some("Asia/Kolkata"));
        assert_eq!(k.ctime(1_796_278_967), "Thu Dec  3 11:52:47 2026");
        assert_eq!(k.iso(1_719_900_000), "2024-07-02 11:30:00 +0530");
        let ny = Zone::from_tz(Some("America/New_York"));
        assert_eq!(ny.iso(1_711_846_800), "2024-03-30 21:00:00 -0400");
        assert_eq!(ny.ctime(1_704_110_400), "Mon Jan  1 07:00:00 2024");
    }

    /// mktime: carries, and the wall-clock times a change to or from
    /// summer time skips or repeats (America/New_York, 2024-03-10 and
    /// 2024-11-03, both at 02:00 local).
    #[test]
    fn mktime_like_c() {
        let ny = Zone::from_tz(Some("America/New_York"));
        // 2024-07-01 10:00 EDT = 14:00 UTC.
        assert_eq!(ny.mktime(2024, 6, 1, 10, 0, 0), 1_719_842_400);
        // April 31st is May 1st; month 12 is the next January.
        assert_eq!(
            ny.mktime(2024, 3, 31, 0, 0, 0),
            ny.mktime(2024, 4, 1, 0, 0, 0)
        );
        assert_eq!(
            ny.mktime(2023, 12, 1, 0, 0, 0),
            ny.mktime(2024, 0, 1, 0, 0, 0)
        );
        // 02:30 does not exist on 2024-03-10: counted in EST (07:30 UTC).
        assert_eq!(ny.mktime(2024, 2, 10, 2, 30, 0), 1_710_055_800);
        // 01:30 occurs twice on 2024-11-03: the first, in EDT (05:30 UTC).
        assert_eq!(ny.mktime(2024, 10, 3, 1, 30, 0), 1_730_611_800);
        assert_eq!(Zone::utc().mktime(1970, 0, 1, 0, 0, 0), 0);
    }
}
