//! The metadata-area header: decode, validate, slot bounds; a decoded
//! header re-encodes to the same bytes when its checksum was valid.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::mda_header::MdaHeader;

fuzz_target!(|data: &[u8]| {
    if data.len() < 512 {
        return;
    }
    let mut s = [0u8; 512];
    s.copy_from_slice(&data[..512]);
    let h = MdaHeader::decode(&s);
    let _ = h.check_slot(0);
    let _ = h.check_slot(1);
    if h.validate(h.start).is_ok() && s[0x58..].iter().all(|&b| b == 0) {
        assert_eq!(h.encode(), s);
    }
});
