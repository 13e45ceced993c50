//! Benchmark of issue 5's performance goals, measured side by side in one
//! run and printed as ratios. A benchmark, not a test: it always exits 0
//! unless a step fails.
//!
//! ```sh
//! nice cargo run --release -p cow-engine --example cow_bench
//! BENCH_DIR=/some/dir cargo run --release -p cow-engine --example cow_bench
//! ```
//!
//! 1. Loading a persistent store of 1,000,000 exceptions (4 KiB chunks,
//!    3907 metadata areas) from a sparse file in the page cache with
//!    `Store::load`, the loader `lvmsim cat`, `dmsetup status` and
//!    activation use. Goal: < 100 ms.
//! 2. Reading a 1 GiB snapshot view (`view::open`, what `lvmsim cat` reads,
//!    1 MiB reads written to /dev/null) against reading the origin's raw
//!    1 GiB the same way, both from the page cache after a warm-up; once
//!    with every chunk in the COW (a full store), once with every other
//!    chunk (the worst case for runs). Goal: >= 0.6x the raw throughput.
//! 3. Merging the full store (1 GiB, `engine::merge`) against `cp` of a
//!    1 GiB file, both in the page cache. Goal: <= 2x cp's time.
//!
//! The VG is built from metadata text (4 MiB extents: origin 256 extents,
//! COW 258 extents) on one sparse image; data is a pseudo-random 1 MiB
//! block repeated with a varying byte so no chunk equals another.

use cow_engine::blocks::{Images, LvSet};
use cow_engine::engine::{merge, origin_write, DevSet, PStore, Snap};
use cow_engine::exception_store::Store;
use lvm_meta::io::Image;
use lvm_meta::model::Vg;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn vg_text(origin_extents: u32, cow_extents: u32) -> String {
    format!(
        r#"vg {{
id = "TcZ5Vb-iTq1-vPcS-pqFl-2yRr-Yz1c-9mQxqa"
seqno = 1
format = "lvm2"
status = ["RESIZEABLE", "READ", "WRITE"]
flags = []
extent_size = 8192
max_lv = 0
max_pv = 0
metadata_copies = 0
physical_volumes {{
pv0 {{
id = "x3dF8k-QwPz-7LmN-b2Vc-Rt9Y-hG4s-Ue6WjK"
status = ["ALLOCATABLE"]
flags = []
pe_start = 2048
pe_count = {pe}
}}
}}
logical_volumes {{
origin {{
id = "Jn7cP1-aBcD-eFgH-iJkL-mNoP-qRsT-uVwXyz"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {{
start_extent = 0
extent_count = {origin_extents}
type = "striped"
stripe_count = 1
stripes = ["pv0", 0]
}}
}}
snap {{
id = "Kn7cP1-aBcD-eFgH-iJkL-mNoP-qRsT-uVwXyz"
status = ["READ", "WRITE"]
flags = []
segment_count = 1
segment1 {{
start_extent = 0
extent_count = {cow_extents}
type = "striped"
stripe_count = 1
stripes = ["pv0", {origin_extents}]
}}
}}
snapshot0 {{
id = "Ln7cP1-aBcD-eFgH-iJkL-mNoP-qRsT-uVwXyz"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {{
start_extent = 0
extent_count = {origin_extents}
type = "snapshot"
chunk_size = 8
origin = "origin"
cow_store = "snap"
}}
}}
}}
}}
contents = "Text Format Volume Group"
version = 1
"#,
        pe = origin_extents + cow_extents
    )
}

