//! The metadata text grammar and the VG model: parse → write → parse is
//! stable, building a VG never panics, and the borrowing parser (what the
//! scan uses) gives the same tree, VG and error as the owned one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::model::Vg;
use lvm_meta::text;

fuzz_target!(|data: &[u8]| {
    let owned = text::parse(data);
    let borrowed = text::parse_borrowed(data);
    match (&owned, &borrowed) {
        (Ok(o), Ok(b)) => {
            assert_eq!(&b.to_owned_tree(), o);
            assert_eq!(
                format!("{:?}", Vg::from_tree(b)),
                format!("{:?}", Vg::from_tree(o))
            );
        }
        (Err(o), Err(b)) => assert_eq!(o, b),
        _ => panic!("the parsers disagree: {owned:?} / {borrowed:?}"),
    }
    if let Ok(tree) = owned {
        let _ = Vg::from_tree(&tree);
        let written = text::write_raw(&tree);
        let again = text::parse(written.as_bytes()).expect("written text parses");
        assert_eq!(again, tree);
    }
});
