//! How lvm2 reads the names of VGs and LVs on its command line: the one
//! home of that rule for every command.
//!
//! An LV can be named `VG/LV`, `/dev/VG/LV` or `/dev/mapper/VG-LV`, a VG
//! `VG`, `/dev/VG` or `/dev/mapper/VG`. In a device-mapper name each hyphen
//! inside the VG or LV name is doubled and one hyphen separates the parts
//! (`vg-x`/`lv-1` is `vg--x-lv--1`); a third part is a layer (`-real`,
//! `-cow`), which names no LV. lvm2 only looks at the text (nothing on the
//! host is consulted), and so do these functions:
//!
//! - [`skip_dev_dir`] takes off `/dev/` (any run of slashes after it too)
//!   and turns `/dev/mapper/VG-LV` into `VG/LV`;
//! - [`lv_arg`] reads an argument of the commands that take LVs (`lvs`,
//!   `lvremove`, `lvchange`, `lvextend`...): a VG, or an LV with its VG;
//!   [`vg_lv`] insists on an LV;
//! - [`vg_arg`] reads a VG argument (`vgs`, `vgchange`...);
//! - [`dm_name`] and [`split_dm_name`] build and split device-mapper names.
//!
//! ```
//! use lvmsim::names::{dm_name, lv_arg, split_dm_name};
//!
//! let n = lv_arg("/dev/mapper/vg--x-lv--1")?;
//! assert_eq!((n.vg.as_str(), n.lv.as_deref()), ("vg-x", Some("lv-1")));
//! assert_eq!(dm_name("vg-x", "lv-1", None), "vg--x-lv--1");
//! assert_eq!(split_dm_name("vg--x-lv--1-real").layer, "real");
//! # Ok::<(), lvmsim::error::Error>(())
//! ```

use crate::error::{Error, Result};
use lvm_meta::scan::System;

/// lvm2's device directory (`cmd->dev_dir`), with its slash.
pub const DEV_DIR: &str = "/dev/";

/// device-mapper's directory under [`DEV_DIR`].
pub const DM_SUBDIR: &str = "mapper";

/// A device-mapper name for an LV (`layer`: `real`, `cow`...): the parts
/// joined by `-`, each `-` inside a part doubled.
pub fn dm_name(vg: &str, lv: &str, layer: Option<&str>) -> String {
    let mut n = format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"));
    if let Some(l) = layer {
        n.push('-');
        n.push_str(&l.replace('-', "--"));
    }
    n
}

/// The three parts of a device-mapper name; empty where the name has no
/// such part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DmParts {
    /// The VG's name.
    pub vg: String,
    /// The LV's name.
    pub lv: String,
    /// The layer (`real`, `cow`...).
    pub layer: String,
}

/// Splits a device-mapper name as libdevmapper does: a part ends at a `-`
/// that is not doubled, a doubled `-` stands for one, and a `-` that is the
/// last character of the name is kept as it is.
pub fn split_dm_name(name: &str) -> DmParts {
    let mut parts = [String::new(), String::new(), String::new()];
    let chars: Vec<char> = name.chars().collect();
    let mut i = 0;
    let mut part = 0;
    while i < chars.len() {
        let c = chars[i];
        let last = i + 1 == chars.len();
        if c == '-' && !last {
            if chars[i + 1] == '-' {
                parts[part].push('-');
                i += 2;
                continue;
            }
            // A single hyphen ends this part. What follows the third part
            // belongs to nothing (libdevmapper drops it as well).
            i += 1;
            part += 1;
            if part == parts.len() {
                break;
            }
            continue;
        }
        parts[part].push(c);
        i += 1;
    }
    let [vg, lv, layer] = parts;
    DmParts { vg, lv, layer }
}

/// An argument with lvm2's device directory taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// What is left: `VG`, `VG/LV`, or the argument as it was.
    pub name: String,
    /// The argument started with `/dev/`.
    pub dev_dir: bool,
    /// lvm2's complaint about a `/dev/mapper/` name it could not split into
    /// a VG and an LV (it goes on with the name as it is).
    pub warning: Option<String>,
}

