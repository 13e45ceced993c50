//! Crash consistency of the engine's writes: each operation (an origin write
//! with copy-on-write into two snapshots, snapshot writes, a merge with a
//! sibling) runs once on devices that record every write; then for every
//! k the devices are rebuilt from the state before the operation plus
//! writes 1..=k (and with write k torn to its first 512 bytes). After each
//! cut every store must load, every valid snapshot must show what it showed
//! before (for a snapshot write: each sector old or new), and a merge
//! resumed from the cut must end with the snapshot's data on the origin.

use cow_engine::engine::{merge, origin_write, snapshot_write, DevSet, PStore, Snap};
use cow_engine::exception_store::Store;
use cow_engine::Result;

const SECTOR: usize = 512;
/// Origin size: 96 KiB.
const ORIGIN: usize = 96 * 1024;
/// A torn write: only its first sector reached the disk (every write the
/// engine issues is sector-aligned, as bios are).
const TORN: usize = 512;

/// Devices that record each write (device, offset, bytes) as it is made.
#[derive(Clone)]
struct Recording {
    devs: Vec<Vec<u8>>,
    log: Vec<(usize, u64, Vec<u8>)>,
}

impl DevSet for Recording {
    fn size(&self, d: usize) -> u64 {
        self.devs.size(d)
    }
    fn read(&self, d: usize, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.devs.read(d, offset, buf)
    }
    fn write(&mut self, d: usize, offset: u64, data: &[u8]) -> Result<()> {
        assert!(
            offset.is_multiple_of(SECTOR as u64) && data.len().is_multiple_of(SECTOR),
            "unaligned write of {} bytes at {offset} to device {d}",
            data.len()
        );
        self.log.push((d, offset, data.to_vec()));
        self.devs.write(d, offset, data)
    }
}

/// Device 0 is the origin; each snapshot `(cs sectors, cow bytes)` gets the
/// next device, activated as a new store.
fn setup(snaps: &[(u64, usize)]) -> (Vec<Vec<u8>>, Vec<Snap>) {
    let mut origin = vec![0u8; ORIGIN];
    for (i, b) in origin.iter_mut().enumerate() {
        *b = (i / SECTOR) as u8 ^ 0xa5;
    }
    let mut devs = vec![origin];
    let mut out = Vec::new();
    for &(cs, cow) in snaps {
        devs.push(vec![0u8; cow]);
        let d = devs.len() - 1;
        out.push(Snap {
            store: PStore::activate(&mut devs, d, cs).unwrap(),
            len: ORIGIN as u64,
        });
    }
    (devs, out)
}

/// A snapshot's view as loaded from disk alone: None if the store is
/// invalid; an error if it does not load.
fn view(devs: &[Vec<u8>], cow: usize) -> std::result::Result<Option<Vec<u8>>, String> {
    let c = &devs[cow];
    let s = Store::load(c, 8).map_err(|e| e.to_string())?;
    if !s.header.is_valid() {
        return Ok(None);
    }
    let cb = (s.chunk_sectors * 512) as usize;
    let mut v = devs[0].clone();
    for (old, new) in s.map.range(0, u64::MAX) {
        let (o, n) = (old as usize * cb, new as usize * cb);
        if o >= v.len() {
            return Err(format!("exception for chunk {old} past the origin"));
        }
        let len = cb.min(v.len() - o);
        let src = c
            .get(n..n + len)
            .ok_or_else(|| format!("exception {old} -> {new} points past the COW"))?;
        v[o..o + len].copy_from_slice(src);
    }
    Ok(Some(v))
}

/// Each sector of `got` equals the same sector of `old` or of `new`.
fn sectors_old_or_new(got: &[u8], old: &[u8], new: &[u8]) -> bool {
    got.chunks(SECTOR)
        .zip(old.chunks(SECTOR).zip(new.chunks(SECTOR)))
        .all(|(g, (o, n))| g == o || g == n)
}

