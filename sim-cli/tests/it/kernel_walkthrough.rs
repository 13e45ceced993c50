//! The classic snapshot walkthrough (testdata/kernel/walkthrough and
//! walkthrough-merge) replayed by lvmsim from blank images, stage by stage:
//! at every recorded query step lvmsim answers the same query on its own
//! images and its stdout, stderr and exit status must equal what the real
//! dmsetup and lvm2 printed, byte for byte.
//!
//! Each scenario is replayed twice: on the images alone (lvmsim's
//! one-shot commands), and through a running `lvmsim kernel` started on
//! the blank images (`walkthrough_live`, `walkthrough_merge_live`: every
//! command with `--kernel DIR`, the writes through the kernel's device
//! files). The live replay needs none of the activation and numbering
//! help below: the kernel keeps both, and its lvchange `-v` lines and
//! listings of a VG with nothing active compare.
//!
//! What the replay on the images alone has to supply because lvmsim cannot
//! know it:
//!
//! * activation: lvmsim keeps no activation state and describes every LV
//!   as active. The test tracks whether the kernel had the VG's LVs active
//!   (`lvcreate` activates, `lvchange -an`/`-ay` change it) and passes
//!   `--active` to `lvs` where it had; the dmsetup listings of a VG with
//!   nothing active are in [`NOT_COMPARED`].
//! * device numbers: the kernel's `253:N` depend on the order devices were
//!   made since boot. lvmsim numbers as one fresh activation does; the test
//!   keeps the kernel's allocation (a device keeps its number while it
//!   exists, a new one takes the lowest free minor, in the order lvm2
//!   creates them, which lvmsim's own fresh numbering gives) and passes it
//!   with `--minor`. The disk is `--devno /dev/vda=254:0` (virtio-blk).
//! * UUIDs: lvmsim's replay makes its own. Each of its VG and LV
//!   identifiers in an output is replaced by the kernel's identifier of
//!   the same name in the kernel's metadata copy of the same seqno (read
//!   from the ring of the kernel's final image), so the way dmsetup's UUIDs
//!   are composed (`LVM-`, VG then LV identifier, `-real`/`-cow`) is
//!   compared, not the random identifiers (in both forms: plain in
//!   dmsetup's UUIDs, dashed in the displays).
//! * creation host and time: each `lvcreate` runs with the kernel's
//!   `creation_host` and `creation_time` of the new LV (`LVMSIM_HOSTNAME`,
//!   `LVMSIM_TIME`), so the displays' `LV Creation host, time` compare.
//! * `lvdisplay` of active LVs: lvmsim has no running kernel yet and
//!   displays every LV as lvm2 does an inactive one; the kernel's output is
//!   brought to that form by [`inactive_form`], which names the only lines
//!   it touches. `vgdisplay` and `pvdisplay` show no kernel state and are
//!   compared whole, as is `lvdisplay` where nothing was active.
//!
//! Steps translated for lvmsim (the kernel ran them as written):
//! `lvchange -v` without `-v`; `lvchange -ay --poll n VG/LV` as
//! `vgchange -ay --poll n VG`; `lvconvert --merge` of an active origin with
//! `--now`; `lvm lvpoll` as `lvpoll`; `sleep` skipped.
//!
//! Values only a live kernel knows, taken as the corpus kernel showed them
//! and documented in lvmsim's README: `Read Ahead` (256, the virtio disks'
//! read-ahead that lvm2's `auto` inherits), open counts of top-level LVs
//! (0: nothing mounted them), and the event number of an invalid snapshot
//! (1: it overflowed while active; a snapshot activated already invalid
//! shows 0 on a real kernel).

use crate::common;

use common::kgen::{disks, run, steps, write_pieces};
use lvm_meta::io::Image;
use lvm_meta::metadata_area::{read_area_bytes, scan_copies};
use std::collections::BTreeMap;
use std::path::Path;

