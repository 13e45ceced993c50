//! Benchmark (not a test): loading the mapping tree of a thin device with
//! 1M mappings (goal: under 200 ms), as `lvmsim cat` of a thin LV does
//! before it reads a byte.
//!
//! The metadata is made here: a pool formatted as the kernel's first
//! activation leaves it, one thin device, 1M data blocks provisioned in
//! one transaction (each virtual block mapped to the next free data
//! block), committed and written to a file. Timed: opening the file,
//! reading the superblock, details and top-level tree
//! (`ThinMetadata::read`) and walking the device's mapping tree into a
//! vector of mappings (`ThinMetadata::mappings`), from the page cache.
//! Prints the median of RUNS runs (default 10) and the goal.
//!
//! `cargo run --release -p dm-pdata --example thin_bench [FILE]`
//! (FILE default /tmp/lvmsim-bench-thin-meta.bin, 128 MiB, left behind).

use dm_pdata::pdata::block::{MetadataDev, BLOCK_SIZE};
use dm_pdata::thin::format::format;
use dm_pdata::thin::metadata::ThinMetadata;
use dm_pdata::thin::write::ThinTx;
use std::time::Instant;

const MAPPINGS: u64 = 1 << 20;
/// 128 MiB of metadata: room for 1M mappings in half-full leaves.
const META_BLOCKS: u64 = 32_768;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/lvmsim-bench-thin-meta.bin".into());
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let t = Instant::now();
    let mut img = vec![0u8; usize::try_from(META_BLOCKS)? * BLOCK_SIZE];
    let put = |img: &mut Vec<u8>, blocks: Vec<(u64, Box<[u8; BLOCK_SIZE]>)>| {
        for (n, b) in blocks {
            let at = usize::try_from(n).unwrap_or(usize::MAX) * BLOCK_SIZE;
            img[at..at + BLOCK_SIZE].copy_from_slice(&b[..]);
        }
    };
    put(&mut img, format(META_BLOCKS, MAPPINGS, 128)?);
    let dev = MetadataDev::new(img.clone())?;
    let mut tx = ThinTx::open(&dev)?;
    tx.create_thin(1)?;
    tx.set_transaction_id(0, 1)?;
    for vb in 0..MAPPINGS {
        tx.provision(1, vb)?;
    }
    let blocks = tx.commit()?;
    drop(dev);
    put(&mut img, blocks);
    std::fs::write(&path, &img)?;
    eprintln!(
        "made {path}: 1 thin device, {MAPPINGS} mappings ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    for _ in 0..runs + 1 {
        let t = Instant::now();
        let dev = MetadataDev::new(std::fs::File::open(&path)?)?;
        let m = ThinMetadata::read(&dev)?;
        let maps = m.mappings(&dev, 1)?;
        let s = t.elapsed().as_secs_f64();
        if maps.len() as u64 != MAPPINGS {
            return Err(format!("{} mappings read, not {MAPPINGS}", maps.len()).into());
        }
        times.push(s);
    }
    // The first run warms the page cache.
    times.remove(0);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let goal = 0.2;
    println!(
        "load 1M-mapping tree: median {:.1} ms over {runs} runs (min {:.1}, max {:.1}); goal < {:.0} ms {}",
        median * 1e3,
        times[0] * 1e3,
        times[times.len() - 1] * 1e3,
        goal * 1e3,
        if median < goal { "met" } else { "MISSED" }
    );
    Ok(())
}
