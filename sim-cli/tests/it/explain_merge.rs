//! `--explain` on `lvcreate -s` and on merges, against the kernel corpus
//! scenario testdata/kernel/merge-interrupted (a merge the kernel ran at
//! activation, cut by a power-off, resumed at the next boot):
//!
//! * resumed from the kernel's own interrupted image
//!   (`pv1.after-boot1.img.zst`), the explained merge batches, in order,
//!   clear exactly the records the kernel's store held, from its end back
//!   to record 0 of area 0, each batch a run of consecutive records whose
//!   COW and origin chunks are the records' own; then lvm2's end is said.
//!   The records are the golden testdata/cowdump/interrupted/, printed by
//!   the independent reader testdata/gen/cowdump.py from that image;
//! * replayed from blank images up to the merge, `lvcreate -s --explain`
//!   says the header the kernel's store has (cowdump.py's golden), the
//!   store holds as many records as the kernel's `dmsetup status` counted
//!   before the merge, the kernel's cut falls between two explained
//!   batches, and a merge cut there leaves exactly the kernel's
//!   interrupted store; the explained batches are the records it lacks,
//!   from the end.
//! * `lvchange -ay` of the origin explains the same batches as `vgchange
//!   -ay`, then lvm2's end;
//! * `plan --blkparse` on hand-written `blkparse` text gives the answers
//!   `plan --trace` gives for the same writes in bytes.

use crate::common::{self, kgen};
use std::path::{Path, PathBuf};

const SCENARIO: &str = "merge-interrupted";

/// A cowdump.py golden: header (valid, version, chunk sectors) and the
/// records as (area, index, old, new).
struct Store {
    header: (u64, u64, u64),
    records: Vec<(u64, u64, u64, u64)>,
}

fn golden(path: &Path) -> Store {
    let text = std::fs::read_to_string(path).unwrap();
    let num = |line: &str, key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut s = Store {
        header: (0, 0, 0),
        records: Vec::new(),
    };
    let (mut area, mut index) = (0, 0);
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("header ") {
            assert!(line.contains("magic=0x70416e53"), "{line}");
            s.header = (
                num(line, "valid"),
                num(line, "version"),
                num(line, "chunk_sectors"),
            );
        } else if line.starts_with("area ") {
            area = w[1].parse().unwrap();
            index = 0;
        } else if line.starts_with("   old ") {
            s.records
                .push((area, index, w[1].parse().unwrap(), w[4].parse().unwrap()));
            index += 1;
        } else if line.starts_with("records=") {
            assert_eq!(num(line, "records") as usize, s.records.len(), "all listed");
        }
    }
    s
}

/// `A` or `A..B` as (first, count).
fn span(t: &str) -> (u64, u64) {
    match t.split_once("..") {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
            (a, b - a + 1)
        }
        None => (t.parse().unwrap(), 1),
    }
}

/// The records the `merge batch` lines of `text` clear, in the order the
/// kernel clears them (each batch from its last record back), as (area,
/// index, old, new); every batch's three ranges have one length.
fn batches(text: &str) -> (usize, Vec<(u64, u64, u64, u64)>) {
    let mut n = 0;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.contains(": merge batch: ")) {
        // SNAP: merge batch: COW C -> origin O, clear records R (area A)
        let t: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            (t[3], t[5], t[6], t[8]),
            ("COW", "->", "origin", "clear"),
            "{line}"
        );
        let (new, k) = span(t[4]);
        let (old, k2) = span(t[7].trim_end_matches(','));
        let (first, k3) = span(t[10]);
        let area: u64 = t[12].trim_end_matches(')').parse().unwrap();
        assert_eq!((k, k2, k3), (k, k, k), "{line}");
        for j in (0..k).rev() {
            out.push((area, first + j, old + j, new + j));
        }
        n += 1;
    }
    (n, out)
}

fn lvmsim(devs: &[PathBuf], args: &[&str]) -> common::Output {
    let mut l = common::Lvmsim::new();
    for p in devs {
        l = l.arg("--dev").arg(p);
    }
    l.args(args).run()
}

