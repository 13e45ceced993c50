//! Soak test: several workers change one VG at once through the `lvmsim`
//! binary, each against a model of what its own LVs must contain.
//!
//! ```text
//! cargo run -p sim-cli --example soak -- --lvmsim target/debug/lvmsim \
//!     --seed N --workers K --steps M --dir DIR [--vgck] [--vgck-every S]
//! ```
//!
//! Two small images become one VG (`pvcreate`, `vgcreate -s 1m`). Then K
//! threads run M steps each, all on the same images at the same time. A
//! worker owns the LVs whose names start with its prefix (`w0_`, `w1_`, …)
//! and runs a random sequence (seeded from N and its number) of
//! `lvcreate` (linear, striped, `-s` snapshots of its own LVs), `lvextend`,
//! `lvreduce`, `lvremove`, `lvrename`, `lvchange --addtag`, `write` (a
//! pattern keyed by LV and generation, at random offsets, sometimes across
//! the LV's end), `lvconvert --merge` (at once, or deferred and finished by
//! `lvchange -ay`).
//!
//! The model follows what each command reported, not what the worker meant:
//! a command that fails leaves it unchanged, and may fail only in the ways
//! lvm2 fails (no space, name taken, a snapshot that fills up, a refusal
//! lvmsim documents). It holds each LV's expected bytes (bytes nobody wrote
//! are unknown and not checked), each snapshot's view (the origin's bytes
//! when it was made, plus writes to it) and its exception store as the
//! kernel fills it (chunk by chunk, metadata areas included), so it knows
//! when a snapshot must have overflowed; an overflowed snapshot must then
//! fail every read and write. A merge puts the snapshot's view into the
//! origin, and copies the merged chunks into the origin's other snapshots.
//!
//! After each step a worker compares `lvmsim lvs` (names, sizes, origins,
//! tags) and `lvmsim cat` of each of its LVs with the model. Every few
//! steps it also runs `vgcfgbackup` and `lvs -a` beside the others, which
//! must succeed without a word on stderr but the lock-wait notice. With
//! `--vgck`, every S steps all workers stop at a barrier and real lvm2 on
//! loop devices over the images must accept the VG (`vgck`) and list
//! exactly the LVs of all the models (`lvs`); the loop devices are detached
//! again at once, also when a check fails or a worker panics.
//!
//! The seed is printed first. A failure prints the worker, step, command,
//! its output and what the model expected, and a command line that replays
//! the seed; the order in which the workers' commands interleave is up to
//! the scheduler, so a replay runs the same sequences, not necessarily the
//! same interleaving. The exit status is 1 on any failure.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

const MIB: u64 = 1 << 20;
/// Extent size of the VG (`vgcreate -s 1m`): small LVs, many of them.
const EXTENT: u64 = MIB;
/// Images (PVs) in the VG, so that striped LVs and allocation across PVs
/// are exercised.
const IMAGES: usize = 2;
/// Size of each image: small enough that the workers run out of space.
const IMAGE_SIZE: u64 = 56 * MIB;
const VG: &str = "soak";
/// LVs (snapshots not counted) a worker keeps at most.
const MAX_LVS: usize = 4;
/// Snapshots per origin at most.
const MAX_SNAPS: usize = 2;
/// How lvm2 says that the VG has no room for an allocation.
const NO_SPACE: [&str; 3] = [
    "has insufficient free space",
    "Insufficient suitable allocatable extents",
    "Insufficient free space:",
];
/// The stderr line of a command that waits for another's lock.
const WAIT_NOTICE: &str = "lvmsim: waiting for the lock on";

// ---------------------------------------------------------------------
// Randomness and patterns

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix(self.0.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            v.get(self.below(v.len() as u64) as usize)
        }
    }
}

/// The bytes a write with `key` puts at LV offsets `off..off + len`: each
/// byte depends on the key and its offset, so a byte written to the wrong
/// place or by the wrong write shows.
fn pattern(key: u64, off: u64, len: u64) -> Vec<u8> {
    (off..off + len)
        .map(|o| (splitmix(key ^ (o >> 3).wrapping_mul(0x9e37_79b9)) >> ((o & 7) * 8)) as u8)
        .collect()
}

// ---------------------------------------------------------------------
// The model of one LV's bytes

/// Expected bytes, with a bit per byte saying whether they are known.
#[derive(Clone, Default)]
struct Buf {
    data: Vec<u8>,
    known: Vec<u64>,
}

