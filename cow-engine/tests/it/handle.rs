//! `LvHandle` on the kernel's own images: reads equal the kernel's recorded
//! sha256 of each device; writes follow the kernel's semantics (origin
//! writes keep the snapshots' views, snapshot writes leave the origin,
//! a merging origin sends writes of unmerged chunks to the COW).

use crate::common::{image, kernel, open, sha256};
use cow_engine::blocks::Images;
use cow_engine::engine::{merge, PStore};
use cow_engine::handle::LvHandle;
use cow_engine::lv_io::LvReader;
use lvm_meta::io::Image;
use lvm_meta::model::Vg;
use lvm_meta::scan::System;
use std::io::{Read, Seek, SeekFrom, Write};

fn recorded(scenario: &str, step: u32) -> String {
    let t = std::fs::read_to_string(kernel(scenario, &format!("{step:03}.sha256"))).unwrap();
    t[..64].to_owned()
}

fn vg_of(img: &[u8]) -> Vg {
    let sys = System::scan(vec![Image::from_bytes("pv1", img.to_vec())]).unwrap();
    (*sys.vgs[0].vg).clone()
}

fn sha_all(h: &mut impl Read) -> String {
    let mut all = Vec::new();
    h.read_to_end(&mut all).unwrap();
    sha256(&all)
}

fn back(h: LvHandle<'_, Vec<u8>>) -> Vec<u8> {
    h.into_images().pvs.remove(0).unwrap()
}

#[test]
fn reads_give_the_kernels_checksums() {
    let img = image("snap-chunks", "pv1.img.zst");
    let vg = vg_of(&img);
    for (lv, step) in [("origin", 34), ("s4k", 35), ("s64k", 36), ("s512k", 37)] {
        let mut h = open(&vg, img.clone(), lv);
        assert_eq!(sha_all(&mut h), recorded("snap-chunks", step), "{lv}");
    }
}

#[test]
fn origin_writes_keep_every_snapshot_view() {
    let img = image("snap-chunks", "pv1.img.zst");
    let vg = vg_of(&img);
    let mut o = open(&vg, img, "origin");
    // Unaligned, across chunks of every size, and into the origin's last
    // sector.
    o.seek(SeekFrom::Start(1_000_003)).unwrap();
    o.write_all(&[0xa5; 700_000]).unwrap();
    o.seek(SeekFrom::End(-512)).unwrap();
    o.write_all(&[0x5a; 512]).unwrap();
    let img = back(o);
    for (lv, step) in [("s4k", 35), ("s64k", 36), ("s512k", 37)] {
        let mut h = open(&vg, img.clone(), lv);
        assert_eq!(sha_all(&mut h), recorded("snap-chunks", step), "{lv}");
    }
    let mut o = open(&vg, img, "origin");
    let mut b = [0u8; 4];
    o.seek(SeekFrom::Start(1_000_002)).unwrap();
    o.read_exact(&mut b).unwrap();
    assert_eq!(b[1..], [0xa5; 3]);
    assert_ne!(b[0], 0xa5, "the byte before the write is untouched");
}

#[test]
fn snapshot_writes_leave_the_origin() {
    let img = image("snap-chunks", "pv1.img.zst");
    let vg = vg_of(&img);
    let mut s = open(&vg, img, "s64k");
    s.seek(SeekFrom::Start(3 * 65536 + 100)).unwrap();
    s.write_all(b"snapshot bytes").unwrap();
    let img = back(s);
    let mut o = open(&vg, img.clone(), "origin");
    assert_eq!(sha_all(&mut o), recorded("snap-chunks", 34));
    let mut s = open(&vg, img, "s64k");
    s.seek(SeekFrom::Start(3 * 65536 + 100)).unwrap();
    let mut b = [0u8; 14];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"snapshot bytes");
}

