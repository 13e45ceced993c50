//! Crash consistency of every writing command: the command runs once with
//! its writes recorded (`LVMSIM_WRITE_LOG`); then, for every k, a crash
//! after write k is simulated by applying writes 1..=k to copies of the
//! original images, and a torn write k by applying only its first 512
//! bytes after writes 1..k-1. Each cut must scan without error, show either
//! the last committed metadata or the one being committed, and show every
//! LV's data as it was promised (an origin that is merging shows the
//! snapshot's data from the moment the merge is committed). Cuts of a merge
//! are also resumed with `vgchange -ay` and must end with the snapshot's
//! data on the origin.

use crate::common;

use common::Lvmsim;
use cow_engine::view;
use lvm_meta::io::{Image, ReadAt};
use lvm_meta::scan::System;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Images by file name. Shared, so that checking a cut copies no image:
/// a write copies the one image it changes, and only while a check still
/// holds the old bytes.
type Images = BTreeMap<String, Arc<Vec<u8>>>;

/// An image's bytes, shared with the cut they belong to.
struct Shared(Arc<Vec<u8>>);

impl ReadAt for Shared {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.0.as_slice().read_exact_at(buf, offset)
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.0.len() as u64)
    }
}

/// One recorded write.
struct Write {
    file: String,
    offset: u64,
    data: Vec<u8>,
}

/// The size of a torn write: one sector reached the disk.
const TORN: usize = 512;

/// A kernel scenario's final images (`pvN.img.zst`).
fn kernel_images(scenario: &str) -> Images {
    let dir = common::repo().join("testdata/kernel").join(scenario);
    let mut out = Images::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".img.zst") {
            if stem.starts_with("pv") && !stem.contains('.') {
                out.insert(
                    format!("{stem}.img"),
                    Arc::new(common::unzst(&dir.join(&name))),
                );
            }
        }
    }
    assert!(!out.is_empty(), "{}: no images", dir.display());
    out
}

/// An lvm2 corpus scenario's images.
fn corpus_images(scenario: &str) -> Images {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus").join(scenario));
    s.devs
        .iter()
        .map(|(_, p)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                Arc::new(std::fs::read(p).unwrap()),
            )
        })
        .collect()
}

/// Writes `images` into `dir`, leaving holes where they are zero (most of
/// an image is; tmpfs would allocate a page for every zero written).
fn put(dir: &Path, images: &Images) {
    for (name, bytes) in images {
        common::write_sparse(bytes.as_slice(), &dir.join(name)).unwrap();
    }
}

fn get(dir: &Path, images: &Images) -> Images {
    images
        .keys()
        .map(|n| (n.clone(), Arc::new(std::fs::read(dir.join(n)).unwrap())))
        .collect()
}

/// Runs lvmsim on the images in `dir` (every file given with `--dev`),
/// recording its writes when `log` is given.
fn lvmsim(dir: &Path, images: &Images, args: &[&str], log: Option<&Path>) {
    let mut l = images
        .keys()
        .fold(Lvmsim::new(), |l, name| l.arg("--dev").arg(name))
        .args(args)
        .cwd(dir)
        .env("LVMSIM_DETERMINISTIC", "1")
        .env_remove("LVMSIM_WRITE_LOG");
    if let Some(log) = log {
        l = l.env("LVMSIM_WRITE_LOG", log);
    }
    let o = l.run();
    assert!(o.ok(), "lvmsim {args:?}: {}", o.stderr);
}

fn parse_log(mut b: &[u8]) -> Vec<Write> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (h, t) = b.split_at(n);
        *b = t;
        h
    }
    let u32_of = |x: &[u8]| u32::from_le_bytes(x.try_into().unwrap()) as usize;
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = u32_of(take(&mut b, 4));
        let path = String::from_utf8(take(&mut b, n).to_vec()).unwrap();
        let offset = u64::from_le_bytes(take(&mut b, 8).try_into().unwrap());
        let n = u32_of(take(&mut b, 4));
        let data = take(&mut b, n).to_vec();
        let file = Path::new(&path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.push(Write { file, offset, data });
    }
    out
}

/// Runs a command on a copy of `before` and returns its writes and the
/// images it left.
fn record(before: &Images, args: &[&str]) -> (Vec<Write>, Images) {
    let t = common::scratch();
    put(t.path(), before);
    let log = t.path().join("writes.log");
    lvmsim(t.path(), before, args, Some(&log));
    let writes = parse_log(&std::fs::read(&log).unwrap_or_default());
    let after = get(t.path(), before);
    // The record is complete: replaying all of it gives the same images.
    assert!(
        cut(before, &writes, writes.len(), false) == after,
        "{args:?}: replaying the recorded writes does not give the command's result"
    );
    (writes, after)
}

