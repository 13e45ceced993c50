//! Any VG model written as lvm2's on-disk text and parsed back is the same
//! model: the writer and the reader agree on every field the model holds
//! (PVs, linear and striped LVs, snapshots with their COW and glue LVs,
//! tags, flags, optional keys).

use lvm_meta::export::{export, ExportHeader};
use lvm_meta::model::{Area, Lv, Pv, Segment, SegmentKind, TextHeader, Vg};
use lvm_meta::units::Sectors;
use lvm_meta::uuid::format_uuid;
use proptest::prelude::*;

fn uuid_strategy() -> impl Strategy<Value = [u8; 32]> {
    proptest::collection::vec(
        proptest::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".to_vec(),
        ),
        32,
    )
    .prop_map(|v| {
        let mut a = [0u8; 32];
        a.copy_from_slice(&v);
        a
    })
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_+.-]{0,10}"
}

/// An LV's shape: stripes and extents per stripe.
#[derive(Debug, Clone)]
struct LvShape {
    name: String,
    segs: Vec<(u32, u32)>,
    tags: Vec<String>,
    snapshot_of: Option<usize>,
}

fn lv_shape() -> impl Strategy<Value = LvShape> {
    (
        name_strategy(),
        proptest::collection::vec((1u32..4, 1u32..20), 1..4),
        proptest::collection::vec("[a-z][a-z0-9]{0,5}", 0..3),
        proptest::option::of(0usize..8),
    )
        .prop_map(|(name, segs, tags, snapshot_of)| LvShape {
            name,
            segs,
            tags,
            snapshot_of,
        })
}

fn vg_strategy() -> impl Strategy<Value = Vg> {
    (
        name_strategy(),
        uuid_strategy(),
        1u32..100_000,
        3u32..17,
        proptest::collection::vec((uuid_strategy(), 0u32..4), 1..5),
        proptest::collection::vec((lv_shape(), uuid_strategy(), 1i64..2_000_000_000), 0..6),
        proptest::collection::vec("[a-z][a-z0-9]{0,5}", 0..3),
        any::<bool>(),
    )
        .prop_map(|(name, id, seqno, shift, pvs, lvs, tags, max)| {
            build(name, id, seqno, shift, pvs, lvs, tags, max)
        })
}

#[allow(clippy::too_many_arguments)]
fn build(
    name: String,
    id: [u8; 32],
    seqno: u32,
    shift: u32,
    pv_ids: Vec<([u8; 32], u32)>,
    lvs: Vec<(LvShape, [u8; 32], i64)>,
    tags: Vec<String>,
    max: bool,
) -> Vg {
    let npv = pv_ids.len();
    // Extents are handed out in order on every PV so that no two areas overlap.
    let mut next_pe = vec![0u32; npv];
    let mut model_lvs: Vec<Lv> = Vec::new();
    let mut used_names = std::collections::HashSet::new();
    let mut pending_snaps = Vec::new();
    for (k, (shape, uuid, time)) in lvs.into_iter().enumerate() {
        let lv_name = format!("{}{k}", shape.name);
        if !used_names.insert(lv_name.clone()) {
            continue;
        }
        let mut segments = Vec::new();
        let mut le = 0u32;
        for (i, &(stripes, per)) in shape.segs.iter().enumerate() {
            let stripes = stripes.min(npv as u32).max(1);
            let mut areas = Vec::new();
            for s in 0..stripes {
                let pv = (i + s as usize) % npv;
                areas.push(Area::Pv {
                    pv,
                    pe: next_pe[pv],
                });
                next_pe[pv] += per;
            }
            segments.push(Segment {
                key: format!("segment{}", i + 1),
                start_extent: le,
                extent_count: per * stripes,
                reshape_count: None,
                type_name: "striped".into(),
                tags: Vec::new(),
                kind: SegmentKind::Striped {
                    stripe_size: (stripes > 1).then_some(Sectors(128)),
                    stripes: areas,
                },
            });
            le += per * stripes;
        }
        model_lvs.push(Lv {
            name: lv_name,
            id: format_uuid(&uuid),
            status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
            flags: Vec::new(),
            tags: shape.tags.clone(),
            creation_time: Some(time),
            creation_host: Some("host".into()),
            read_ahead: None,
            lock_args: None,
            allocation_policy: None,
            profile: None,
            major: None,
            minor: None,
            segments,
        });
        if let Some(o) = shape.snapshot_of {
            pending_snaps.push((model_lvs.len() - 1, o, uuid));
        }
    }
    // Snapshots: a COW LV (hidden) and a glue LV naming origin and COW.
    let plain = model_lvs.len();
    let mut is_cow = vec![false; plain];
    // lvm2 has no snapshots of snapshots: a COW is never an origin.
    let mut is_origin = vec![false; plain];
    let mut glue_n = 0;
    for (cow, o, uuid) in pending_snaps {
        let origin = o % plain.max(1);
        if origin == cow || is_cow[cow] || is_cow[origin] || is_origin[cow] {
            continue;
        }
        is_cow[cow] = true;
        is_origin[origin] = true;
        model_lvs[cow].set_visible(false);
        let extents = model_lvs[origin]
            .segments
            .iter()
            .map(|s| s.extent_count)
            .sum();
        let mut gid = uuid;
        gid.reverse();
        model_lvs.push(Lv {
            name: format!("snapshot{glue_n}"),
            id: format_uuid(&gid),
            status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
            flags: Vec::new(),
            tags: Vec::new(),
            creation_time: Some(1),
            creation_host: Some("host".into()),
            read_ahead: None,
            lock_args: None,
            allocation_policy: None,
            profile: None,
            major: None,
            minor: None,
            segments: vec![Segment {
                key: "segment1".into(),
                start_extent: 0,
                extent_count: extents,
                reshape_count: None,
                type_name: "snapshot".into(),
                tags: Vec::new(),
                kind: SegmentKind::Snapshot {
                    chunk_size: Sectors(8),
                    origin,
                    cow,
                    merging: false,
                },
            }],
        });
        glue_n += 1;
    }
    let pvs = pv_ids
        .iter()
        .enumerate()
        .map(|(i, (u, extra))| Pv {
            key: format!("pv{i}"),
            id: format_uuid(u),
            uuid: *u,
            device: Some(format!("/dev/img{i}")),
            device_id_type: None,
            device_id: None,
            status: vec!["ALLOCATABLE".into()],
            flags: Vec::new(),
            tags: Vec::new(),
            dev_size: Some(Sectors(
                2048 + ((u64::from(next_pe[i]) + u64::from(*extra)) << shift),
            )),
            pe_start: Sectors(2048),
            pe_count: next_pe[i] + extra,
            ba_start: None,
            ba_size: None,
        })
        .collect();
    let mut vg = Vg {
        name,
        id: format_uuid(&id),
        seqno,
        format: Some("lvm2".into()),
        status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
        flags: Vec::new(),
        tags,
        system_id: None,
        lock_type: None,
        lock_args: None,
        extent_size: Sectors(1 << shift),
        max_lv: if max { 255 } else { 0 },
        max_pv: if max { 255 } else { 0 },
        allocation_policy: None,
        profile: None,
        metadata_copies: 0,
        pvs,
        lvs: model_lvs,
        historical_lvs: Vec::new(),
        header: TextHeader::default(),
        roles: Vec::new(),
    };
    vg.derive_roles();
    vg
}