#[test]
fn the_end_gives_enospc_after_the_part_that_fits() {
    let img = image("linear-fragmented", "pv1.img.zst");
    let vg = vg_of(&img);
    let mut h = open(&vg, img, "c");
    let size = h.size();
    h.seek(SeekFrom::Start(size - 3)).unwrap();
    assert_eq!(h.write(&[7u8; 10]).unwrap(), 3, "cut short at the end");
    let e = h.write(&[7u8; 10]).unwrap_err();
    assert!(e.to_string().contains("No space left on device"), "{e}");
    h.seek(SeekFrom::Start(size - 3)).unwrap();
    let mut rest = Vec::new();
    h.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [7u8; 3], "a read stops at the end");
}

#[test]
fn invalid_snapshots_fail_with_eio() {
    let img = image("snap-overflow", "pv1.img.zst");
    let vg = vg_of(&img);
    let mut h = open(&vg, img, "snap");
    assert!(h.is_invalid_snapshot());
    let mut b = [0u8; 512];
    let e = h.read(&mut b).unwrap_err();
    assert!(e.to_string().contains("Input/output error"), "{e}");
    let e = h.write(&b).unwrap_err();
    assert!(e.to_string().contains("Input/output error"), "{e}");
}

#[test]
fn a_merging_origin_shows_the_snapshot_and_takes_writes_into_its_cow() {
    let img = image("merge-interrupted", "pv1.after-boot1.img.zst");
    let vg = vg_of(&img);
    // The merging snapshot's own device is the error target.
    let mut s = open(&vg, img.clone(), "snap");
    let e = s.read(&mut [0u8; 512]).unwrap_err();
    assert!(e.to_string().contains("Input/output error"), "{e}");
    // The origin shows the merged result before the merge ends (step 025).
    let mut o = open(&vg, img, "origin");
    assert_eq!(sha_all(&mut o), recorded("merge-interrupted", 25));
    // Chunk 0 is still in the store (the merge goes backwards from the
    // end): a write there lands in the COW, not on the origin.
    o.seek(SeekFrom::Start(0)).unwrap();
    o.write_all(&[0xee; 4096]).unwrap();
    let img = back(o);
    let origin = vg.lv_index("origin").unwrap();
    let cow = vg.lv_index("snap").unwrap();
    let mut set = cow_engine::blocks::LvSet {
        vg: &vg,
        images: Images {
            pvs: vec![Some(img)],
        },
    };
    use cow_engine::engine::DevSet;
    let mut raw = [0u8; 4096];
    set.read(origin, 0, &mut raw).unwrap();
    assert_ne!(
        raw, [0xee; 4096],
        "the origin's chunk 0 waits for the merge"
    );
    // The merge then carries the write to the origin.
    let mut m = PStore::activate(&mut set, cow, 8).unwrap();
    merge(&mut set, origin, &mut m, &mut [], None).unwrap();
    set.read(origin, 0, &mut raw).unwrap();
    assert_eq!(raw, [0xee; 4096]);
}

/// `view::open` reads in runs (origin runs, COW runs read straight into
/// place, vectored when their COW chunks follow each other); read in odd-sized, unaligned pieces it must
/// still give the kernel's recorded checksum of each snapshot.
#[test]
fn views_read_in_odd_pieces_give_the_kernels_checksums() {
    let img = image("snap-chunks", "pv1.img.zst");
    let sys = System::scan(vec![Image::from_bytes("pv1", img)]).unwrap();
    let inst = &sys.vgs[0];
    let pvs = sys.pv_images(inst);
    for (lv, step) in [("s4k", 35), ("s64k", 36), ("s512k", 37)] {
        let v = cow_engine::view::open(&inst.vg, inst.vg.lv_index(lv).unwrap(), &pvs).unwrap();
        for piece in [12_345usize, (1 << 20) + 3, 511] {
            let mut all = vec![0u8; v.size() as usize];
            for (k, buf) in all.chunks_mut(piece).enumerate() {
                v.read_at((k * piece) as u64, buf).unwrap();
            }
            let got = sha256(&all);
            assert_eq!(
                got,
                recorded("snap-chunks", step),
                "{lv} in pieces of {piece}"
            );
        }
    }
}

