//! The kernel scenarios whose snapshots were merged or removed, replayed
//! through the library (`LvHandle` for every write and read, `merge` for
//! `lvconvert --merge`) and compared with what the kernel recorded and
//! left.
//!
//! No single metadata copy describes every step of these scenarios, but the
//! metadata ring of the kernel's final image still holds every copy lvm2
//! wrote. Each step runs against the copy in force at its time (the table
//! `SEQNOS`; the test checks the shape of each copy it uses: which
//! snapshots exist and which one merges). The data starts from the final
//! image with every extent zeroed (the disks were blank and the LVs made
//! with -Zn; a removed LV's extents keep what was written to them, which
//! the replay writes too; `lvcreate -s` zeroes the COW's first 4 KiB), the
//! metadata area as the kernel left it.
//!
//! Compared with the kernel's records: the sha256 of every `check` (a
//! failed `! check` must fail), every snapshot status line of an
//! `expect-status` or a report's `dmsetup status` (e.g. merge-with-sibling's
//! `keep` going from `40/8192 16` to `120/8192 16` as the merge copies into
//! it first), and at the end every byte of the image. Writes are whole `write` steps, so the
//! pieces of a step reach the engine in one call, split at chunk
//! boundaries as the kernel splits them.

use crate::common::{image, kernel, open, sha256};
use cow_engine::blocks::Images;
use cow_engine::engine::{merge, DevSet, PStore, Snap};
use lvm_meta::metadata_area::scan_copies;
use lvm_meta::model::Vg;
use std::io::{Read, Seek, SeekFrom, Write};

/// (first step, seqno of the metadata copy in force from that step on,
/// the snapshots that copy must hold: name and merging).
type Era = (u32, u32, &'static [(&'static str, bool)]);

/// Per scenario: its eras, and the step that merges.
struct History {
    name: &'static str,
    seqnos: &'static [Era],
    merge_step: Option<u32>,
}

const SCENARIOS: &[History] = &[
    History {
        name: "merge-complete",
        seqnos: &[
            (4, 2, &[]),
            (6, 4, &[("snap", false)]),
            (14, 5, &[("snap", true)]),
            (15, 7, &[]),
        ],
        merge_step: Some(14),
    },
    History {
        name: "merge-with-sibling",
        seqnos: &[
            (4, 2, &[]),
            (6, 4, &[("keep", false)]),
            (8, 6, &[("keep", false), ("merge", false)]),
            (15, 7, &[("keep", false), ("merge", true)]),
            (16, 9, &[("keep", false)]),
        ],
        merge_step: Some(15),
    },
    History {
        name: "snap-partial-chunk",
        seqnos: &[
            (5, 3, &[]),
            (7, 4, &[]),
            (9, 6, &[("snap", false)]),
            (17, 7, &[("snap", true)]),
            (18, 9, &[]),
        ],
        merge_step: Some(17),
    },
    History {
        name: "snap-lvremove",
        seqnos: &[(4, 2, &[]), (6, 4, &[("snap", false)]), (12, 6, &[])],
        merge_step: None,
    },
    // Boot 1 started the merge and was powered off; boot 2 finished it
    // (tests/it/kernel_merge.rs resumes it from the after-boot1 image). Here
    // the merge runs in one go at `lvconvert --merge`.
    History {
        name: "merge-interrupted",
        seqnos: &[
            (4, 2, &[]),
            (6, 4, &[("snap", false)]),
            (14, 5, &[("snap", true)]),
            (24, 7, &[]),
        ],
        merge_step: Some(14),
    },
];

/// The kgen pattern (testdata/README.md, "The write pattern").
fn pattern(tag: &str, lv: &str, s0: u64, count: u64) -> Vec<u8> {
    (s0..s0 + count)
        .flat_map(|s| {
            format!("{tag} {lv} {s}\n")
                .into_bytes()
                .into_iter()
                .cycle()
                .take(512)
        })
        .collect()
}