/// `vg` with its LVs in the order of `names` (lvm2 writes visible LVs
/// first), every LV index remapped.
fn reorder(vg: &Vg, names: &[&str]) -> Vg {
    let new_of: Vec<usize> = vg
        .lvs
        .iter()
        .map(|l| names.iter().position(|n| *n == l.name).expect("LV lost"))
        .collect();
    let mut out = vg.clone();
    let mut lvs = vec![None; vg.lvs.len()];
    for (old, l) in vg.lvs.iter().enumerate() {
        let mut l = l.clone();
        for s in &mut l.segments {
            match &mut s.kind {
                SegmentKind::Snapshot { origin, cow, .. } => {
                    *origin = new_of[*origin];
                    *cow = new_of[*cow];
                }
                SegmentKind::Striped { stripes, .. } => {
                    for a in stripes {
                        if let Area::Lv { lv, .. } = a {
                            *lv = new_of[*lv];
                        }
                    }
                }
                _ => {}
            }
        }
        lvs[new_of[old]] = Some(l);
    }
    out.lvs = lvs.into_iter().map(|l| l.expect("LV slot")).collect();
    out.derive_roles();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn model_to_text_to_model(vg in vg_strategy(), time in 0u64..4_000_000_000) {
        let header = ExportHeader::new("Write from lvcreate test.", "host", "Linux host 6 #1 x86_64", time);
        let text = export(&vg, &header);
        let tree = lvm_meta::text::parse(text.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let mut back = Vg::from_tree(&tree)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        // The flat parse (the scan's way in) reads this text, to the same VG.
        prop_assert!(lvm_meta::text::parse_flat(text.as_bytes()).is_some());
        let (flat, dups) = Vg::from_text(text.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&flat, &back);
        prop_assert!(dups.is_empty());
        // The header block is what the export wrote.
        prop_assert_eq!(back.header.description.as_deref(), Some("Write from lvcreate test."));
        prop_assert_eq!(back.header.creation_host.as_deref(), Some("host"));
        prop_assert_eq!(back.header.creation_time, Some(time as i64));
        back.header = TextHeader::default();
        prop_assert_eq!(back.lvs.len(), vg.lvs.len());
        let names: Vec<&str> = back.lvs.iter().map(|l| l.name.as_str()).collect();
        let want = reorder(&vg, &names);
        prop_assert_eq!(&back, &want, "text was:\n{}", text);
        // Writing the parsed model again gives the same bytes.
        back.header = vg.header.clone();
        prop_assert_eq!(export(&back, &header), text);
    }
}