impl Buf {
    fn unknown(len: u64) -> Buf {
        Buf {
            data: vec![0; len as usize],
            known: vec![0; (len as usize).div_ceil(64)],
        }
    }
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    /// Cut or grow to `len`; grown bytes are unknown.
    fn resize(&mut self, len: u64) {
        let old = self.data.len();
        let len = len as usize;
        self.data.resize(len, 0);
        self.known.resize(len.div_ceil(64), 0);
        // Clear the bits past the end of the last word and past the old end.
        for i in old.min(len)..(len.div_ceil(64) * 64) {
            self.known[i / 64] &= !(1u64 << (i % 64));
        }
    }
    fn put(&mut self, off: u64, bytes: &[u8]) {
        let off = off as usize;
        self.data[off..off + bytes.len()].copy_from_slice(bytes);
        for i in off..off + bytes.len() {
            self.known[i / 64] |= 1u64 << (i % 64);
        }
    }
    /// Bytes `0..len` of `other` (known or not) replace ours.
    fn take_from(&mut self, other: &Buf, len: u64) {
        let len = len as usize;
        self.data[..len].copy_from_slice(&other.data[..len]);
        for i in 0..len {
            let bit = 1u64 << (i % 64);
            if other.known[i / 64] & bit != 0 {
                self.known[i / 64] |= bit;
            } else {
                self.known[i / 64] &= !bit;
            }
        }
    }
    /// The first known byte that `got` does not have.
    fn first_mismatch(&self, got: &[u8]) -> Option<usize> {
        if got.len() != self.data.len() {
            return Some(got.len().min(self.data.len()));
        }
        for (w, &bits) in self.known.iter().enumerate() {
            let lo = w * 64;
            let hi = (lo + 64).min(self.data.len());
            if bits == u64::MAX {
                if self.data[lo..hi] != got[lo..hi] {
                    return (lo..hi).find(|&i| self.data[i] != got[i]);
                }
            } else if bits != 0 {
                if let Some(i) =
                    (lo..hi).find(|&i| bits & (1 << (i - lo)) != 0 && self.data[i] != got[i])
                {
                    return Some(i);
                }
            }
        }
        None
    }
    fn known_bytes(&self) -> u64 {
        self.known.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

// ---------------------------------------------------------------------
// The model of one snapshot's exception store

/// A snapshot's store as the kernel's persistent store fills it: chunk 0 is
/// the header, then areas of one metadata chunk and `chunk / 16` data
/// chunks; a new exception takes the next free data chunk, and fails (the
/// snapshot is invalidated) when that chunk would pass the COW's end; when
/// an area fills, the next area's metadata chunk is zeroed, which also
/// invalidates the snapshot if it lies past the end.
#[derive(Clone)]
struct Store {
    chunk: u64,
    cow_size: u64,
    chunks: HashSet<u64>,
    next_free: u64,
    committed: u64,
    area: u64,
    valid: bool,
}

impl Store {
    fn new(chunk: u64, cow_size: u64) -> Store {
        Store {
            chunk,
            cow_size,
            chunks: HashSet::new(),
            next_free: 2,
            committed: 0,
            area: 0,
            valid: true,
        }
    }
    fn per_area(&self) -> u64 {
        self.chunk / 16
    }
    /// One new exception for origin chunk `c`; false (and invalid) if the
    /// store is full.
    fn add(&mut self, c: u64) -> bool {
        if !self.valid {
            return false;
        }
        if self.chunks.contains(&c) {
            return true;
        }
        let stride = self.per_area() + 1;
        if (self.next_free + 1) * self.chunk > self.cow_size {
            self.valid = false;
            return false;
        }
        self.next_free += 1;
        if self.next_free % stride == 1 {
            self.next_free += 1;
        }
        self.chunks.insert(c);
        self.committed += 1;
        if self.committed == self.per_area() {
            let next_meta = 1 + (self.area + 1) * stride;
            if (next_meta + 1) * self.chunk > self.cow_size {
                self.valid = false;
                return false;
            }
            self.area += 1;
            self.committed = 0;
        }
        true
    }
    /// Exceptions for every chunk overlapping `off..off + len`, cut at
    /// `limit` (the snapshot's length).
    fn cover(&mut self, off: u64, len: u64, limit: u64) {
        let end = (off + len).min(limit);
        if off >= end {
            return;
        }
        for c in off / self.chunk..end.div_ceil(self.chunk) {
            if !self.add(c) {
                return;
            }
        }
    }
    /// The smallest COW size that still holds what is in the store.
    fn needed(&self) -> u64 {
        (self.next_free.max(1 + self.area * (self.per_area() + 1)) + 1) * self.chunk
    }
}

/// The largest COW lvm2 lets a snapshot of an `origin`-byte LV have with
/// `chunk`-byte chunks, in bytes: the header, a chunk per origin chunk, the
/// metadata chunks (one per area, and the next area's, zeroed when the last
/// fills), in whole extents. A store of that size never fills.
fn cow_max(origin: u64, chunk: u64) -> u64 {
    let n = origin.div_ceil(chunk);
    let chunks = 2 + n + n / (chunk / 16);
    (chunks * chunk).div_ceil(EXTENT) * EXTENT
}

// ---------------------------------------------------------------------
// A worker's model of its LVs

#[derive(Clone)]
struct Snap {
    origin: u32,
    /// The snapshot's length: the origin's size when it was made.
    len: u64,
    store: Store,
    /// Marked for merging (`lvconvert --merge`); the merge runs at the
    /// origin's next activation.
    merging: bool,
}

#[derive(Clone)]
struct Lv {
    name: String,
    /// The LV's size (for a snapshot: its COW's size).
    size: u64,
    stripes: u64,
    /// What reads return (a snapshot: its view; an origin with a pending
    /// merge: the merging snapshot's view, as the kernel shows it).
    buf: Buf,
    tags: BTreeSet<String>,
    snap: Option<Snap>,
    /// Writes that landed on it: (generation, offset, length), newest last.
    writes: Vec<(u64, u64, u64)>,
}

#[derive(Default)]
struct Model {
    lvs: BTreeMap<u32, Lv>,
    next_id: u32,
}

impl Model {
    fn snaps_of(&self, origin: u32) -> Vec<u32> {
        self.lvs
            .iter()
            .filter(|(_, l)| l.snap.as_ref().is_some_and(|s| s.origin == origin))
            .map(|(i, _)| *i)
            .collect()
    }
    fn merging_snap(&self, origin: u32) -> Option<u32> {
        self.snaps_of(origin)
            .into_iter()
            .find(|i| self.lvs[i].snap.as_ref().is_some_and(|s| s.merging))
    }
    fn plain(&self) -> Vec<u32> {
        self.lvs
            .iter()
            .filter(|(_, l)| l.snap.is_none())
            .map(|(i, _)| *i)
            .collect()
    }
    fn snapshots(&self) -> Vec<u32> {
        self.lvs
            .iter()
            .filter(|(_, l)| l.snap.as_ref().is_some_and(|s| !s.merging))
            .map(|(i, _)| *i)
            .collect()
    }
    /// An origin write of `off..off + len`: its other snapshots copy the
    /// chunks they lack. With a pending merge, the parts on chunks the
    /// merging snapshot holds go to its store instead (the kernel's
    /// snapshot-merge target), and reach the others only at the merge.
    fn origin_written(&mut self, origin: u32, off: u64, len: u64) {
        let merging = self.merging_snap(origin);
        let pieces: Vec<(u64, u64)> = match merging {
            None => vec![(off, len)],
            Some(m) => {
                let st = &self.lvs[&m].snap.as_ref().unwrap().store;
                let cs = st.chunk;
                let mut v = Vec::new();
                let mut at = off;
                while at < off + len {
                    let next = ((at / cs) + 1) * cs;
                    let n = next.min(off + len) - at;
                    if !st.chunks.contains(&(at / cs)) {
                        v.push((at, n));
                    }
                    at += n;
                }
                v
            }
        };
        for s in self.snaps_of(origin) {
            if Some(s) == merging {
                continue;
            }
            let sn = self.lvs.get_mut(&s).unwrap().snap.as_mut().unwrap();
            for &(o, n) in &pieces {
                sn.store.cover(o, n, sn.len);
            }
        }
    }
    /// The merge of snapshot `s` ends: the merged chunks are written to the
    /// origin (its other snapshots copy them first) and the snapshot goes.
    fn merged(&mut self, s: u32) {
        let sn = self.lvs.remove(&s).unwrap().snap.unwrap();
        let mut chunks: Vec<u64> = sn.store.chunks.iter().copied().collect();
        chunks.sort_unstable();
        for o in self.snaps_of(sn.origin) {
            let other = self.lvs.get_mut(&o).unwrap().snap.as_mut().unwrap();
            for &c in &chunks {
                other
                    .store
                    .cover(c * sn.store.chunk, sn.store.chunk, other.len);
            }
        }
    }
}

// ---------------------------------------------------------------------
// Running lvmsim

struct Env {
    lvmsim: PathBuf,
    dir: PathBuf,
    /// `NAME=PATH` for each image.
    devs: Vec<String>,
    /// The names lvm2 sees (links in the private device directory).
    names: Vec<PathBuf>,
    images: Vec<PathBuf>,
    nolocking: bool,
}

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    line: String,
}

impl Out {
    fn ok(&self) -> bool {
        self.code == 0
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr without the notices of waits for a lock.
    fn complaints(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| !l.contains(WAIT_NOTICE))
            .collect::<Vec<_>>()
            .join("\n")
    }
    fn says(&self, what: &str) -> bool {
        self.stderr.contains(what)
    }
    fn show(&self) -> String {
        let mut s = format!("  $ {}\n  exit {}\n", self.line, self.code);
        let out = self.text();
        if !out.is_empty() && out.len() < 4000 {
            for l in out.lines() {
                let _ = writeln!(s, "  out: {l}");
            }
        }
        for l in self.stderr.lines() {
            let _ = writeln!(s, "  err: {l}");
        }
        s
    }
}

impl Env {
    fn run(&self, args: &[&str]) -> Out {
        let mut c = Command::new(&self.lvmsim);
        if self.nolocking {
            c.arg("--nolocking");
        }
        for d in &self.devs {
            c.arg("--dev").arg(d);
        }
        c.args(args);
        let line = format!("lvmsim {}", args.join(" "));
        match c.output() {
            Ok(o) => Out {
                code: o.status.code().unwrap_or(-1),
                stdout: o.stdout,
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                line,
            },
            Err(e) => Out {
                code: -1,
                stdout: Vec::new(),
                stderr: format!("cannot run {}: {e}", self.lvmsim.display()),
                line,
            },
        }
    }
}

// ---------------------------------------------------------------------
// Shared state: failures, the barrier, the models for the global check

/// A barrier that a failing worker can break, so that nobody waits for it.
struct Barrier {
    n: usize,
    state: Mutex<(usize, u64, bool)>,
    cv: Condvar,
}

impl Barrier {
    /// Waits for all; Some(true) for exactly one of them, None once broken.
    fn wait(&self) -> Option<bool> {
        let mut g = self.state.lock().unwrap();
        if g.2 {
            return None;
        }
        let gen = g.1;
        g.0 += 1;
        if g.0 == self.n {
            g.0 = 0;
            g.1 += 1;
            self.cv.notify_all();
            return Some(true);
        }
        while g.1 == gen && !g.2 {
            g = self.cv.wait(g).unwrap();
        }
        if g.2 {
            None
        } else {
            Some(false)
        }
    }
    fn break_it(&self) {
        self.state.lock().unwrap().2 = true;
        self.cv.notify_all();
    }
}

struct Shared {
    env: Env,
    opts: Opts,
    failed: AtomicBool,
    failures: Mutex<Vec<String>>,
    barrier: Barrier,
    /// Each worker's expected `lvs` lines, published at a barrier.
    listings: Mutex<Vec<Vec<String>>>,
}

impl Shared {
    fn fail(&self, msg: String) {
        self.failed.store(true, Ordering::SeqCst);
        self.failures.lock().unwrap().push(msg);
        self.barrier.break_it();
    }
}

// ---------------------------------------------------------------------
// Options

#[derive(Clone)]
struct Opts {
    seed: u64,
    workers: usize,
    steps: usize,
    dir: PathBuf,
    lvmsim: PathBuf,
    vgck: bool,
    vgck_every: usize,
    check_every: usize,
    /// Run lvmsim with `--nolocking`: the soak must then fail (it shows
    /// that it can see what the locks prevent).
    nolocking: bool,
}

impl Opts {
    fn parse() -> Result<Opts, String> {
        let mut o = Opts {
            seed: 1,
            workers: 3,
            steps: 100,
            dir: PathBuf::new(),
            lvmsim: PathBuf::new(),
            vgck: false,
            vgck_every: 25,
            check_every: 10,
            nolocking: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut val = |what: &str| args.next().ok_or(format!("{what} needs a value"));
            let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
            match a.as_str() {
                "--seed" => o.seed = num(val("--seed")?)?,
                "--workers" => o.workers = num(val("--workers")?)? as usize,
                "--steps" => o.steps = num(val("--steps")?)? as usize,
                "--dir" => o.dir = PathBuf::from(val("--dir")?),
                "--lvmsim" => o.lvmsim = PathBuf::from(val("--lvmsim")?),
                "--vgck" => o.vgck = true,
                "--nolocking" => o.nolocking = true,
                "--vgck-every" => o.vgck_every = num(val("--vgck-every")?)?.max(1) as usize,
                "--check-every" => o.check_every = num(val("--check-every")?)?.max(1) as usize,
                _ => return Err(format!("unknown argument {a}")),
            }
        }
        if o.dir.as_os_str().is_empty() || o.lvmsim.as_os_str().is_empty() {
            return Err("--dir and --lvmsim are required".into());
        }
        if o.workers == 0 || o.workers > 16 {
            return Err("--workers must be 1 to 16".into());
        }
        Ok(o)
    }

