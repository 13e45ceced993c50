//! Every kernel scenario replayed from blank images by lvmsim alone.
//!
//! Each `testdata/kernel/*/steps.tsv` is what real lvm2 and the real kernel
//! did under qemu: `pvcreate`, `vgcreate`, `lvcreate` (plain and `-s`),
//! pattern `write`s through origins and snapshots, `lvextend`, `lvremove`,
//! `lvchange`, `lvconvert --merge`, activation changes, a throttled merge
//! cut by a power-off, `lvpoll`. Here lvmsim runs the same steps on blank
//! sparse files of the same sizes. lvmsim keeps no activation state, so the
//! test tracks which LVs the kernel had active and translates: `lvconvert
//! --merge` of an active origin gets `--now` (the kernel merges at once;
//! of an inactive one the merge starts at the next activation, lvmsim's
//! default), its output compared with lvm2's, and the throttled
//! activation that the power-off cut gets `--interrupt-after N`, N the
//! fewest merge runs that reach the progress the kernel showed last.
//!
//! Checked against the kernel's records only: every `check` sha256 (and
//! every `! check` / `! write` failing), every `expect-status` line, at
//! every `report` the `pvs`, `vgs` and `lvs -a` text (with `--active` where
//! the kernel had every LV active) and the `dmsetup status` listing
//! ("No devices found" where nothing was active), and at the end every
//! image byte for byte outside the metadata areas (lvm2's UUIDs and times
//! are its own). Not compared, and listed when the test runs: listings the
//! kernel took while a merge ran in the background (their numbers depend
//! on timing), listings of a VG with only some LVs active, and the images
//! of scenarios whose snapshot overflowed after the kernel had committed
//! part of the overflowing request (`OVERFLOW`: its timing).

use crate::common;

use common::kgen::{run, steps, write_pieces};
use common::scenario_tests;

use std::collections::{HashMap, HashSet};

/// Runs lvmsim on the scenario's images: (exit status, stdout, stderr).
type Lvmsim<'a> = dyn Fn(&[String], Option<&[u8]>) -> (i32, Vec<u8>, String) + 'a;

/// Scenarios with a snapshot that overflowed where the kernel committed
/// part of the overflowing request before the overflow (its copies
/// finished while the request was still being mapped: timing), so its
/// store holds records lvmsim's one batch per request does not write
/// (checks and statuses are still compared; kernel_write.rs pins the
/// records). The other overflows (snap-write-overflow, snap-full-edges,
/// snap-overflow-blocks, plan-threshold) compare byte for byte.
const OVERFLOW: &[&str] = &["snap-overflow", "two-snaps-one-overflows", "walkthrough"];

struct Outcome {
    skipped: Vec<String>,
    /// Display and dmsetup listing steps left to kernel_walkthrough.rs.
    queries: usize,
    steps: usize,
    reports: usize,
    interrupted: Option<usize>,
    checks: usize,
    stopped_at: Option<String>,
    images_compared: usize,
    failures: Vec<String>,
}

