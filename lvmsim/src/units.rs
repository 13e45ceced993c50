//! Size formatting exactly as lvm2's `dm_size_to_string` with lvm2's
//! default `si_unit_consistency = 1`: `--units` of `r` (lvm2's default,
//! human-readable with a `<` mark where rounding up would hide a
//! difference), `h`, `H`, `R`, `b`, `s`, `k`..`e` (powers of 1024) and
//! `K`..`E` (powers of 1000).

/// Parsed `--units`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    /// The unit letter.
    pub letter: char,
    /// Multiplier for fixed units (0 for the human-readable ones).
    pub factor: u64,
}

impl Units {
    /// Parses one unit letter as lvm2 accepts it.
    pub fn parse(s: &str) -> Result<Units, String> {
        let mut chars = s.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(format!("Invalid units specification: {s:?}"));
        };
        let k = 1024u64;
        let m = 1000u64;
        let factor = match c {
            'h' | 'H' | 'r' | 'R' => 0,
            'b' | 'B' => 1,
            's' | 'S' => 512,
            'k' => k,
            'm' => k.pow(2),
            'g' => k.pow(3),
            't' => k.pow(4),
            'p' => k.pow(5),
            'e' => k.pow(6),
            'K' => m,
            'M' => m.pow(2),
            'G' => m.pow(3),
            'T' => m.pow(4),
            'P' => m.pow(5),
            'E' => m.pow(6),
            _ => return Err(format!("Invalid units specification: {s:?}")),
        };
        Ok(Units { letter: c, factor })
    }
}

impl Default for Units {
    fn default() -> Self {
        Units {
            letter: 'r',
            factor: 0,
        }
    }
}

const PREFIXES_1024: [char; 7] = ['e', 'p', 't', 'g', 'm', 'k', 'b'];
const PREFIXES_1000: [char; 7] = ['E', 'P', 'T', 'G', 'M', 'K', 'B'];

/// Formats `sectors` (512-byte units) like lvm2's reports.
pub fn format_size(sectors: u64, units: Units, suffix: bool) -> String {
    let c = units.letter;
    if units.factor == 0 {
        // Human-readable: r/h use powers of 1024, R/H powers of 1000.
        if sectors == 0 {
            return if suffix { "0 ".into() } else { "0".into() };
        }
        let base: u64 = if matches!(c, 'H' | 'R') { 1000 } else { 1024 };
        let names = if base == 1000 {
            PREFIXES_1000
        } else {
            PREFIXES_1024
        };
        let size = sectors.saturating_mul(512);
        let mut byte: u128 = (base as u128).pow(6);
        let mut s = 0usize;
        // Six prefixes (E..K); past them the unit is bytes with byte == 1.
        while s < 6 && (size as u128) < byte {
            byte /= base as u128;
            s += 1;
        }
        let mut prefix = "";
        if matches!(c, 'r' | 'R') {
            let d = 100.0 * size as f64 / byte as f64;
            if d.floor() != d.round_ties_even() {
                prefix = "<";
            }
        }
        let precision = if names[s] == 'b' || names[s] == 'B' {
            0
        } else {
            2
        };
        let v = size as f64 / byte as f64;
        let unit = if base == 1000 && names[s] == 'B' {
            'B'
        } else {
            names[s]
        };
        // lvm2 always appends the suffix for human-readable units.
        return format!("{prefix}{v:.precision$}{unit}");
    }
    let suffix_char = match c {
        'b' | 'B' => 'B',
        's' | 'S' => 'S',
        other => other,
    };
    if sectors == 0 {
        return if suffix {
            format!("0{suffix_char}")
        } else {
            "0".into()
        };
    }
    let size = sectors.saturating_mul(512);
    let precision = if matches!(c, 'b' | 'B' | 's' | 'S') {
        0
    } else {
        2
    };
    let v = if precision == 0 {
        format!("{}", size / units.factor)
    } else {
        format!("{:.2}", size as f64 / units.factor as f64)
    };
    if suffix {
        format!("{v}{suffix_char}")
    } else {
        v
    }
}

/// The unit names of lvm2's display commands (`pvdisplay`, `vgdisplay`,
/// `lvdisplay`): a space, then the unit's short name.
const DISPLAY_1024: [&str; 7] = [" EiB", " PiB", " TiB", " GiB", " MiB", " KiB", " B"];
const DISPLAY_1000: [&str; 7] = [" EB", " PB", " TB", " GB", " MB", " kB", " B "];

