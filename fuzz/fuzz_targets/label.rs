//! The label sector and PV header: parse, and a parsed label re-encodes to
//! the same sector.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::label::Label;

fuzz_target!(|data: &[u8]| {
    if data.len() < 512 {
        return;
    }
    let mut s = [0u8; 512];
    s.copy_from_slice(&data[..512]);
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