fn replay(name: &str) -> Outcome {
    let dir = common::repo().join("testdata/kernel").join(name);
    let work = common::scratch();
    let script = std::fs::read_to_string(dir.join("scenario")).unwrap();
    let mut disks: Vec<(String, String)> = Vec::new();
    for (pv, dev, size) in common::kgen::disks(&script) {
        let f = std::fs::File::create(work.path().join(format!("{pv}.img"))).unwrap();
        f.set_len(size).unwrap();
        disks.push((pv, dev));
    }
    let devs: Vec<String> = disks
        .iter()
        .flat_map(|(pv, dev)| {
            [
                "--dev".to_owned(),
                format!("{dev}={}", work.path().join(format!("{pv}.img")).display()),
            ]
        })
        .collect();
    let lvmsim = |args: &[String], stdin: Option<&[u8]>| {
        let mut a = devs.clone();
        a.extend_from_slice(args);
        run(&a, stdin)
    };
    let mut out = Outcome {
        skipped: Vec::new(),
        queries: 0,
        steps: 0,
        reports: 0,
        interrupted: None,
        checks: 0,
        stopped_at: None,
        images_compared: 0,
        failures: Vec::new(),
    };
    // "vg/lv" of every LV the kernel had active (hidden ones aside).
    let mut active: HashSet<String> = HashSet::new();
    // virtio-blk disks: major 254, 16 minors each (for striped status lines).
    let devno: Vec<String> = disks
        .iter()
        .enumerate()
        .flat_map(|(i, (_, dev))| ["--devno".to_owned(), format!("{dev}=254:{}", i * 16)])
        .collect();
    let all = steps(&dir);
    let mut kernel_log = invalidations_logged(&dir);
    let mut throttled = false;
    for (k, st) in all.iter().enumerate() {
        let w: Vec<String> = st
            .words
            .iter()
            .map(|x| match x.strip_prefix('@') {
                // @pv1 or @pv1:10-11 (a PE range).
                Some(pv) => {
                    let (name, range) =
                        pv.split_once(':').map_or((pv, None), |(a, b)| (a, Some(b)));
                    let dev = disks.iter().find(|d| d.0 == name).unwrap().1.clone();
                    range.map_or(dev.clone(), |r| format!("{dev}:{r}"))
                }
                None => x.clone(),
            })
            .collect();
        let expect_fail = st.rc != 0;
        let n = st.n;
        let fail = |out: &mut Outcome, what: String| {
            out.failures
                .push(format!("{name} step {n:03} {}: {what}", w.join(" ")))
        };
        if common::kgen::is_query(&w) && w != ["dmsetup", "status"] {
            // Displays and the other dmsetup listings: compared stage by
            // stage in kernel_walkthrough.rs.
            out.queries += 1;
            continue;
        }
        match w[0].as_str() {
            "report" | "dmsetup" => {
                out.reports += 1;
                // lvmsim shows the kernel's view of a VG whose LVs are all
                // active (--active), or of one with none active; a VG with
                // some LVs active is not compared.
                let (rc, names, _) = lvmsim(
                    &[
                        "lvs".into(),
                        "--noheadings".into(),
                        "-o".into(),
                        "vg_name,lv_name".into(),
                    ],
                    None,
                );
                assert_eq!(rc, 0);
                let lvs: Vec<String> = String::from_utf8_lossy(&names)
                    .lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join("/"))
                    .filter(|l| !l.is_empty())
                    .collect();
                let on = lvs.iter().filter(|l| active.contains(*l)).count();
                let state = if on == lvs.len() && on > 0 {
                    Some(true)
                } else if on == 0 {
                    Some(false)
                } else {
                    None
                };
                let Some(all_active) = state else {
                    out.skipped.push(format!("{name} {n:03} (some LVs active)"));
                    continue;
                };
                let status_file = if w[0] == "report" {
                    format!("{n:03}.dmsetup-status")
                } else {
                    format!("{n:03}.stdout")
                };
                let kernel_status =
                    std::fs::read_to_string(dir.join(&status_file)).unwrap_or_default();
                if merge_under_way(&kernel_status) {
                    // The kernel merges in the background: what its status
                    // and reports showed depends on when they were taken.
                    out.skipped
                        .push(format!("{name} {n:03} (kernel mid-merge)"));
                    continue;
                }
                let mut cmp = |file: &str, args: Vec<String>| {
                    let path = dir.join(file);
                    let Ok(want) = std::fs::read_to_string(&path) else {
                        return;
                    };
                    let (rc, got, err) = lvmsim(&args, None);
                    let got = String::from_utf8_lossy(&got);
                    if rc != 0 || got != want {
                        out.failures.push(format!(
                            "{name} step {n:03} {file}: lvmsim ({rc}) {err}\n{got}\nkernel:\n{want}"
                        ));
                    }
                };
                let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
                if w[0] == "report" {
                    cmp(&format!("{n:03}.pvs.txt"), s(&["pvs"]));
                    cmp(&format!("{n:03}.vgs.txt"), s(&["vgs"]));
                    let mut l = s(&["lvs", "-a"]);
                    if all_active {
                        l.push("--active".into());
                    }
                    cmp(&format!("{n:03}.lvs.txt"), l);
                }
                if all_active {
                    let mut st = s(&["dmsetup", "status"]);
                    st.extend(devno.iter().cloned());
                    cmp(&status_file, st);
                } else if kernel_status.trim() != "No devices found" {
                    out.failures.push(format!(
                        "{name} step {n:03}: nothing active here, the kernel had:\n{kernel_status}"
                    ));
                }
                continue;
            }
            "sleep" => continue,
            "throttle" => {
                // The kernel slows its merge copies so that the next
                // activation's merge is caught mid-way by a power-off.
                throttled = true;
                continue;
            }
            "poweroff" => {
                // Nothing is active after the reboot.
                active.clear();
                continue;
            }
            "write" => {
                let mut failed = false;
                let mut notices = Vec::new();
                for (lv, s, data) in write_pieces(&w) {
                    let (rc, _, err) = lvmsim(
                        &[
                            "write".into(),
                            lv.clone(),
                            "--offset".into(),
                            (s * 512).to_string(),
                        ],
                        Some(&data),
                    );
                    notices.extend(
                        err.lines()
                            .filter(|l| l.starts_with("device-mapper: "))
                            .map(str::to_owned),
                    );
                    if rc != 0 {
                        failed = true;
                        if !expect_fail {
                            fail(&mut out, format!("lvmsim write failed: {err}"));
                        }
                        break;
                    }
                }
                if expect_fail && !failed {
                    fail(
                        &mut out,
                        "the kernel failed this write; lvmsim did not".into(),
                    );
                }
                // The snapshots the write invalidated, as the kernel logged.
                let want = kernel_log.remove(&n).unwrap_or_default();
                if notices != want {
                    fail(
                        &mut out,
                        format!("lvmsim noted {notices:?}, the kernel logged {want:?}"),
                    );
                }
            }
            "zero" => {
                // Damage on purpose: zeros at OFFSET of the disk.
                let pv = disks.iter().find(|d| d.1 == w[1]).unwrap().0.clone();
                let (off, len): (u64, usize) = (w[2].parse().unwrap(), w[3].parse().unwrap());
                use std::os::unix::fs::FileExt;
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(work.path().join(format!("{pv}.img")))
                    .unwrap();
                f.write_all_at(&vec![0u8; len], off).unwrap();
            }
            "check" | "checkblocks" => {
                out.checks += 1;
                let (rc, data, err) = lvmsim(&["cat".into(), w[1].clone()], None);
                if expect_fail {
                    if rc == 0 {
                        fail(
                            &mut out,
                            "the kernel could not read it; lvmsim could".into(),
                        );
                    }
                } else if rc != 0 {
                    fail(&mut out, format!("lvmsim cat failed: {err}"));
                } else {
                    let want = std::fs::read_to_string(dir.join(format!("{n:03}.sha256")))
                        .unwrap()
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_owned();
                    let got = common::sha256(&data);
                    if got != want {
                        fail(&mut out, format!("sha256 {got}, kernel {want}"));
                    }
                }
            }
            "expect-status" => {
                let (rc, data, err) = lvmsim(&["dmsetup".into(), "status".into()], None);
                let text = String::from_utf8_lossy(&data);
                let want = w[2..].join(" ");
                let line = text
                    .lines()
                    .find(|l| l.starts_with(&format!("{}:", w[1])))
                    .unwrap_or("");
                let matches = rc == 0 && line.contains(&want);
                if matches == expect_fail {
                    fail(
                        &mut out,
                        format!(
                            "status line {line:?} (expected {}{want:?}) {err}",
                            if expect_fail { "not " } else { "" }
                        ),
                    );
                }
            }
            cmd => {
                let mut args = w.clone();
                // Told to lvmsim as another command (whose output differs).
                let mut translated = false;
                match cmd {
                    "lvm" => {
                        args.remove(0);
                    }
                    "vgchange" if w.iter().any(|x| x == "-ay") && throttled => {
                        {
                            throttled = false;
                            // How far the kernel got before the power-off.
                            match merge_runs_at_poweroff(&dir, &all[k..], &devs, &args) {
                                Some(r) => {
                                    args.insert(1, "--interrupt-after".into());
                                    args.insert(2, r.to_string());
                                    out.interrupted = Some(r);
                                }
                                None => fail(&mut out, "no number of merge runs reaches the kernel's progress at the power-off".into()),
                            }
                        }
                    }
                    "lvchange" => {
                        translated = common::kgen::lvchange_for_lvmsim(&mut args);
                    }
                    "lvconvert" if w.iter().any(|x| x == "--merge") => {
                        let snap = w.last().unwrap().clone();
                        let origin = origin_of(&lvmsim, &snap);
                        if active.contains(&origin) {
                            args.insert(1, "--now".into());
                        }
                    }
                    _ => {}
                }
                let (rc, got, err) = lvmsim(&args, None);
                if (rc != 0) != expect_fail {
                    fail(&mut out, format!("lvmsim exit {rc}: {err}"));
                }
                // What lvm2 printed for the merge (deferred for an inactive
                // origin, polled to its end for an active one: `--now`) and
                // for activation changes.
                if !translated && matches!(w[0].as_str(), "lvconvert" | "vgchange" | "lvchange") {
                    let want = std::fs::read_to_string(dir.join(format!("{n:03}.stdout")))
                        .unwrap_or_default();
                    let got = String::from_utf8_lossy(&got);
                    if got != want {
                        fail(&mut out, format!("lvmsim printed\n{got}kernel:\n{want}"));
                    }
                }
                if rc == 0 {
                    track_activation(&w, &lvmsim, &mut active);
                }
            }
        }
        out.steps += 1;
    }
    if out.stopped_at.is_none() && !kernel_log.is_empty() {
        out.failures.push(format!(
            "{name}: kernel lines of steps lvmsim did not note them for: {kernel_log:?}"
        ));
    }
    if out.stopped_at.is_none() && !OVERFLOW.contains(&name) {
        for (pv, _) in &disks {
            let mine = std::fs::read(work.path().join(format!("{pv}.img"))).unwrap();
            let theirs = common::unzst(&dir.join(format!("{pv}.img.zst")));
            out.images_compared += 1;
            if mine.len() != theirs.len() {
                fail_img(
                    &mut out,
                    name,
                    pv,
                    format!("size {} vs {}", mine.len(), theirs.len()),
                );
                continue;
            }
            // Outside the metadata areas: the first MiB holds the label and
            // the first area (default layout); a second area sits at the end.
            // The areas as the kernel's label says, or (a wiped label) ours.
            let label = [&theirs, &mine].into_iter().find_map(|b| {
                let img = lvm_meta::io::Image::from_bytes("image", b.clone());
                lvm_meta::label::scan(&img).ok()?.label
            });
            let mut skip: Vec<(u64, u64)> = vec![(0, 4096)];
            for m in label.iter().flat_map(|l| &l.pv_header.metadata_areas) {
                skip.push((m.offset, m.offset + m.size));
            }
            if label.is_none() {
                // Both labels wiped: the default first area, up to 1 MiB.
                skip.push((0, 1 << 20));
            }
            let mut at = 0usize;
            let mut first_diff = None;
            while at < mine.len() {
                let in_skip = skip
                    .iter()
                    .any(|&(a, b)| (at as u64) >= a && (at as u64) < b);
                if !in_skip && mine[at] != theirs[at] {
                    first_diff = Some(at);
                    break;
                }
                at += 1;
                if in_skip {
                    continue;
                }
                // Jump in 4 KiB steps over equal bytes.
                let end = (at + 4095).min(mine.len());
                if mine[at..end] == theirs[at..end]
                    && !skip.iter().any(|&(a, b)| a < end as u64 && (at as u64) < b)
                {
                    at = end;
                }
            }
            if let Some(d) = first_diff {
                fail_img(&mut out, name, pv, format!("bytes differ first at {d}"));
            }
        }
    }
    out
}