/// Recorded steps this test does not compare yet, and why: (scenario or
/// `*`, first step, last step, command prefix, reason). Every entry must
/// match a recorded step (see `every_entry_is_used`); shrink it as lvmsim
/// learns the commands.
const NOT_COMPARED: &[(&str, u32, u32, &str, &str)] = &[
    (
        "walkthrough",
        69,
        78,
        "dmsetup",
        "nothing was active in the kernel: lvmsim keeps no activation state without a running kernel (compared in walkthrough_live)",
    ),
    (
        "walkthrough-merge",
        31,
        37,
        "dmsetup",
        "nothing was active in the kernel: lvmsim keeps no activation state without a running kernel (compared in walkthrough_merge_live)",
    ),
    (
        "*",
        0,
        999,
        "lvchange",
        "lvchange -v's activation messages (the dm devices created, loaded, resumed or removed, with the kernel's numbers): printed by a running kernel, compared in the live replays",
    ),
    (
        "*",
        0,
        999,
        "report",
        "the corpus-wide records: compared in kernel_corpus.rs, kernel_dmsetup.rs, kernel_dmtable.rs and history.rs",
    ),
];

/// Recorded steps the replay through a running `lvmsim kernel` does not
/// compare yet (same form as [`NOT_COMPARED`]). There every command goes
/// to the kernel (`--kernel DIR`), so activation is the kernel's: the
/// dmsetup listings of a VG with nothing active and lvchange's `-v` lines
/// (the devices created, loaded, resumed and removed, with the kernel's
/// numbers) compare.
const NOT_COMPARED_LIVE: &[(&str, u32, u32, &str, &str)] = &[(
    "*",
    0,
    999,
    "report",
    "the corpus-wide records: compared in kernel_corpus.rs, kernel_dmsetup.rs, kernel_dmtable.rs and history.rs",
)];

/// The entry of [`NOT_COMPARED`] (or [`NOT_COMPARED_LIVE`]) that covers
/// step `n` (`text` as written).
fn not_compared(name: &str, n: u32, text: &str, live: bool) -> Option<&'static str> {
    if live {
        NOT_COMPARED_LIVE
    } else {
        NOT_COMPARED
    }
    .iter()
    .find(|(s, a, b, p, _)| {
        (*s == "*" || *s == name) && (*a..=*b).contains(&n) && text.starts_with(p)
    })
    .map(|e| e.4)
}

/// `name { id = "..." }` pairs of a metadata text (VG, PVs and LVs), and its
/// seqno.
fn ids_by_name(text: &str) -> (u32, BTreeMap<String, String>) {
    let mut out = BTreeMap::new();
    let mut seqno = 0;
    let mut section = String::new();
    for l in text.lines().map(str::trim) {
        if let Some(n) = l.strip_suffix(" {") {
            section = n.to_owned();
        } else if let Some(id) = l.strip_prefix("id = \"") {
            out.insert(section.clone(), id.trim_end_matches('"').replace('-', ""));
        } else if let Some(s) = l.strip_prefix("seqno = ") {
            if seqno == 0 {
                seqno = s.parse().unwrap();
            }
        }
    }
    (seqno, out)
}

/// `LV { creation_host, creation_time }` of a metadata text, by LV name.
fn births(text: &str) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut section = String::new();
    for l in text.lines().map(str::trim) {
        if let Some(n) = l.strip_suffix(" {") {
            section = n.to_owned();
        } else if let Some(h) = l.strip_prefix("creation_host = \"") {
            let h = h.split('"').next().unwrap_or_default();
            out.entry(section.clone()).or_default().0 = h.to_owned();
        } else if let Some(t) = l.strip_prefix("creation_time = ") {
            let t = t.split_whitespace().next().unwrap_or_default();
            out.entry(section.clone()).or_default().1 = t.to_owned();
        }
    }
    out
}

/// Every metadata copy in the rings of the kernel's final images, by
/// seqno: identifiers by name, and the LVs' creation host and time.
type Births = BTreeMap<u32, BTreeMap<String, (String, String)>>;

