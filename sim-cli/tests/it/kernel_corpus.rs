//! The kernel corpus (testdata/kernel/, see testdata/README.md): disk images
//! written by the real Linux kernel and lvm2 under qemu, with everything they
//! reported.  Each test decompresses one scenario's images into a temporary
//! folder and checks every recorded expectation that lvmsim can answer today
//! for the final on-disk state (and, for `merge-interrupted`, for the
//! `after-boot1` images too):
//!
//! * metadata: `lvmsim vgcfgbackup VG` against the last `NNN.vgcfg.VG` (VG
//!   body lines; comments, `description`, `creation_host`, the header
//!   `creation_time` and the `device = ` hint naming `/dev/vdX` ignored), and
//!   `lvmsim pvck --dump headers|metadata_search|metadata` of every disk
//!   against the last `NNN.pvck-*.DISK`;
//! * reports: the last `NNN.{pvs,pvsegs,vgs,lvs,lvsegs}.json` field by field
//!   (`lvs --active`, so lv_attr and Data%/Snap% are the kernel-state ones)
//!   against lvmsim's report with the same fields (the runner asked for
//!   `pv_all`, `lv_all`, ...; lvmsim gets the recorded field names), plus the
//!   default `pvs`, `vgs` and `lvs -a` text and an empty stderr;
//! * LV contents: the sha256 of every `check` step whose LV still shows the
//!   same contents at the end (linear and striped LVs, origins, valid
//!   snapshots: cow-engine reads snapshot views since commit 2d48ec9) against
//!   `lvmsim cat`, and, independently, every sector the scenario's `write`
//!   steps left in that LV against the write pattern; `lvmsim cat` of an
//!   invalidated snapshot must fail as the kernel's read did (EIO).
//!
//! Only the report step after which no step changed metadata is used (the
//! test asserts that).  What is NOT checked, and why, is stated per scenario
//! in `spec()` or in the constants below; nothing is skipped silently.  Not
//! compared here: `NNN.dmsetup-table`/`NNN.dmsetup-status` and
//! `expect-status` (tests/it/kernel_dmtable.rs, kernel_dmsetup.rs and
//! kernel_write.rs do), and the stdout and stderr of lvm2's commands.

use crate::common::{self, Lvmsim, Output};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("testdata/kernel")
}

// ---------------------------------------------------------------------------
// What each scenario checks.

/// Which images of a scenario are checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    /// `DISK.img.zst`: the end of the scenario.
    Final,
    /// `DISK.after-boot1.img.zst`: what boot 1 left (merge-interrupted).
    AfterBoot1,
}

struct Spec {
    /// LVs whose final contents are read with `lvmsim cat`: linear and
    /// striped LVs, origins, and valid snapshots (views through the exception
    /// store).  Compared: the sha256 of each of their `check` steps after
    /// which the view did not change, and every sector the `write` steps
    /// left in them (see `model`).
    contents: &'static [&'static str],
    /// Invalidated snapshots whose `! check` failed with EIO in the kernel:
    /// `lvmsim cat` must fail too.
    unreadable: &'static [&'static str],
    /// Views with no `check` of their own at this state: (LV, step whose
    /// recorded sha256 the view must have, why that is the same content).
    view_of: &'static [(&'static str, u32, &'static str)],
    /// LVs with `check` steps that are not compared, and why.
    no_contents: &'static [(&'static str, &'static str)],
}

const NONE: Spec = Spec {
    contents: &[],
    unreadable: &[],
    view_of: &[],
    no_contents: &[],
};

const MERGED_AWAY: &str =
    "the snapshot was merged and removed afterwards: no longer on the final images";
const REMOVED_FORENSICS: &str =
    "the snapshot was removed afterwards: compared with `recover --export` in tests/it/kernel_forensics.rs";

/// Scenarios whose final images lvm2 itself could no longer read (their
/// last report found no VG), so this file has nothing to compare them
/// with; tests/it/kernel_forensics.rs reads them with `--scan-all`.
const DAMAGED: &[(&str, &str)] = &[
    (
        "damaged-label",
        "label sector zeroed after the last report that found the VG",
    ),
    (
        "damaged-mda",
        "metadata area header zeroed after the last report that found the VG",
    ),
];

/// Scenarios compared in a module of their own rather than here, and why.
const ELSEWHERE: &[(&str, &str)] = &[
    (
        "raid-levels",
        "RAID and mirror LVs: their contents, healthy and degraded, are compared in tests/it/kernel_raid.rs; lvmsim does not report their attributes, sync state and sub-LV roles yet, and the final report was taken with two PVs missing",
    ),
    (
        "cache-writeback",
        "cached LVs: their contents (cached and --uncached) and reports are compared in tests/it/kernel_cache.rs",
    ),
    (
        "writecache",
        "writecached LVs and a raid1 with integrity: their contents (cached and --uncached) and reports are compared in tests/it/kernel_writecache.rs",
    ),
    (
        "thin-merge",
        "thin snapshots merged into their origin (the writes to a snapshot end up in the origin) and writes cut by a full pool: lvmsim runs the merges and the writes on the images boots 1 and 2 left and is compared with every check, report and the final pool metadata in tests/it/kernel_thin_merge.rs",
    ),
];