/// The origin ("vg/lv") of snapshot `snap` ("vg/lv").
fn origin_of(lvmsim: &Lvmsim<'_>, snap: &str) -> String {
    let (_, o, _) = lvmsim(
        &[
            "lvs".into(),
            "--noheadings".into(),
            "-o".into(),
            "origin".into(),
            snap.into(),
        ],
        None,
    );
    let vg = snap.split('/').next().unwrap_or("");
    format!("{vg}/{}", String::from_utf8_lossy(&o).trim())
}

/// Which LVs the kernel had active after a successful step `w`.
fn track_activation(w: &[String], lvmsim: &Lvmsim<'_>, active: &mut HashSet<String>) {
    let lvs_of = |vg: &str| -> Vec<String> {
        let (_, o, _) = lvmsim(
            &[
                "lvs".into(),
                "--noheadings".into(),
                "-o".into(),
                "lv_name".into(),
                vg.into(),
            ],
            None,
        );
        String::from_utf8_lossy(&o)
            .lines()
            .map(|l| format!("{vg}/{}", l.trim()))
            .collect()
    };
    let opt = |f: &str| {
        w.iter()
            .position(|x| x == f)
            .and_then(|i| w.get(i + 1))
            .cloned()
    };
    match w[0].as_str() {
        "lvcreate" => {
            let inactive = w.iter().any(|x| x == "-an") || opt("-a").as_deref() == Some("n");
            let target = w
                .iter()
                .rev()
                .find(|x| !x.starts_with('-') && !x.starts_with("/dev/"))
                .unwrap();
            let vg = target.split('/').next().unwrap();
            if let Some(n) = opt("-n") {
                if !inactive {
                    active.insert(format!("{vg}/{n}"));
                }
            }
        }
        "vgchange" => {
            let vg = w.last().unwrap();
            if w.iter().any(|x| x == "-an") {
                active.retain(|l| !l.starts_with(&format!("{vg}/")));
            } else {
                active.extend(lvs_of(vg));
            }
        }
        "lvchange" => {
            let lv = w.last().unwrap().clone();
            if w.iter().any(|x| x == "-an") {
                active.remove(&lv);
            } else if w.iter().any(|x| x == "-ay") {
                active.insert(lv);
            }
        }
        _ => {}
    }
    // LVs that went (lvremove, a finished merge) are no longer active.
    let vgs: HashSet<String> = active
        .iter()
        .map(|l| l.split('/').next().unwrap().to_owned())
        .collect();
    let mut now = HashSet::new();
    for vg in vgs {
        now.extend(lvs_of(&vg));
    }
    active.retain(|l| now.contains(l));
}