fn kernel_ids(dir: &Path, pvs: &[String]) -> (BTreeMap<u32, BTreeMap<String, String>>, Births) {
    let mut out = BTreeMap::new();
    let mut born = BTreeMap::new();
    for pv in pvs {
        let raw = common::unzst(&dir.join(format!("{pv}.img.zst")));
        let img = Image::from_bytes(pv, raw);
        let label = lvm_meta::label::scan(&img).unwrap().label.unwrap();
        for m in &label.pv_header.metadata_areas {
            let buf = read_area_bytes(&img, m.offset, m.size).unwrap();
            for c in scan_copies(&buf, m.offset) {
                let text = String::from_utf8_lossy(&c.text);
                let (seqno, ids) = ids_by_name(&text);
                out.insert(seqno, ids);
                born.insert(seqno, births(&text));
            }
        }
    }
    (out, born)
}

/// The kernel's device numbering: a device keeps its minor while it
/// exists; new ones take the lowest free minors in creation order.
#[derive(Default)]
struct Minors(BTreeMap<String, u32>);

impl Minors {
    /// Follows the devices now present (`fresh`: name and lvmsim's fresh
    /// minor, whose order is lvm2's creation order).
    fn update(&mut self, mut fresh: Vec<(String, u32)>) {
        self.0.retain(|n, _| fresh.iter().any(|(f, _)| f == n));
        fresh.sort_by_key(|f| f.1);
        for (name, _) in fresh {
            if self.0.contains_key(&name) {
                continue;
            }
            let m = (0..).find(|m| !self.0.values().any(|v| v == m)).unwrap();
            self.0.insert(name, m);
        }
    }
}

struct Outcome {
    compared: usize,
    skipped: BTreeMap<&'static str, Vec<u32>>,
    failures: Vec<String>,
}

/// A kernel started for a replay, stopped when dropped (also when the
/// replay fails).
struct Kernel(std::path::PathBuf);

impl Drop for Kernel {
    fn drop(&mut self) {
        let o = common::Lvmsim::new()
            .args(["kernel", "stop"])
            .arg(&self.0)
            .run();
        if !o.ok() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0.join("dev"))
                .status();
        }
    }
}