mod runs {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// After random origin and snapshot writes through `LvHandle`,
        /// `view::open` (reads in runs), the handle (the engine's reads
        /// in runs) and a chunk-by-chunk read through the loaded store's
        /// lookup show the same bytes at random ranges of every snapshot.
        #[test]
        fn view_runs_equal_chunk_reads(
            writes in proptest::collection::vec((0usize..4, 0u64..(16 << 20), 1usize..200_000, any::<u8>()), 1..12),
            reads in proptest::collection::vec((0u64..(16 << 20), 1usize..3_000_000), 1..8),
        ) {
            static IMG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
            let img = IMG.get_or_init(|| image("snap-chunks", "pv1.img.zst")).clone();
            let vg = vg_of(&img);
            let names = ["origin", "s4k", "s64k", "s512k"];
            let mut img = img;
            for (lv, at, len, b) in writes {
                let mut h = open(&vg, img, names[lv]);
                let len = len.min((h.size() - at) as usize);
                h.seek(SeekFrom::Start(at)).unwrap();
                // A full snapshot fails the write; the comparison below
                // still holds for what was written.
                let _ = h.write_all(&vec![b; len]);
                img = back(h);
            }
            let sys = System::scan(vec![Image::from_bytes("pv1", img.clone())]).unwrap();
            let inst = &sys.vgs[0];
            let pvs = sys.pv_images(inst);
            for lv in &names[1..] {
                let mut h = open(&vg, img.clone(), lv);
                if h.is_invalid_snapshot() {
                    continue;
                }
                let li = inst.vg.lv_index(lv).unwrap();
                let v = cow_engine::view::open(&inst.vg, li, &pvs).unwrap();
                let c = inst.vg.roles[li].cow_of.unwrap();
                let store = cow_engine::view::load_store(&inst.vg, li, c.chunk_size.0, &pvs).unwrap();
                let origin = LvReader::new(&inst.vg, c.origin, pvs.clone()).unwrap();
                let cow = LvReader::new(&inst.vg, li, pvs.clone()).unwrap();
                let cb = store.chunk_sectors * 512;
                for &(at, len) in &reads {
                    let len = len.min((v.size() - at) as usize);
                    let mut a = vec![0u8; len];
                    let mut b = vec![0u8; len];
                    let mut want = vec![0u8; len];
                    v.read_at(at, &mut a).unwrap();
                    h.read_at(at, &mut b).unwrap();
                    let mut done = 0;
                    while done < len {
                        let pos = at + done as u64;
                        let n = ((cb - pos % cb) as usize).min(len - done);
                        let out = &mut want[done..done + n];
                        match store.map.get(&(pos / cb)) {
                            Some(new) => cow.read_at(new * cb + pos % cb, out).unwrap(),
                            None => origin.read_at(pos, out).unwrap(),
                        }
                        done += n;
                    }
                    prop_assert!(a == want, "view: {} at {} for {}", lv, at, len);
                    prop_assert!(b == want, "handle: {} at {} for {}", lv, at, len);
                }
            }
        }
    }
}

/// A PV image cut short inside a snapshot's first exception area:
/// activation fails with a `Store` error at the area's offset, and the
/// read error keeps the image's kind (end of file).
#[test]
fn a_truncated_cow_is_a_store_error_keeping_the_eof_kind() {
    use cow_engine::exception_store::StoreError;
    let img = image("snap-chunks", "pv1.img.zst");
    let vg = vg_of(&img);
    // The snapshot whose COW starts last on the PV, its chunk size.
    let (cow, start, chunk) = vg
        .roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let c = r.cow_of?;
            match lvm_meta::lv_map::map(&vg, i, 0).ok()? {
                lvm_meta::lv_map::Piece::Pv { offset, .. } => {
                    Some((i, offset, c.chunk_size.0 * 512))
                }
                lvm_meta::lv_map::Piece::Zero { .. } => None,
            }
        })
        .max_by_key(|&(_, at, _)| at)
        .unwrap();
    let mut short = img;
    short.truncate((start + chunk + 100) as usize);
    let Err(e) = LvHandle::open(
        &vg,
        Images {
            pvs: vec![Some(short)],
        },
        cow,
    ) else {
        panic!("a truncated COW activates");
    };
    match &e {
        cow_engine::Error::Store {
            lv,
            offset,
            error: StoreError::Io { source, .. },
            ..
        } => {
            assert_eq!(lv, &format!("device {cow}"));
            assert_eq!(*offset, chunk, "the first area is chunk 1");
            assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.class(), lvm_meta::ErrorClass::Io);
    assert!(
        e.to_string().ends_with("access past the end of the image"),
        "{e}"
    );
}