/// lvm2's `skip_dev_dir`: `/dev/VG/LV` is `VG/LV`, `/dev/mapper/VG-LV` is
/// `VG/LV` (`VG` when the LV part is empty); a run of slashes at the start
/// counts as one, and so does one after `/dev/` or `/dev/mapper/`. A
/// device-mapper name with a layer stays as it is, with a warning.
pub fn skip_dev_dir(arg: &str) -> Stripped {
    let mut s = arg;
    if s.starts_with('/') {
        s = &s[s.len() - s.trim_start_matches('/').len() - 1..];
    }
    let Some(rest) = s.strip_prefix(DEV_DIR) else {
        return Stripped {
            name: s.to_owned(),
            dev_dir: false,
            warning: None,
        };
    };
    let rest = rest.trim_start_matches('/');
    let mapped = rest
        .strip_prefix(DM_SUBDIR)
        .and_then(|r| r.strip_prefix('/'))
        .map(|r| r.trim_start_matches('/'));
    let Some(dm) = mapped else {
        return Stripped {
            name: rest.to_owned(),
            dev_dir: true,
            warning: None,
        };
    };
    let p = split_dm_name(dm);
    if !p.layer.is_empty() {
        return Stripped {
            name: dm.to_owned(),
            dev_dir: true,
            warning: Some(format!("skip_dev_dir: Couldn't split up device name {dm}.")),
        };
    }
    let name = if p.lv.is_empty() {
        p.vg
    } else {
        format!("{}/{}", p.vg, p.lv)
    };
    Stripped {
        name,
        dev_dir: true,
        warning: None,
    }
}

/// What an LV argument names: a whole VG, or one LV of a VG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The VG.
    pub vg: String,
    /// The LV, if the argument named one.
    pub lv: Option<String>,
    /// See [`Stripped::warning`].
    pub warning: Option<String>,
}

impl Named {
    /// `VG/LV`, or `VG`: the name lvm2 prints for it.
    pub fn full(&self) -> String {
        match &self.lv {
            Some(l) => format!("{}/{l}", self.vg),
            None => self.vg.clone(),
        }
    }
}

fn invalid_lv_path(arg: &str) -> Error {
    Error::Refused(format!("\"{arg}\": Invalid path for Logical Volume."))
}

/// An argument of the commands that take LVs (lvm2's `process_each_lv`):
/// `VG`, `VG/LV`, `/dev/VG`, `/dev/VG/LV`, `/dev/mapper/VG[-LV]`; slashes
/// between VG and LV may be repeated. More than one slash-separated part
/// after the VG, or a path outside `/dev/`, is lvm2's `Invalid path for
/// Logical Volume` (exit 5).
pub fn lv_arg(arg: &str) -> Result<Named> {
    let s = skip_dev_dir(arg);
    let name = s.name.as_str();
    if name.starts_with('/') {
        return Err(invalid_lv_path(arg));
    }
    let Some((vg, lv)) = name.split_once('/') else {
        return Ok(Named {
            vg: name.to_owned(),
            lv: None,
            warning: s.warning,
        });
    };
    let lv = lv.trim_start_matches('/');
    // lvm2 requires exactly one run of slashes (and reports the argument
    // as given). `VG/` names an LV with an empty name, which no VG holds.
    if lv.contains('/') {
        return Err(invalid_lv_path(arg));
    }
    Ok(Named {
        vg: vg.to_owned(),
        lv: Some(lv.to_owned()),
        warning: s.warning,
    })
}

/// An argument that must name one LV (`cat`, `write`, `lvconvert --merge`,
/// `lvextend`...): [`lv_arg`] without the whole-VG form. The VG and the LV.
pub fn vg_lv(arg: &str) -> Result<(String, String)> {
    let n = lv_arg(arg)?;
    match n.lv {
        Some(lv) => Ok((n.vg, lv)),
        None => Err(match n.warning {
            Some(w) => Error::Refused(format!(
                "{w}\n  \"{arg}\": Invalid path for Logical Volume."
            )),
            None => invalid_lv_path(arg),
        }),
    }
}

/// The VG of an argument naming an LV, as lvm2's `extract_vgname` finds
/// it (`None` for a bare name, which names no VG).
pub fn vg_of_lv(arg: &str) -> Result<Option<String>> {
    if !arg.contains('/') {
        return Ok(None);
    }
    let n = lv_arg(arg)?;
    if n.lv.is_none() {
        return Err(invalid_lv_path(arg));
    }
    Ok(Some(n.vg))
}