/// Replays scenario `name`; with `live`, through a running `lvmsim
/// kernel` started on the blank images: every command is given `--kernel
/// DIR`, and the recorded writes go through the kernel's device files.
fn replay(name: &str, live: bool) -> Outcome {
    let dir = common::kernel(name);
    let work = common::scratch();
    let script = std::fs::read_to_string(dir.join("scenario")).unwrap();
    let mut devs: Vec<String> = Vec::new();
    let mut pvs: Vec<(String, String)> = Vec::new();
    for (pv, dev, size) in disks(&script) {
        let path = work.path().join(format!("{pv}.img"));
        std::fs::File::create(&path).unwrap().set_len(size).unwrap();
        devs.extend(["--dev".to_owned(), format!("{dev}={}", path.display())]);
        pvs.push((pv, dev));
    }
    let kdir = work.path().join("kernel");
    let _kernel = live.then(|| {
        let (rc, _, err) = run(
            &[
                devs.clone(),
                vec!["kernel".into(), "start".into(), kdir.display().to_string()],
            ]
            .concat(),
            None,
        );
        assert_eq!(rc, 0, "kernel start (needs root and /dev/fuse): {err}");
        devs.extend(["--kernel".to_owned(), kdir.display().to_string()]);
        Kernel(kdir.clone())
    });
    let (theirs, born) = kernel_ids(&dir, &pvs.iter().map(|p| p.0.clone()).collect::<Vec<_>>());
    let devno: Vec<String> = pvs
        .iter()
        .enumerate()
        .flat_map(|(i, (_, dev))| ["--devno".to_owned(), format!("{dev}=254:{}", i * 16)])
        .collect();
    let lvmsim = |args: &[String]| {
        let mut a = devs.clone();
        a.extend_from_slice(args);
        run(&a, None)
    };
    let raw: BTreeMap<u32, String> = std::fs::read_to_string(dir.join("steps.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(6, '\t').collect();
            (
                f[0].parse().unwrap(),
                f[5].trim_start_matches("! ").to_owned(),
            )
        })
        .collect();
    let mut out = Outcome {
        compared: 0,
        skipped: BTreeMap::new(),
        failures: Vec::new(),
    };
    let mut active = false;
    let mut minors = Minors::default();
    for st in steps(&dir) {
        let n = st.n;
        let text = &raw[&n];
        // The step as recorded: lvmsim takes `/dev/VG/LV` as lvm2 does.
        let w: Vec<String> = text
            .split_whitespace()
            .map(|x| match x.strip_prefix('@') {
                Some(pv) => pvs.iter().find(|p| p.0 == pv).unwrap().1.clone(),
                None => x.to_owned(),
            })
            .collect();
        let skip = not_compared(name, n, text, live);
        if let Some(reason) = skip {
            out.skipped.entry(reason).or_default().push(n);
        }
        let query = common::kgen::is_query(&w);
        if query && skip.is_none() {
            let mut args = w.clone();
            if w[0] == "lvs" && active && !live {
                args.push("--active".into());
            }
            if w[0] == "dmsetup" && !matches!(w[1].as_str(), "targets" | "version") {
                args.extend(devno.iter().cloned());
                if matches!(w[1].as_str(), "info" | "ls" | "deps" | "table") && !live {
                    for (dm, m) in &minors.0 {
                        args.extend(["--minor".to_owned(), format!("{dm}={m}")]);
                    }
                }
            }
            let (rc, stdout, stderr) = lvmsim(&args);
            let got = kernel_uuids(&String::from_utf8_lossy(&stdout), &lvmsim, &theirs);
            let mut want = std::fs::read_to_string(dir.join(format!("{n:03}.stdout"))).unwrap();
            if w[0] == "lvdisplay" && active {
                want = inactive_form(&want);
            }
            let want_err = std::fs::read_to_string(dir.join(format!("{n:03}.stderr"))).unwrap();
            out.compared += 1;
            if (rc, got.as_str(), stderr.as_str()) != (st.rc, want.as_str(), want_err.as_str()) {
                out.failures.push(format!(
                    "{name} step {n:03} `{text}`:\n--- kernel (exit {})\n{want}{want_err}--- lvmsim (exit {rc}) {args:?}\n{got}{stderr}",
                    st.rc
                ));
            }
            continue;
        }
        if query {
            continue;
        }
        match w[0].as_str() {
            // The kernel merges while the recorded run slept.
            "sleep" if live => {
                common::kgen::wait_merges(&kdir);
                continue;
            }
            "sleep" | "report" => continue,
            "write" if live => {
                use std::os::unix::fs::FileExt;
                for (lv, s, data) in write_pieces(&w) {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(kdir.join("dev").join(&lv))
                        .unwrap();
                    f.write_all_at(&data, s * 512).unwrap();
                    f.sync_all().unwrap();
                }
                continue;
            }
            "write" => {
                for (lv, s, data) in write_pieces(&w) {
                    let a = [
                        "write".to_owned(),
                        lv,
                        "--offset".to_owned(),
                        (s * 512).to_string(),
                    ];
                    let mut l = devs.clone();
                    l.extend(a);
                    let (rc, _, err) = run(&l, Some(&data));
                    assert_eq!(rc, 0, "{name} step {n:03}: {err}");
                }
                continue;
            }
            "check" => {
                let (rc, data, err) = lvmsim(&["cat".to_owned(), w[1].clone()]);
                let want = std::fs::read_to_string(dir.join(format!("{n:03}.sha256"))).unwrap();
                out.compared += 1;
                if rc != 0 || !want.starts_with(&common::sha256(&data)) {
                    out.failures.push(format!(
                        "{name} step {n:03} `{text}`: {want} vs lvmsim {err}"
                    ));
                }
                continue;
            }
            _ => {}
        }
        // A command that changes the VG or its activation.
        let mut args: Vec<String> = w.clone();
        if args[0] == "lvm" {
            args.remove(0);
        }
        match args[0].as_str() {
            // The kernel activates as lvm2 does, `-v` and `--poll n` too.
            "lvchange" if !live => {
                common::kgen::lvchange_for_lvmsim(&mut args);
            }
            // lvmsim defers a merge, as lvm2 does for an inactive origin;
            // an active one lvm2 merges and polls at once: `--now`.
            // Through a running kernel, the kernel merges and lvmsim polls.
            "lvconvert" if active && !live => {
                args.insert(1, "--now".into());
            }
            _ => {}
        }
        // An LV is born with the kernel's host and time (its metadata copy
        // of the next seqno), so the displays' `LV Creation host, time`
        // compare.
        let mut env: Vec<(&str, String)> = Vec::new();
        if args[0] == "lvcreate" {
            let lv = args.iter().position(|a| a == "-n").map(|i| &args[i + 1]);
            let (_, backup, _) = lvmsim(&["vgcfgbackup".to_owned(), "testvg".to_owned()]);
            let (seqno, _) = ids_by_name(&String::from_utf8_lossy(&backup));
            if let Some((host, time)) = lv.and_then(|lv| born.get(&(seqno + 1))?.get(lv)) {
                env = vec![
                    ("LVMSIM_HOSTNAME", host.clone()),
                    ("LVMSIM_TIME", time.clone()),
                ];
            }
        }
        let mut a = devs.clone();
        a.extend_from_slice(&args);
        let o = env
            .iter()
            .fold(common::Lvmsim::new().args(&a), |l, (k, v)| l.env(k, v))
            .run();
        let (rc, stdout, stderr) = (o.status, o.stdout, o.stderr);
        assert_eq!(
            rc, st.rc,
            "{name} step {n:03} `{text}` ({args:?}): {stderr}"
        );
        if skip.is_none() {
            let want = std::fs::read_to_string(dir.join(format!("{n:03}.stdout"))).unwrap();
            let want_err = std::fs::read_to_string(dir.join(format!("{n:03}.stderr"))).unwrap();
            // lvm2 -v names devices by their UUIDs too.
            let got = kernel_uuids(&String::from_utf8_lossy(&stdout), &lvmsim, &theirs);
            let stderr = kernel_uuids(&stderr, &lvmsim, &theirs);
            out.compared += 1;
            if (got.as_str(), stderr.as_str()) != (want.as_str(), want_err.as_str()) {
                out.failures.push(format!(
                    "{name} step {n:03} `{text}`:\n--- kernel\n{want}{want_err}--- lvmsim\n{got}{stderr}"
                ));
            }
        }
        if w[0] == "lvchange" {
            active = w.iter().any(|x| x == "-ay");
            minors = Minors::default();
        } else if w[0] == "lvcreate" {
            active = true;
        }
        if active {
            let (_, ls, _) = lvmsim(&["dmsetup".to_owned(), "ls".to_owned()]);
            let fresh = String::from_utf8_lossy(&ls)
                .lines()
                .filter_map(|l| {
                    let (dm, num) = l.split_once('\t')?;
                    let m = num
                        .trim_matches(|c| c == '(' || c == ')')
                        .split(':')
                        .nth(1)?;
                    Some((dm.to_owned(), m.parse().ok()?))
                })
                .collect();
            minors.update(fresh);
        }
    }
    out
}