/// True if a kernel status listing shows a merge that has not finished.
fn merge_under_way(status: &str) -> bool {
    status.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(3) == Some(&"snapshot-merge")
            && f.get(4).and_then(|u| u.split('/').next()) != f.get(5).copied()
    })
}

/// For a throttled activation cut by a power-off: the number of merge runs
/// after which `dmsetup status` equals the kernel's next recorded status.
fn merge_runs_at_poweroff(
    dir: &std::path::Path,
    rest: &[common::kgen::Step],
    devs: &[String],
    args: &[String],
) -> Option<usize> {
    // The last status the kernel showed before the power-off (in memory;
    // its disk may lag by the batch in flight).
    let st = rest
        .iter()
        .take_while(|s| s.words[0] != "poweroff")
        .filter(|s| s.words[0] == "dmsetup")
        .last()?;
    let want = std::fs::read_to_string(dir.join(format!("{:03}.stdout", st.n))).ok()?;
    let used = |text: &str| -> Option<u64> {
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"snapshot-merge"))
                .then(|| f.get(4)?.split('/').next()?.parse().ok())
                .flatten()
        })
    };
    let want_used = used(&want)?;
    let pairs: Vec<(String, std::path::PathBuf)> = devs
        .chunks(2)
        .map(|c| {
            let (n, p) = c[1].split_once('=').unwrap();
            (n.to_owned(), std::path::PathBuf::from(p))
        })
        .collect();
    // The space the merge still uses after `runs` merge runs (None once it
    // has finished), on fresh copies of the images; Err if lvmsim failed.
    let probe = |runs: usize| -> Result<Option<u64>, ()> {
        let t = common::scratch();
        let mut a: Vec<String> = Vec::new();
        for (i, (n, p)) in pairs.iter().enumerate() {
            let q = t.path().join(format!("{i}.img"));
            common::copy_sparse(p, &q);
            a.extend(["--dev".to_owned(), format!("{n}={}", q.display())]);
        }
        let mut cmd = a.clone();
        cmd.extend(args.iter().cloned());
        cmd.insert(a.len() + 1, "--interrupt-after".into());
        cmd.insert(a.len() + 2, runs.to_string());
        if run(&cmd, None).0 != 0 {
            return Err(());
        }
        let mut s = a.clone();
        s.extend(["dmsetup".to_owned(), "status".to_owned()]);
        let (_, got, _) = run(&s, None);
        Ok(used(&String::from_utf8_lossy(&got)))
    };
    // The fewest merge runs that get as far as the kernel had got. Each run
    // only lowers the space in use, so "as far, or finished" is false up to
    // some count and true from there: found by doubling, then bisecting.
    let far = |u: Option<u64>| u.is_none_or(|u| u <= want_used);
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut at_hi = probe(0).ok()?;
    while !far(at_hi) {
        lo = hi + 1;
        hi = (hi * 2).max(1);
        if hi > 4096 {
            return None;
        }
        at_hi = probe(hi).ok()?;
    }
    while lo < hi {
        let mid = (lo + hi) / 2;
        let u = probe(mid).ok()?;
        if far(u) {
            (hi, at_hi) = (mid, u);
        } else {
            lo = mid + 1;
        }
    }
    // The kernel was still merging there: a finished merge is no answer.
    at_hi.map(|_| hi)
}