fn spec(name: &str, variant: Variant) -> Spec {
    if variant == Variant::AfterBoot1 {
        assert_eq!(name, "merge-interrupted");
        // Boot 1 was cut in the middle of the merge: the origin's view is
        // the merging snapshot's content (the kernel reads unmerged chunks
        // from the COW), i.e. what the origin holds once the merge is done.
        return Spec {
            contents: &["vg/origin"],
            view_of: &[
                ("vg/origin", 11, "the snapshot's check before `lvconvert --merge` (step 014); nothing wrote to it after"),
                ("vg/origin", 25, "the origin's check in boot 2 once the merge had finished; nothing wrote to it in between"),
            ],
            no_contents: &[(
                "vg/snap",
                "merging snapshot: the kernel maps it to the error target, and no check of it was recorded in this state",
            )],
            ..NONE
        };
    }
    match name {
        "linear-fragmented" => Spec {
            contents: &["vg/a", "vg/c", "vg/e"],
            ..NONE
        },
        "striped-mdacopies" => Spec {
            contents: &["vg/s3", "vg/s2", "vg/rest"],
            ..NONE
        },
        "ring-wrap" => Spec {
            contents: &["vg/lv1"],
            ..NONE
        },
        "snap-chunks" => Spec {
            contents: &["vg/origin", "vg/s4k", "vg/s64k", "vg/s512k"],
            ..NONE
        },
        "snap-overflow" => Spec {
            contents: &["vg/origin"],
            unreadable: &["vg/snap"],
            ..NONE
        },
        "snap-write-overflow" => Spec {
            contents: &["vg/origin"],
            unreadable: &["vg/snap"],
            ..NONE
        },
        // c256 and c258 are invalid too, but no `check` of them was recorded
        // (only `expect-status ... Invalid`, a device-mapper status).
        "snap-full-edges" => Spec {
            contents: &["vg/origin", "vg/c259"],
            ..NONE
        },
        "two-snaps-one-overflows" => Spec {
            contents: &["vg/origin", "vg/big"],
            unreadable: &["vg/small"],
            ..NONE
        },
        "plan-threshold" => Spec {
            contents: &["vg/origin", "vg/s4k303", "vg/s16k608"],
            ..NONE
        },
        "snap-areas" => Spec {
            contents: &["vg/origin", "vg/snap"],
            ..NONE
        },
        "snap-extend" => Spec {
            contents: &["vg/origin", "vg/snap"],
            ..NONE
        },
        "snap-striped-origin" => Spec {
            contents: &["vg/origin", "vg/s1", "vg/s2"],
            ..NONE
        },
        // A thin pool: thin LVs and a thin snapshot read through the pool's
        // metadata (tests/it/kernel_thin.rs compares the rest).
        "thin-pool" => Spec {
            contents: &["vg/thin1", "vg/thin2", "vg/snap"],
            ..NONE
        },
        // Thin LVs removed (recovered in tests/it/thin_recover.rs).
        "thin-recover" => Spec {
            contents: &["vg/keep", "vg/late"],
            no_contents: &[
                ("vg/lost", "removed: recovered in tests/it/thin_recover.rs"),
                ("vg/held", "removed: recovered in tests/it/thin_recover.rs"),
            ],
            ..NONE
        },
        // Thin pools made with lvm2's defaults and grown; t3 read through
        // its pool (kernel_metadata_replay.rs compares the VG metadata).
        "thin-resize" => Spec {
            contents: &["vg/t3"],
            ..NONE
        },
        "snap-lvremove" => Spec {
            contents: &["vg/origin"],
            no_contents: &[(
                "vg/snap",
                "the snapshot was removed afterwards: no longer on the final images",
            )],
            ..NONE
        },
        // After a finished merge the origin is a plain LV again.
        // Every LV was removed at the end; the walkthrough's stages are
        // compared in tests/it/kernel_walkthrough.rs.
        "walkthrough" => NONE,
        "walkthrough-merge" => Spec {
            no_contents: &[(
                "testvg/testvol",
                "both merges took every write back out, so no write pattern is left to check; its final check is compared in tests/it/kernel_walkthrough.rs",
            )],
            ..NONE
        },
        "merge-complete" => Spec {
            contents: &["vg/origin"],
            no_contents: &[("vg/snap", MERGED_AWAY)],
            ..NONE
        },
        "merge-interrupted" => Spec {
            contents: &["vg/origin"],
            no_contents: &[("vg/snap", MERGED_AWAY)],
            ..NONE
        },
        "merge-with-sibling" => Spec {
            contents: &["vg/origin", "vg/keep"],
            no_contents: &[("vg/merge", MERGED_AWAY)],
            ..NONE
        },
        "snap-partial-chunk" => Spec {
            contents: &["vg/origin"],
            no_contents: &[("vg/snap", MERGED_AWAY)],
            ..NONE
        },
        // The dropped snapshots' recorded views are compared with
        // `lvmsim recover --export` in tests/it/kernel_forensics.rs.
        "snap-drop-reuse" => Spec {
            contents: &["vg/origin"],
            no_contents: &[
                ("vg/a", REMOVED_FORENSICS),
                ("vg/b", REMOVED_FORENSICS),
                ("vg/c", REMOVED_FORENSICS),
            ],
            ..NONE
        },
        // Its `checkblocks` while valid is compared with the export of the
        // overflowed store in tests/it/kernel_forensics.rs.
        "snap-overflow-blocks" => Spec {
            contents: &["vg/origin"],
            unreadable: &["vg/snap"],
            ..NONE
        },
        other => panic!("scenario {other} has no entry in spec(): say what it checks"),
    }
}

/// Report fields the kernel's lvm2 printed that lvmsim does not know (it
/// would reject them with "Unrecognised field"). They are left out of the
/// `-o` list and not compared; `fields_not_yet_in_lvmsim_are_still_missing`
/// fails as soon as lvmsim learns one, so it moves to the checked set.
/// lvmsim knows every field of lvm2 2.03.16 now; the fields the kernel
/// decides (device numbers, read-ahead) are normalised in
/// `kernel_dependent()`.
const NOT_IN_LVMSIM: &[(&str, &[&str])] = &[
    ("pvs", &[]),
    ("pvsegs", &[]),
    ("vgs", &[]),
    ("lvs", &[]),
    ("lvsegs", &[]),
];