/// A run of lvmsim on the replay's images: (exit status, stdout, stderr).
type Run<'a> = dyn Fn(&[String]) -> (i32, Vec<u8>, String) + 'a;

/// lvmsim's output with each of its VG and LV identifiers replaced by the
/// kernel's identifier of the same name at the same metadata seqno.
fn kernel_uuids(
    text: &str,
    lvmsim: &Run<'_>,
    theirs: &BTreeMap<u32, BTreeMap<String, String>>,
) -> String {
    let (rc, backup, _) = lvmsim(&["vgcfgbackup".to_owned(), "testvg".to_owned()]);
    if rc != 0 {
        return text.to_owned();
    }
    let (seqno, mine) = ids_by_name(&String::from_utf8_lossy(&backup));
    let Some(k) = theirs.get(&seqno) else {
        return format!("{text}(no kernel metadata copy of seqno {seqno})\n");
    };
    let mut t = text.to_owned();
    for (name, id) in &mine {
        if let Some(kid) = k.get(name) {
            t = t.replace(id.as_str(), kid);
            t = t.replace(&dashed(id), &dashed(kid));
        }
    }
    t
}

/// An identifier as the displays print it: 6-4-4-4-4-4-6 characters.
fn dashed(id: &str) -> String {
    let mut out = String::new();
    let mut rest = id;
    for n in [6, 4, 4, 4, 4, 4] {
        let Some((a, b)) = rest.split_at_checked(n) else {
            return id.to_owned();
        };
        out.push_str(a);
        out.push('-');
        rest = b;
    }
    out + rest
}