/// Every metadata copy in the ring, by seqno.
fn copies(img: &[u8]) -> Vec<(u32, Vg)> {
    // The metadata area starts at 4 KiB and ends where the data does (1 MiB).
    scan_copies(&img[4096..1 << 20], 4096)
        .into_iter()
        .map(|c| {
            let text = &c.text[..c.text.len() - 1];
            let vg = Vg::from_tree(&lvm_meta::text::parse(text).unwrap()).unwrap();
            (c.seqno, vg)
        })
        .collect()
}

fn snapshots(vg: &Vg) -> Vec<(String, bool)> {
    vg.roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.cow_of.map(|c| (vg.lvs[i].name.clone(), c.merging)))
        .collect()
}

fn replay(h: &History) -> Vec<String> {
    let d = kernel(h.name, "");
    let kernel = image(h.name, "pv1.img.zst");
    let ring = copies(&kernel);
    let copy = |seq: u32| -> &Vg {
        &ring
            .iter()
            .find(|(s, _)| *s == seq)
            .unwrap_or_else(|| panic!("{}: seqno {seq} is not in the ring", h.name))
            .1
    };
    for (_, seq, snaps) in h.seqnos {
        let want: Vec<(String, bool)> = snaps.iter().map(|(n, m)| (n.to_string(), *m)).collect();
        assert_eq!(snapshots(copy(*seq)), want, "{}: seqno {seq}", h.name);
    }
    let mut img = kernel.clone();
    let last = copy(h.seqnos[h.seqnos.len() - 1].1);
    let pv = &last.pvs[0];
    let from = (pv.pe_start.0 * 512) as usize;
    img[from..from + (u64::from(pv.pe_count) * last.extent_bytes()) as usize].fill(0);

    let steps = std::fs::read_to_string(d.join("steps.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for line in steps.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (n, rc): (u32, i32) = (f[0].parse().unwrap(), f[2].parse().unwrap());
        let w: Vec<&str> = f[5].trim_start_matches("! ").split_whitespace().collect();
        let vg = match h.seqnos.iter().rev().find(|(from, _, _)| *from <= n) {
            Some(&(_, seq, _)) => copy(seq),
            None => last,
        };
        let lv_of = |full: &str| full.split_once('/').unwrap().1.to_owned();
        match w[0] {
            "write" => {
                assert_eq!(rc, 0, "{}: no failing writes here", h.name);
                let (s0, count) = (w[2].parse::<u64>().unwrap(), w[3].parse::<u64>().unwrap());
                let (stride, times) = if w.len() >= 7 {
                    (w[5].parse::<u64>().unwrap(), w[6].parse::<u64>().unwrap())
                } else {
                    (0, 1)
                };
                let mut hd = open(vg, img, &lv_of(w[1]));
                for k in 0..times {
                    let s = s0 + k * stride;
                    hd.seek(SeekFrom::Start(s * 512)).unwrap();
                    hd.write_all(&pattern(w[4], w[1], s, count)).unwrap();
                }
                img = hd.into_images().pvs.remove(0).unwrap();
            }
            "check" => {
                let mut hd = open(vg, img, &lv_of(w[1]));
                let mut all = Vec::new();
                let r = hd.read_to_end(&mut all);
                img = hd.into_images().pvs.remove(0).unwrap();
                compared += 1;
                let rec = std::fs::read_to_string(d.join(format!("{n:03}.sha256")));
                match (rc, r) {
                    (0, Ok(_)) => {
                        let got = sha256(&all);
                        let want = rec.unwrap()[..64].to_owned();
                        if got != want {
                            failures.push(format!(
                                "step {n} check {}: kernel {want}, lvmsim {got}",
                                w[1]
                            ));
                        }
                    }
                    (0, Err(e)) => failures.push(format!("step {n} check {}: {e}", w[1])),
                    (_, Ok(_)) => {
                        failures.push(format!("step {n}: the kernel could not read {}", w[1]))
                    }
                    (_, Err(_)) => {}
                }
            }
            // An expect-status line, or the snapshot lines of a report's
            // `dmsetup status`.
            "expect-status" | "report" if rc == 0 => {
                let text =
                    std::fs::read_to_string(d.join(format!("{n:03}.dmsetup-status"))).unwrap();
                let lines: Vec<(String, String)> = if w[0] == "report" {
                    text.lines()
                        .filter_map(|l| l.split_once(": "))
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                        .collect()
                } else {
                    vec![(w[1].to_owned(), text.trim_end().to_owned())]
                };
                for (dm, want) in lines {
                    let Some(i) = dm.strip_prefix("vg-").and_then(|x| vg.lv_index(x)) else {
                        continue;
                    };
                    let Some(c) = vg.roles[i].cow_of.filter(|c| !c.merging) else {
                        continue;
                    };
                    let mut set = cow_engine::blocks::LvSet {
                        vg,
                        images: Images {
                            pvs: vec![Some(img)],
                        },
                    };
                    let s = PStore::activate(&mut set, i, c.chunk_size.0).unwrap();
                    let len = u64::from(c.glue_extents) * vg.extent_size.0;
                    let got = if s.valid {
                        let (a, t, m) = s.usage(&set);
                        format!("0 {len} snapshot {a}/{t} {m}")
                    } else {
                        format!("0 {len} snapshot Invalid")
                    };
                    img = set.images.pvs.remove(0).unwrap();
                    compared += 1;
                    if got != want.trim_end() {
                        failures.push(format!(
                            "step {n} status {dm}: kernel {want:?}, lvmsim {got:?}"
                        ));
                    }
                }
            }
            // lvcreate -s zeroes the COW's first 4 KiB (`wipe_lv`); the
            // kernel writes the store's header when it activates it, which
            // the next LvHandle does.
            "lvcreate" if w.contains(&"-s") => {
                let name = w[w.iter().position(|x| *x == "-n").unwrap() + 1];
                let (_, seq, _) = h
                    .seqnos
                    .iter()
                    .find(|(from, _, sn)| *from > n && sn.iter().any(|(x, _)| *x == name))
                    .unwrap();
                let vg = copy(*seq);
                let mut set = cow_engine::blocks::LvSet {
                    vg,
                    images: Images {
                        pvs: vec![Some(img)],
                    },
                };
                set.write(vg.lv_index(name).unwrap(), 0, &[0u8; 4096])
                    .unwrap();
                img = set.images.pvs.remove(0).unwrap();
            }
            _ if Some(n) == h.merge_step => {
                let mut set = cow_engine::blocks::LvSet {
                    vg,
                    images: Images {
                        pvs: vec![Some(img)],
                    },
                };
                let (cow, c) = vg
                    .roles
                    .iter()
                    .enumerate()
                    .find_map(|(i, r)| r.cow_of.filter(|c| c.merging).map(|c| (i, c)))
                    .unwrap();
                let mut m = PStore::activate(&mut set, cow, c.chunk_size.0).unwrap();
                let mut others = Vec::new();
                for (j, r) in vg.roles.iter().enumerate() {
                    if let Some(o) = r.cow_of.filter(|o| !o.merging && o.origin == c.origin) {
                        others.push(Snap {
                            store: PStore::activate(&mut set, j, o.chunk_size.0).unwrap(),
                            len: u64::from(o.glue_extents) * vg.extent_bytes(),
                        });
                    }
                }
                assert!(merge(&mut set, c.origin, &mut m, &mut others, None).unwrap() > 0);
                assert_eq!(
                    m.usage(&set).0,
                    m.usage(&set).2,
                    "{}: merged to the end",
                    h.name
                );
                img = set.images.pvs.remove(0).unwrap();
            }
            _ => {}
        }
    }
    let diff: Vec<usize> = img
        .chunks(4096)
        .zip(kernel.chunks(4096))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(k, _)| k * 4096)
        .collect();
    if !diff.is_empty() {
        failures.push(format!(
            "blocks differing from the kernel's image: {diff:?}"
        ));
    }
    eprintln!(
        "{}: {compared} checks and statuses, then the whole image",
        h.name
    );
    assert!(compared >= 2, "{}: too few comparisons", h.name);
    failures
}

#[test]
fn merged_and_removed_snapshots_replayed_give_the_kernels_bytes() {
    let mut failures = Vec::new();
    for h in SCENARIOS {
        for f in replay(h) {
            failures.push(format!("{}: {f}", h.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