/// Checks that fail because of an lvmsim bug: (scenario or `*` for all,
/// check id or id prefix ending in `:`, what is wrong).  The scenario tests
/// leave them out (and say so in their summary); each has its own
/// `#[ignore = "lvmsim bug: ..."]` test below that runs just those checks
/// over the whole corpus, so it turns green when lvmsim is fixed.
const KNOWN_BUGS: &[(&str, &str, &str)] = &[];

fn bug_matches(pattern: &str, id: &str) -> bool {
    if pattern.ends_with(':') {
        id.starts_with(pattern)
    } else {
        id == pattern
    }
}

fn known_bug(scen: &str, id: &str) -> Option<&'static str> {
    KNOWN_BUGS
        .iter()
        .find(|(s, i, _)| (*s == "*" || *s == scen) && bug_matches(i, id))
        .map(|(_, _, why)| *why)
}

/// Normalises a field whose value depends on the running kernel. The
/// kernel reported an active VG; lvmsim reports with `--active` (state 'a'
/// or 'I' in lv_attr, snapshot percentages from the stores), so lv_attr
/// and the percentages are compared for real on the images the report
/// describes. Only `merge-interrupted.after-boot1` keeps its percentages
/// normalised (`percent_moved`): its report was taken after the kernel had
/// advanced the merge past the images boot 1 left.
fn kernel_dependent(field: &str, v: &str, percent_moved: bool) -> String {
    match field {
        "snap_percent" | "data_percent" if percent_moved => "<dm status>".into(),
        // The block devices' numbers (the guest's disks, the kernel's dm
        // minors in activation order) and the kernel's read-ahead: an image
        // has none of them (lvmsim prints -1).
        "pv_major"
        | "pv_minor"
        | "lv_kernel_major"
        | "lv_kernel_minor"
        | "lv_kernel_read_ahead" => "<kernel>".into(),
        _ => v.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// The scenario on disk.

struct Step {
    n: u32,
    boot: u32,
    rc: i32,
    /// As written in the scenario, with a leading `! ` if it must fail.
    text: String,
}

impl Step {
    /// The step's words, without `--config VALUE` (an lvm2 setting for
    /// one command, e.g. thin-pool's `global/thin_check_executable=""`:
    /// it changes nothing the step does to the images).
    fn words(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut it = self.text.trim_start_matches("! ").split_whitespace();
        while let Some(w) = it.next() {
            if w == "--config" {
                it.next();
            } else {
                out.push(w);
            }
        }
        out
    }
    fn succeeded(&self) -> bool {
        self.rc == 0
    }
}

fn steps(dir: &Path) -> Vec<Step> {
    let t = std::fs::read_to_string(dir.join("steps.tsv")).unwrap();
    t.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(6, '\t').collect();
            assert_eq!(f.len(), 6, "steps.tsv line {l:?}");
            assert_eq!(
                f[3],
                "ok",
                "{}: step {} did not behave as expected",
                dir.display(),
                f[0]
            );
            Step {
                n: f[0].parse().unwrap(),
                boot: f[1].parse().unwrap(),
                rc: f[2].parse().unwrap(),
                text: common::kgen::lv_paths(f[5]),
            }
        })
        .collect()
}

/// Disk names in declaration order.
fn disks(dir: &Path) -> Vec<String> {
    let t = std::fs::read_to_string(dir.join("scenario")).unwrap();
    t.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("disk "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// Disk name -> the guest's device (`/dev/vdX`) in the given boot, from the
/// `disks` line of `bootN.versions` (made from the virtio serials).
fn guest_devices(dir: &Path, boot: u32) -> BTreeMap<String, String> {
    let t = std::fs::read_to_string(dir.join(format!("boot{boot}.versions"))).unwrap();
    let line = t
        .lines()
        .find_map(|l| l.strip_prefix("disks "))
        .expect("bootN.versions has a disks line");
    line.split(';')
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let w: Vec<&str> = e.split_whitespace().collect();
            assert_eq!(w.len(), 3, "disks entry {e:?}");
            (w[1].to_owned(), w[2].to_owned())
        })
        .collect()
}

fn is_metadata_neutral(step: &Step) -> bool {
    // Steps that do not commit lvm2 metadata (README, "lvm2 metadata":
    // vgchange -ay/-an and reports make no commit).
    let w = step.words();
    match w.first().copied() {
        Some(
            "write" | "check" | "checkblocks" | "report" | "expect-status" | "throttle" | "sleep"
            | "poweroff",
        ) => true,
        Some("dmsetup") => w.get(1) == Some(&"status") || w.get(1) == Some(&"table"),
        Some("vgchange") => w.iter().any(|x| *x == "-ay" || *x == "-an"),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Running lvmsim.

struct Loaded {
    _work: tempfile::TempDir,
    /// Disk name -> decompressed image.
    images: BTreeMap<String, PathBuf>,
}

fn load(dir: &Path, variant: Variant) -> Loaded {
    let work = crate::common::scratch();
    let mut images = BTreeMap::new();
    for d in disks(dir) {
        let file = match variant {
            Variant::Final => format!("{d}.img.zst"),
            Variant::AfterBoot1 => format!("{d}.after-boot1.img.zst"),
        };
        let out = work.path().join(format!("{d}.img"));
        common::unzst_to(&dir.join(&file), &out);
        images.insert(d, out);
    }
    Loaded {
        _work: work,
        images,
    }
}

fn lvmsim(args: &[String]) -> Output {
    Lvmsim::new().args(args).run()
}

// ---------------------------------------------------------------------------
// Checks.

struct Ctx {
    scen: String,
    /// Only this check runs (the tests of known bugs).
    only: Option<String>,
    passed: Vec<String>,
    failed: Vec<String>,
    bypassed: Vec<String>,
    /// Extra facts for the summary line.
    notes: Vec<String>,
    /// The kernel moved the snapshot percentages on after these images
    /// (see `kernel_dependent`).
    percent_moved: bool,
}

impl Ctx {
    fn wants(&mut self, id: &str) -> bool {
        match &self.only {
            Some(o) => bug_matches(o, id),
            None => match known_bug(&self.scen, id) {
                Some(_) => {
                    self.bypassed.push(format!("{id} (KNOWN_BUGS)"));
                    false
                }
                None => true,
            },
        }
    }

    fn record(&mut self, id: &str, r: Result<(), String>) {
        match r {
            Ok(()) => self.passed.push(id.to_owned()),
            Err(e) => self.failed.push(format!("{}: {id}: {e}", self.scen)),
        }
    }
}

fn first_diff(want: &str, got: &str) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return Err(format!("line {}: kernel {w:?}, lvmsim {g:?}", i + 1));
        }
    }
    Err(format!(
        "kernel has {} lines, lvmsim {} (or trailing newline differs)",
        want.lines().count(),
        got.lines().count()
    ))
}

