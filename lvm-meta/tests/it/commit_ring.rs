//! lvm2's placement of each new metadata copy, checked on every ring lvm2
//! wrote in the corpus images (the lvm2 and the kernel corpus): wherever two
//! surviving copies have consecutive seqnos, the later one sits exactly
//! where `commit::next_offset` puts it. Then a commit planned by lvmsim on a
//! real image is read back like lvm2 reads it.

use lvm_meta::commit::{self, next_offset};
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::io::Image;
use lvm_meta::label;
use lvm_meta::metadata_area::{read_area_bytes, scan_copies};
use lvm_meta::scan::System;

use crate::common::{corpus_images, testdata, unzst};

/// Consecutive pairs of copies in one image's rings, each checked against
/// `next_offset`; returns how many were checked.
fn consecutive_pairs_checked(name: &str, bytes: Vec<u8>) -> usize {
    let img = Image::from_bytes(name, bytes);
    let Some(l) = label::scan(&img).unwrap().label else {
        return 0;
    };
    let mut checked = 0;
    for m in &l.pv_header.metadata_areas {
        let area = read_area_bytes(&img, m.offset, m.size).unwrap();
        let mut copies = scan_copies(&area, m.offset);
        copies.sort_by_key(|c| c.seqno);
        for w in copies.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let unique = |s: u32| copies.iter().filter(|c| c.seqno == s).count() == 1;
            if b.seqno != a.seqno + 1 || !unique(a.seqno) || !unique(b.seqno) {
                continue;
            }
            let want = next_offset(Some((a.rel_offset, a.text.len() as u64)), m.size);
            assert_eq!(
                b.rel_offset, want,
                "{name}: mda at {}: seqno {} follows seqno {}",
                m.offset, b.seqno, a.seqno
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_consecutive_pair_sits_where_lvm2_puts_it() {
    // Two workers, each decompressing and checking every other image: most
    // of the time is zstd, and one image at a time per worker keeps memory
    // small.
    let paths = corpus_images();
    let checked: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let paths = &paths;
                s.spawn(move || {
                    paths
                        .iter()
                        .skip(w)
                        .step_by(2)
                        .map(|p| consecutive_pairs_checked(&p.display().to_string(), unzst(p)))
                        .sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    eprintln!("{checked} consecutive copies placed exactly as lvm2 placed them");
    assert!(checked > 150, "only {checked} pairs checked");
}

#[test]
fn a_planned_commit_reads_back_as_the_new_version() {
    let mut raw: Vec<Vec<u8>> = ["a", "b", "c"]
        .iter()
        .map(|n| unzst(&testdata(&format!("lvm2/corpus/mdacopies/{n}.img.zst"))))
        .collect();
    let scan = |raw: &[Vec<u8>]| {
        System::scan(
            raw.iter()
                .enumerate()
                .map(|(i, b)| Image::from_bytes(&format!("d{i}"), b.clone()))
                .collect(),
        )
        .unwrap()
    };
    let sys = scan(&raw);
    let v = &sys.vgs[0];
    let mut vg = (*v.vg).clone();
    vg.seqno += 1;
    let h = ExportHeader::new(
        "Write from lvmsim test.",
        "host",
        "Linux host 1 #1 x86_64",
        1_800_000_000,
    );
    let text = export(&vg, &h);
    let writes = commit::plan(&sys, v, &text).unwrap();
    // Text first, then precommits, then commits: 3 mdas over the 3 PVs
    // (0, 1 and 2 areas).
    let kinds: Vec<&str> = writes.iter().map(|w| w.what).collect();
    let first_pre = kinds.iter().position(|k| *k == "precommit").unwrap();
    let first_commit = kinds.iter().position(|k| *k == "commit").unwrap();
    assert!(kinds[..first_pre].iter().all(|k| *k == "metadata text"));
    assert!(kinds[first_pre..first_commit]
        .iter()
        .all(|k| *k == "precommit"));
    assert!(kinds[first_commit..].iter().all(|k| *k == "commit"));
    assert_eq!(kinds.iter().filter(|k| **k == "commit").count(), 3);
    // After the precommits only, readers still see the old version.
    commit::apply_in_memory(&mut raw, &writes[..first_commit]).unwrap();
    assert_eq!(scan(&raw).vgs[0].vg.seqno, v.vg.seqno);
    commit::apply_in_memory(&mut raw, &writes[first_commit..]).unwrap();
    let after = scan(&raw);
    assert!(after.problems.is_empty(), "{:?}", after.problems);
    assert_eq!(after.vgs[0].vg.seqno, v.vg.seqno + 1);
    assert_eq!(
        after.vgs[0].text.as_slice(),
        [text.as_bytes(), b"\0"].concat().as_slice()
    );
    // The ring keeps the old copy and the new one follows it.
    for d in &after.devices {
        for m in &d.mdas {
            let h = m.header.as_ref().unwrap();
            assert!(h.raw_locns[1].is_empty(), "precommit slot cleared");
        }
    }
}
