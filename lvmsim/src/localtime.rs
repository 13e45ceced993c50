//! Times in reports as lvm2 prints them: in the local zone that `TZ` names
//! (an IANA name such as `Europe/Berlin`, a POSIX rule such as `EST5EDT`
//! or `UTC-3`, or a TZif file path), else the zone of `/etc/localtime`,
//! with the offset that zone had at that instant (summer time included).
//! The zone is looked up once per process. A `TZ` that names no zone gives
//! UTC, as C's `localtime` does.

use std::sync::OnceLock;

use jiff::tz::TimeZone;

fn zone() -> &'static TimeZone {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    ZONE.get_or_init(|| TimeZone::try_system().unwrap_or(TimeZone::UTC))
}

/// The local zone's offset from UTC at instant `t` (seconds since the
/// epoch), east positive. Instants jiff cannot represent (beyond year
/// ±9999) get offset 0.
pub fn offset_at(t: i64) -> i32 {
    offset_in(zone(), t)
}

fn offset_in(tz: &TimeZone, t: i64) -> i32 {
    jiff::Timestamp::from_second(t).map_or(0, |ts| tz.to_offset(ts).seconds())
}

/// `t` as lvm2 prints `lv_time` and lvdisplay's creation time:
/// `strftime("%Y-%m-%d %T %z")` of `localtime(t)`.
pub fn iso(t: i64) -> String {
    lvm_meta::timefmt::iso_at_offset(t, offset_at(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of zones whose rules are public knowledge, on both sides of
    /// a summer-time change.
    #[test]
    fn offsets_of_named_zones() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 2024-07-01 12:00 UTC: CEST; 2024-01-01 12:00 UTC: CET.
        assert_eq!(offset_in(&berlin, 1_719_835_200), 7200);
        assert_eq!(offset_in(&berlin, 1_704_110_400), 3600);
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        assert_eq!(offset_in(&kolkata, 1_719_835_200), 19_800);
        let posix = TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(offset_in(&posix, 1_719_835_200), -4 * 3600);
        assert_eq!(offset_in(&posix, 1_704_110_400), -5 * 3600);
        assert_eq!(offset_in(&TimeZone::UTC, i64::MAX), 0);
    }
}