/// The kernel's `Invalidating snapshot` lines of each step, from the serial
/// consoles of the scenario's boots (the runner prints `kgen: step N: ...`
/// before each step; the kernel's lines follow as it logs them).
fn invalidations_logged(dir: &std::path::Path) -> HashMap<u32, Vec<String>> {
    let mut m: HashMap<u32, Vec<String>> = HashMap::new();
    for boot in 1.. {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("boot{boot}.console"))) else {
            break;
        };
        let mut step = 0;
        for line in text.lines().map(|l| l.trim_end_matches('\r')) {
            if let Some(n) = line.strip_prefix("kgen: step ").and_then(|r| r.get(..3)) {
                step = n.parse().unwrap();
            } else if let Some(at) = line.find("device-mapper: snapshots: Invalidating") {
                m.entry(step).or_default().push(line[at..].to_owned());
            }
        }
    }
    m
}

fn fail_img(out: &mut Outcome, name: &str, pv: &str, what: String) {
    out.failures.push(format!("{name}/{pv}: {what}"));
}

/// Replays scenario `name` from blank images.
/// Scenarios not replayed, and why.
const NOT_REPLAYED: &[(&str, &str)] = &[
    (
        "thin-pool",
        "lvmsim's vgchange and lvchange do not activate or deactivate VGs with thin pools yet",
    ),
    (
        "raid-levels",
        "lvmsim does not create RAID or mirror LVs yet",
    ),
    (
        "thin-recover",
        "lvmsim does not send dm-thin messages (reserve_metadata_snap) yet",
    ),
    (
        "cache-writeback",
        "lvmsim does not create cache pools or cached LVs yet",
    ),
    (
        "writecache",
        "lvmsim does not create writecaches or integrity images yet",
    ),
    (
        "thin-merge",
        "lvmsim's vgchange and lvchange do not activate or deactivate VGs with thin pools yet",
    ),
    (
        "thin-resize",
        "lvmsim's vgchange and lvchange do not activate or deactivate VGs with thin pools yet",
    ),
];

