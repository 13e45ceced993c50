//! Hostile and damaged images: each rule gets a real lvm2-made image with
//! one field changed (and the checksum fixed unless the checksum is the
//! point), and must give its clear error, never a panic.

use byteorder::{ByteOrder, LittleEndian as LE};
use lvm_meta::crc::lvm_crc;
use lvm_meta::io::Image;
use lvm_meta::mda_header::MdaHeader;
use lvm_meta::metadata_area::place_text;
use lvm_meta::scan::System;
use lvm_meta::Corruption;

use crate::common::{testdata, unzst};

/// The `single` scenario's PV: one VG, one linear LV, made by lvm2 2.03.16.
fn real_pv() -> Vec<u8> {
    unzst(&testdata("lvm2/corpus/single/a.img.zst"))
}

const MDA: usize = 4096;

fn scan(imgs: Vec<(&str, Vec<u8>)>) -> System {
    System::scan(
        imgs.into_iter()
            .map(|(n, b)| Image::from_bytes(n, b))
            .collect(),
    )
    .unwrap()
}

fn problems(sys: &System) -> Vec<String> {
    sys.problems.iter().map(|p| p.error.to_string()).collect()
}

fn header(b: &[u8]) -> MdaHeader {
    let mut s = [0u8; 512];
    s.copy_from_slice(&b[MDA..MDA + 512]);
    MdaHeader::decode(&s)
}

fn put_header(b: &mut [u8], h: &MdaHeader) {
    b[MDA..MDA + 512].copy_from_slice(&h.encode());
}

/// The committed text (without its NUL).
fn text(b: &[u8]) -> String {
    let h = header(b);
    let r = h.raw_locns[0];
    let at = MDA + r.offset as usize;
    String::from_utf8(b[at..at + r.size as usize - 1].to_vec()).unwrap()
}

/// Replaces the committed text in place and fixes the slot and header.
fn set_text(b: &mut [u8], t: &str) {
    let mut h = header(b);
    let mut bytes = t.as_bytes().to_vec();
    bytes.push(0);
    let size = h.size as usize;
    let span = place_text(&mut b[MDA..MDA + size], h.raw_locns[0].offset, &bytes);
    assert_eq!(span.len_b, 0);
    h.raw_locns[0].size = bytes.len() as u64;
    h.raw_locns[0].checksum = lvm_crc(&bytes);
    put_header(b, &h);
}

#[test]
fn the_unchanged_image_reads_cleanly() {
    let sys = scan(vec![("a.img", real_pv())]);
    assert!(sys.problems.is_empty(), "{:?}", problems(&sys));
    assert_eq!(sys.vgs.len(), 1);
    assert_eq!(sys.vgs[0].vg.lvs.len(), 1);
}

#[test]
fn truncated_images_never_panic() {
    let full = real_pv();
    for len in [
        0usize, 1, 511, 512, 700, 1023, 1024, 2048, 4096, 4100, 4608, 5000, 6000,
    ] {
        let sys = scan(vec![("a.img", full[..len.min(full.len())].to_vec())]);
        assert!(sys.vgs.is_empty(), "len {len}: a VG from a truncated image");
    }
    // Cut inside the metadata area: the label is read, the area is refused.
    let sys = scan(vec![("a.img", full[..4200].to_vec())]);
    let p = problems(&sys).join("\n");
    assert!(p.contains("a.img: metadata area at 4096: truncated"), "{p}");
}

#[test]
fn label_in_the_wrong_sector() {
    let mut b = real_pv();
    let label: Vec<u8> = b[512..1024].to_vec();
    b[512..1024].fill(0);
    b[1024..1536].copy_from_slice(&label);
    let sys = scan(vec![("a.img", b.clone())]);
    assert!(sys.vgs.is_empty());
    let p = problems(&sys).join("\n");
    assert!(
        p.contains("a.img: label at 1024: label_header.sector_xl is 1"),
        "{p}"
    );
    // With sector_xl and the CRC fixed, lvm2 accepts a label in sector 2.
    LE::write_u64(&mut b[1024 + 8..], 2);
    let c = lvm_crc(&b[1024 + 20..1536]);
    LE::write_u32(&mut b[1024 + 16..], c);
    let sys = scan(vec![("a.img", b)]);
    assert_eq!(sys.vgs.len(), 1, "{:?}", problems(&sys));
}

#[test]
fn bad_label_checksum() {
    let mut b = real_pv();
    b[512 + 0x30] ^= 0x20;
    let sys = scan(vec![("a.img", b)]);
    assert!(sys.vgs.is_empty());
    let e = &sys.problems[0].error;
    assert!(
        matches!(
            e.corruption(),
            Some(Corruption::Checksum {
                start: 532,
                end: 1023,
                ..
            })
        ),
        "{e}"
    );
}