    fn replay(&self) -> String {
        format!(
            "cargo run -p sim-cli --example soak -- --lvmsim {} --seed {} --workers {} --steps {} --dir NEW_DIR{}{}{}",
            self.lvmsim.display(),
            self.seed,
            self.workers,
            self.steps,
            if self.vgck { " --vgck" } else { "" },
            if self.vgck && self.vgck_every != 25 {
                format!(" --vgck-every {}", self.vgck_every)
            } else {
                String::new()
            },
            if self.nolocking { " --nolocking" } else { "" }
        )
    }
}

// ---------------------------------------------------------------------
// A worker

struct Worker<'a> {
    sh: &'a Shared,
    no: usize,
    rng: Rng,
    model: Model,
    step: usize,
    generation: u64,
    input: PathBuf,
    names: u64,
    /// What happened, by kind, for the summary.
    counts: BTreeMap<&'static str, u64>,
}

/// A failure of the current step (the message says what and why).
type Step = Result<(), String>;

fn size_arg(bytes: u64) -> String {
    format!("{}m", bytes / MIB)
}

fn lvs_line(name: &str, size: u64, origin: &str, tags: &BTreeSet<String>) -> String {
    format!(
        "{name}|{size}|{origin}|{}",
        tags.iter().cloned().collect::<Vec<_>>().join(",")
    )
}