/// Whether kernel scenario `name` creates RAID or mirror LVs
/// (`lvcreate --type raid...|mirror`).
fn makes_raid(name: &str) -> bool {
    std::fs::read_to_string(common::kernel(name).join("scenario"))
        .unwrap()
        .lines()
        .any(|l| {
            l.starts_with("lvcreate") && (l.contains("--type raid") || l.contains("--type mirror"))
        })
}

/// Whether kernel scenario `name` creates a cache pool
/// (`lvcreate --type cache-pool`).
fn makes_cache(name: &str) -> bool {
    std::fs::read_to_string(common::kernel(name).join("scenario"))
        .unwrap()
        .lines()
        .any(|l| l.starts_with("lvcreate") && l.contains("--type cache-pool"))
}

/// Whether kernel scenario `name` creates a thin pool (`lvcreate ... -T`).
fn makes_thin_pool(name: &str) -> bool {
    std::fs::read_to_string(common::kernel(name).join("scenario"))
        .unwrap()
        .lines()
        .any(|l| l.starts_with("lvcreate") && l.split_whitespace().any(|w| w == "-T"))
}

fn from_blank_images(name: &str) {
    if let Some((_, why)) = NOT_REPLAYED.iter().find(|(n, _)| *n == name) {
        // The reason must still hold.
        assert!(
            makes_thin_pool(name) || makes_raid(name) || makes_cache(name),
            "{name}: listed as not replayed"
        );
        eprintln!("{name}: not replayed: {why}");
        return;
    }
    let o = replay(name);
    if let Some(r) = o.interrupted {
        eprintln!("{name}: the kernel's power-off caught the merge after {r} merge runs");
    }
    eprintln!(
        "{name} from blank images: {} steps, {} checks, {} report/status steps, {} images compared byte for byte; stopped early: {}",
        o.steps,
        o.checks,
        o.reports,
        o.images_compared,
        o.stopped_at.as_deref().unwrap_or("no")
    );
    eprintln!("report/status steps not compared: {}", o.skipped.join(", "));
    eprintln!(
        "display and dmsetup listing steps (compared in kernel_walkthrough.rs): {}",
        o.queries
    );
    assert!(o.steps > 0, "{name}: no step replayed");
    assert!(o.failures.is_empty(), "{}", o.failures.join("\n"));
}

scenario_tests!("kernel", "steps.tsv", from_blank_images;
    damaged_label, damaged_mda, linear_fragmented, merge_complete, merge_interrupted,
    merge_with_sibling, ring_wrap, snap_areas, snap_chunks, snap_drop_reuse, snap_extend,
    snap_full_edges, snap_lvremove, snap_overflow, snap_overflow_blocks, snap_partial_chunk,
    snap_striped_origin, snap_write_overflow, striped_mdacopies, two_snaps_one_overflows,
    walkthrough, walkthrough_merge,
    plan_threshold, thin_pool,
    raid_levels,
    thin_recover,
    thin_resize,
    thin_merge,
    cache_writeback, writecache,
);

/// The scenarios hold enough steps to mean something.
#[test]
fn the_scenarios_hold_over_300_steps() {
    let n: usize = SCENARIOS
        .iter()
        .map(|s| steps(&common::kernel(&s.replace('_', "-"))).len())
        .sum();
    assert!(n > 300, "only {n} steps");
}