/// A VG argument (`vgs`, `vgchange`, `vgremove`...): `VG`, `/dev/VG` or
/// `/dev/mapper/VG`. A name that still holds a slash is lvm2's usage error
/// `Invalid volume group name X.` (exit 3).
pub fn vg_arg(arg: &str) -> Result<String> {
    let s = skip_dev_dir(arg);
    if s.name.contains('/') {
        return Err(Error::Usage(format!(
            "Invalid volume group name {}.",
            s.name
        )));
    }
    Ok(s.name)
}

/// The names of an `lvcreate`: its VG, the new LV's name and a snapshot's
/// origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvcreateNames {
    /// The VG.
    pub vg: String,
    /// `-n`, without a VG it may have carried.
    pub name: Option<String>,
    /// The origin of `-s`.
    pub origin: Option<String>,
}

/// `lvcreate`'s first argument (the VG, or with `-s` the origin as
/// `VG/LV` in any form) and `-n` (which may carry the VG, as `VG/LV`), read
/// as lvm2 does; the VGs must agree.
pub fn lvcreate_names(first: &str, snapshot: bool, name: Option<&str>) -> Result<LvcreateNames> {
    let usage = |m: String| Error::Usage(m);
    let mut vg: Option<String> = None;
    let mut lv_name = name.map(str::to_owned);
    if let Some(n) = name.filter(|n| n.contains('/')) {
        let (v, l) = vg_lv(n)?;
        vg = Some(v);
        lv_name = Some(l);
    }
    let mut origin = None;
    if snapshot {
        if !first.contains('/') {
            return Err(usage(
                "The origin name should include the volume group.".into(),
            ));
        }
        let (v, l) = vg_lv(first)?;
        if let Some(have) = &vg {
            if *have != v {
                return Err(usage(format!(
                    "Please use a single volume group name (\"{v}\" or \"{have}\")."
                )));
            }
        }
        vg = Some(v);
        origin = Some(l);
    } else {
        let v = skip_dev_dir(first).name;
        if v.contains('/') {
            return Err(usage("Volume group name expected (no slash)".into()));
        }
        if let Some(have) = &vg {
            if *have != v {
                return Err(usage(format!(
                    "Inconsistent volume group names given: \"{have}\" and \"{v}\""
                )));
            }
        }
        vg = Some(v);
    }
    Ok(LvcreateNames {
        vg: vg.unwrap_or_default(),
        name: lv_name,
        origin,
    })
}

/// Two paths name the same file (the same device and inode), as two
/// spellings of one image must count as one device.
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The index in `sys.devices` of the device a PV argument names: by the
/// name it is reported by, else by being the same file.
pub fn device_index(sys: &System, arg: &str) -> Option<usize> {
    sys.devices
        .iter()
        .position(|d| d.image.path == arg)
        .or_else(|| {
            sys.devices.iter().position(|d| {
                same_file(
                    std::path::Path::new(arg),
                    std::path::Path::new(&d.image.source),
                )
            })
        })
}

/// What the arguments of `pvs`, `vgs` or `lvs` select, looked up as lvm2
/// looks them up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// No argument: everything is reported.
    pub everything: bool,
    /// VGs named whole (`vgs VG`, `lvs VG`).
    pub vgs: Vec<String>,
    /// LVs named (`lvs VG/LV`): VG and LV.
    pub lvs: Vec<(String, String)>,
    /// Devices named (`pvs PV`): indices into `System::devices`.
    pub devices: Vec<usize>,
    /// Tags named (`lvs @TAG`, `vgs @TAG`), without the `@`.
    pub tags: Vec<String>,
    /// What lvm2 prints on stderr for these arguments (names that name
    /// nothing, device-mapper names it could not split), in its order.
    pub messages: Vec<String>,
    /// Some argument named nothing: lvm2 reports the rest and exits 5.
    pub failed: bool,
}

impl Selection {
    /// The VG is to be reported (all of it, or some of its LVs).
    pub fn has_vg(&self, vg: &str) -> bool {
        self.everything || self.vgs.iter().any(|v| v == vg) || self.lvs.iter().any(|(v, _)| v == vg)
    }