/// Formats `sectors` as lvm2's display commands print a size
/// (`dm_size_to_string` with the short suffixes: `20.00 MiB`, `0   `,
/// `4194304 B `, `8192 Se`, `<31.00 MiB`). Without `suffix`
/// (`--nosuffix`) fixed units and zero lose the unit name; the
/// human-readable units keep it.
pub fn display_size(sectors: u64, units: Units, suffix: bool) -> String {
    let c = units.letter;
    // Which name table and entry a fixed unit takes: powers of 1000 for
    // upper-case prefixes, 1024 for lower-case, then bytes and sectors.
    let fixed = "EPTGMK"
        .find(c)
        .map(|s| DISPLAY_1000[s])
        .or_else(|| "eptgmk".find(c).map(|s| DISPLAY_1024[s]))
        .or(match c.to_ascii_uppercase() {
            'B' => Some(" B "),
            'S' => Some(" Se"),
            _ => None,
        });
    if sectors == 0 {
        return format!("0{}", if suffix { fixed.unwrap_or("   ") } else { "" });
    }
    let size = sectors.saturating_mul(512);
    let (name, byte, prefix) = match fixed {
        Some(name) => (name, u128::from(units.factor.max(1)), ""),
        None => {
            let (base, names) = if matches!(c, 'H' | 'R') {
                (1000u128, DISPLAY_1000)
            } else {
                (1024u128, DISPLAY_1024)
            };
            let mut byte = base.pow(6);
            let mut s = 0usize;
            while s < 6 && u128::from(size) < byte {
                byte /= base;
                s += 1;
            }
            let mut prefix = "";
            if s < 6 && matches!(c, 'r' | 'R') {
                let d = 100.0 * size as f64 / byte as f64;
                if d.floor() != d.round_ties_even() {
                    prefix = "<";
                }
            }
            (names[s], byte, prefix)
        }
    };
    let precision = if matches!(name.trim().chars().next(), Some('B' | 'S')) {
        0
    } else {
        2
    };
    let v = size as f64 / byte as f64;
    let name = if suffix || fixed.is_none() { name } else { "" };
    format!("{prefix}{v:.precision$}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(sectors: u64, u: &str, suffix: bool) -> String {
        format_size(sectors, Units::parse(u).unwrap(), suffix)
    }

    #[test]
    fn human_readable() {
        assert_eq!(f(20 * 2048, "r", true), "20.00m");
        assert_eq!(f(104 * 2048, "r", true), "104.00m");
        assert_eq!(f(0, "r", true), "0 ");
        // 2043 MiB = 1.9951 GiB: rounds up to 2.00, so lvm2 marks it.
        assert_eq!(f(2043 * 2048, "r", true), "<2.00g");
        assert_eq!(f(2043 * 2048, "h", true), "2.00g");
        assert_eq!(f(1, "r", true), "512b");
    }

    #[test]
    fn fixed_units() {
        assert_eq!(f(40960, "b", false), "20971520");
        assert_eq!(f(40960, "b", true), "20971520B");
        assert_eq!(f(40960, "s", true), "40960S");
        assert_eq!(f(40960, "k", true), "20480.00k");
        assert_eq!(f(40960, "m", false), "20.00");
        assert_eq!(f(0, "b", false), "0");
    }

    fn d(sectors: u64, u: &str) -> String {
        display_size(sectors, Units::parse(u).unwrap(), true)
    }

    /// Values lvm2 2.03.16's pvdisplay/vgdisplay printed (testdata/lvm2/corpus/display).
    #[test]
    fn display_sizes() {
        assert_eq!(d(57344, "r"), "28.00 MiB");
        assert_eq!(d(0, "r"), "0   ");
        assert_eq!(d(0, "t"), "0 TiB");
        assert_eq!(d(65536, "b"), "33554432 B ");
        assert_eq!(d(57344, "s"), "57344 Se");
        assert_eq!(d(0, "s"), "0 Se");
        assert_eq!(d(57344, "H"), "29.36 MB");
        assert_eq!(d(65536, "k"), "32768.00 KiB");
        assert_eq!(d(57344, "t"), "0.00 TiB");
        assert_eq!(d(63480, "r"), "<31.00 MiB");
        assert_eq!(d(1, "h"), "512 B");
    }
}
