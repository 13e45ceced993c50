use super::*;
use crate::error::Corruption;
use proptest::prelude::*;

#[test]
fn grammar_basics() {
    let t = parse(
        b"vg0 {\nid = \"abc\"\nseqno = 4\nstatus = [\"READ\", \"WRITE\"]\nflags = []\n# c\nsub {\nx = 010\ny = -3\nf = 1.5\nb = bare\n}\n}\ncontents = \"Text\\\"q\\\\ \\n\"\0garbage",
    )
    .unwrap();
    let vg = t.section("vg0").unwrap();
    assert_eq!(vg.value("seqno"), Some(&Value::Int(4)));
    assert_eq!(
        vg.value("status"),
        Some(&Value::Array(vec![
            Value::Str("READ".into()),
            Value::Str("WRITE".into())
        ]))
    );
    assert_eq!(vg.value("flags"), Some(&Value::Array(vec![])));
    let sub = vg.section("sub").unwrap();
    assert_eq!(
        sub.value("x"),
        Some(&Value::Int(8)),
        "leading zero is octal"
    );
    assert_eq!(sub.value("y"), Some(&Value::Int(-3)));
    assert_eq!(sub.value("f"), Some(&Value::Float("1.5".into())));
    assert_eq!(sub.value("b"), Some(&Value::Str("bare".into())));
    // Only \" and \\ are escapes; other backslashes stay.
    assert_eq!(
        t.value("contents"),
        Some(&Value::Str("Text\"q\\ \\n".into()))
    );
}

#[test]
fn duplicates_are_kept_and_first_wins() {
    let t = parse(b"a = 1\na = 2\n").unwrap();
    assert_eq!(t.nodes.len(), 2);
    assert_eq!(t.value("a"), Some(&Value::Int(1)));
}

#[test]
fn errors_carry_line_and_offset() {
    match parse(b"vg {\nid = \"x\"\nseqno = \n}\n") {
        Err(Corruption::Text { line, .. }) => assert_eq!(line, 4),
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse(b"vg {\n"), Err(Corruption::Text { .. })));
    assert!(matches!(parse(b"}\n"), Err(Corruption::Text { .. })));
    assert!(matches!(
        parse(b"a = 99999999999999999999\n"),
        Err(Corruption::Text { .. })
    ));
    assert!(matches!(parse(b"a = 08\n"), Err(Corruption::Text { .. })));
    assert!(matches!(
        parse(b"a = \"open\n"),
        Err(Corruption::Text { .. })
    ));
    assert!(matches!(
        parse(b"a = [1, 2\n"),
        Err(Corruption::Text { .. })
    ));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let mut s = Vec::new();
    for _ in 0..100_000 {
        s.extend_from_slice(b"a {");
    }
    assert!(matches!(parse(&s), Err(Corruption::Text { .. })));
}

fn arb_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        any::<i64>()
            .prop_filter("lvm2 cannot write i64::MIN", |v| *v != i64::MIN)
            .prop_map(Value::Int),
        "[ -~]{0,12}".prop_map(Value::Str),
    ];
    prop_oneof![
        scalar.clone(),
        proptest::collection::vec(scalar, 0..4).prop_map(Value::Array)
    ]
}

fn arb_nodes(depth: u32) -> BoxedStrategy<Vec<Node>> {
    let key = "[a-z_][a-z0-9_]{0,8}";
    let setting = (key, arb_value()).prop_map(|(key, value)| Node::Setting { key, value });
    if depth == 0 {
        proptest::collection::vec(setting, 0..4).boxed()
    } else {
        let section =
            (key, arb_nodes(depth - 1)).prop_map(|(key, children)| Node::Section { key, children });
        proptest::collection::vec(prop_oneof![setting, section], 0..4).boxed()
    }
}

