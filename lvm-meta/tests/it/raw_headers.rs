//! The lenient raw decoders against lvm2's own reading of the same bytes:
//! for every image of the lvm2 corpus, `RawLabelHeader`, `RawPvHeader` and
//! `MdaHeader::decode` must give the field values (and their byte offsets)
//! that lvm2's `pvck --dump headers` printed.

use lvm_meta::label::{RawLabelHeader, LABEL_HEADER_SIZE};
use lvm_meta::mda_header::{MdaHeader, MDA_HEADER_SIZE, OFF_RAW_LOCNS, RAW_LOCN_SIZE};
use lvm_meta::pv_header::{RawLocnList, RawPvHeader};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

/// How much of each image is decompressed: the label and the first
/// metadata area header sit well inside it.
const HEAD: u64 = 1 << 20;

/// (image, pvck golden) pairs of the lvm2 corpus.
fn cases() -> Vec<(PathBuf, PathBuf)> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/lvm2/corpus"
    ));
    let mut out = Vec::new();
    for d in std::fs::read_dir(root).unwrap() {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".img.zst") {
                let golden = d.join(format!("{stem}.pvck-headers.txt"));
                if golden.exists() {
                    out.push((f, golden));
                }
            }
        }
    }
    out.sort();
    out
}

fn head(image: &PathBuf) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(image).unwrap())
        .unwrap()
        .take(HEAD)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// pvck's lines as `name -> rest of the line`.
fn golden(path: &PathBuf) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim_start().split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

struct Check<'a> {
    g: &'a HashMap<String, String>,
    place: String,
    compared: usize,
}

impl Check<'_> {
    fn eq(&mut self, key: &str, want: impl std::fmt::Display) {
        let got = self.g.get(key).map(String::as_str);
        assert_eq!(got, Some(want.to_string().as_str()), "{} {key}", self.place);
        self.compared += 1;
    }
    /// A `disk_locn` list printed as `NAME[i] at ABS # ...`.
    fn list(&mut self, name: &str, first: usize, list: &RawLocnList, base: u64) -> usize {
        let n = list.entries.len();
        let terminator = list.terminator.expect("lvm2 found a terminator");
        for (i, l) in list.entries.iter().chain([&terminator]).enumerate() {
            let key = format!("{name}[{}]", first + i);
            let at = self.g[&key].split(' ').nth(1).unwrap().to_owned();
            assert_eq!(
                at,
                (base + list.entry_at(i) as u64).to_string(),
                "{} {key}",
                self.place
            );
            self.eq(&format!("{key}.offset"), l.offset);
            self.eq(&format!("{key}.size"), l.size);
        }
        first + n + 1
    }
}

#[test]
fn raw_decoders_read_what_lvm2_pvck_printed() {
    let cases = cases();
    assert!(cases.len() >= 10, "{cases:?}");
    let mut compared = 0;
    for (image, golden_path) in &cases {
        let g = golden(golden_path);
        let bytes = head(image);
        let mut c = Check {
            g: &g,
            place: image.display().to_string(),
            compared: 0,
        };
        let lh_off: u64 = g["label_header"]
            .strip_prefix("at ")
            .unwrap()
            .parse()
            .unwrap();
        let at = usize::try_from(lh_off).unwrap();
        let sector: &[u8; 512] = bytes[at..at + 512].try_into().unwrap();
        let lh = RawLabelHeader::decode(sector);
        c.eq("label_header.id", String::from_utf8_lossy(&lh.id));
        c.eq("label_header.sector", lh.sector_xl);
        c.eq("label_header.crc", format!("0x{:x}", lh.crc_xl));
        assert_eq!(lh.computed_crc, lh.crc_xl, "{}", c.place);
        c.eq("label_header.offset", lh.offset_xl);
        c.eq("label_header.type", String::from_utf8_lossy(&lh.label_type));

        let pvh_off = lh_off + LABEL_HEADER_SIZE as u64;
        c.eq("pv_header", format!("at {pvh_off}"));
        let ph = RawPvHeader::decode(&sector[LABEL_HEADER_SIZE..]).unwrap();
        c.eq("pv_header.pv_uuid", String::from_utf8_lossy(&ph.pv_uuid));
        c.eq("pv_header.device_size", ph.device_size_xl);
        let next = c.list("pv_header.disk_locn", 0, &ph.data_areas, pvh_off);
        let mdas = ph.metadata_areas.as_ref().unwrap();
        c.list("pv_header.disk_locn", next, mdas, pvh_off);
        let ext = ph.extension.as_ref().unwrap();
        c.eq(
            "pv_header_extension",
            format!("at {}", pvh_off + ext.at as u64),
        );
        c.eq("pv_header_extension.version", ext.version);
        c.eq("pv_header_extension.flags", ext.flags);
        c.list(
            "pv_header_extension.disk_locn",
            0,
            &ext.bootloader_areas,
            pvh_off,
        );

        if let Some(first) = mdas.entries.first().filter(|m| m.offset < HEAD) {
            let o = usize::try_from(first.offset).unwrap();
            let b: &[u8; 512] = bytes[o..o + MDA_HEADER_SIZE as usize].try_into().unwrap();
            let h = MdaHeader::decode(b);
            c.eq("mda_header_1.checksum", format!("0x{:x}", h.checksum));
            assert_eq!(h.computed_checksum, h.checksum, "{}", c.place);
            let magic: String = h.magic.iter().map(|b| format!("{b:x}")).collect();
            c.eq("mda_header_1.magic", format!("0x{magic}"));
            c.eq("mda_header_1.version", h.version);
            c.eq("mda_header_1.start", h.start);
            c.eq("mda_header_1.size", h.size);
            for (i, r) in h.raw_locns.iter().enumerate() {
                let key = format!("mda_header_1.raw_locn[{i}]");
                let at = first.offset + (OFF_RAW_LOCNS + i * RAW_LOCN_SIZE) as u64;
                assert!(g[&key].starts_with(&format!("at {at} ")), "{}", c.place);
                c.eq(&format!("{key}.offset"), r.offset);
                c.eq(&format!("{key}.size"), r.size);
                c.eq(&format!("{key}.checksum"), format!("0x{:x}", r.checksum));
                let flags = c.g[&format!("{key}.flags")].clone();
                assert!(
                    flags.starts_with(&format!("0x{:x}", r.flags)),
                    "{} {key}",
                    c.place
                );
            }
        }
        compared += c.compared;
    }
    eprintln!("compared {compared} fields over {} images", cases.len());
}