/// A write to an image opened read-only fails with the operating
/// system's error (EBADF), kept as the `Io` error's source and given as
/// is through the handle.
#[test]
fn a_write_to_a_read_only_image_keeps_the_os_error() {
    use cow_engine::blocks::LvSet;
    use cow_engine::engine::DevSet;
    const EBADF: i32 = 9;
    let path = std::env::temp_dir().join(format!("cow-engine-ro-{}.img", std::process::id()));
    std::fs::write(&path, image("linear-fragmented", "pv1.img.zst")).unwrap();
    let sys = System::scan(vec![Image::open(path.to_str().unwrap()).unwrap()]).unwrap();
    let inst = &sys.vgs[0];
    let lv = inst.vg.lv_index("c").unwrap();
    let mut set = LvSet {
        vg: &inst.vg,
        images: Images::open_vg(&sys, inst, false).unwrap(),
    };
    let e = set.write(lv, 4096, &[1u8; 512]).unwrap_err();
    let mut h = LvHandle::open(&inst.vg, Images::open_vg(&sys, inst, false).unwrap(), lv).unwrap();
    let through_handle = h.write_at(4096, &[1u8; 512]).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    match &e {
        cow_engine::Error::Io {
            path: pv,
            offset: Some(at),
            source,
            ..
        } => {
            assert_eq!(source.raw_os_error(), Some(EBADF), "{e}");
            assert_eq!(pv, &inst.vg.pvs[0].key);
            assert!(*at > 4096, "an absolute offset on the PV: {at}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.class(), lvm_meta::ErrorClass::Io);
    assert_eq!(through_handle.raw_os_error(), Some(EBADF));
}

/// `view::open` refuses an invalid snapshot with `SnapshotInvalid`, and
/// reads it with `force`.
#[test]
fn opening_an_invalid_snapshots_view_is_snapshot_invalid() {
    let img = image("snap-overflow", "pv1.img.zst");
    let sys = System::scan(vec![Image::from_bytes("pv1", img)]).unwrap();
    let inst = &sys.vgs[0];
    let pvs = sys.pv_images(inst);
    let li = inst.vg.lv_index("snap").unwrap();
    let Err(e) = cow_engine::view::open(&inst.vg, li, &pvs) else {
        panic!("an invalid snapshot opens");
    };
    let want = format!("{}/snap", inst.vg.name);
    assert!(
        matches!(
            &e,
            cow_engine::Error::SnapshotInvalid {
                lv,
                io: cow_engine::error::SnapshotIo::View,
            } if *lv == want
        ),
        "{e:?}"
    );
    assert!(cow_engine::view::open_with(&inst.vg, li, &pvs, true).is_ok());
}

/// A discard on a linear LV reaches its PVs (`linear_map`): the range
/// reads as zeros afterwards, across a segment boundary, and nothing
/// outside it changes (the PV images stand for loop devices over files,
/// which punch holes: zeros).
#[test]
fn a_discard_on_a_linear_lv_zeroes_its_range_and_nothing_else() {
    let img = image("linear-fragmented", "pv1.img.zst");
    let vg = vg_of(&img);
    let mut a = open(&vg, img.clone(), "a");
    let mut before = Vec::new();
    a.read_to_end(&mut before).unwrap();
    // vg/a is 3 MiB then 5 MiB elsewhere (lvextend): cross the edge.
    let (at, len) = ((3 << 20) - 5120, 12288u64);
    a.discard_at(at, len).unwrap();
    // A range running past the end is cut there.
    a.discard_at((8 << 20) - 512, 4096).unwrap();
    let img = back(a);
    let mut a = open(&vg, img.clone(), "a");
    let mut after = Vec::new();
    a.read_to_end(&mut after).unwrap();
    let mut want = before;
    want[at as usize..(at + len) as usize].fill(0);
    let end = want.len();
    want[end - 512..].fill(0);
    assert!(after == want, "vg/a after the discards");
    for (lv, step) in [("c", 19), ("e", 20)] {
        let mut h = open(&vg, img.clone(), lv);
        assert_eq!(sha_all(&mut h), recorded("linear-fragmented", step), "{lv}");
    }
}

/// A discard on a striped LV reaches every stripe's part of the range
/// (`stripe_map_range`).
#[test]
fn a_discard_on_a_striped_lv_zeroes_every_stripes_part() {
    let imgs: Vec<Vec<u8>> = ["pv1", "pv2", "pv3"]
        .iter()
        .map(|p| image("striped-mdacopies", &format!("{p}.img.zst")))
        .collect();
    let sys = System::scan(
        imgs.iter()
            .enumerate()
            .map(|(i, b)| Image::from_bytes(&format!("pv{}", i + 1), b.clone()))
            .collect(),
    )
    .unwrap();
    let inst = &sys.vgs[0];
    let images = || Images {
        pvs: inst
            .pv_devices
            .iter()
            .map(|d| d.map(|d| imgs[d].clone()))
            .collect(),
    };
    let s3 = inst.vg.lv_index("s3").unwrap();
    let mut h = LvHandle::open(&inst.vg, images(), s3).unwrap();
    let mut before = Vec::new();
    h.read_to_end(&mut before).unwrap();
    // 64 KiB stripes over three PVs: 200 KiB from 30 KiB on touches all.
    let (at, len) = (30u64 << 10, 200u64 << 10);
    h.discard_at(at, len).unwrap();
    let pvs = h.into_images();
    let mut h = LvHandle::open(&inst.vg, pvs, s3).unwrap();
    let mut after = Vec::new();
    h.read_to_end(&mut after).unwrap();
    let mut want = before;
    want[at as usize..(at + len) as usize].fill(0);
    assert!(after == want, "vg/s3 after the discard");
    let pvs = h.into_images();
    let s2 = inst.vg.lv_index("s2").unwrap();
    let mut h = LvHandle::open(&inst.vg, pvs, s2).unwrap();
    assert_eq!(sha_all(&mut h), recorded("striped-mdacopies", 15), "s2");
}

/// The snapshot targets take no discards unless their table asks for
/// `discard_zeroes_cow`, which lvm2 never does (`snapshot_ctr`), and the
/// origin's target takes none at all (`origin_ctr`): EOPNOTSUPP, nothing
/// written. A merging snapshot is the error target, which takes
/// discards to fail them (`io_err_ctr`): EIO.
#[test]
fn the_snapshot_targets_refuse_discards() {
    let img = image("snap-chunks", "pv1.img.zst");
    let vg = vg_of(&img);
    for lv in ["origin", "s4k", "s512k"] {
        let mut h = open(&vg, img.clone(), lv);
        let e = h.discard_at(0, 1 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{lv}: {e}");
        assert!(e.to_string().contains("not supported"), "{lv}: {e}");
        assert!(back(h) == img, "{lv}: a refused discard wrote");
    }
    let img = image("merge-interrupted", "pv1.after-boot1.img.zst");
    let vg = vg_of(&img);
    let mut o = open(&vg, img.clone(), "origin");
    let e = o.discard_at(0, 4096).unwrap_err();
    assert_eq!(
        e.kind(),
        std::io::ErrorKind::Unsupported,
        "merging origin: {e}"
    );
    assert!(back(o) == img);
    let mut s = open(&vg, img.clone(), "snap");
    let e = s.discard_at(0, 4096).unwrap_err();
    assert!(
        e.to_string().contains("Input/output error"),
        "merging snapshot: {e}"
    );
    assert!(back(s) == img);
}
