//! Sizes as lvm2 reads them on its command line (`_size_arg`): numbers
//! with units, signs and percentages, and how lvm2 prints a size back.

use crate::error::{bail, refused, Error, Result};

/// A size argument as lvm2 reads it (`_size_arg`): a number with an
/// optional unit (`bBsSkKmMgGtTpPeE`, all powers of 1024), a sign, or a
/// percentage of something (`%FREE`, `%VG`, `%PVS`, `%ORIGIN`, `%LV`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeArg {
    /// Sectors.
    Sectors(u64),
    /// A percentage and of what.
    Percent(u32, Pct),
}

/// What a percentage is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pct {
    /// `%FREE`: free extents of the VG (or of the named PVs).
    Free,
    /// `%VG`: all extents of the VG.
    Vg,
    /// `%PVS`: extents of the named PVs.
    Pvs,
    /// `%ORIGIN`: extents of a snapshot's origin.
    Origin,
    /// `%LV`: extents of the LV itself (lvextend, lvreduce).
    Lv,
}

/// The sign in front of a size (`lvextend -L +1G`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sign {
    /// No sign.
    #[default]
    None,
    /// `+`.
    Plus,
    /// `-`.
    Minus,
}

/// Which command reads `-L`/`-l`: lvm2 words their rules differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeOf {
    /// `lvcreate` (also `-s`).
    Lvcreate,
    /// `lvextend`, `lvreduce`, `lvresize`.
    Lvresize,
}

/// lvm2's answer to a command line that fits none of the command's
/// definitions (here: a size command without `-L` or `-l`). lvm2 prints it
/// with `  Run 'CMD --help' for more information.` on the same line.
pub const NO_MATCHING_SYNTAX: &str = "No command with matching syntax recognised.";

/// How big an LV is to be, or how much it changes by, as `-L` and `-l`
/// give it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// `-L`: a size in sectors (rounded to whole extents, with lvm2's
    /// notice).
    Size(u64),
    /// `-l N`: a number of extents.
    Extents(u64),
    /// `-l N%FREE|%VG|%PVS|%ORIGIN|%LV`.
    Percent(u32, Pct),
}

impl Amount {
    /// Parses `-L SIZE` (default unit MiB, an optional sign).
    pub fn parse_size(arg: &str) -> Result<(Sign, Amount)> {
        match parse_size(arg, 'm', false)? {
            (sign, SizeArg::Sectors(n)) => Ok((sign, Amount::Size(n))),
            _ => bail!("Can't parse size argument."),
        }
    }

    /// Parses `-l EXTENTS` (a count or a percentage, an optional sign).
    pub fn parse_extents(arg: &str) -> Result<(Sign, Amount)> {
        Ok(match parse_size(arg, 's', true)? {
            (sign, SizeArg::Sectors(n)) => (sign, Amount::Extents(n)),
            (sign, SizeArg::Percent(p, of)) => (sign, Amount::Percent(p, of)),
        })
    }

    /// The amount of `-L SIZE` or `-l EXTENTS`, exactly one of them given,
    /// with lvm2's command-line rules: both is a usage error worded as the
    /// command words it, neither matches none of lvm2's command definitions
    /// ([`NO_MATCHING_SYNTAX`]), and a zero size, count or percentage is a
    /// usage error (`--size may not be zero.`).
    pub fn from_options(
        size: Option<&str>,
        extents: Option<&str>,
        of: SizeOf,
    ) -> Result<(Sign, Amount)> {
        let (sign, a) = match (size, extents) {
            (Some(s), None) => Amount::parse_size(s)?,
            (None, Some(e)) => Amount::parse_extents(e)?,
            (Some(_), Some(_)) => {
                return Err(Error::Usage(
                    match of {
                        SizeOf::Lvcreate => "Please specify either size or extents (not both).",
                        SizeOf::Lvresize => "Please specify either size or extents but not both.",
                    }
                    .into(),
                ))
            }
            (None, None) => return Err(Error::Usage(NO_MATCHING_SYNTAX.into())),
        };
        if matches!(
            a,
            Amount::Size(0) | Amount::Extents(0) | Amount::Percent(0, _)
        ) {
            let opt = if size.is_some() { "size" } else { "extents" };
            return Err(Error::Usage(format!("--{opt} may not be zero.")));
        }
        Ok((sign, a))
    }
}

