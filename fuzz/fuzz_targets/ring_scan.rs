//! The ring scan of `pvck --dump metadata_search` over an arbitrary area.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::metadata_area::scan_copies;

fuzz_target!(|data: &[u8]| {
    for c in scan_copies(data, 4096) {
        assert!(c.text.len() <= data.len());
        assert_eq!(c.text.last(), Some(&0));
    }
});