#[derive(Debug, Default)]
struct Counts {
    writes: usize,
    cuts: usize,
    torn: usize,
}

/// Every cut of the writes `op` made from `before`; `check` gets the cut
/// devices and returns what is wrong.
fn cuts(
    what: &str,
    before: &[Vec<u8>],
    log: &[(usize, u64, Vec<u8>)],
    mut check: impl FnMut(&mut Vec<Vec<u8>>) -> std::result::Result<(), String>,
) -> Counts {
    let mut counts = Counts {
        writes: log.len(),
        ..Counts::default()
    };
    let mut failures = Vec::new();
    let mut running = before.to_vec();
    for k in 0..=log.len() {
        let mut torn_img = None;
        if k > 0 {
            let (d, at, data) = &log[k - 1];
            let at = *at as usize;
            if data.len() > TORN {
                let mut t = running.clone();
                t[*d][at..at + TORN].copy_from_slice(&data[..TORN]);
                torn_img = Some(t);
            }
            running[*d][at..at + data.len()].copy_from_slice(data);
        }
        counts.cuts += 1;
        let mut img = running.clone();
        if let Err(e) = check(&mut img) {
            failures.push(format!("{what}: crash after write {k}/{}: {e}", log.len()));
        }
        if let Some(mut t) = torn_img {
            counts.torn += 1;
            if let Err(e) = check(&mut t) {
                failures.push(format!("{what}: torn write {k}/{}: {e}", log.len()));
            }
        }
    }
    println!(
        "{what}: {} writes, {} crash cuts, {} torn cuts: {} failures",
        counts.writes,
        counts.cuts,
        counts.torn,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    counts
}

/// The views of snapshots 1..=n, which must all load.
fn views(devs: &[Vec<u8>], n: usize) -> Vec<Option<Vec<u8>>> {
    (1..=n).map(|d| view(devs, d).unwrap()).collect()
}

/// Snapshots: 512-byte chunks (32 records per area, so areas fill), and
/// 4 KiB chunks in a COW too small for the write (it overflows).
const SNAPS: [(u64, usize); 2] = [(1, 256 * 1024), (8, 8 * 4096)];

#[test]
fn origin_write_cut_at_every_write() {
    let (mut devs, mut snaps) = setup(&SNAPS);
    // Some exceptions already there.
    origin_write(&mut devs, 0, &mut snaps, 3072, &[1u8; 1024]).unwrap();
    let before = devs.clone();
    let views0 = views(&before, 2);
    let mut rec = Recording {
        devs,
        log: Vec::new(),
    };
    let data: Vec<u8> = (0..40_960u32).map(|i| (i % 251) as u8).collect();
    origin_write(&mut rec, 0, &mut snaps, 10_240, &data).unwrap();
    let after = rec.devs.clone();
    let views1 = views(&after, 2);
    assert!(
        views1[0].is_some() && views1[1].is_none(),
        "the small snapshot overflows"
    );
    let c = cuts("origin_write", &before, &rec.log, |d| {
        if !sectors_old_or_new(&d[0], &before[0], &after[0]) {
            return Err("an origin sector is neither old nor new".into());
        }
        for (i, want) in views0.iter().enumerate() {
            match view(d, i + 1)? {
                Some(v) if Some(&v) == want.as_ref() => {}
                Some(_) => return Err(format!("snapshot {} changed", i + 1)),
                None if views1[i].is_none() => {}
                None => return Err(format!("snapshot {} invalid", i + 1)),
            }
        }
        Ok(())
    });
    // Copies, area writes (one per batch, and one per area filled) and
    // the origin's write.
    assert!(c.writes > 80, "{c:?}");
}

#[test]
fn snapshot_write_cut_at_every_write() {
    // 512-byte chunks (many area writes) and 4 KiB chunks (torn copies).
    for cfg in [(1, 256 * 1024), (8, 64 * 4096)] {
        snapshot_write_cuts(cfg);
    }
}

fn snapshot_write_cuts(cfg: (u64, usize)) {
    let (mut devs, mut snaps) = setup(&[cfg]);
    origin_write(&mut devs, 0, &mut snaps, 0, &[1u8; 3072]).unwrap();
    let before = devs.clone();
    let v0 = view(&before, 1).unwrap().unwrap();
    let mut rec = Recording {
        devs,
        log: Vec::new(),
    };
    // Into existing exceptions, partial new chunks and whole new chunks.
    let data: Vec<u8> = (0..30_208u32).map(|i| (i % 241) as u8).collect();
    snapshot_write(&mut rec, 0, &mut snaps[0], 1024, &data).unwrap();
    let after = rec.devs.clone();
    let v1 = view(&after, 1).unwrap().unwrap();
    cuts(
        &format!("snapshot_write (chunk {} sectors)", cfg.0),
        &before,
        &rec.log,
        |d| {
            if d[0] != before[0] {
                return Err("the origin changed".into());
            }
            match view(d, 1)? {
                Some(v) if sectors_old_or_new(&v, &v0, &v1) => Ok(()),
                Some(_) => Err("a snapshot sector is neither old nor new".into()),
                None => Err("the snapshot is invalid".into()),
            }
        },
    );
}

#[test]
fn merge_cut_at_every_write() {
    let (mut devs, mut snaps) = setup(&[(1, 256 * 1024), (8, 64 * 4096)]);
    // Exceptions in several areas of the merging store, from origin and
    // snapshot writes; scattered so the merge takes many batches.
    for i in 0..40u64 {
        let at = (i * 37 % 190) * SECTOR as u64;
        origin_write(&mut devs, 0, &mut snaps, at, &[i as u8; 1024]).unwrap();
    }
    snapshot_write(&mut devs, 0, &mut snaps[0], 50_176, &[0xee; 5120]).unwrap();
    let before = devs.clone();
    let merged = view(&before, 1).unwrap().unwrap();
    let sibling = view(&before, 2).unwrap().unwrap();
    let mut rec = Recording {
        devs,
        log: Vec::new(),
    };
    let mut m = PStore::activate(&mut rec, 1, 1).unwrap();
    let mut others = vec![Snap {
        store: PStore::activate(&mut rec, 2, 8).unwrap(),
        len: ORIGIN as u64,
    }];
    let batches = merge(&mut rec, 0, &mut m, &mut others, None).unwrap();
    assert!(batches > 10, "{batches} batches");
    assert_eq!(
        rec.devs[0], merged,
        "the merge put the snapshot's data on the origin"
    );
    let mut resumed = 0;
    let c = cuts("merge", &before, &rec.log, |d| {
        // The origin under merge shows the merging snapshot's view.
        if view(d, 1)?.as_ref() != Some(&merged) {
            return Err("the merging origin's view differs from the snapshot's".into());
        }
        if view(d, 2)?.as_ref() != Some(&sibling) {
            return Err("the sibling snapshot changed".into());
        }
        // Resume: activate both stores again and merge to the end.
        let mut m = PStore::activate(d, 1, 1).map_err(|e| e.to_string())?;
        let mut others = vec![Snap {
            store: PStore::activate(d, 2, 8).map_err(|e| e.to_string())?,
            len: ORIGIN as u64,
        }];
        merge(d, 0, &mut m, &mut others, None).map_err(|e| e.to_string())?;
        resumed += 1;
        if d[0] != merged {
            return Err("after the resumed merge the origin is not the snapshot's data".into());
        }
        if view(d, 2)?.as_ref() != Some(&sibling) {
            return Err("after the resumed merge the sibling changed".into());
        }
        Ok(())
    });
    println!("merge: {resumed} cuts resumed");
    assert!(c.writes > 20, "{c:?}");
}