/// Parses a size with lvm2's rules; `default_unit` is `k` or `m`.
pub fn parse_size(arg: &str, default_unit: char, percent_ok: bool) -> Result<(Sign, SizeArg)> {
    let (sign, rest) = match arg.as_bytes().first() {
        Some(b'+') => (Sign::Plus, &arg[1..]),
        Some(b'-') => (Sign::Minus, &arg[1..]),
        _ => (Sign::None, arg),
    };
    if rest.starts_with(['+', '-']) {
        bail!("Multiple sign symbols detected.");
    }
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    if num_end == 0 {
        bail!("Size requires number argument.");
    }
    let v: f64 = rest[..num_end]
        .parse()
        .map_err(|_| refused!("Can't parse size argument at '{}'.", &rest[..num_end]))?;
    let unit = &rest[num_end..];
    if let Some(p) = unit.strip_prefix('%') {
        if !percent_ok {
            bail!("Can't parse size argument.");
        }
        // lvm2's `_get_percent_arg`, abbreviations included.
        let of = match p.to_ascii_uppercase().as_str() {
            "F" | "FR" | "FREE" => Pct::Free,
            "V" | "VG" => Pct::Vg,
            "P" | "PV" | "PVS" => Pct::Pvs,
            "O" | "OR" | "ORIGIN" => Pct::Origin,
            "L" | "LV" => Pct::Lv,
            _ => bail!("Specified %{p} is unknown."),
        };
        if v >= f64::from(u32::MAX) {
            bail!("Percentage is too big (>=4294967295%).");
        }
        return Ok((sign, SizeArg::Percent(v as u32, of)));
    }
    let u = match unit.len() {
        0 => default_unit,
        1 => unit
            .chars()
            .next()
            .unwrap_or(default_unit)
            .to_ascii_lowercase(),
        _ => bail!("Can't parse size argument."),
    };
    let sectors = match u {
        's' => v,
        'b' => {
            let b = v as u64;
            if !b.is_multiple_of(512) {
                let up = b + 512 - b % 512;
                bail!(
                    "Size is not a multiple of 512. Try using {} or {up}.",
                    up - 512
                );
            }
            v / 512.0
        }
        other => {
            let Some(i) = "kmgtpe".find(other) else {
                bail!("Can't parse size argument.");
            };
            v * 1024f64.powi(i as i32) * 2.0
        }
    };
    if !sectors.is_finite() || sectors >= 1.8e19 {
        bail!("Size is too big.");
    }
    Ok((sign, SizeArg::Sectors(sectors as u64)))
}

/// lvm2's `display_size` in messages: `8.00 MiB`, `512 B`.
pub fn display_size(sectors: u64) -> String {
    let s = crate::units::format_size(
        sectors,
        crate::units::Units {
            letter: 'h',
            factor: 0,
        },
        true,
    );
    let (num, unit) = s.split_at(s.len() - 1);
    let unit = match unit {
        "k" => "KiB",
        "m" => "MiB",
        "g" => "GiB",
        "t" => "TiB",
        "p" => "PiB",
        "e" => "EiB",
        _ => "B",
    };
    format!("{num} {unit}")
}

/// `percent_of_extents`: `P` percent of `base`, rounded down or up.
pub(crate) fn percent_of(p: u32, base: u64, round_up: bool) -> u64 {
    (u64::from(p) * base + if round_up { 99 } else { 0 }) / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_text(r: Result<(Sign, Amount)>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn one_of_size_or_extents_and_never_zero() {
        assert_eq!(
            Amount::from_options(Some("+8m"), None, SizeOf::Lvresize).unwrap(),
            (Sign::Plus, Amount::Size(16384))
        );
        assert_eq!(
            Amount::from_options(None, Some("50%FREE"), SizeOf::Lvcreate).unwrap(),
            (Sign::None, Amount::Percent(50, Pct::Free))
        );
        // As lvm2 2.03 words them (lvcreate.c, lvresize.c).
        assert_eq!(
            usage_text(Amount::from_options(
                Some("1m"),
                Some("1"),
                SizeOf::Lvcreate
            )),
            "Please specify either size or extents (not both)."
        );
        assert_eq!(
            usage_text(Amount::from_options(
                Some("1m"),
                Some("1"),
                SizeOf::Lvresize
            )),
            "Please specify either size or extents but not both."
        );
        assert_eq!(
            usage_text(Amount::from_options(None, None, SizeOf::Lvresize)),
            NO_MATCHING_SYNTAX
        );
        assert_eq!(
            usage_text(Amount::from_options(Some("0"), None, SizeOf::Lvcreate)),
            "--size may not be zero."
        );
        assert_eq!(
            usage_text(Amount::from_options(None, Some("0%VG"), SizeOf::Lvcreate)),
            "--extents may not be zero."
        );
        assert_eq!(
            usage_text(Amount::from_options(None, Some("+0"), SizeOf::Lvresize)),
            "--extents may not be zero."
        );
    }
}