/// The images after writes 1..=k (the last one torn if asked).
fn cut(before: &Images, writes: &[Write], k: usize, torn: bool) -> Images {
    let mut img = before.clone();
    for (i, w) in writes[..k].iter().enumerate() {
        apply(
            &mut img,
            w,
            if torn && i + 1 == k { TORN } else { usize::MAX },
        );
    }
    img
}

/// Applies the first `max` bytes of a write.
fn apply(img: &mut Images, w: &Write, max: usize) {
    let data = &w.data[..w.data.len().min(max)];
    let at = w.offset as usize;
    Arc::make_mut(img.get_mut(&w.file).unwrap())[at..at + data.len()].copy_from_slice(data);
}

/// What a cut shows: the VG's metadata and each LV's contents.
#[derive(Debug, Clone, PartialEq)]
struct State {
    seqno: u64,
    text: Vec<u8>,
    /// LV id -> (name, hash of what reading it gives, or why it fails).
    lvs: BTreeMap<String, (String, Result<String, String>)>,
    /// Ids of the LVs that are snapshots (their COW LV).
    snapshots: Vec<String>,
    /// LV id of each origin with a merging snapshot -> the snapshot's id.
    merging: BTreeMap<String, String>,
}

/// A name for an LV's contents: equal contents get the same name, compared
/// byte for byte (a memcmp, many times faster than hashing the tens of MiB
/// each cut reads). The few distinct contents a test meets are kept; past
/// 32 of them (a test failing at every cut) new ones are named by sha256.
fn digest(b: &[u8]) -> String {
    SEEN.with_borrow_mut(|seen| {
        if let Some(i) = seen.iter().position(|x| x.as_slice() == b) {
            return format!("contents #{i} ({} bytes)", b.len());
        }
        if seen.len() >= 32 {
            return format!("sha256 {}", common::sha256(b));
        }
        seen.push(b.to_vec());
        format!("contents #{} ({} bytes)", seen.len() - 1, b.len())
    })
}