    /// The LV is to be reported.
    pub fn has_lv(&self, vg: &str, lv: &str) -> bool {
        self.everything
            || self.vgs.iter().any(|v| v == vg)
            || self.lvs.iter().any(|(v, l)| v == vg && l == lv)
    }

    /// The VG is to be reported, by its name or by one of its tags.
    pub fn has_vg_tagged(&self, vg: &str, vg_tags: &[String]) -> bool {
        self.has_vg(vg) || self.tagged(vg_tags)
    }

    /// The VG's LVs are to be looked at: named, or tags were named.
    pub fn may_have_lvs(&self, vg: &str) -> bool {
        self.has_vg(vg) || !self.tags.is_empty()
    }

    /// The LV is to be reported: by name, by its VG's name, or by a tag of
    /// its own or of its VG (lvm2 takes a VG's tag for all its LVs).
    pub fn has_lv_tagged(
        &self,
        vg: &str,
        lv: &str,
        vg_tags: &[String],
        lv_tags: &[String],
    ) -> bool {
        self.has_lv(vg, lv) || self.tagged(vg_tags) || self.tagged(lv_tags)
    }

    fn tagged(&self, tags: &[String]) -> bool {
        tags.iter().any(|t| self.tags.contains(t))
    }

    /// The LV was named itself (not only its VG).
    pub fn named_lv(&self, vg: &str, lv: &str) -> bool {
        self.lvs.iter().any(|(v, l)| v == vg && l == lv)
    }

    /// The device is to be reported.
    pub fn has_device(&self, i: usize) -> bool {
        self.everything || self.devices.contains(&i)
    }
}

/// Reads the arguments of a report (`pvs`: devices; `vgs`: VGs; `lvs`: VGs
/// and LVs) and finds what they name in `sys`. A name that names nothing
/// gives lvm2's messages (`Volume group "X" not found` and `Cannot process
/// volume group X`, `Failed to find logical volume "VG/LV"`, `Cannot use
/// X: device not found`) and makes the report fail; a malformed one is an
/// error at once, as in lvm2 (nothing is reported).
pub fn select(sys: &System, pvs: bool, vgs: bool, args: &[String]) -> Result<Selection> {
    select_with_history(sys, pvs, vgs, args, false)
}