/// `vgchange -ay --poll n --explain=json vg` (cut after `runs` merge
/// runs): the records each batch clears, in the kernel's order.
fn merge_json(devs: &[PathBuf], runs: Option<usize>) -> Vec<Vec<(u64, u64, u64, u64)>> {
    let mut args = vec!["vgchange", "-ay", "--poll", "n", "--explain=json", "vg"];
    let n = runs.map(|r| r.to_string());
    if let Some(n) = &n {
        args.splice(4..4, ["--interrupt-after", n.as_str()]);
    }
    let o = lvmsim(devs, &args);
    assert!(o.ok(), "{}", o.text());
    let text = o.text();
    let json_start = text.find('[').unwrap();
    let events: serde_json::Value = serde_json::from_str(&text[json_start..]).unwrap();
    let mut out = Vec::new();
    for e in events.as_array().unwrap() {
        assert_eq!(e["event"], "merge_batch", "{e}");
        assert_eq!(e["snapshot"], "snap");
        let g = |k: &str| e[k].as_u64().unwrap();
        out.push(
            (0..g("chunks"))
                .rev()
                .map(|j| {
                    (
                        g("area"),
                        g("first_record") + j,
                        g("origin_first") + j,
                        g("cow_first") + j,
                    )
                })
                .collect(),
        );
    }
    out
}

#[test]
fn a_resumed_merge_explains_the_kernels_records_from_the_end() {
    let src = common::kernel(SCENARIO);
    let dir = common::scratch();
    let pv = dir.path().join("pv1.img");
    common::unzst_to(&src.join("pv1.after-boot1.img.zst"), &pv);
    let devs = vec![pv];
    let kernel = golden(&common::repo().join(format!(
        "testdata/cowdump/interrupted/{SCENARIO}.vg.snap.cowdump"
    )));
    assert_eq!(kernel.records.len(), 1512, "the golden is the cut store");
    // The kernel's steps 021 and 024: activation resumes, lvpoll records
    // the end.
    let o = lvmsim(
        &devs,
        &["vgchange", "-ay", "--poll", "n", "--explain", "vg"],
    );
    assert!(o.ok(), "{}", o.text());
    let (n, cleared) = batches(&o.text());
    let mut want = kernel.records.clone();
    want.reverse();
    assert_eq!(cleared, want, "every record, from the store's end back");
    // Every other chunk was written: no two records are consecutive, so
    // each is a batch of its own.
    assert_eq!(n, 1512);
    assert!(!o.text().contains("merge done"), "--poll n: lvm2 waits");
    let o = lvmsim(
        &devs,
        &[
            "lvpoll",
            "--polloperation",
            "merge",
            "-i",
            "1",
            "--explain",
            "vg/origin",
        ],
    );
    assert!(o.ok(), "{}", o.text());
    let text = o.text();
    assert_eq!(batches(&text).0, 0, "nothing was left to merge");
    assert_eq!(
        text.lines().last(),
        Some("snap: merge done: snapshot removed"),
        "{text}"
    );
    // The origin is what the kernel's check at step 025 read.
    let want = std::fs::read_to_string(src.join("025.sha256")).unwrap();
    let o = lvmsim(&devs, &["cat", "vg/origin"]);
    assert!(o.ok());
    assert_eq!(
        common::sha256(&o.stdout),
        want.split_whitespace().next().unwrap()
    );
}