thread_local! {
    static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static SEEN: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn state(images: Images, vgname: &str) -> Result<State, String> {
    let list = images
        .into_iter()
        .map(|(n, b)| {
            let mut img = Image::from_bytes(&n, Vec::new());
            img.size = b.len() as u64;
            img.data = Box::new(Shared(b));
            img
        })
        .collect();
    let sys = System::scan(list).map_err(|e| e.to_string())?;
    if let Some(p) = sys.problems.iter().find(|p| p.fatal) {
        return Err(format!("scan problem: {}", p.error));
    }
    let inst = sys
        .vg(vgname)
        .ok_or_else(|| format!("VG {vgname} not found"))?;
    let vg = &inst.vg;
    let pvs = sys.pv_images(inst);
    let mut lvs = BTreeMap::new();
    let mut merging = BTreeMap::new();
    let mut snapshots = Vec::new();
    for (i, lv) in vg.lvs.iter().enumerate() {
        if lv.is_snapshot_glue() {
            continue;
        }
        if let Some(c) = vg.roles[i].cow_of {
            snapshots.push(lv.id.clone());
            if c.merging {
                merging.insert(vg.lvs[c.origin].id.clone(), lv.id.clone());
                continue;
            }
        }
        let content = view::open(vg, i, &pvs).and_then(|v| {
            // One buffer for every LV of every cut: a fresh one per read
            // page-faults in tens of MiB each time.
            BUF.with_borrow_mut(|all| {
                all.resize(v.size() as usize, 0);
                v.read_at(0, all)?;
                Ok(digest(all))
            })
        });
        lvs.insert(
            lv.id.clone(),
            (lv.name.clone(), content.map_err(|e| e.to_string())),
        );
    }
    Ok(State {
        seqno: u64::from(vg.seqno),
        text: inst.text.to_vec(),
        lvs,
        snapshots,
        merging,
    })
}

/// What each LV must show in any cut, given the state before the command:
/// its own data, except that an origin whose snapshot is merging (or has
/// merged) shows that snapshot's data.
struct Promise {
    vgname: String,
    /// LV id -> [`digest`] of the expected contents.
    data: BTreeMap<String, String>,
    /// The ids of the snapshots among them.
    snapshots: Vec<String>,
}

impl Promise {
    /// The promise of the state `s` (every LV there must read).
    fn of(vgname: &str, s: &State) -> Promise {
        let mut data = BTreeMap::new();
        for (id, (name, h)) in &s.lvs {
            let h = h
                .as_ref()
                .unwrap_or_else(|e| panic!("{name} does not read before the command: {e}"));
            data.insert(id.clone(), h.clone());
        }
        Promise {
            vgname: vgname.to_owned(),
            data,
            snapshots: s.snapshots.clone(),
        }
    }

    /// Once the snapshot `snap` merges into `origin`, the origin holds its data.
    fn merge(&mut self, origin: &str, snap: &str) {
        let d = self.data[snap].clone();
        self.data.insert(origin.to_owned(), d);
    }

    fn check(&self, s: &State) -> Result<(), String> {
        for (id, (name, h)) in &s.lvs {
            if self.snapshots.contains(id) && !s.snapshots.contains(id) {
                // A snapshot detached from its origin (lvm2's first step in
                // removing it): its COW is a plain LV, removed next.
                continue;
            }
            let Some(want) = self.data.get(id) else {
                return Err(format!("{}/{name} appeared", self.vgname));
            };
            match h {
                Ok(h) if h == want => {}
                Ok(_) => return Err(format!("{}/{name}: data differs", self.vgname)),
                Err(e) => return Err(format!("{}/{name} does not read: {e}", self.vgname)),
            }
        }
        Ok(())
    }
}

/// Counts of a command's cut points.
#[derive(Debug, Default)]
struct Counts {
    writes: usize,
    cuts: usize,
    torn: usize,
    resumed: usize,
}

/// Checks every cut of `writes` from `before`; `extra` (a resume, which
/// runs a command) runs on the cuts `resume_at` selects. Returns the counts.
fn check_cuts_sampled(
    what: &str,
    before: &Images,
    writes: &[Write],
    promise: &Promise,
    extra: &mut dyn FnMut(&Images) -> Result<(), String>,
    resume_at: impl Fn(usize) -> bool,
) -> Counts {
    let vgname = &promise.vgname;
    let mut counts = Counts {
        writes: writes.len(),
        ..Counts::default()
    };
    let mut failures = Vec::new();
    // seqno -> the one text it may have.
    let mut versions: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut prev: Option<State> = None;
    // The images after writes 1..k, advanced one write per step.
    let mut running = before.clone();
    for k in 0..=writes.len() {
        // What write k overwrote past its first sector (to tear it).
        let mut overwritten = Vec::new();
        if k > 0 {
            let w = &writes[k - 1];
            let at = w.offset as usize;
            overwritten = running[&w.file][at..at + w.data.len()].to_vec();
            apply(&mut running, w, usize::MAX);
        }
        let mut tries = vec![false];
        if k > 0 && writes[k - 1].data.len() > TORN {
            tries.push(true);
        }
        for torn in tries {
            let label = format!(
                "{what}: {} write {k}/{} ({} bytes at {} of {})",
                if torn { "torn" } else { "crash after" },
                writes.len(),
                if k > 0 { writes[k - 1].data.len() } else { 0 },
                if k > 0 { writes[k - 1].offset } else { 0 },
                if k > 0 { &writes[k - 1].file[..] } else { "-" },
            );
            if torn {
                counts.torn += 1;
            } else {
                counts.cuts += 1;
            }
            if torn {
                // Tear write k in place (no other holder of the image, so
                // no copy of it): its bytes past the first sector go back
                // to what they were; they are written again after the check.
                let w = &writes[k - 1];
                let at = w.offset as usize;
                Arc::make_mut(running.get_mut(&w.file).unwrap())[at + TORN..at + w.data.len()]
                    .copy_from_slice(&overwritten[TORN..]);
            }
            let img = running.clone();
            if resume_at(k) {
                counts.resumed += 1;
                if let Err(e) = extra(&img) {
                    failures.push(format!("{label}: {e}"));
                }
            }
            let st = state(img, vgname);
            if torn {
                // Write k whole again, as the next cut needs it.
                apply(&mut running, &writes[k - 1], usize::MAX);
            }
            let s = match st {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            // One text per seqno, and never an older seqno than before.
            match versions.get(&s.seqno) {
                Some(t) if *t != s.text => {
                    failures.push(format!("{label}: a second text with seqno {}", s.seqno))
                }
                _ => {
                    versions.insert(s.seqno, s.text.clone());
                }
            }
            if let Some(p) = &prev {
                if s.seqno < p.seqno {
                    failures.push(format!(
                        "{label}: seqno went back from {} to {}",
                        p.seqno, s.seqno
                    ));
                }
                if s.seqno > p.seqno + 1 {
                    failures.push(format!(
                        "{label}: seqno jumped from {} to {}",
                        p.seqno, s.seqno
                    ));
                }
            }
            let mut promise_now = Promise {
                vgname: vgname.clone(),
                data: promise.data.clone(),
                snapshots: promise.snapshots.clone(),
            };
            for (o, snap) in &s.merging {
                promise_now.merge(o, snap);
            }
            if let Err(e) = promise_now.check(&s) {
                failures.push(format!("{label}: {e}"));
            }
            if !torn {
                prev = Some(s);
            }
        }
    }
    println!(
        "{what}: {} writes, {} crash cuts, {} torn cuts, {} resumed: {} failures",
        counts.writes,
        counts.cuts,
        counts.torn,
        counts.resumed,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    counts
}

/// For commands with nothing to resume.
fn no_resume(_: &Images) -> Result<(), String> {
    Ok(())
}

fn id_of(s: &State, name: &str) -> String {
    s.lvs
        .iter()
        .find(|(_, (n, _))| n == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("no LV {name}"))
}

/// A metadata-only command: every LV keeps its data; the VG is old or new.
fn metadata_only(what: &str, before: &Images, vgname: &str, args: &[&str]) -> Counts {
    metadata_only_then(what, before, vgname, args).0
}

/// [`metadata_only`], also returning the images the command left.
fn metadata_only_then(
    what: &str,
    before: &Images,
    vgname: &str,
    args: &[&str],
) -> (Counts, Images) {
    let s0 = state(before.clone(), vgname).unwrap();
    let promise = Promise::of(vgname, &s0);
    let (writes, after) = record(before, args);
    assert!(!writes.is_empty(), "{what}: wrote nothing");
    let s1 = state(after.clone(), vgname).unwrap();
    assert!(s1.seqno > s0.seqno, "{what}: no new metadata");
    let c = check_cuts_sampled(what, before, &writes, &promise, &mut no_resume, |_| false);
    (c, after)
}

#[test]
fn lvrename_cut_at_every_write() {
    let c = metadata_only(
        "lvrename",
        &corpus_images("twopv-striped"),
        "vg_striped",
        &["lvrename", "vg_striped", "str", "renamed"],
    );
    assert!(c.cuts > 6, "two PVs, three writes each: {c:?}");
}

#[test]
fn lvremove_plain_cut_at_every_write() {
    metadata_only(
        "lvremove (plain LV)",
        &kernel_images("snap-striped-origin"),
        "vg",
        &["lvremove", "-y", "vg/fill"],
    );
}

#[test]
fn lvremove_snapshot_cut_at_every_write() {
    let c = metadata_only(
        "lvremove (snapshot)",
        &kernel_images("snap-chunks"),
        "vg",
        &["lvremove", "-y", "vg/s64k"],
    );
    assert!(c.writes >= 6, "two commits of three writes: {c:?}");
}

/// Resumes a cut merge with `vgchange -ay` and checks that the origin ends
/// with the snapshot's data, the snapshot gone, the others intact.
fn resume(img: &Images, promise: &Promise, snap: &str) -> Result<(), String> {
    let t = common::scratch();
    put(t.path(), img);
    lvmsim(t.path(), img, &["vgchange", "-ay", "vg"], None);
    let s = state(get(t.path(), img), &promise.vgname)?;
    // A crash between the poller's two writes leaves the snapshot's COW as
    // a plain LV (lvm2 does the same); it must no longer be a snapshot.
    if s.snapshots.iter().any(|x| x == snap) || !s.merging.is_empty() {
        return Err("after the resumed merge the snapshot is still there".into());
    }
    promise
        .check(&s)
        .map_err(|e| format!("after the resumed merge: {e}"))
}

/// Which cuts of a merge are resumed: each resume runs lvmsim on copies of
/// the whole images, so `cargo test` resumes a sample and `.ci/run` runs
/// the ignored tests that resume every cut.
#[derive(Clone, Copy)]
enum Resume {
    /// The first and last four cuts and every sixteenth in between.
    Sampled,
    /// Every cut.
    Every,
}

/// `lvconvert --merge` of `snap` then `second` (which runs the merge and
/// records its end), every cut of both checked, and cuts of the second
/// resumed as `which` says.
fn merge_cut_at_every_write(
    scenario: &str,
    snap: &str,
    second: &[&str],
    which: Resume,
) -> (Counts, Counts) {
    let before = kernel_images(scenario);
    let s0 = state(before.clone(), "vg").unwrap();
    let mut promise = Promise::of("vg", &s0);
    let spec = format!("vg/{snap}");
    // Only mark the snapshot (lvm2 with an inactive origin, as lvmsim's
    // are); the merge runs in `second`.
    let (w1, after1) = record(&before, &["lvconvert", "--merge", &spec]);
    let c1 = check_cuts_sampled(
        &format!("{scenario}: lvconvert --merge {spec}"),
        &before,
        &w1,
        &promise,
        &mut no_resume,
        |_| false,
    );
    let (w2, after2) = record(&after1, second);
    let snap_id = id_of(&s0, snap);
    let origin_id = id_of(&s0, "origin");
    promise.merge(&origin_id, &snap_id);
    let done = state(after2, "vg").unwrap();
    assert!(!done.lvs.contains_key(&snap_id) && done.merging.is_empty());
    promise.check(&done).unwrap();
    // Every cut is checked in full; resumed are those `which` names.
    let n = w2.len();
    let c2 = check_cuts_sampled(
        &format!("{scenario}: {}", second.join(" ")),
        &after1,
        &w2,
        &promise,
        &mut |img| resume(img, &promise, &snap_id),
        |k| match which {
            Resume::Sampled => k < 4 || k + 4 > n || k % 16 == 0,
            Resume::Every => true,
        },
    );
    (c1, c2)
}

fn merge_by_activation(which: Resume) {
    let (_, c) = merge_cut_at_every_write("snap-areas", "snap", &["vgchange", "-ay", "vg"], which);
    assert!(c.writes > 6, "data batches and two commits: {c:?}");
}

fn merge_with_siblings(which: Resume) {
    merge_cut_at_every_write("snap-chunks", "s64k", &["vgchange", "-ay", "vg"], which);
}

fn merge_by_lvpoll(which: Resume) {
    merge_cut_at_every_write(
        "merge-with-sibling",
        "keep",
        &["lvpoll", "--polloperation", "merge", "vg/origin"],
        which,
    );
}

#[test]
fn merge_by_activation_cut_at_every_write() {
    merge_by_activation(Resume::Sampled);
}

#[test]
fn merge_with_siblings_cut_at_every_write() {
    merge_with_siblings(Resume::Sampled);
}

#[test]
fn merge_by_lvpoll_cut_at_every_write() {
    merge_by_lvpoll(Resume::Sampled);
}

#[test]
#[ignore = "resumes every cut (minutes): .ci/run runs it"]
fn merge_by_activation_every_cut_resumed() {
    merge_by_activation(Resume::Every);
}

#[test]
#[ignore = "resumes every cut (minutes): .ci/run runs it"]
fn merge_with_siblings_every_cut_resumed() {
    merge_with_siblings(Resume::Every);
}

#[test]
#[ignore = "resumes every cut (minutes): .ci/run runs it"]
fn merge_by_lvpoll_every_cut_resumed() {
    merge_by_lvpoll(Resume::Every);
}

#[test]
fn lvrename_around_a_small_ring_cut_at_every_write() {
    // A 60 KiB metadata area: successive renames wrap the text around the
    // ring's end, a text written in two pieces (four writes, not three).
    let mut images = kernel_images("ring-wrap");
    let mut wrapped = 0;
    for i in 0..16 {
        let (from, to) = if i % 2 == 0 {
            ("lv0", "renamed-lv0")
        } else {
            ("renamed-lv0", "lv0")
        };
        let what = format!("lvrename {i} in a small ring");
        let (c, after) = metadata_only_then(&what, &images, "vg", &["lvrename", "vg", from, to]);
        wrapped += usize::from(c.writes > 3);
        images = after;
    }
    assert!(wrapped > 0, "no rename wrapped around the ring");
}

#[test]
fn lvrename_with_three_metadata_copies_cut_at_every_write() {
    let c = metadata_only(
        "lvrename (three PVs)",
        &corpus_images("mdacopies"),
        "vg_mda",
        &["lvrename", "vg_mda", "lv1", "other"],
    );
    assert!(c.writes >= 6, "{c:?}");
}