/// [`select`]; `history` (`lvs -H`): `VG/-NAME` names historical LV NAME
/// (see [`crate::lineage`]).
pub fn select_with_history(
    sys: &System,
    pvs: bool,
    vgs: bool,
    args: &[String],
    history: bool,
) -> Result<Selection> {
    let mut sel = Selection {
        everything: args.is_empty(),
        ..Selection::default()
    };
    if pvs {
        // lvm2 first looks the devices up, then reads each as a PV.
        let mut not_pv = Vec::new();
        for a in args {
            match device_index(sys, a) {
                None => {
                    sel.messages
                        .push(format!("Cannot use {a}: device not found"));
                    sel.failed = true;
                }
                Some(i) if sys.devices[i].label.is_none() => {
                    not_pv.push(format!("Failed to find physical volume \"{a}\"."));
                    sel.failed = true;
                }
                Some(i) => {
                    if !sel.devices.contains(&i) {
                        sel.devices.push(i);
                    }
                }
            }
        }
        sel.messages.extend(not_pv);
        return Ok(sel);
    }
    // Every argument is read before anything is looked up.
    let mut named = Vec::new();
    for a in args {
        if let Some(t) = a.strip_prefix('@') {
            if crate::lv::check_tag(t).is_err() {
                sel.messages.push(format!("Skipping invalid tag {a}."));
            } else if !sel.tags.iter().any(|x| x == t) {
                sel.tags.push(t.to_owned());
            }
            continue;
        }
        if vgs {
            named.push(Named {
                vg: vg_arg(a)?,
                lv: None,
                warning: skip_dev_dir(a).warning,
            });
        } else {
            named.push(lv_arg(a)?);
        }
    }
    sel.messages
        .extend(named.iter().filter_map(|n| n.warning.clone()));
    // VGs in the order of their first mention, each VG's missing LVs in
    // the order they were named.
    let mut order: Vec<&str> = Vec::new();
    for n in &named {
        if !order.contains(&n.vg.as_str()) {
            order.push(&n.vg);
        }
    }
    for vg in order {
        let Some(inst) = sys.vg(vg) else {
            sel.messages
                .push(format!("Volume group \"{vg}\" not found"));
            sel.messages
                .push(format!("Cannot process volume group {vg}"));
            sel.failed = true;
            continue;
        };
        for n in named.iter().filter(|n| n.vg == vg) {
            match &n.lv {
                None => {
                    if !sel.vgs.iter().any(|v| v == vg) {
                        sel.vgs.push(vg.to_owned());
                    }
                }
                Some(lv) => {
                    let found = inst
                        .vg
                        .lv_index(lv)
                        .is_some_and(|li| !inst.vg.lvs[li].is_snapshot_glue())
                        || (history
                            && lv.strip_prefix('-').is_some_and(|h| {
                                !inst.vg.historical_lvs.is_empty()
                                    && crate::lineage::Lineage::of(&inst.vg).find(h).is_some()
                            }));
                    if !found {
                        let m = format!("Failed to find logical volume \"{vg}/{lv}\"");
                        if !sel.messages.contains(&m) {
                            sel.messages.push(m);
                        }
                        sel.failed = true;
                    } else if !sel.lvs.iter().any(|(v, l)| v == vg && l == lv) {
                        sel.lvs.push((vg.to_owned(), lv.clone()));
                    }
                }
            }
        }
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(arg: &str) -> (String, Option<String>) {
        let n = lv_arg(arg).unwrap_or_else(|e| panic!("{arg}: {e}"));
        (n.vg, n.lv)
    }

    fn some(vg: &str, lv: &str) -> (String, Option<String>) {
        (vg.to_owned(), Some(lv.to_owned()))
    }

    #[test]
    fn every_form_of_an_lv_name_gives_the_same_lv() {
        for a in [
            "vg-x/lv-1",
            "vg-x//lv-1",
            "/dev/vg-x/lv-1",
            "//dev//vg-x//lv-1",
            "/dev/mapper/vg--x-lv--1",
            "/dev//mapper//vg--x-lv--1",
        ] {
            assert_eq!(lv(a), some("vg-x", "lv-1"), "{a}");
        }
    }

    #[test]
    fn a_vg_alone_in_every_form() {
        for a in ["vg-x", "/dev/vg-x", "/dev/mapper/vg--x", "/dev//vg-x"] {
            assert_eq!(lv(a), ("vg-x".to_owned(), None), "{a}");
            assert_eq!(vg_arg(a).unwrap(), "vg-x", "{a}");
        }
    }

    #[test]
    fn paths_lvm2_refuses() {
        for a in ["vg/lv/extra", "/vg/lv", "/tmp/x", "/dev/vg/lv/x"] {
            let e = lv_arg(a).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("\"{a}\": Invalid path for Logical Volume."),
                "{a}"
            );
            assert_eq!(e.exit_code(), 5);
        }
        let e = vg_arg("vg-x/lv-1").unwrap_err();
        assert_eq!(e.to_string(), "Invalid volume group name vg-x/lv-1.");
        assert_eq!(e.exit_code(), 3);
        // /dev/mapper/VG-LV is an LV, not a VG.
        assert_eq!(
            vg_arg("/dev/mapper/vg--x-lv--1").unwrap_err().to_string(),
            "Invalid volume group name vg-x/lv-1."
        );
        assert_eq!(
            vg_lv("vg").unwrap_err().to_string(),
            "\"vg\": Invalid path for Logical Volume."
        );
    }

    #[test]
    fn a_layer_is_no_lv_and_lvm2_says_so() {
        let s = skip_dev_dir("/dev/mapper/vg--x-lv--1-real");
        assert_eq!(s.name, "vg--x-lv--1-real");
        assert_eq!(
            s.warning.as_deref(),
            Some("skip_dev_dir: Couldn't split up device name vg--x-lv--1-real.")
        );
        // Single hyphens inside names were not doubled: the split goes wrong
        // exactly as lvm2's does.
        let s = skip_dev_dir("/dev/mapper/vg-x-lv-1");
        assert_eq!(s.name, "vg-x-lv-1");
        assert!(s.warning.is_some());
    }

    #[test]
    fn libdevmapper_split_edge_cases() {
        let p = |s: &str| {
            let d = split_dm_name(s);
            (d.vg, d.lv, d.layer)
        };
        let t = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(p("vg--x-"), t("vg-x-", "", ""));
        assert_eq!(p("vg-"), t("vg-", "", ""));
        assert_eq!(p("vg-lv-"), t("vg", "lv-", ""));
        assert_eq!(p("a-b-c-d"), t("a", "b", "c"));
        assert_eq!(p("---"), t("--", "", ""));
        assert_eq!(p(""), t("", "", ""));
        assert_eq!(p("vg---lv"), t("vg-", "lv", ""));
        assert_eq!(skip_dev_dir("/dev/mapper/vg--x-").name, "vg-x-");
    }

    #[test]
    fn not_under_dev() {
        let s = skip_dev_dir("vg/lv");
        assert!(!s.dev_dir);
        assert_eq!(s.name, "vg/lv");
        assert!(skip_dev_dir("/dev/vg").dev_dir);
        // "/devices/x" does not start with "/dev/".
        assert_eq!(skip_dev_dir("/devices/x").name, "/devices/x");
        assert_eq!(skip_dev_dir("/dev/mapperx/y").name, "mapperx/y");
    }

    #[test]
    fn the_vg_of_an_lv_argument() {
        assert_eq!(vg_of_lv("lv").unwrap(), None);
        assert_eq!(vg_of_lv("/dev/vg/lv").unwrap().as_deref(), Some("vg"));
        assert!(vg_of_lv("a/b/c").is_err());
    }

    #[test]
    fn lvcreate_reads_its_names_as_lvm2() {
        let n = lvcreate_names("/dev/mapper/vg--x-origin", true, Some("snap")).unwrap();
        assert_eq!(
            (n.vg.as_str(), n.origin.as_deref(), n.name.as_deref()),
            ("vg-x", Some("origin"), Some("snap"))
        );
        let n = lvcreate_names("/dev/vg-x", false, Some("vg-x/new")).unwrap();
        assert_eq!((n.vg.as_str(), n.name.as_deref()), ("vg-x", Some("new")));
        let e =
            |a: &str, s: bool, n: Option<&str>| lvcreate_names(a, s, n).unwrap_err().to_string();
        assert_eq!(
            e("vg-x/lv", false, None),
            "Volume group name expected (no slash)"
        );
        assert_eq!(
            e("origin", true, None),
            "The origin name should include the volume group."
        );
        assert_eq!(
            e("vg/o", true, Some("other/s")),
            "Please use a single volume group name (\"vg\" or \"other\")."
        );
        assert_eq!(
            e("vg", false, Some("other/s")),
            "Inconsistent volume group names given: \"other\" and \"vg\""
        );
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        // lvm2's name characters: letters, digits and . _ + -, not
        // starting with a hyphen.
        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9._+][a-zA-Z0-9._+-]{0,20}"
        }

        proptest! {
            #[test]
            fn mapper_names_round_trip(vg in name(), lv in name()) {
                // A name ending in a hyphen is the one libdevmapper cannot
                // tell from a separator; lvm2 names may end so, the split
                // of VG-LV then still holds as long as the LV part is last.
                let d = dm_name(&vg, &lv, None);
                let p = split_dm_name(&d);
                prop_assert_eq!(&p.vg, &vg);
                prop_assert_eq!(&p.lv, &lv);
                prop_assert_eq!(&p.layer, "");
                let n = lv_arg(&format!("/dev/mapper/{d}")).unwrap();
                prop_assert_eq!(n.vg, vg.clone());
                prop_assert_eq!(n.lv, Some(lv.clone()));
                let n = lv_arg(&format!("/dev/{vg}/{lv}")).unwrap();
                prop_assert_eq!(n.full(), format!("{vg}/{lv}"));
            }

            #[test]
            fn layers_round_trip(vg in name(), lv in name(), layer in "[a-z]{1,6}") {
                let p = split_dm_name(&dm_name(&vg, &lv, Some(&layer)));
                prop_assert_eq!(p, DmParts { vg, lv, layer });
            }

            #[test]
            fn any_text_splits_without_panic(s in "\\PC{0,40}") {
                let _ = split_dm_name(&s);
                let _ = skip_dev_dir(&s);
                let _ = lv_arg(&s);
            }
        }
    }
}