impl<'a> Worker<'a> {
    fn prefix(&self) -> String {
        format!("w{}_", self.no)
    }
    fn new_name(&mut self, kind: &str) -> String {
        self.names += 1;
        format!("w{}_{kind}{}", self.no, self.names)
    }
    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }
    fn path(&self, id: u32) -> String {
        format!("{VG}/{}", self.model.lvs[&id].name)
    }

    /// A command that either succeeds or fails with one of `allowed` on
    /// stderr; anything else is a failure of the step.
    fn expect(&mut self, args: &[&str], allowed: &[&str]) -> Result<Out, String> {
        let o = self.sh.env.run(args);
        if o.ok() {
            return Ok(o);
        }
        if o.code == 5 && allowed.iter().any(|a| o.says(a)) {
            return Ok(o);
        }
        Err(format!("unexpected failure\n{}", o.show()))
    }

    fn run(&mut self) {
        let steps = self.sh.opts.steps;
        for step in 0..steps {
            self.step = step;
            if self.sh.failed.load(Ordering::SeqCst) {
                return;
            }
            if self.sh.opts.vgck
                && step > 0
                && step % self.sh.opts.vgck_every == 0
                && !self.barrier_check()
            {
                return;
            }
            let r = self.one_step().and_then(|()| self.check_own());
            let r = r.and_then(|()| {
                if step % self.sh.opts.check_every == self.no % self.sh.opts.check_every {
                    self.global_check()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = r {
                self.sh.fail(format!(
                    "FAIL worker {} step {} (seed {}): {e}",
                    self.no, step, self.sh.opts.seed
                ));
                return;
            }
        }
        if self.sh.opts.vgck {
            self.barrier_check();
        }
    }

    /// All workers stop; one runs lvm2 on the images. False if broken.
    fn barrier_check(&mut self) -> bool {
        let mine = self.expected_listing();
        self.sh.listings.lock().unwrap()[self.no] = mine;
        let Some(leader) = self.sh.barrier.wait() else {
            return false;
        };
        if leader {
            let all: Vec<String> = {
                let l = self.sh.listings.lock().unwrap();
                let mut v: Vec<String> = l.iter().flatten().cloned().collect();
                v.sort();
                v
            };
            if let Err(e) = lvm2_check(&self.sh.env, &all) {
                self.sh.fail(format!(
                    "FAIL at the barrier before step {} (seed {}): {e}",
                    self.step, self.sh.opts.seed
                ));
                return false;
            }
            self.count("vgck");
        }
        self.sh.barrier.wait().is_some()
    }

    fn expected_listing(&self) -> Vec<String> {
        let m = &self.model;
        let mut v = Vec::new();
        for l in m.lvs.values() {
            match &l.snap {
                Some(s) if s.merging => {}
                Some(s) => v.push(lvs_line(&l.name, l.size, &m.lvs[&s.origin].name, &l.tags)),
                None => v.push(lvs_line(&l.name, l.size, "", &l.tags)),
            }
        }
        v.sort();
        v
    }

    fn one_step(&mut self) -> Step {
        let plain = self.model.plain().len();
        let snaps = self.model.snapshots().len();
        let merging = self
            .model
            .lvs
            .values()
            .any(|l| l.snap.as_ref().is_some_and(|s| s.merging));
        // (weight, action)
        let mut menu: Vec<(u64, u8)> = vec![(if plain < MAX_LVS { 14 } else { 2 }, 0)];
        if plain > 0 {
            menu.extend([(10, 1), (26, 2), (7, 3), (6, 4), (6, 5), (6, 6), (4, 7)]);
        }
        if snaps > 0 {
            menu.extend([(10, 8), (5, 9), (3, 10)]);
        }
        if merging {
            menu.push((6, 11));
        }
        let total: u64 = menu.iter().map(|m| m.0).sum();
        let mut r = self.rng.below(total);
        let mut act = 0;
        for (w, a) in menu {
            if r < w {
                act = a;
                break;
            }
            r -= w;
        }
        match act {
            0 => self.lvcreate(),
            1 => self.snapshot(),
            2 => self.write(false),
            3 => self.extend(),
            4 => self.reduce(),
            5 => self.remove(),
            6 => self.rename(),
            7 => self.addtag(),
            8 => self.write(true),
            9 => self.merge(),
            10 => self.remove_snapshot(),
            _ => self.activate(),
        }
    }

    fn lvcreate(&mut self) -> Step {
        let taken = self.rng.chance(5) && !self.model.lvs.is_empty();
        let name = if taken {
            let ids: Vec<u32> = self.model.lvs.keys().copied().collect();
            let id = *self.rng.pick(&ids).unwrap();
            self.model.lvs[&id].name.clone()
        } else {
            self.new_name("lv")
        };
        let stripes = if self.rng.chance(25) { 2 } else { 1 };
        let size = self.rng.range(1, 6) * stripes * EXTENT;
        let zero = self.rng.chance(60);
        let mut args = vec![
            "lvcreate".to_owned(),
            "-n".into(),
            name.clone(),
            "-L".into(),
            size_arg(size),
        ];
        if stripes > 1 {
            args.extend(["-i".into(), "2".into()]);
        }
        if !zero {
            args.extend(["-Zn".into()]);
        }
        args.push(VG.into());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = self.expect(
            &a,
            &[NO_SPACE[0], NO_SPACE[1], NO_SPACE[2], "already exists"],
        )?;
        if !o.ok() {
            if o.says("already exists") != taken {
                return Err(format!(
                    "lvcreate failed for the wrong reason\n{}",
                    o.show()
                ));
            }
            self.count(if taken { "name taken" } else { "no space" });
            return Ok(());
        }
        if taken {
            return Err(format!("lvcreate of a taken name succeeded\n{}", o.show()));
        }
        let mut buf = Buf::unknown(size);
        if zero {
            buf.put(0, &[0u8; 4096]);
        }
        let id = self.model.next_id;
        self.model.next_id += 1;
        self.model.lvs.insert(
            id,
            Lv {
                name,
                size,
                stripes,
                buf,
                tags: BTreeSet::new(),
                snap: None,
                writes: Vec::new(),
            },
        );
        self.count("lvcreate");
        Ok(())
    }

    fn snapshot(&mut self) -> Step {
        let origins: Vec<u32> = self
            .model
            .plain()
            .into_iter()
            .filter(|&o| {
                self.model.merging_snap(o).is_none() && self.model.snaps_of(o).len() < MAX_SNAPS
            })
            .collect();
        let Some(&origin) = self.rng.pick(&origins) else {
            return Ok(());
        };
        let name = self.new_name("s");
        let cow = self.rng.range(1, 3) * EXTENT;
        let chunk = 4096u64 << self.rng.below(5);
        let o = self.expect(
            &[
                "lvcreate",
                "-s",
                "-n",
                &name,
                "-L",
                &size_arg(cow),
                "-c",
                &format!("{}k", chunk / 1024),
                &self.path(origin),
            ],
            &NO_SPACE,
        )?;
        let ol = &self.model.lvs[&origin];
        let max = cow_max(ol.size, chunk);
        let capped = o.text().contains("down to maximum usable size");
        if capped != (cow > max) {
            return Err(format!(
                "lvcreate -s of a {}-byte origin: the COW's maximum is {max} bytes\n{}",
                ol.size,
                o.show()
            ));
        }
        let cow = cow.min(max);
        if !o.ok() {
            self.count("no space");
            return Ok(());
        }
        let (buf, len) = (ol.buf.clone(), ol.size);
        if capped {
            self.count("COW capped");
        }
        let lv = Lv {
            name,
            size: cow,
            stripes: 1,
            buf,
            tags: BTreeSet::new(),
            snap: Some(Snap {
                origin,
                len,
                store: Store::new(chunk, cow),
                merging: false,
            }),
            writes: Vec::new(),
        };
        let id = self.model.next_id;
        self.model.next_id += 1;
        self.model.lvs.insert(id, lv);
        self.count("lvcreate -s");
        Ok(())
    }

    fn write(&mut self, to_snapshot: bool) -> Step {
        let ids = if to_snapshot {
            self.model.snapshots()
        } else {
            self.model.plain()
        };
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let lv = &self.model.lvs[&id];
        // A snapshot's device is its view: the origin's size when made.
        let size = lv.snap.as_ref().map_or(lv.size, |s| s.len);
        let len = match self.rng.below(10) {
            0..=2 => self.rng.range(1, 4096),
            3..=7 => self.rng.range(1, 128 * 1024),
            _ => self.rng.range(256 * 1024, 1536 * 1024),
        };
        let across_end = self.rng.chance(6);
        let off = if across_end {
            size - self.rng.range(1, len.min(size))
        } else if len >= size {
            0
        } else {
            self.rng.below(size - len + 1)
        };
        let len = if across_end {
            len.max(size - off + 1)
        } else {
            len.min(size - off)
        };
        self.generation += 1;
        let key = splitmix(
            self.sh.opts.seed ^ (self.no as u64) << 48 ^ u64::from(id) << 32 ^ self.generation,
        );
        let data = pattern(key, off, len);
        std::fs::write(&self.input, &data).map_err(|e| format!("{}: {e}", self.input.display()))?;
        let input = self.input.display().to_string();
        let o = self.sh.env.run(&[
            "write",
            &self.path(id),
            "--offset",
            &off.to_string(),
            "--input",
            &input,
        ]);
        // What the kernel does: bytes before the LV's end are written; a
        // snapshot write needing an exception the store cannot hold fails
        // (and invalidates it); an invalid snapshot fails every write.
        let in_end = (off + len).min(size);
        let gen = self.generation;
        let m = &mut self.model;
        let (expect_ok, why) = if let Some(s) = m.lvs[&id].snap.clone() {
            let mut st = s.store.clone();
            let was_valid = st.valid;
            st.cover(off, in_end - off, s.len);
            let lv = m.lvs.get_mut(&id).unwrap();
            lv.snap.as_mut().unwrap().store = st.clone();
            if st.valid {
                lv.buf.put(off, &data[..(in_end - off) as usize]);
                lv.writes.push((gen, off, in_end - off));
                (
                    !across_end,
                    if across_end { "ENOSPC at the end" } else { "" },
                )
            } else {
                self.count(if was_valid {
                    "snapshot filled by its write"
                } else {
                    "write to invalid snapshot"
                });
                (false, "the snapshot is (now) full")
            }
        } else {
            let valid = |m: &Model| {
                m.snaps_of(id)
                    .iter()
                    .filter(|s| m.lvs[s].snap.as_ref().unwrap().store.valid)
                    .count()
            };
            let before = valid(m);
            m.origin_written(id, off, in_end - off);
            if valid(m) < before {
                self.count("snapshot filled by an origin write");
            }
            let m = &mut self.model;
            let lv = m.lvs.get_mut(&id).unwrap();
            lv.buf.put(off, &data[..(in_end - off) as usize]);
            lv.writes.push((gen, off, in_end - off));
            // An origin with a pending merge shows (and takes writes into)
            // the merging view; the snapshot's own store follows.
            if let Some(ms) = m.merging_snap(id) {
                let v = m.lvs[&id].buf.clone();
                let s = m.lvs.get_mut(&ms).unwrap();
                let len = s.snap.as_ref().unwrap().len;
                s.buf.take_from(&v, len);
            }
            (
                !across_end,
                if across_end { "ENOSPC at the end" } else { "" },
            )
        };
        if o.ok() != expect_ok {
            return Err(format!(
                "write of {len} bytes at {off} to a {size}-byte LV: expected {} ({why})\n{}",
                if expect_ok { "success" } else { "failure" },
                o.show()
            ));
        }
        if !o.ok() {
            let msg_ok = if why.starts_with("ENOSPC") {
                o.says("No space left on device")
            } else {
                o.says("Input/output error")
            };
            if !msg_ok {
                return Err(format!(
                    "write failed for the wrong reason (expected {why})\n{}",
                    o.show()
                ));
            }
        }
        self.count(if to_snapshot {
            "write to snapshot"
        } else {
            "write"
        });
        if across_end {
            self.count("write across the end");
        }
        Ok(())
    }

    fn extend(&mut self) -> Step {
        let ids: Vec<u32> = self
            .model
            .lvs
            .iter()
            .filter(|(i, l)| match &l.snap {
                Some(s) => !s.merging,
                None => self.model.merging_snap(**i).is_none(),
            })
            .map(|(i, _)| *i)
            .collect();
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let stripes = self.model.lvs[&id].stripes;
        let add = self.rng.range(1, 3) * stripes * EXTENT;
        let o = self.expect(
            &[
                "lvextend",
                "-L",
                &format!("+{}", size_arg(add)),
                &self.path(id),
            ],
            &NO_SPACE,
        )?;
        // lvm2 grows a COW no further than its origin can use.
        let lv = &self.model.lvs[&id];
        let max = lv.snap.as_ref().map_or(u64::MAX, |s| {
            cow_max(self.model.lvs[&s.origin].size, s.store.chunk)
        });
        let capped = o.text().contains("Reached maximum COW size");
        if capped != (lv.size + add > max) {
            return Err(format!(
                "lvextend of a {}-byte LV by {add} (COW maximum {max})\n{}",
                lv.size,
                o.show()
            ));
        }
        let add = add.min(max - lv.size);
        if capped {
            self.count("COW capped");
        }
        if !o.ok() {
            self.count("no space");
            return Ok(());
        }
        let lv = self.model.lvs.get_mut(&id).unwrap();
        lv.size += add;
        match &mut lv.snap {
            Some(s) => s.store.cow_size += add,
            None => lv.buf.resize(lv.size),
        }
        self.count("lvextend");
        Ok(())
    }

    fn reduce(&mut self) -> Step {
        let ids: Vec<u32> = self
            .model
            .lvs
            .iter()
            .filter(|(i, l)| {
                l.size > l.stripes * EXTENT
                    && match &l.snap {
                        Some(s) => !s.merging,
                        None => self.model.merging_snap(**i).is_none(),
                    }
            })
            .map(|(i, _)| *i)
            .collect();
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let lv = &self.model.lvs[&id];
        let stripes = lv.stripes;
        let cut = self.rng.range(1, (lv.size / EXTENT / stripes - 1).min(3)) * stripes * EXTENT;
        let new = lv.size - cut;
        // A snapshot is cut only where its store still fits (below that
        // lvm2 refuses, as the kernel would find exceptions past the COW's
        // end); an invalid one is refused whatever the size.
        let invalid_snap = lv.snap.as_ref().is_some_and(|s| !s.store.valid);
        if let Some(s) = &lv.snap {
            if s.store.valid && new < s.store.needed() {
                return Ok(());
            }
        }
        if invalid_snap {
            let o = self.expect(
                &[
                    "lvreduce",
                    "-y",
                    "-L",
                    &format!("-{}", size_arg(cut)),
                    &self.path(id),
                ],
                &["cannot be reduced, only removed."],
            )?;
            if o.ok() {
                return Err(format!(
                    "lvreduce of an invalid snapshot succeeded; lvm2 refuses it\n{}",
                    o.show()
                ));
            }
            self.count("lvreduce of invalid snapshot refused");
            return Ok(());
        }
        let has_snaps = !self.model.snaps_of(id).is_empty();
        let o = self.expect(
            &[
                "lvreduce",
                "-y",
                "-L",
                &format!("-{}", size_arg(cut)),
                &self.path(id),
            ],
            &["Snapshot origin volumes cannot be reduced in size yet."],
        )?;
        if has_snaps {
            // lvm2 refuses (lv_manip.c): an origin cannot be reduced.
            if o.ok() {
                return Err(format!(
                    "lvreduce of an origin with snapshots succeeded; lvm2 refuses it\n{}",
                    o.show()
                ));
            }
            self.count("lvreduce of origin refused");
            return Ok(());
        }
        if !o.ok() {
            return Err(format!("lvreduce failed\n{}", o.show()));
        }
        let lv = self.model.lvs.get_mut(&id).unwrap();
        lv.size = new;
        match &mut lv.snap {
            Some(s) => s.store.cow_size = new,
            None => lv.buf.resize(new),
        }
        self.count("lvreduce");
        Ok(())
    }

    fn remove(&mut self) -> Step {
        let ids = self.model.plain();
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let has_snaps = !self.model.snaps_of(id).is_empty();
        if has_snaps && !self.rng.chance(20) {
            // Mostly remove the snapshots first.
            return self.remove_snapshot();
        }
        // An origin goes with its snapshots (merging ones too), as lvm2
        // removes an inactive origin.
        let o = self.expect(&["lvremove", "-y", &self.path(id)], &[])?;
        if !o.ok() {
            return Err(format!("lvremove failed\n{}", o.show()));
        }
        for s in self.model.snaps_of(id) {
            self.model.lvs.remove(&s);
        }
        self.model.lvs.remove(&id);
        self.count(if has_snaps {
            "lvremove of origin with snapshots"
        } else {
            "lvremove"
        });
        Ok(())
    }

    fn remove_snapshot(&mut self) -> Step {
        // Not a merging one: lvm2 removes it from an inactive origin, which
        // then keeps its own bytes, and the model already shows it merged.
        let ids: Vec<u32> = self
            .model
            .lvs
            .iter()
            .filter(|(_, l)| l.snap.as_ref().is_some_and(|s| !s.merging))
            .map(|(i, _)| *i)
            .collect();
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let o = self.expect(&["lvremove", "-y", &self.path(id)], &[])?;
        if !o.ok() {
            return Err(format!("lvremove of a snapshot failed\n{}", o.show()));
        }
        self.model.lvs.remove(&id);
        self.count("lvremove snapshot");
        Ok(())
    }

    fn rename(&mut self) -> Step {
        let ids: Vec<u32> = self
            .model
            .lvs
            .iter()
            .filter(|(_, l)| l.snap.as_ref().is_none_or(|s| !s.merging))
            .map(|(i, _)| *i)
            .collect();
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let taken = self.rng.chance(10) && ids.len() > 1;
        let new = if taken {
            let others: Vec<u32> = ids.iter().copied().filter(|&i| i != id).collect();
            self.model.lvs[self.rng.pick(&others).unwrap()].name.clone()
        } else {
            self.new_name("r")
        };
        let old = self.model.lvs[&id].name.clone();
        let o = self.expect(&["lvrename", VG, &old, &new], &["already exists"])?;
        if o.ok() == taken {
            return Err(format!(
                "lvrename to a {}taken name: unexpected result\n{}",
                if taken { "" } else { "not " },
                o.show()
            ));
        }
        if taken {
            self.count("name taken");
        } else {
            self.model.lvs.get_mut(&id).unwrap().name = new;
            self.count("lvrename");
        }
        Ok(())
    }

    fn addtag(&mut self) -> Step {
        let ids: Vec<u32> = self
            .model
            .lvs
            .iter()
            .filter(|(_, l)| l.snap.as_ref().is_none_or(|s| !s.merging))
            .map(|(i, _)| *i)
            .collect();
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let tag = format!("t{}", self.rng.below(4));
        let o = self.expect(&["lvchange", "--addtag", &tag, &self.path(id)], &[])?;
        if !o.ok() {
            return Err(format!("lvchange --addtag failed\n{}", o.show()));
        }
        self.model.lvs.get_mut(&id).unwrap().tags.insert(tag);
        self.count("lvchange --addtag");
        Ok(())
    }

    fn merge(&mut self) -> Step {
        let ids = self.model.snapshots();
        let Some(&id) = self.rng.pick(&ids) else {
            return Ok(());
        };
        let s = self.model.lvs[&id].snap.clone().unwrap();
        let busy = self.model.merging_snap(s.origin).is_some();
        let deferred = self.rng.chance(40);
        let path = self.path(id);
        // Deferred (lvmsim's default, lvm2 with an inactive origin) or at
        // once (`--now`, lvm2 with an active origin).
        let mut args = vec!["lvconvert", "--merge"];
        if !deferred {
            args.push("--now");
        }
        args.push(&path);
        let o = self.expect(
            &args,
            &[
                "Unable to merge invalidated snapshot",
                "is already merging into the origin",
            ],
        )?;
        let expect_ok = s.store.valid && !busy;
        if o.ok() != expect_ok {
            return Err(format!(
                "lvconvert --merge of a {} snapshot{}: expected {}\n{}",
                if s.store.valid { "valid" } else { "invalid" },
                if busy {
                    " whose origin is merging another"
                } else {
                    ""
                },
                if expect_ok { "success" } else { "failure" },
                o.show()
            ));
        }
        if !o.ok() {
            self.count("merge refused");
            return Ok(());
        }
        // The origin now reads as the snapshot's view.
        let view = self.model.lvs[&id].buf.clone();
        self.model
            .lvs
            .get_mut(&s.origin)
            .unwrap()
            .buf
            .take_from(&view, s.len);
        if deferred {
            self.model
                .lvs
                .get_mut(&id)
                .unwrap()
                .snap
                .as_mut()
                .unwrap()
                .merging = true;
            self.count("lvconvert --merge (deferred)");
        } else {
            self.model.merged(id);
            self.count("lvconvert --merge");
        }
        Ok(())
    }

    fn activate(&mut self) -> Step {
        let origins: Vec<u32> = self
            .model
            .plain()
            .into_iter()
            .filter(|&o| self.model.merging_snap(o).is_some())
            .collect();
        let Some(&origin) = self.rng.pick(&origins) else {
            return Ok(());
        };
        // lvm2 polls the merge in the background and prints nothing; the
        // listing after this step shows whether the snapshot went.
        let o = self.expect(&["lvchange", "-ay", &self.path(origin)], &[])?;
        if !o.ok() || !o.text().is_empty() {
            return Err(format!(
                "lvchange -ay of an origin with a pending merge failed or printed\n{}",
                o.show()
            ));
        }
        let s = self.model.merging_snap(origin).unwrap();
        self.model.merged(s);
        self.count("lvchange -ay (merge)");
        Ok(())
    }

    /// `lvs` lists exactly our LVs as the model has them, and each reads
    /// as the model says.
    fn check_own(&mut self) -> Step {
        // As after activation (--active): an overflowed snapshot shows 'I'.
        let o = self.sh.env.run(&[
            "lvs",
            "--active",
            "--noheadings",
            "--separator",
            "|",
            "-o",
            "lv_name,lv_size,origin,lv_tags,lv_attr",
            "--units",
            "b",
            "--nosuffix",
            VG,
        ]);
        if !o.ok() || !o.complaints().is_empty() {
            return Err(format!("lvs failed or complained\n{}", o.show()));
        }
        let prefix = self.prefix();
        let mut got = Vec::new();
        let mut attrs = BTreeMap::new();
        for l in o
            .text()
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(&prefix))
        {
            let (row, attr) = l.rsplit_once('|').unwrap_or((l, ""));
            got.push(row.to_owned());
            attrs.insert(
                row.split('|').next().unwrap_or("").to_owned(),
                attr.to_owned(),
            );
        }
        got.sort();
        let want = self.expected_listing();
        if got != want {
            return Err(format!(
                "lvs does not list our LVs as the model has them\n  want: {want:?}\n  got:  {got:?}\n{}",
                o.show()
            ));
        }
        // The volume type and the state in lv_attr.
        for (id, lv) in &self.model.lvs {
            let want = match &lv.snap {
                Some(s) if s.merging => continue,
                Some(s) => format!("s{}", if s.store.valid { 'a' } else { 'I' }),
                None if self.model.merging_snap(*id).is_some() => "Oa".into(),
                None if !self.model.snaps_of(*id).is_empty() => "oa".into(),
                None => "-a".into(),
            };
            let attr = attrs.get(&lv.name).map_or("", String::as_str);
            let got: String = attr
                .chars()
                .take(1)
                .chain(attr.chars().skip(4).take(1))
                .collect();
            if got != want {
                return Err(format!(
                    "lv_attr of {} is {attr}: want type and state {want}\n{}",
                    lv.name,
                    o.show()
                ));
            }
        }
        let ids: Vec<u32> = self.model.lvs.keys().copied().collect();
        for id in ids {
            let lv = &self.model.lvs[&id];
            let path = self.path(id);
            let o = self.sh.env.run(&["cat", &path]);
            match &lv.snap {
                Some(s) if s.merging => {
                    if o.ok() || !o.says("is merging into its origin") {
                        return Err(format!(
                            "a merging snapshot must not be readable\n{}",
                            o.show()
                        ));
                    }
                }
                Some(s) if !s.store.valid => {
                    if o.ok() || !o.says("is invalid") {
                        return Err(format!(
                            "{path} must have overflowed ({} exceptions of {} KiB chunks in a {} KiB COW) and fail to read\n{}",
                            s.store.chunks.len(),
                            s.store.chunk / 1024,
                            s.store.cow_size / 1024,
                            o.show()
                        ));
                    }
                }
                _ => {
                    if !o.ok() {
                        let extra = lv.snap.as_ref().map_or(String::new(), |s| {
                            format!(
                                " (model: {} exceptions of {} KiB chunks, next free chunk {}, COW {} KiB)",
                                s.store.chunks.len(),
                                s.store.chunk / 1024,
                                s.store.next_free,
                                s.store.cow_size / 1024
                            )
                        });
                        return Err(format!("cat {path} failed{extra}\n{}", o.show()));
                    }
                    if let Some(at) = lv.buf.first_mismatch(&o.stdout) {
                        let want = lv.buf.data.get(at).copied();
                        let got = o.stdout.get(at).copied();
                        let last: Vec<String> = lv
                            .writes
                            .iter()
                            .rev()
                            .filter(|(_, off, len)| (*off..off + len).contains(&(at as u64)))
                            .take(3)
                            .map(|(g, off, len)| format!("gen {g} at {off}+{len}"))
                            .collect();
                        return Err(format!(
                            "{path} differs from the model at byte {at} (chunk/extent {}): want {want:?}, got {got:?} ({} bytes read, {} expected, {} known); writes covering it (newest first): {last:?}{}",
                            at as u64 / EXTENT,
                            o.stdout.len(),
                            lv.buf.len(),
                            lv.buf.known_bytes(),
                            lv.snap.as_ref().map_or(String::new(), |s| format!(
                                "; snapshot of {} with {} KiB chunks, {} exceptions",
                                self.model.lvs[&s.origin].name,
                                s.store.chunk / 1024,
                                s.store.chunks.len()
                            ))
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Readers beside the other workers' writers: no failure, no warning.
    fn global_check(&mut self) -> Step {
        for args in [
            &["vgcfgbackup", VG][..],
            &["lvs", "-a", VG][..],
            &["pvs"][..],
        ] {
            let o = self.sh.env.run(args);
            if !o.ok() || !o.complaints().is_empty() || o.stdout.is_empty() {
                return Err(format!(
                    "a reader beside the writers failed or complained\n{}",
                    o.show()
                ));
            }
        }
        self.count("global check");
        Ok(())
    }
}

// ---------------------------------------------------------------------
// Real lvm2 on loop devices

/// Loop devices attached over the images; detached when dropped (also when
/// a check fails or panics).
struct Loops(Vec<String>);

impl Drop for Loops {
    fn drop(&mut self) {
        for l in &self.0 {
            let _ = Command::new("losetup").arg("-d").arg(l).status();
        }
    }
}

/// Detaches any loop device still over `img` (left by a killed run).
fn detach_stale(img: &Path) {
    if let Ok(o) = Command::new("losetup").arg("-j").arg(img).output() {
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some(dev) = l.split(':').next() {
                let _ = Command::new("losetup").arg("-d").arg(dev).status();
            }
        }
    }
}

fn lvm(env: &Env, args: &[&str]) -> Out {
    let etc = env.dir.join("etc");
    let o = Command::new("lvm")
        .args(args)
        .env("LVM_SYSTEM_DIR", &etc)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .env("LC_ALL", "C")
        .output();
    let line = format!("lvm {}", args.join(" "));
    match o {
        Ok(o) => Out {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            line,
        },
        Err(e) => Out {
            code: -1,
            stdout: Vec::new(),
            stderr: format!("cannot run lvm: {e}"),
            line,
        },
    }
}

/// lvm2's private configuration: no device-mapper, no backups, only the
/// links in the private device directory (as testdata/lvm2/oracle-env.sh).
fn lvm_conf(env: &Env) -> std::io::Result<()> {
    let etc = env.dir.join("etc");
    let dev = env.dir.join("dev");
    std::fs::create_dir_all(&etc)?;
    let d = dev.display();
    std::fs::write(
        etc.join("lvm.conf"),
        format!(
            "global {{ activation = 0 use_lvmpolld = 0 }}\n\
             activation {{ udev_sync = 0 udev_rules = 0 monitoring = 0 }}\n\
             devices {{\n  scan = [ \"{d}\" ]\n  filter = [ \"a|^{d}/|\", \"r|.*|\" ]\n  \
             global_filter = [ \"a|^{d}/|\", \"r|.*|\" ]\n  use_devicesfile = 0\n  \
             obtain_device_list_from_udev = 0\n  hints = \"none\"\n}}\n\
             backup {{ backup = 0 archive = 0 }}\n"
        ),
    )
}

const LVS_ARGS: [&str; 10] = [
    "--noheadings",
    "--separator",
    "|",
    "-o",
    "lv_name,lv_size,origin,lv_tags",
    "--units",
    "b",
    "--nosuffix",
    "--driverloaded",
    "n",
];

/// All workers are paused: real lvm2 must accept the VG, and both lvm2's and
/// lvmsim's lvs must list exactly the LVs of the models (`want`).
fn lvm2_check(env: &Env, want: &[String]) -> Result<(), String> {
    let sim = env.run(&[
        "lvs",
        "--noheadings",
        "--separator",
        "|",
        "-o",
        "lv_name,lv_size,origin,lv_tags",
        "--units",
        "b",
        "--nosuffix",
        VG,
    ]);
    let mut got: Vec<String> = sim.text().lines().map(|l| l.trim().to_owned()).collect();
    got.sort();
    if !sim.ok() || got != want {
        return Err(format!(
            "lvmsim's lvs does not list the models' LVs\n  want: {want:?}\n{}",
            sim.show()
        ));
    }
    let mut loops = Loops(Vec::new());
    for (img, name) in env.images.iter().zip(&env.names) {
        let o = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(img)
            .output()
            .map_err(|e| format!("losetup: {e}"))?;
        let dev = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        if !o.status.success() || dev.is_empty() {
            return Err(format!(
                "losetup -f --show {}: {}",
                img.display(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        loops.0.push(dev.clone());
        let _ = std::fs::remove_file(name);
        std::os::unix::fs::symlink(&dev, name).map_err(|e| format!("{}: {e}", name.display()))?;
    }
    let ck = lvm(env, &["vgck", VG]);
    let bad: Vec<&str> = ck
        .stderr
        .lines()
        .chain(std::str::from_utf8(&ck.stdout).unwrap_or("").lines())
        .filter(|l| !l.contains("Activation disabled"))
        .filter(|l| {
            let l = l.to_lowercase();
            [
                "warning",
                "error",
                "fail",
                "not found",
                "checksum",
                "inconsistent",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .collect();
    if !ck.ok() || !bad.is_empty() {
        return Err(format!("lvm2 vgck does not accept the VG\n{}", ck.show()));
    }
    let mut args: Vec<&str> = vec!["lvs"];
    args.extend(LVS_ARGS);
    args.push(VG);
    let ls = lvm(env, &args);
    let mut got: Vec<String> = ls.text().lines().map(|l| l.trim().to_owned()).collect();
    got.sort();
    if !ls.ok() || got != want {
        return Err(format!(
            "lvm2's lvs does not list the models' LVs\n  want: {want:?}\n  got:  {got:?}\n{}",
            ls.show()
        ));
    }
    drop(loops);
    for name in &env.names {
        let _ = std::fs::remove_file(name);
    }
    Ok(())
}

// ---------------------------------------------------------------------

fn setup(opts: &Opts) -> Result<Env, String> {
    let dir = &opts.dir;
    std::fs::create_dir_all(dir.join("dev")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut env = Env {
        lvmsim: opts
            .lvmsim
            .canonicalize()
            .map_err(|e| format!("{}: {e}", opts.lvmsim.display()))?,
        dir: dir.clone(),
        devs: Vec::new(),
        names: Vec::new(),
        images: Vec::new(),
        nolocking: opts.nolocking,
    };
    for i in 0..IMAGES {
        let img = dir.join(format!("d{i}.img"));
        let name = dir.join("dev").join(format!("d{i}.img"));
        detach_stale(&img);
        let f = std::fs::File::create(&img).map_err(|e| format!("{}: {e}", img.display()))?;
        f.set_len(IMAGE_SIZE)
            .map_err(|e| format!("{}: {e}", img.display()))?;
        env.devs
            .push(format!("{}={}", name.display(), img.display()));
        env.names.push(name);
        env.images.push(img);
    }
    let names: Vec<String> = env.names.iter().map(|n| n.display().to_string()).collect();
    let mut args = vec!["pvcreate"];
    args.extend(names.iter().map(String::as_str));
    let o = env.run(&args);
    if !o.ok() {
        return Err(format!("pvcreate failed\n{}", o.show()));
    }
    let mut args = vec!["vgcreate", "-s", "1m", VG];
    args.extend(names.iter().map(String::as_str));
    let o = env.run(&args);
    if !o.ok() {
        return Err(format!("vgcreate failed\n{}", o.show()));
    }
    if opts.vgck {
        lvm_conf(&env).map_err(|e| format!("lvm.conf: {e}"))?;
    }
    Ok(env)
}

fn main() {
    let opts = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak: {e}");
            eprintln!(
                "usage: soak --lvmsim PATH --dir DIR [--seed N] [--workers K] [--steps M] \
                 [--vgck] [--vgck-every S] [--check-every C] [--nolocking]"
            );
            std::process::exit(2);
        }
    };
    println!("soak: seed {}", opts.seed);
    println!(
        "soak: {} workers, {} steps each, images in {}{}",
        opts.workers,
        opts.steps,
        opts.dir.display(),
        if opts.vgck {
            format!(", lvm2 vgck every {} steps", opts.vgck_every)
        } else {
            String::new()
        }
    );
    if opts.vgck {
        let ok = Command::new("lvm")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("soak: --vgck needs lvm2's `lvm` (and root for loop devices); it is missing");
            std::process::exit(2);
        }
    }
    let env = match setup(&opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("soak: setup: {e}");
            std::process::exit(1);
        }
    };
    let started = std::time::Instant::now();
    let sh = Arc::new(Shared {
        env,
        opts: opts.clone(),
        failed: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        barrier: Barrier {
            n: opts.workers,
            state: Mutex::new((0, 0, false)),
            cv: Condvar::new(),
        },
        listings: Mutex::new(vec![Vec::new(); opts.workers]),
    });
    let handles: Vec<_> = (0..opts.workers)
        .map(|no| {
            let sh = Arc::clone(&sh);
            std::thread::spawn(move || {
                let input = sh.env.dir.join(format!("input.{no}"));
                let mut w = Worker {
                    sh: &sh,
                    no,
                    rng: Rng(splitmix(
                        sh.opts.seed ^ (no as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f),
                    )),
                    model: Model::default(),
                    step: 0,
                    generation: 0,
                    input,
                    names: 0,
                    counts: BTreeMap::new(),
                };
                w.run();
                (w.counts, w.model.lvs.len())
            })
        })
        .collect();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (no, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok((counts, lvs)) => {
                for (k, v) in counts {
                    *totals.entry(k).or_default() += v;
                }
                let _ = lvs;
            }
            Err(_) => {
                sh.fail(format!("FAIL worker {no} panicked (seed {})", opts.seed));
            }
        }
    }
    for img in &sh.env.images {
        detach_stale(img);
    }
    let summary: Vec<String> = totals.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!(
        "soak: {:.0} s; {}",
        started.elapsed().as_secs_f64(),
        summary.join(", ")
    );
    let failures = sh.failures.lock().unwrap();
    if !failures.is_empty() {
        for f in failures.iter() {
            eprintln!("{f}");
        }
        eprintln!(
            "soak: FAILED with seed {}; replay (same sequences, the interleaving may differ):",
            opts.seed
        );
        eprintln!("  {}", opts.replay());
        std::process::exit(1);
    }
    println!("soak: seed {} passed", opts.seed);
}