#[test]
fn a_cut_merge_explains_the_records_the_kernel_merged_before_the_power_off() {
    let src = common::kernel(SCENARIO);
    let dir = common::scratch();
    let script = std::fs::read_to_string(src.join("scenario")).unwrap();
    let mut devs = Vec::new();
    for (name, _, size) in kgen::disks(&script) {
        let p = dir.path().join(format!("{name}.img"));
        std::fs::File::create(&p).unwrap().set_len(size).unwrap();
        devs.push(p);
    }
    let pv_of = |a: &String| match a.strip_prefix('@') {
        Some(_) => devs[0].display().to_string(),
        None => a.clone(),
    };
    let cut = golden(&common::repo().join(format!(
        "testdata/cowdump/interrupted/{SCENARIO}.vg.snap.cowdump"
    )));
    let mut explained_create = String::new();
    // Steps 001-009: the VG, the origin, the snapshot and the writes.
    for s in kgen::steps(&src).into_iter().take_while(|s| s.n <= 9) {
        let w = &s.words;
        if w[0] == "write" {
            for (lv, sector, data) in kgen::write_pieces(w) {
                let sys = lvmsim::scan(&devs, false, &mut std::io::sink()).unwrap();
                lvmsim::data::write_with_events(
                    &sys,
                    &lv,
                    sector * 512,
                    &mut &data[..],
                    &lvmsim::context::WriteHooks::default(),
                    &mut std::io::sink(),
                    None,
                )
                .unwrap();
            }
            continue;
        }
        let mut args: Vec<String> = w.iter().map(pv_of).collect();
        if w[0] == "lvcreate" && w.iter().any(|a| a == "-s") {
            args.insert(1, "--explain".into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = lvmsim(&devs, &refs);
        assert!(o.ok(), "step {}: {}", s.n, o.text());
        if args.iter().any(|a| a == "--explain") {
            explained_create = String::from_utf8(o.stdout.clone()).unwrap();
        }
    }
    // The store lvcreate -s made, as the kernel's header reads.
    let (valid, version, cs) = cut.header;
    assert_eq!(
        explained_create
            .lines()
            .filter(|l| l.starts_with("snap: "))
            .collect::<Vec<_>>(),
        [
            "snap: lvm2 zeroes the COW's first 4096 bytes".to_owned(),
            format!(
                "snap: new store: header at chunk 0 (magic SnAp, valid {valid}, version {version}, chunk size {cs} sectors), area 0 at chunk 1 written empty"
            )
        ],
        "{explained_create}"
    );
    // Records before the merge: the kernel's status at step 012 counts the
    // chunks in use (header, areas, data).
    let status = std::fs::read_to_string(src.join("012.dmsetup-status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("vg-snap:")).unwrap();
    let t: Vec<&str> = line.split_whitespace().collect();
    let alloc: u64 = t[4].split('/').next().unwrap().parse().unwrap();
    let meta: u64 = t[5].parse().unwrap();
    let kernel_records = (alloc - meta) / cs;
    let sys = lvmsim::scan(&devs, false, &mut std::io::sink()).unwrap();
    let before = lvmsim::cowdump::dump(&sys, "vg/snap", None, false, false).unwrap();
    assert_eq!(before.records.len() as u64, kernel_records);
    let merged = before.records.len() - cut.records.len();
    assert_eq!(merged, 38, "1550 records, 1512 left at the power-off");
    // Steps 013-016: the merge is marked, then runs at activation, cut.
    let o = lvmsim(&devs, &["vgchange", "-an", "vg"]);
    assert!(o.ok(), "{}", o.text());
    let o = lvmsim(&devs, &["lvconvert", "--merge", "--explain", "vg/snap"]);
    assert!(o.ok(), "{}", o.text());
    assert!(
        o.text().contains(
            "snap: merge pending: the kernel starts it at the next activation of vg/origin"
        ),
        "{}",
        o.text()
    );
    // The kernel cut the merge between two batches: the batches of the
    // whole merge (run on a copy) that clear those records are counted,
    // and the merge is cut after as many.
    let copy = dir.path().join("whole");
    std::fs::create_dir(&copy).unwrap();
    let copies: Vec<PathBuf> = devs
        .iter()
        .map(|p| {
            let c = copy.join(p.file_name().unwrap());
            common::copy_sparse(p, &c);
            c
        })
        .collect();
    let whole = merge_json(&copies, None);
    let mut runs = 0;
    let mut sum = 0;
    while sum < merged {
        sum += whole[runs].len();
        runs += 1;
    }
    assert_eq!(sum, merged, "the kernel stopped between two batches");
    let cut_batches = merge_json(&devs, Some(runs));
    assert_eq!(cut_batches[..], whole[..runs], "the same batches, cut");
    let cleared: Vec<(u64, u64, u64, u64)> = cut_batches.concat();
    let mut want: Vec<(u64, u64, u64, u64)> = before.records[cut.records.len()..]
        .iter()
        .map(|r| (r.area, r.index, r.old, r.new))
        .collect();
    want.reverse();
    assert_eq!(
        cleared, want,
        "the records the kernel had merged, from the end"
    );
    // What is left is the kernel's interrupted store, record for record.
    let sys = lvmsim::scan(&devs, false, &mut std::io::sink()).unwrap();
    let after = lvmsim::cowdump::dump(&sys, "vg/snap", None, false, false).unwrap();
    let left: Vec<(u64, u64, u64, u64)> = after
        .records
        .iter()
        .map(|r| (r.area, r.index, r.old, r.new))
        .collect();
    assert_eq!(left, cut.records);
    // lvm2 has no --explain: the metadata records the commands without it.
    let image = std::fs::read(&devs[0]).unwrap();
    assert!(image.windows(16).any(|w| w == b"lvcreate -y -s -"));
    assert!(!image.windows(9).any(|w| w == b"--explain"));
}

/// `plan --blkparse` on a hand-written trace of a dm device (as
/// `blkparse` prints it by default) gives plan's answers for the same
/// writes as a `--trace` file: each write is taken once, at its `Q`
/// action, in sectors of 512 bytes; reads, flushes without data, and the
/// later actions of the same requests (`G`, `I`, `D`, `C`) add nothing.
#[test]
fn plan_from_blkparse_equals_plan_from_its_trace() {
    let dir = common::scratch();
    let blk = "\
253,4    0        1     0.000000000  1811  Q   W 8 + 16 [dd]
253,4    0        2     0.000001734  1811  G   W 8 + 16 [dd]
253,4    0        3     0.000004120  1811  I   W 8 + 16 [dd]
253,4    0        4     0.000009902  1811  D   W 8 + 16 [dd]
253,4    1        1     0.000153310     0  C   W 8 + 16 [0]
253,4    0        5     0.000201520  1811  Q   R 0 + 8 [dd]
253,4    0        6     0.000298811  1811  Q  WS 195 + 1 [dd]
253,4    0        7     0.000300012  1811  Q FWS 0 + 0 [dd]
253,4    0        8     0.000412998  1811  Q   W 1024 + 128 [dd]
253,4    0        9     0.000413001  1811  X   W 1024 / 1088 [dd]
253,4    1        2     0.000700313     0  C   W 1024 + 128 [0]
253,4    0       10     0.000800000  1811  Q  WM 2047 + 1 [kworker/0:1]
CPU0 (253,4):
 Reads Queued:           1,        4KiB	 Writes Queued:           4,       73KiB
Total (253,4):
 Reads Queued:           1,        4KiB	 Writes Queued:           4,       73KiB
";
    // The same writes in bytes.
    let trace = "4096 8192\n99840 512\n524288 65536\n1048064 512\n";
    std::fs::write(dir.path().join("w.blktrace.txt"), blk).unwrap();
    std::fs::write(dir.path().join("w.trace"), trace).unwrap();
    let plan = |extra: &[&str]| {
        let o = common::Lvmsim::new()
            .cwd(dir.path())
            .args([
                "plan",
                "--origin-size",
                "1m",
                "-s",
                "64k",
                "--json",
                "--chunk",
                "4k,16k,64k",
                "-L",
                "128k",
            ])
            .args(extra)
            .run();
        assert!(o.ok(), "{}", o.text());
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let a = plan(&["--trace", "w.trace"]);
    let b = plan(&["--blkparse", "w.blktrace.txt"]);
    assert_eq!(a, b);
    // 4k chunks: 1, 2 (8 KiB at 4096), 24 (sector 195), 128..143, 255.
    assert_eq!(a["chunks"][0]["exceptions"], 20);
    // A write past the origin's end names its line.
    std::fs::write(
        dir.path().join("past.txt"),
        "8,0 0 1 0.1 9 Q W 2048 + 8 [dd]\n",
    )
    .unwrap();
    let o = common::Lvmsim::new()
        .cwd(dir.path())
        .args(["plan", "--origin-size", "1m", "--blkparse", "past.txt"])
        .run();
    assert!(!o.ok());
    assert!(o.stderr.contains("blkparse line 1:"), "{}", o.stderr);
}

/// `lvchange -ay` of the merging origin resumes the same merge as
/// `vgchange -ay` and, polling, ends it: the same batches, then lvm2's end.
#[test]
fn lvchange_explains_the_same_batches_as_vgchange() {
    let src = common::kernel(SCENARIO);
    let dir = common::scratch();
    let run = |name: &str, args: &[&str]| {
        let pv = dir.path().join(name);
        common::unzst_to(&src.join("pv1.after-boot1.img.zst"), &pv);
        let o = lvmsim(&[pv], args);
        assert!(o.ok(), "{}", o.text());
        o.text()
    };
    let by_vg = run("a.img", &["vgchange", "-ay", "--explain", "vg"]);
    let by_lv = run("b.img", &["lvchange", "-ay", "--explain", "vg/origin"]);
    let (n, cleared) = batches(&by_lv);
    assert_eq!(n, 1512);
    assert_eq!(cleared, batches(&by_vg).1);
    for text in [&by_vg, &by_lv] {
        let explained: Vec<&str> = text.lines().filter(|l| l.starts_with("snap: ")).collect();
        assert_eq!(
            explained.last(),
            Some(&"snap: merge done: snapshot removed")
        );
        assert_eq!(explained.len(), 1513);
    }
}