#[test]
fn bad_mda_header_checksum() {
    let mut b = real_pv();
    b[MDA + 100] ^= 1;
    let sys = scan(vec![("a.img", b)]);
    assert!(sys.vgs.is_empty());
    let p = problems(&sys).join("\n");
    assert!(
        p.contains("a.img: metadata area at 4096: header checksum 0x"),
        "{p}"
    );
    assert!(p.contains("over bytes 4100-4607"), "{p}");
}

#[test]
fn ring_pointer_past_the_area() {
    let mut b = real_pv();
    let mut h = header(&b);
    h.raw_locns[0].offset = h.size + 512;
    put_header(&mut b, &h);
    let sys = scan(vec![("a.img", b)]);
    assert!(sys.vgs.is_empty());
    let p = problems(&sys).join("\n");
    assert!(p.contains("raw_locn[0].offset"), "{p}");
}

#[test]
fn text_checksum_mismatch() {
    let mut b = real_pv();
    let h = header(&b);
    b[MDA + h.raw_locns[0].offset as usize + 10] ^= 1;
    let sys = scan(vec![("a.img", b)]);
    assert!(sys.vgs.is_empty());
    let p = problems(&sys).join("\n");
    assert!(
        p.contains("metadata text at") && p.contains("text checksum"),
        "{p}"
    );
}

#[test]
fn text_that_does_not_parse() {
    let mut b = real_pv();
    let t = text(&b).replacen("seqno = ", "seqno = = ", 1);
    set_text(&mut b, &t);
    let sys = scan(vec![("a.img", b)]);
    assert!(sys.vgs.is_empty());
    let e = &sys.problems[0].error;
    assert!(
        matches!(e.corruption(), Some(Corruption::Text { line: 3, .. })),
        "{e}"
    );
}

#[test]
fn numbers_that_overflow() {
    for (from, to) in [
        ("seqno = ", "seqno = 99999999999999999999"),
        ("extent_size = ", "extent_size = 4294967296000000000000"),
    ] {
        let mut b = real_pv();
        let t = text(&b);
        let line = t.lines().find(|l| l.starts_with(from)).unwrap();
        set_text(&mut b, &t.replacen(line, to, 1));
        let sys = scan(vec![("a.img", b)]);
        assert!(sys.vgs.is_empty(), "{to}");
        assert!(
            matches!(
                sys.problems[0].error.corruption(),
                Some(Corruption::Text { .. })
            ),
            "{to}"
        );
    }
    // In range for i64 but not for the u32 field.
    let mut b = real_pv();
    let t = text(&b);
    let line = t.lines().find(|l| l.starts_with("seqno = ")).unwrap();
    set_text(&mut b, &t.replacen(line, "seqno = 4294967296", 1));
    let sys = scan(vec![("a.img", b)]);
    assert!(
        matches!(sys.problems[0].error.corruption(), Some(Corruption::Model(m)) if m.contains("seqno"))
    );
}

#[test]
fn extents_past_the_pv_end() {
    let mut b = real_pv();
    let t = text(&b);
    let line = t.lines().find(|l| l.starts_with("pe_count = ")).unwrap();
    set_text(&mut b, &t.replacen(line, "pe_count = 1", 1));
    let sys = scan(vec![("a.img", b)]);
    assert!(sys.vgs.is_empty());
    let p = problems(&sys).join("\n");
    assert!(p.contains("run past the end of PV pv0"), "{p}");
}

#[test]
fn two_images_with_the_same_pv_uuid() {
    let b = real_pv();
    let sys = scan(vec![("a.img", b.clone()), ("copy.img", b)]);
    let p = problems(&sys).join("\n");
    assert!(
        p.contains("copy.img: label at 512: pv_header.pv_uuid is"),
        "{p}"
    );
    assert!(p.contains("a.img has the same PV UUID"), "{p}");
    // The first one is used, as lvm2 uses one and warns about the other.
    assert_eq!(sys.vgs.len(), 1);
    assert_eq!(sys.vgs[0].pv_devices, vec![Some(0)]);
}

#[test]
fn a_missing_pv_is_reported_not_fatal() {
    // The striped scenario's VG spans two PVs; give only the first.
    let a = unzst(&testdata("lvm2/corpus/twopv-striped/a.img.zst"));
    let sys = scan(vec![("a.img", a)]);
    assert_eq!(sys.vgs.len(), 1);
    assert!(sys.vgs[0].partial());
}

#[test]
fn random_damage_never_panics() {
    // The label and the whole metadata area lie in the first MiB.
    let base = real_pv()[..1 << 20].to_vec();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..300 {
        let mut b = base.clone();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Hit the label, the mda header and the text, where parsing happens.
            let at = (seed % 12288) as usize;
            b[at] = (seed >> 32) as u8;
        }
        let _ = System::scan(vec![Image::from_bytes("a.img", b)]);
    }
}
