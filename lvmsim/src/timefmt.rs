//! Time stamps in the forms lvm2 writes them, computed in UTC (lvm2 uses
//! the local time zone; lvmsim's reproducible output uses UTC, `+0000`).

fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (h, m, s) = (
        (secs / 3600) as u32,
        ((secs % 3600) / 60) as u32,
        (secs % 60) as u32,
    );
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if mo <= 2 { y + 1 } else { y };
    let wday = ((days + 4).rem_euclid(7)) as u32; // 1970-01-01 was a Thursday
    (y, mo, d, h, m, s, wday)
}

/// C's `ctime` without its trailing newline: `Thu Nov 26 23:14:19 2026`.
pub fn ctime(t: i64) -> String {
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, m, s, wd) = civil(t);
    format!(
        "{} {} {d:2} {h:02}:{m:02}:{s:02} {y}",
        WD[wd as usize],
        MO[(mo - 1) as usize]
    )
}

/// `%Y-%m-%d %T %z`: `2023-11-14 22:13:20 +0000`.
pub fn iso_local(t: i64) -> String {
    let (y, mo, d, h, m, s, _) = civil(t);
    format!("{y}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02} +0000")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn known_instants() {
        assert_eq!(ctime(1_700_000_000), "Tue Nov 14 22:13:20 2023");
        assert_eq!(iso_local(1_700_000_000), "2023-11-14 22:13:20 +0000");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    }
}