/// A pseudo-random 1 MiB block (xorshift), byte 0 of each 4 KiB varied
/// by `salt` and the block number so no two chunks are equal.
fn block(salt: u64, n: u64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ salt;
    let mut b = vec![0u8; MIB as usize];
    for w in b.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
    for (i, c) in b.chunks_mut(4096).enumerate() {
        c[0..8].copy_from_slice(&(n * 256 + i as u64).to_le_bytes());
    }
    b
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Goal 1: a store of `n` exceptions at 4 KiB chunks, written area by
/// area into a sparse file; returns the median load time of `runs`.
fn store_load(dir: &Path, n: u64, runs: usize) -> (f64, usize) {
    let cs = 8u64;
    let cb = cs * 512;
    let e = cb / 16;
    let areas = n.div_ceil(e);
    let chunks = 2 + n + areas + 1;
    let path = dir.join("store.img");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.set_len(chunks * cb).unwrap();
    let mut hdr = vec![0u8; cb as usize];
    hdr[0..4].copy_from_slice(&0x7041_6e53u32.to_le_bytes()); // "SnAp"
    hdr[4..8].copy_from_slice(&1u32.to_le_bytes()); // valid
    hdr[8..12].copy_from_slice(&1u32.to_le_bytes()); // version
    hdr[12..16].copy_from_slice(&(cs as u32).to_le_bytes());
    f.write_all_at(&hdr, 0).unwrap();
    let mut area = vec![0u8; cb as usize];
    let mut next_new = 2u64;
    for k in 0..=areas {
        area.fill(0);
        for j in 0..e {
            let i = k * e + j;
            if i >= n {
                break;
            }
            // Every other origin chunk, allocated in order.
            let at = (j * 16) as usize;
            area[at..at + 8].copy_from_slice(&(i * 2).to_le_bytes());
            area[at + 8..at + 16].copy_from_slice(&next_new.to_le_bytes());
            next_new += 1;
            if next_new % (e + 1) == 1 {
                next_new += 1;
            }
        }
        f.write_all_at(&area, (1 + (e + 1) * k) * cb).unwrap();
    }
    let mut times = Vec::new();
    let mut loaded = 0;
    for _ in 0..runs + 1 {
        let t = Instant::now();
        let s = Store::load(&f, cs).unwrap();
        times.push(secs(t.elapsed()));
        loaded = s.map.len();
    }
    times.remove(0); // the warm-up
    std::fs::remove_file(&path).unwrap();
    (median(times), loaded)
}

/// Reads `len` bytes with `read(offset, buf)` in 1 MiB pieces, writing
/// them to /dev/null as `lvmsim cat` does; returns seconds.
fn cat(len: u64, mut read: impl FnMut(u64, &mut [u8])) -> f64 {
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let mut buf = vec![0u8; MIB as usize];
    let t = Instant::now();
    let mut at = 0;
    while at < len {
        read(at, &mut buf);
        null.write_all(&buf).unwrap();
        at += MIB;
    }
    secs(t.elapsed())
}

fn main() {
    let dir: PathBuf = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cow-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir).unwrap();
    println!("cow_bench in {}", dir.display());

    // 1. Store load.
    let (load, n) = store_load(&dir, 1_000_000, 5);
    println!(
        "store load: {n} exceptions in {:.1} ms (median of 5; goal < 100 ms): {}",
        load * 1e3,
        if load < 0.1 { "met" } else { "MISSED" }
    );

    // The VG: origin 1 GiB, COW 1032 MiB (room for every origin chunk and
    // the area after the last full one).
    let vg: Vg =
        Vg::from_tree(&lvm_meta::text::parse(vg_text(256, 258).as_bytes()).unwrap()).unwrap();
    let img_path = dir.join("pv0.img");
    let size = (2048 * 512) + 514 * 4 * MIB;
    let run = |full: bool| -> (f64, f64, f64) {
        let f = std::fs::File::create(&img_path).unwrap();
        f.set_len(size).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&img_path)
            .unwrap();
        let mut set = LvSet {
            vg: &vg,
            images: Images { pvs: vec![Some(f)] },
        };
        let (origin, cow) = (0usize, 1usize);
        for k in 0..GIB / MIB {
            set.write(origin, k * MIB, &block(1, k)).unwrap();
        }
        // Snapshot, then overwrite the origin: every chunk (or every other
        // one) is copied to the COW first.
        let store = PStore::activate(&mut set, cow, 8).unwrap();
        let mut snaps = [Snap { store, len: GIB }];
        if full {
            for k in 0..GIB / MIB {
                origin_write(&mut set, origin, &mut snaps, k * MIB, &block(2, k)).unwrap();
            }
        } else {
            let piece = vec![0x77u8; 512];
            for c in (0..GIB / 4096).step_by(2) {
                origin_write(&mut set, origin, &mut snaps, c * 4096, &piece).unwrap();
            }
        }
        drop(set);
        // Read through the scanned-image path `lvmsim cat` takes.
        let img = Image::open(img_path.to_str().unwrap()).unwrap();
        let pvs = [Some(&img)];
        let raw = cow_engine::lv_io::LvReader::new(&vg, origin, pvs.to_vec()).unwrap();
        let view = cow_engine::view::open(&vg, cow, &pvs).unwrap();
        // Warm-up: both ranges into the page cache.
        cat(GIB, |o, b| raw.read_at(o, b).unwrap());
        cat(GIB, |o, b| view.read_at(o, b).unwrap());
        let mut r = Vec::new();
        let mut v = Vec::new();
        for _ in 0..3 {
            r.push(cat(GIB, |o, b| raw.read_at(o, b).unwrap()));
            v.push(cat(GIB, |o, b| view.read_at(o, b).unwrap()));
        }
        let (r, v) = (median(r), median(v));
        // 3. Merge (only the full store).
        let mut m_time = 0.0;
        if full {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&img_path)
                .unwrap();
            let mut set = LvSet {
                vg: &vg,
                images: Images { pvs: vec![Some(f)] },
            };
            let mut m = PStore::activate(&mut set, cow, 8).unwrap();
            let t = Instant::now();
            merge(&mut set, origin, &mut m, &mut [], None).unwrap();
            m_time = secs(t.elapsed());
            let mut check = vec![0u8; MIB as usize];
            set.read(origin, 5 * MIB, &mut check).unwrap();
            assert!(
                check == block(1, 5),
                "the merge restored the snapshot's data"
            );
        }
        (r, v, m_time)
    };
    for (full, what) in [
        (true, "every chunk in the COW"),
        (false, "every other chunk in the COW"),
    ] {
        let (r, v, m) = run(full);
        let ratio = r / v;
        println!(
            "cat 1 GiB: raw origin {:.0} MiB/s, snapshot view ({what}) {:.0} MiB/s: ratio {ratio:.2} (goal >= 0.60): {}",
            1024.0 / r,
            1024.0 / v,
            if ratio >= 0.6 { "met" } else { "MISSED" }
        );
        if full {
            // cp of a 1 GiB file from the page cache.
            let src = dir.join("cp-src");
            let dst = dir.join("cp-dst");
            {
                let f = std::fs::File::create(&src).unwrap();
                for k in 0..GIB / MIB {
                    f.write_all_at(&block(3, k), k * MIB).unwrap();
                }
            }
            let cp = |n: usize| -> Vec<f64> {
                (0..n)
                    .map(|_| {
                        let _ = std::fs::remove_file(&dst);
                        let t = Instant::now();
                        let ok = std::process::Command::new("cp")
                            .arg(&src)
                            .arg(&dst)
                            .status()
                            .unwrap()
                            .success();
                        assert!(ok, "cp failed");
                        secs(t.elapsed())
                    })
                    .collect()
            };
            cp(1);
            let c = median(cp(3));
            let ratio = m / c;
            println!(
                "merge of 1 GiB (262144 exceptions in 1024 batches): {m:.2} s; cp of 1 GiB: {c:.2} s: ratio {ratio:.2} (goal <= 2.00): {}",
                if ratio <= 2.0 { "met" } else { "MISSED" }
            );
            let _ = std::fs::remove_file(&src);
            let _ = std::fs::remove_file(&dst);
        }
    }
    let _ = std::fs::remove_file(&img_path);
    let _ = std::fs::remove_dir(&dir);
}