/// The body of a metadata backup both must agree on.
fn backup_body(t: &str) -> String {
    t.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| !l.starts_with("description = "))
        .filter(|l| !l.starts_with("creation_host = "))
        // The header's creation_time (of the backup); LVs' creation_time
        // lines are indented and kept.
        .filter(|l| !l.starts_with("creation_time = "))
        // `device = "/dev/vdX"	# Hint only`: the guest's device name.
        .filter(|l| !l.trim_start().starts_with("device = "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// (field names in recorded order, rows) of a recorded JSON report.
fn json_rows(t: &str) -> (Vec<String>, Vec<serde_json::Map<String, serde_json::Value>>) {
    let v: serde_json::Value = serde_json::from_str(t).unwrap_or_else(|e| panic!("{e}: {t}"));
    let rep = &v["report"][0];
    let obj = rep.as_object().expect("report object");
    assert_eq!(obj.len(), 1, "one list per report");
    let rows: Vec<_> = obj
        .values()
        .next()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect();
    // Field order as printed (serde_json's map does not keep it).
    let mut fields: Vec<String> = Vec::new();
    if let Some(line) = t.lines().map(str::trim).find(|l| l.starts_with("{\"")) {
        for part in line.trim_start_matches('{').split("\", \"") {
            let name = part.trim_start_matches('"');
            let name = name.split("\":\"").next().unwrap();
            fields.push(name.to_owned());
        }
    }
    if let Some(r) = rows.first() {
        let mut a: Vec<&String> = fields.iter().collect();
        let mut b: Vec<&String> = r.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "field names of {t}");
    }
    (fields, rows)
}

fn cell(v: &serde_json::Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

const REPORTS: &[(&str, &[&str])] = &[
    // (recorded file, lvmsim arguments), as in testdata/gen/guest/kgen-runner.
    ("pvs", &["pvs"]),
    ("pvsegs", &["pvs", "--segments"]),
    ("vgs", &["vgs"]),
    ("lvs", &["lvs", "-a", "--active"]),
    ("lvsegs", &["lvs", "-a", "--segments", "--active"]),
];

fn not_in_lvmsim(report: &str) -> &'static [&'static str] {
    NOT_IN_LVMSIM
        .iter()
        .find(|(r, _)| *r == report)
        .map(|(_, f)| *f)
        .unwrap_or(&[])
}

fn check_json_report(cx: &mut Ctx, devargs: &[String], golden: &Path, report: &str, args: &[&str]) {
    let want_text = std::fs::read_to_string(golden).unwrap();
    let (fields, want) = json_rows(&want_text);
    let rows_id = format!("{report}.json:rows");
    if want.is_empty() {
        // Every LV (or PV, VG) was gone: lvmsim must list none either.
        let mut a: Vec<String> = devargs.to_vec();
        a.extend(args.iter().map(|s| s.to_string()));
        a.extend(["--reportformat".to_owned(), "json".to_owned()]);
        let out = lvmsim(&a);
        if cx.wants(&rows_id) {
            let got = out.ok().then(|| json_rows(&out.text()).1.len());
            let r = match got {
                Some(0) => Ok(()),
                other => Err(format!("kernel no rows, lvmsim {other:?} ({})", out.stderr)),
            };
            cx.record(&rows_id, r);
        }
        return;
    }
    assert!(!fields.is_empty(), "{}: no fields", golden.display());
    let skip = not_in_lvmsim(report);
    let asked: Vec<&String> = fields
        .iter()
        .filter(|f| !skip.contains(&f.as_str()))
        .collect();
    let mut a: Vec<String> = devargs.to_vec();
    a.extend(args.iter().map(|s| s.to_string()));
    a.extend(
        ["--reportformat", "json", "--units", "b", "--nosuffix", "-o"]
            .iter()
            .map(|s| s.to_string()),
    );
    a.push(
        asked
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    let out = lvmsim(&a);
    if !out.ok() || !out.stderr.is_empty() {
        if cx.wants(&rows_id) {
            cx.record(
                &rows_id,
                Err(format!("lvmsim {a:?} failed or warned: {}", out.stderr)),
            );
        }
        return;
    }
    let (_, got) = json_rows(&out.text());
    let key = |r: &serde_json::Map<String, serde_json::Value>| -> String {
        ["pv_name", "vg_name", "lv_name", "seg_start", "pvseg_start"]
            .iter()
            .filter_map(|k| r.get(*k).map(|v| format!("{k}={}", cell(v))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if cx.wants(&rows_id) {
        let r = if want.len() == got.len() {
            Ok(())
        } else {
            Err(format!(
                "kernel {} rows [{}], lvmsim {} rows [{}]",
                want.len(),
                want.iter().map(key).collect::<Vec<_>>().join("; "),
                got.len(),
                got.iter().map(key).collect::<Vec<_>>().join("; ")
            ))
        };
        cx.record(&rows_id, r);
    }
    for f in &asked {
        let id = format!("{report}.json:{f}");
        if !cx.wants(&id) {
            continue;
        }
        let mut errs = Vec::new();
        for (i, (w, g)) in want.iter().zip(got.iter()).enumerate() {
            let wv = kernel_dependent(f, &cell(&w[f.as_str()]), cx.percent_moved);
            let gv = match g.get(f.as_str()) {
                Some(v) => kernel_dependent(f, &cell(v), cx.percent_moved),
                None => "<missing>".into(),
            };
            if wv != gv {
                errs.push(format!(
                    "row {i} ({}): kernel {wv:?}, lvmsim {gv:?}",
                    key(w)
                ));
            }
        }
        let r = if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("; "))
        };
        cx.record(&id, r);
    }
}

/// `lvs -a` text where the Data% values moved on after the images (see
/// `kernel_dependent`): the rows are compared word by word with the
/// percentages (`dd.dd`) dropped, as the column's width follows its values.
fn lvs_text_words(t: &str) -> Vec<Vec<String>> {
    t.lines()
        .enumerate()
        .map(|(i, l)| {
            let mut w: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            if i > 0 {
                w.retain(|x| {
                    let (int, frac) = x.split_once('.').unwrap_or((x, "x"));
                    !(frac.len() == 2
                        && !int.is_empty()
                        && int.bytes().all(|b| b.is_ascii_digit())
                        && frac.bytes().all(|b| b.is_ascii_digit()))
                });
            }
            w
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The write pattern and a model of what the writes left in each LV.

fn pattern_sector(tag: &str, lv: &str, s: u64) -> Vec<u8> {
    let line = format!("{tag} {lv} {s}\n");
    line.bytes().cycle().take(512).collect()
}

/// Per LV (`vg/name`): sector -> (tag, LV name the write used).
type Model = HashMap<String, BTreeMap<u64, (String, String)>>;

/// Replays the steps that move data: `write`, snapshot creation (the
/// snapshot starts as the origin's image), removal, and a merge (the
/// origin becomes the snapshot's image; every merge in this corpus ends
/// merged in the final state).
fn model(steps: &[Step]) -> Model {
    let mut m: Model = HashMap::new();
    let origin_of = origins(steps);
    for st in steps {
        let w = st.words();
        match w[0] {
            "write" if st.succeeded() => {
                let lv = w[1].to_owned();
                let (s0, count, tag): (u64, u64, &str) =
                    (w[2].parse().unwrap(), w[3].parse().unwrap(), w[4]);
                let (stride, times): (u64, u64) = if w.len() >= 7 {
                    (w[5].parse().unwrap(), w[6].parse().unwrap())
                } else {
                    (0, 1)
                };
                let map = m.entry(lv.clone()).or_default();
                for k in 0..times {
                    for s in s0 + k * stride..s0 + k * stride + count {
                        map.insert(s, (tag.to_owned(), lv.clone()));
                    }
                }
            }
            "lvcreate" => {
                // A thin pool (`-T VG/POOL`, no -n) holds no data of its own.
                let Some(n_at) = w.iter().position(|x| *x == "-n") else {
                    continue;
                };
                let name = w[n_at + 1];
                let lv = match origin_of
                    .iter()
                    .find(|(snap, _)| snap.ends_with(&format!("/{name}")))
                {
                    // The snapshot starts as its origin's image.
                    Some((snap, origin)) if w.contains(&"-s") => {
                        let img = m.get(origin).cloned().unwrap_or_default();
                        m.insert(snap.clone(), img);
                        continue;
                    }
                    _ => {
                        // `lvcreate ... -n NAME VG [@PV...]`
                        let vg = w.iter().rev().find(|x| !x.starts_with('@')).unwrap();
                        format!("{vg}/{name}")
                    }
                };
                // A new LV: nothing known about its data (-Zn).
                m.insert(lv, BTreeMap::new());
            }
            "lvremove" => {
                m.remove(*w.last().unwrap());
            }
            "lvconvert" if w.contains(&"--merge") => {
                let snap = w.last().unwrap().to_string();
                let origin = origin_of[&snap].clone();
                let img = m.remove(&snap).unwrap_or_default();
                m.insert(origin, img);
            }
            _ => {}
        }
    }
    m
}

fn verify_pattern(data: &[u8], written: &BTreeMap<u64, (String, String)>) -> Result<usize, String> {
    let mut bad = Vec::new();
    for (s, (tag, wlv)) in written {
        let at = (*s as usize) * 512;
        let want = pattern_sector(tag, wlv, *s);
        match data.get(at..at + 512) {
            Some(got) if got == want.as_slice() => {}
            Some(got) => {
                if bad.len() < 5 {
                    let shown = String::from_utf8_lossy(&got[..32.min(got.len())]).into_owned();
                    bad.push(format!(
                        "sector {s}: want {:?}..., got {shown:?}...",
                        String::from_utf8_lossy(&want[..32])
                    ));
                } else {
                    bad.push(String::new());
                }
            }
            None => bad.push(format!("sector {s}: past the end ({} bytes)", data.len())),
        }
    }
    if bad.is_empty() {
        Ok(written.len())
    } else {
        Err(format!(
            "{} of {} written sectors differ: {}",
            bad.len(),
            written.len(),
            bad.iter()
                .filter(|b| !b.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}

// ---------------------------------------------------------------------------
// One scenario.

fn run_scenario(name: &str, variant: Variant, only: Option<&str>) -> Ctx {
    let dir = corpus().join(name);
    let all = steps(&dir);
    let sp = spec(name, variant);
    let scen = match variant {
        Variant::Final => name.to_owned(),
        Variant::AfterBoot1 => format!("{name}.after-boot1"),
    };
    let mut cx = Ctx {
        scen,
        only: only.map(str::to_owned),
        passed: Vec::new(),
        failed: Vec::new(),
        bypassed: Vec::new(),
        notes: Vec::new(),
        percent_moved: variant == Variant::AfterBoot1,
    };

    // The report that describes these images.
    let report = match variant {
        Variant::Final => {
            let r = all.iter().rev().find(|s| s.words()[0] == "report").unwrap();
            for s in all.iter().filter(|s| s.n > r.n) {
                assert!(
                    is_metadata_neutral(s),
                    "{name}: step {} `{}` after the last report may change metadata",
                    s.n,
                    s.text
                );
            }
            r
        }
        Variant::AfterBoot1 => {
            // Boot 1 ended with `poweroff`; its last report came before
            // `lvconvert --merge`, so it does not describe these images.  The
            // first report of boot 2 does: between the power-off and it only
            // `dmsetup status` and `vgchange -ay --poll n` ran, which commit
            // no metadata (asserted here); the kernel resumed the merge, but
            // headers, metadata and the reports' metadata fields are the same.
            let r = all
                .iter()
                .find(|s| s.boot == 2 && s.words()[0] == "report")
                .expect("a report in boot 2");
            for s in all.iter().filter(|s| s.boot == 2 && s.n < r.n) {
                assert!(is_metadata_neutral(s), "{name}: step {} `{}`", s.n, s.text);
            }
            r
        }
    };
    let p = format!("{:03}", report.n);
    let devs = guest_devices(&dir, report.boot);
    let img = load(&dir, variant);
    let mut devargs = Vec::new();
    for (d, path) in &img.images {
        devargs.push("--dev".to_owned());
        devargs.push(format!("{}={}", devs[d], path.display()));
    }

    // Metadata: every VG backed up by the report.
    let mut vgs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|f| f.strip_prefix(&format!("{p}.vgcfg.")).map(str::to_owned))
        })
        .collect();
    vgs.sort();
    assert!(!vgs.is_empty(), "{name}: report {p} backed up no VG");
    for vg in &vgs {
        let id = format!("vgcfg:{vg}");
        if cx.wants(&id) {
            let want = std::fs::read_to_string(dir.join(format!("{p}.vgcfg.{vg}"))).unwrap();
            let mut a = devargs.clone();
            a.extend(["vgcfgbackup".to_owned(), vg.clone()]);
            let out = lvmsim(&a);
            let r = if out.ok() {
                first_diff(&backup_body(&want), &backup_body(&out.text()))
            } else {
                Err(format!("lvmsim failed: {}", out.stderr))
            };
            cx.record(&id, r);
        }
    }
    // pvck of every disk (the runner ran it with 2>&1).
    for (d, path) in &img.images {
        for (dump, file) in [
            ("headers", "pvck-headers"),
            ("metadata_search", "pvck-mdasearch"),
            ("metadata", "pvck-metadata"),
        ] {
            let id = format!("{file}:{d}");
            if !cx.wants(&id) {
                continue;
            }
            let want = std::fs::read_to_string(dir.join(format!("{p}.{file}.{d}"))).unwrap();
            let out = lvmsim(&[
                "pvck".into(),
                "--dump".into(),
                dump.into(),
                path.display().to_string(),
            ]);
            let got = format!("{}{}", out.text(), out.stderr);
            cx.record(&id, first_diff(&want, &got));
        }
    }

    // Reports.  The kernel's lvm2 printed nothing on stderr for them.
    let rec_err = std::fs::read_to_string(dir.join(format!("{p}.stderr"))).unwrap();
    assert_eq!(rec_err, "", "{name}: report {p} had stderr");
    // A VG deactivated before the report: lvm2 reported its LVs inactive,
    // so lvmsim reports without `--active`.
    let inactive = deactivated(&all, report.n);
    let state = |args: &[&'static str]| -> Vec<&'static str> {
        args.iter()
            .copied()
            .filter(|a| !(inactive && *a == "--active"))
            .collect()
    };
    for (report, args) in REPORTS {
        let golden = dir.join(format!("{p}.{report}.json"));
        check_json_report(&mut cx, &devargs, &golden, report, &state(args));
    }
    for (file, args) in [
        ("pvs.txt", &["pvs"][..]),
        ("vgs.txt", &["vgs"][..]),
        ("lvs.txt", &["lvs", "-a", "--active"][..]),
    ] {
        let id = file.to_owned();
        if !cx.wants(&id) {
            continue;
        }
        let want = std::fs::read_to_string(dir.join(format!("{p}.{file}"))).unwrap();
        let mut a = devargs.clone();
        a.extend(state(args).iter().map(|s| s.to_string()));
        let out = lvmsim(&a);
        let got = out.text();
        let r = if !out.stderr.is_empty() {
            Err(format!("lvmsim warned: {}", out.stderr))
        } else if file == "lvs.txt" && cx.percent_moved {
            let (w, g) = (lvs_text_words(&want), lvs_text_words(&got));
            if w == g {
                Ok(())
            } else {
                Err(format!("kernel {w:?}, lvmsim {g:?}"))
            }
        } else {
            first_diff(&want, &got)
        };
        cx.record(&id, r);
    }

    // LV contents.
    check_contents(&mut cx, &dir, &all, &sp, variant, &devargs);
    cx
}

/// Whether the last `vgchange -a` before step `upto` deactivated the VG.
fn deactivated(all: &[Step], upto: u32) -> bool {
    all.iter()
        .rev()
        .filter(|s| s.n < upto && s.succeeded() && s.words()[0] == "vgchange")
        .find_map(|s| {
            s.words().iter().find_map(|w| match *w {
                "-an" => Some(true),
                "-ay" => Some(false),
                _ => None,
            })
        })
        .unwrap_or(false)
}

/// The snapshot each `lvcreate -s` made -> its origin.
fn origins(steps: &[Step]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for st in steps {
        let w = st.words();
        if w[0] == "lvcreate" && w.contains(&"-s") {
            let name = w[w.iter().position(|x| *x == "-n").unwrap() + 1];
            let origin = w[1..]
                .iter()
                .find(|x| x.contains('/') && !x.starts_with('@') && !x.starts_with('-'))
                .unwrap()
                .to_string();
            let vg = origin.split('/').next().unwrap().to_owned();
            m.insert(format!("{vg}/{name}"), origin);
        }
    }
    m
}

fn check_contents(
    cx: &mut Ctx,
    dir: &Path,
    all: &[Step],
    sp: &Spec,
    variant: Variant,
    devargs: &[String],
) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let listed = |lv: &str| {
        sp.contents.contains(&lv)
            || sp.unreadable.contains(&lv)
            || sp.no_contents.iter().any(|(l, _)| *l == lv)
    };
    // `checkblocks` records the whole LV's sha256 as `check` does.
    let checks: Vec<&Step> = all
        .iter()
        .filter(|s| matches!(s.words()[0], "check" | "checkblocks"))
        .collect();
    for c in &checks {
        let lv = c.words()[1];
        assert!(
            listed(lv),
            "{name}: `check {lv}` (step {}) is neither compared nor excluded in spec()",
            c.n
        );
    }
    let origin_of = origins(all);
    // The steps that made these images, and what their writes left.
    let upto: Vec<Step> = all
        .iter()
        .filter(|s| variant == Variant::Final || s.boot == 1)
        .map(|s| Step {
            n: s.n,
            boot: s.boot,
            rc: s.rc,
            text: s.text.clone(),
        })
        .collect();
    let written = model(&upto);

    for lv in sp.contents {
        // (check id, recorded sha256 file's step)
        let mut want: Vec<(String, u32)> = Vec::new();
        if variant == Variant::Final {
            for c in checks
                .iter()
                .filter(|c| c.words()[1] == *lv && c.succeeded())
            {
                // A later successful write to the LV, or a merge of one of
                // its snapshots into it, changes what it shows.
                let later = all.iter().find(|s| {
                    let w = s.words();
                    s.n > c.n
                        && ((w[0] == "write" && w[1] == *lv && s.succeeded())
                            || (w[0] == "lvconvert"
                                && w.contains(&"--merge")
                                && origin_of.get(*w.last().unwrap()).map(String::as_str)
                                    == Some(*lv)))
                });
                match later {
                    Some(s) => cx.bypassed.push(format!(
                        "sha256:{lv}@{:03}: contents changed later by step {}",
                        c.n, s.n
                    )),
                    None => want.push((format!("sha256:{lv}@{:03}", c.n), c.n)),
                }
            }
        }
        for (l, step, why) in sp.view_of {
            if l == lv {
                cx.notes
                    .push(format!("{lv} must equal check {step:03}: {why}"));
                want.push((format!("sha256:{lv}=@{step:03}"), *step));
            }
        }
        assert!(
            !want.is_empty(),
            "{name}: {lv} is listed for contents but no check describes this state"
        );
        let pat_id = format!("pattern:{lv}");
        let need_sha: Vec<bool> = want.iter().map(|(id, _)| cx.wants(id)).collect();
        let need_pat = cx.wants(&pat_id);
        if !need_sha.iter().any(|b| *b) && !need_pat {
            continue;
        }
        let mut a = devargs.to_vec();
        a.extend(["cat".to_owned(), lv.to_string()]);
        let out = lvmsim(&a);
        let hash = if out.ok() {
            Some(common::sha256(&out.stdout))
        } else {
            None
        };
        for ((id, step), need) in want.iter().zip(&need_sha) {
            if !need {
                continue;
            }
            let rec = std::fs::read_to_string(dir.join(format!("{step:03}.sha256"))).unwrap();
            let mut f = rec.split_whitespace();
            let (hex, dev) = (f.next().unwrap().to_owned(), f.next().unwrap());
            assert!(
                dev.strip_prefix("/dev/")
                    .is_some_and(|l| l.split('/').count() == 2),
                "{name}: {step:03}.sha256: {rec}"
            );
            let r = match &hash {
                Some(h) if *h == hex => Ok(()),
                Some(h) => Err(format!("kernel {hex} ({dev}), lvmsim {h}")),
                None => Err(format!("lvmsim cat failed: {}", out.stderr)),
            };
            cx.record(id, r);
        }
        if need_pat {
            let w = written.get(*lv).cloned().unwrap_or_default();
            assert!(!w.is_empty(), "{name}: no write step left data in {lv}");
            let r = if out.ok() {
                verify_pattern(&out.stdout, &w)
                    .map(|n| cx.notes.push(format!("{lv}: {n} written sectors")))
            } else {
                Err(format!("lvmsim cat failed: {}", out.stderr))
            };
            cx.record(&pat_id, r);
        }
    }
    for lv in sp.unreadable {
        let failed_checks: Vec<&&Step> = checks
            .iter()
            .filter(|c| c.words()[1] == *lv && !c.succeeded())
            .collect();
        assert!(
            !failed_checks.is_empty() && failed_checks.iter().all(|c| c.text.starts_with("! ")),
            "{name}: {lv} is listed as unreadable but has no failed `! check`"
        );
        let id = format!("cat-fails:{lv}");
        if !cx.wants(&id) {
            continue;
        }
        let mut a = devargs.to_vec();
        a.extend(["cat".to_owned(), lv.to_string()]);
        let out = lvmsim(&a);
        let r = if out.ok() {
            Err(format!(
                "the kernel failed to read it (EIO), lvmsim cat gave {} bytes",
                out.stdout.len()
            ))
        } else {
            Ok(())
        };
        cx.record(&id, r);
    }
    for (lv, why) in sp.no_contents {
        cx.bypassed.push(format!("contents of {lv}: {why}"));
    }
}

fn scenario_test(name: &str, variant: Variant) {
    let t0 = std::time::Instant::now();
    let cx = run_scenario(name, variant, None);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &cx.passed {
        *kinds.entry(id.split(':').next().unwrap()).or_default() += 1;
    }
    eprintln!(
        "{}: {} checks passed {kinds:?}, {} failed in {:.1}s; pattern: {}; not checked: {}",
        cx.scen,
        cx.passed.len(),
        cx.failed.len(),
        t0.elapsed().as_secs_f64(),
        cx.notes.join(", "),
        if cx.bypassed.is_empty() {
            "-".to_owned()
        } else {
            cx.bypassed.join("; ")
        }
    );
    assert!(cx.passed.len() > 10, "{}: too few checks ran", cx.scen);
    assert!(
        cx.failed.is_empty(),
        "{}: {} of {} checks disagree with the kernel:\n{}",
        cx.scen,
        cx.failed.len(),
        cx.failed.len() + cx.passed.len(),
        cx.failed.join("\n")
    );
}

/// Runs the checks of one KNOWN_BUGS entry over every scenario (unused while
/// the list is empty).
#[allow(dead_code)]
fn known_bug_test(pattern: &str) {
    let bug = KNOWN_BUGS.iter().find(|(_, i, _)| *i == pattern);
    let (scen, _, _) = bug.unwrap_or_else(|| panic!("{pattern} is not in KNOWN_BUGS"));
    let mut ran = 0;
    let mut failed = Vec::new();
    for (name, variant) in ALL {
        let cx = run_scenario(name, *variant, Some(pattern));
        if *scen != "*" && *scen != cx.scen {
            continue;
        }
        ran += cx.passed.len() + cx.failed.len();
        failed.extend(cx.failed);
    }
    assert!(ran > 0, "no check matched {pattern}");
    assert!(
        failed.is_empty(),
        "{} of {ran} checks fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

macro_rules! scenarios {
    ($($f:ident => $name:literal, $variant:ident;)*) => {
        $(
            #[test]
            fn $f() {
                scenario_test($name, Variant::$variant);
            }
        )*
        /// Every scenario and variant with a test.
        const ALL: &[(&str, Variant)] = &[$(($name, Variant::$variant)),*];

        /// Every scenario folder has a test above.
        #[test]
        fn every_scenario_has_a_test() {
            let listed: Vec<&str> = vec![$($name),*];
            let mut dirs: Vec<String> = std::fs::read_dir(corpus())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("scenario").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            dirs.sort();
            for d in &dirs {
                if DAMAGED.iter().chain(ELSEWHERE).any(|(n, _)| n == d) {
                    continue;
                }
                assert!(listed.contains(&d.as_str()), "testdata/kernel/{d} has no test");
                let after = corpus().join(d).join("pv1.after-boot1.img.zst");
                if after.exists() || std::fs::read_dir(corpus().join(d)).unwrap().any(|e| {
                    e.unwrap().file_name().to_string_lossy().contains(".after-boot")
                }) {
                    assert_eq!(d, "merge-interrupted", "{d}: after-boot images without a test");
                }
            }
        }
    };
}

scenarios! {
    linear_fragmented => "linear-fragmented", Final;
    striped_mdacopies => "striped-mdacopies", Final;
    ring_wrap => "ring-wrap", Final;
    snap_chunks => "snap-chunks", Final;
    snap_overflow => "snap-overflow", Final;
    snap_write_overflow => "snap-write-overflow", Final;
    snap_full_edges => "snap-full-edges", Final;
    two_snaps_one_overflows => "two-snaps-one-overflows", Final;
    snap_areas => "snap-areas", Final;
    snap_extend => "snap-extend", Final;
    snap_striped_origin => "snap-striped-origin", Final;
    snap_lvremove => "snap-lvremove", Final;
    snap_partial_chunk => "snap-partial-chunk", Final;
    snap_drop_reuse => "snap-drop-reuse", Final;
    snap_overflow_blocks => "snap-overflow-blocks", Final;
    merge_complete => "merge-complete", Final;
    merge_with_sibling => "merge-with-sibling", Final;
    merge_interrupted => "merge-interrupted", Final;
    merge_interrupted_after_boot1 => "merge-interrupted", AfterBoot1;
    walkthrough => "walkthrough", Final;
    walkthrough_merge => "walkthrough-merge", Final;
    plan_threshold => "plan-threshold", Final;
    thin_pool => "thin-pool", Final;
    thin_recover => "thin-recover", Final;
    thin_resize => "thin-resize", Final;
}

/// The fields listed in NOT_IN_LVMSIM are still unknown to lvmsim; once it
/// learns one, this fails so the field is taken off the list and compared.
#[test]
fn fields_not_yet_in_lvmsim_are_still_missing() {
    let dir = corpus().join("linear-fragmented");
    let img = load(&dir, Variant::Final);
    let dev = format!("/dev/vda={}", img.images["pv1"].display());
    let mut learnt = Vec::new();
    for (report, fields) in NOT_IN_LVMSIM {
        let args = REPORTS.iter().find(|(r, _)| r == report).unwrap().1;
        for f in *fields {
            let mut a = vec!["--dev".to_owned(), dev.clone()];
            a.extend(args.iter().map(|s| s.to_string()));
            a.extend(["-o".to_owned(), f.to_string()]);
            if lvmsim(&a).ok() {
                learnt.push(format!("{report}:{f}"));
            }
        }
    }
    assert!(
        learnt.is_empty(),
        "lvmsim now knows these fields: take them off NOT_IN_LVMSIM (normalise them in kernel_dependent() if the kernel decides them): {learnt:?}"
    );
}

/// Every KNOWN_BUGS entry has an ignored test that runs it.
#[test]
fn every_known_bug_has_a_test() {
    let me = include_str!("kernel_corpus.rs");
    for (_, id, _) in KNOWN_BUGS {
        assert!(
            me.contains(&format!("known_bug_test({id:?})")),
            "KNOWN_BUGS entry {id} has no #[ignore] test calling known_bug_test"
        );
    }
}
