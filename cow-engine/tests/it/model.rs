//! Model-based test of the snapshot engine against a naive reference: a map
//! from chunk to saved data per snapshot, with the kernel's full condition
//! (exception n+1 fits iff 2 + (n+1) + floor((n+1)/E) <= whole COW chunks).
//! Random origin writes, snapshot writes and snapshot creations (1-3
//! snapshots, chunk sizes 4/8/16 KiB, small COWs that overflow), then an
//! optional merge; every view is compared, and every store is reloaded
//! from disk and must give the same views.

use cow_engine::engine::{merge, origin_write, snapshot_read, snapshot_write, PStore, Snap};
use proptest::prelude::*;
use std::collections::HashMap;

const ORIGIN: u64 = 96 * 1024;

#[derive(Debug, Clone)]
enum Op {
    Create {
        cs: u64,
        cow_chunks: u64,
    },
    OriginWrite {
        off: u64,
        len: u64,
        byte: u8,
    },
    SnapWrite {
        snap: usize,
        off: u64,
        len: u64,
        byte: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (prop::sample::select(vec![8u64, 16, 32]), 3u64..40).prop_map(|(cs, cow_chunks)| Op::Create { cs, cow_chunks }),
        4 => (0..ORIGIN, 1u64..20_000, any::<u8>()).prop_map(|(off, len, byte)| Op::OriginWrite { off, len, byte }),
        3 => (0usize..3, 0..ORIGIN, 1u64..20_000, any::<u8>()).prop_map(|(snap, off, len, byte)| Op::SnapWrite { snap, off, len, byte }),
    ]
}

/// The reference snapshot.
struct RefSnap {
    cb: u64,
    e: u64,
    chunks: u64,
    n: u64,
    valid: bool,
    saved: HashMap<u64, Vec<u8>>,
}

impl RefSnap {
    fn fits(&self) -> bool {
        let n1 = self.n + 1;
        2 + n1 + n1 / self.e <= self.chunks
    }
    fn save(&mut self, origin: &[u8], chunk: u64) -> bool {
        if self.saved.contains_key(&chunk) {
            return true;
        }
        if !self.fits() {
            self.valid = false;
            return false;
        }
        let s = (chunk * self.cb) as usize;
        let e = (s + self.cb as usize).min(origin.len());
        let mut c = vec![0u8; self.cb as usize];
        c[..e - s].copy_from_slice(&origin[s..e]);
        self.saved.insert(chunk, c);
        self.n += 1;
        true
    }
    fn view(&self, origin: &[u8]) -> Vec<u8> {
        let mut v = origin.to_vec();
        for (&c, d) in &self.saved {
            let s = (c * self.cb) as usize;
            let e = (s + self.cb as usize).min(v.len());
            v[s..e].copy_from_slice(&d[..e - s]);
        }
        v
    }
}