/// The kernel's `lvdisplay` of active LVs as lvm2 prints the same LVs
/// inactive, which is how lvmsim (no running kernel yet) shows them. Only
/// the lines that show kernel state change:
///
/// * `LV Status available` becomes `NOT available` (the LV is loaded);
/// * `# open`, `- currently set to` (read-ahead in force), `Block device`
///   (the device number) and `Allocated to snapshot` (the snapshot target's
///   status) are dropped: lvm2 prints them only for a loaded LV;
/// * a snapshot's `[active]` (origin's list) and `active destination for`
///   become `[INACTIVE]` and `INACTIVE destination for`: lvm2 asks the
///   kernel whether the snapshot is loaded (an invalid one already shows
///   INACTIVE on the kernel).
///
/// Every other line is compared byte for byte.
fn inactive_form(text: &str) -> String {
    text.lines()
        .filter(|l| {
            ![
                "# open ",
                "- currently set to ",
                "Block device ",
                "Allocated to snapshot ",
            ]
            .iter()
            .any(|p| l.trim_start().starts_with(p))
        })
        .map(|l| {
            let l = l.replace(" [active]", " [INACTIVE]").replace(
                "     active destination for ",
                "     INACTIVE destination for ",
            );
            match l.strip_suffix(" available") {
                Some(head)
                    if head.trim_start().starts_with("LV Status ") && !head.ends_with(" NOT") =>
                {
                    format!("{head} NOT available")
                }
                _ => l,
            }
        })
        .map(|l| l + "\n")
        .collect()
}

fn walk(name: &str, live: bool) {
    let o = replay(name, live);
    eprintln!("{name}: {} steps compared byte for byte", o.compared);
    for (reason, steps) in &o.skipped {
        eprintln!("  not compared ({reason}): steps {steps:?}");
    }
    assert!(
        o.compared >= 40,
        "{name}: only {} steps compared",
        o.compared
    );
    assert!(o.failures.is_empty(), "{}", o.failures.join("\n"));
}

#[test]
fn walkthrough() {
    walk("walkthrough", false);
}

#[test]
fn walkthrough_merge() {
    walk("walkthrough-merge", false);
}

/// The walkthrough through a running kernel (needs root and /dev/fuse).
#[test]
fn walkthrough_live() {
    walk("walkthrough", true);
}

/// The merge walkthrough through a running kernel.
#[test]
fn walkthrough_merge_live() {
    walk("walkthrough-merge", true);
}

/// Each entry of [`NOT_COMPARED`] still covers a recorded step, so the
/// table only lists what is really left.
#[test]
fn every_entry_is_used() {
    let mut texts: Vec<(String, u32, String)> = Vec::new();
    for name in ["walkthrough", "walkthrough-merge"] {
        let t = std::fs::read_to_string(common::kernel(name).join("steps.tsv")).unwrap();
        for l in t.lines() {
            let f: Vec<&str> = l.splitn(6, '\t').collect();
            texts.push((
                name.to_owned(),
                f[0].parse().unwrap(),
                f[5].trim_start_matches("! ").to_owned(),
            ));
        }
    }
    for e in NOT_COMPARED.iter().chain(NOT_COMPARED_LIVE) {
        assert!(
            texts.iter().any(|(s, n, t)| (e.0 == "*" || e.0 == s)
                && (e.1..=e.2).contains(n)
                && t.starts_with(e.3)),
            "NOT_COMPARED entry {e:?} matches no recorded step"
        );
    }
}