proptest! {
    #[test]
    fn write_then_parse_is_identity(nodes in arb_nodes(3)) {
        let tree = Tree { nodes };
        let text = write_raw(&tree);
        prop_assert_eq!(parse(text.as_bytes()).unwrap(), tree);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn borrowed_parse_equals_owned_parse(nodes in arb_nodes(3)) {
        let text = write_raw(&Tree { nodes });
        let owned = parse(text.as_bytes()).unwrap();
        prop_assert_eq!(parse_borrowed(text.as_bytes()).unwrap().to_owned_tree(), owned);
    }

    #[test]
    fn borrowed_parse_of_any_bytes_equals_owned_parse(
        bytes in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        let owned = parse(&bytes);
        let borrowed = parse_borrowed(&bytes).map(|t| t.to_owned_tree());
        prop_assert_eq!(format!("{borrowed:?}"), format!("{owned:?}"));
    }
}

/// Keys and strings without escapes are slices of the text; a string with
/// an escape is owned, and a text that is not UTF-8 reads as before.
#[test]
fn borrowed_tree_borrows_from_the_text() {
    use std::borrow::Cow;
    let text = b"vg {\nid = \"abc\"\nq = \"a\\\"b\"\nf = 1.5\nb = bare\n}\n";
    let t = parse_borrowed(text).unwrap();
    let Node::Section { key, children } = &t.nodes[0] else {
        panic!("not a section: {t:?}");
    };
    assert!(matches!(key, Cow::Borrowed("vg")));
    assert!(matches!(
        children.value("id"),
        Some(Value::Str(Cow::Borrowed("abc")))
    ));
    assert!(matches!(children.value("q"), Some(Value::Str(Cow::Owned(s))) if s == "a\"b"));
    assert!(matches!(
        children.value("f"),
        Some(Value::Float(Cow::Borrowed("1.5")))
    ));
    assert!(matches!(
        children.value("b"),
        Some(Value::Str(Cow::Borrowed("bare")))
    ));
    let latin1 = b"k = \"caf\xe9\"\n";
    assert_eq!(
        parse_borrowed(latin1).unwrap().to_owned_tree(),
        parse(latin1).unwrap()
    );
    assert_eq!(
        parse(latin1).unwrap().value("k"),
        Some(&Value::Str("caf\u{fffd}".into()))
    );
}

/// Found by the metadata_text fuzz target: an empty quoted key parsed, and
/// keys that are not plain words were written bare and did not parse back.
#[test]
fn fuzz_regression_keys() {
    assert!(matches!(parse(b"\"\" = 1\n"), Err(Corruption::Text { .. })));
    let t = parse(b"\"a b\" = 1\n\"x=\\\"y\" { z = 2 }\n").unwrap();
    assert_eq!(t.nodes[0].key(), "a b");
    assert_eq!(parse(write_raw(&t).as_bytes()).unwrap(), t);
    let crash = include_bytes!("../../tests/data/fuzz-metadata_text-c5dc2e9b");
    if let Ok(t) = parse(crash) {
        assert_eq!(parse(write_raw(&t).as_bytes()).unwrap(), t);
    }
}

#[test]
fn duplicated_counts_every_node_of_a_key() {
    let t = parse(b"a = 1\nb { }\na = 2\nb = 3\nc = 4\n").unwrap();
    assert!(t.duplicated("a"));
    assert!(t.duplicated("b"), "a section and a setting share the key");
    assert!(!t.duplicated("c"));
    assert!(!t.duplicated("d"));
    assert_eq!(t.value("a"), Some(&Value::Int(1)));
}

proptest! {
    /// The flat parser gives the tree's nodes whenever it accepts a text,
    /// and accepts every written text whose strings need no escape.
    #[test]
    fn flat_parse_equals_parse(nodes in arb_nodes(3)) {
        let text = write_raw(&Tree { nodes });
        let owned = parse(text.as_bytes()).unwrap();
        let escapes = text.contains('\\');
        match parse_flat(text.as_bytes()) {
            Some(f) => prop_assert_eq!(f.to_tree(), owned.clone()),
            None => prop_assert!(escapes, "refused {text:?}"),
        }
        prop_assert_eq!(Flat::from_tree(&owned).to_tree(), owned);
    }

    #[test]
    fn flat_parse_of_any_bytes_is_parse_or_none(
        bytes in proptest::collection::vec(
            prop_oneof![
                any::<u8>(),
                proptest::sample::select(b"{}[]=,\"'#\n 0.-+abz".to_vec()),
            ],
            0..300,
        )
    ) {
        if let Some(f) = parse_flat(&bytes) {
            prop_assert_eq!(Some(f.to_tree()), parse(&bytes).ok());
        }
    }
}

#[test]
fn flat_parse_refuses_what_it_does_not_borrow() {
    assert!(parse_flat(b"a = \"x\\\"y\"\n").is_none(), "escape");
    assert!(parse_flat(b"k = \"caf\xe9\"\n").is_none(), "not UTF-8");
    assert!(parse_flat(b"a = [1, 2\n").is_none(), "error");
    let f = parse_flat(b"v { a = 010\nb = [\"x\", 'y', z]\nc = -1.5 } d = 'q'\0 junk {").unwrap();
    assert_eq!(
        f.to_tree(),
        parse(b"v { a = 010\nb = [\"x\", 'y', z]\nc = -1.5 } d = 'q'\0").unwrap()
    );
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend_from_slice(b"a {");
    }
    assert!(parse_flat(&deep).is_none());
}