fn run(ops: &[Op], merge_last: bool) -> Result<(), TestCaseError> {
    let mut origin: Vec<u8> = (0..ORIGIN).map(|i| (i / 512 * 7 + 3) as u8).collect();
    let mut devs: Vec<Vec<u8>> = vec![origin.clone()];
    let mut snaps: Vec<Snap> = Vec::new();
    let mut refs: Vec<RefSnap> = Vec::new();
    for op in ops {
        match *op {
            Op::Create { cs, cow_chunks } => {
                if snaps.len() == 3 {
                    continue;
                }
                let cb = cs * 512;
                devs.push(vec![0xEEu8; (cow_chunks * cb) as usize]);
                // A fresh COW: lvm2 zeroes its first 4 KiB, so the kernel sees a new store.
                devs.last_mut().unwrap()[..4096].fill(0);
                let d = devs.len() - 1;
                let store = PStore::activate(&mut devs, d, cs).unwrap();
                snaps.push(Snap { store, len: ORIGIN });
                refs.push(RefSnap {
                    cb,
                    e: cb / 16,
                    chunks: cow_chunks,
                    n: 0,
                    valid: true,
                    saved: HashMap::new(),
                });
            }
            Op::OriginWrite { off, len, byte } => {
                let len = len.min(ORIGIN - off);
                origin_write(&mut devs, 0, &mut snaps, off, &vec![byte; len as usize]).unwrap();
                let unit = refs
                    .iter()
                    .filter(|r| r.valid)
                    .map(|r| r.cb)
                    .min()
                    .unwrap_or(ORIGIN);
                let mut at = off;
                while at < off + len {
                    for r in refs.iter_mut().filter(|r| r.valid) {
                        r.save(&origin, at / r.cb);
                    }
                    let next = ((at / unit) + 1) * unit;
                    at = next.min(off + len);
                }
                origin[off as usize..(off + len) as usize].fill(byte);
            }
            Op::SnapWrite {
                snap,
                off,
                len,
                byte,
            } => {
                if snap >= snaps.len() || !refs[snap].valid {
                    continue;
                }
                let len = len.min(ORIGIN - off);
                let got = snapshot_write(
                    &mut devs,
                    0,
                    &mut snaps[snap],
                    off,
                    &vec![byte; len as usize],
                );
                let r = &mut refs[snap];
                let mut at = off;
                let mut ok = true;
                while at < off + len {
                    let c = at / r.cb;
                    let end = ((c + 1) * r.cb).min(off + len);
                    if !r.save(&origin, c) {
                        ok = false;
                        break;
                    }
                    let d = r.saved.get_mut(&c).unwrap();
                    d[(at - c * r.cb) as usize..(end - c * r.cb) as usize].fill(byte);
                    at = end;
                }
                prop_assert_eq!(got.is_ok(), ok, "snapshot write outcome");
            }
        }
        prop_assert_eq!(&devs[0], &origin, "origin after {:?}", op);
        for (i, (s, r)) in snaps.iter().zip(&refs).enumerate() {
            prop_assert_eq!(
                s.store.valid,
                r.valid,
                "snapshot {} validity after {:?}",
                i,
                op
            );
        }
    }
    check_views(&mut devs, &snaps, &refs, &origin)?;
    // Reload every store from disk: the same views, the same validity.
    let reloaded: Vec<Snap> = snaps
        .iter()
        .map(|s| Snap {
            store: PStore::activate(&mut devs, s.store.cow, s.store.cs).unwrap(),
            len: s.len,
        })
        .collect();
    check_views(&mut devs, &reloaded, &refs, &origin)?;
    if merge_last {
        if let Some(k) = refs.iter().position(|r| r.valid) {
            let want = refs[k].view(&origin);
            let before: Vec<Option<Vec<u8>>> = snaps
                .iter()
                .map(|s| {
                    s.store.valid.then(|| {
                        let mut v = vec![0u8; ORIGIN as usize];
                        snapshot_read(&mut devs, 0, s, 0, &mut v).unwrap();
                        v
                    })
                })
                .collect();
            let mut m = snaps.remove(k).store;
            merge(&mut devs, 0, &mut m, &mut snaps, None).unwrap();
            prop_assert_eq!(
                &devs[0],
                &want,
                "after the merge the origin holds the snapshot's data"
            );
            let (a, _, meta) = m.usage(&devs);
            prop_assert_eq!(a, meta, "an empty store after the merge");
            let mut i = 0;
            for (j, b) in before.iter().enumerate() {
                if j == k {
                    continue;
                }
                if let (Some(b), true) = (b, snaps[i].store.valid) {
                    let mut v = vec![0u8; ORIGIN as usize];
                    snapshot_read(&mut devs, 0, &snaps[i], 0, &mut v).unwrap();
                    prop_assert!(&v == b, "snapshot {} changed during another's merge", j);
                }
                i += 1;
            }
        }
    }
    Ok(())
}

fn check_views(
    devs: &mut Vec<Vec<u8>>,
    snaps: &[Snap],
    refs: &[RefSnap],
    origin: &[u8],
) -> Result<(), TestCaseError> {
    for (i, (s, r)) in snaps.iter().zip(refs).enumerate() {
        prop_assert_eq!(s.store.valid, r.valid);
        if r.valid {
            let mut v = vec![0u8; ORIGIN as usize];
            snapshot_read(devs, 0, s, 0, &mut v).unwrap();
            prop_assert!(v == r.view(origin), "snapshot {} view", i);
            let (alloc, _, meta) = s.store.usage(&*devs);
            // dmeventd relies on this: allocated - metadata = exceptions * chunk.
            prop_assert_eq!(alloc - meta, r.n * (r.cb / 512));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_the_reference(ops in prop::collection::vec(op(), 1..40), merge_last in any::<bool>()) {
        let mut ops = ops;
        ops.insert(0, Op::Create { cs: 8, cow_chunks: 30 });
        run(&ops, merge_last)?;
    }
}
