//! The label sector and PV header: parse, a parsed label re-encodes to the
//! same sector, and the lenient raw decoders (pvck's) read any sector.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::label::{Label, RawLabelHeader, LABEL_HEADER_SIZE};
use lvm_meta::pv_header::RawPvHeader;

fuzz_target!(|data: &[u8]| {
    if data.len() < 512 {
        return;
    }
    let mut s = [0u8; 512];
    s.copy_from_slice(&data[..512]);
    RawLabelHeader::decode(&s);
    let raw =
        RawPvHeader::decode(&s[LABEL_HEADER_SIZE..]).expect("480 bytes hold the fixed fields");
    if let Some(e) = &raw.extension {
        assert!(
            e.bootloader_areas
                .entry_at(e.bootloader_areas.entries.len())
                <= 480
        );
    }
    if let Ok(Some(l)) = Label::parse(&s, 1, 512) {
        // Bytes past the lists are not kept, so the CRC may change; every
        // field must survive.
        let again = Label::parse(&l.to_sector(), 1, 512).expect("a written label parses");
        let again = again.expect("a written label is a label");
        assert_eq!(
            Label {
                crc: l.crc,
                ..again
            },
            l
        );
    }
});
