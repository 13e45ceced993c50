//! The metadata text grammar and the VG model: parse → write → parse is
//! stable, and building a VG never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::model::Vg;
use lvm_meta::text;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = text::parse(data) {
        let _ = Vg::from_tree(&tree);
        let written = text::write_raw(&tree);
        let again = text::parse(written.as_bytes()).expect("written text parses");
        assert_eq!(again, tree);
    }
});
