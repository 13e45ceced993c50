//! lvm2 selections (`-S`): any text is parsed or refused with a message,
//! never a panic; a parsed selection evaluates on rows of every field type,
//! gives the same answer twice, and names only catalogue fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvmsim::fields::{FieldType, CATALOGUE};
use lvmsim::select::{catalogue_field, parse, SelValue, PERCENT_1, UNDEF};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the row's values; the rest is the selection.
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let sel = match parse(&text, &catalogue_field) {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            assert!(e.stderr.starts_with("  ") && e.stderr.ends_with('\n'));
            return;
        }
    };
    let mut row = |id: usize| {
        assert!(id < CATALOGUE.len(), "selection names field {id}");
        let n = u64::from(pick);
        match CATALOGUE[id].ty {
            FieldType::Str => {
                SelValue::Str(["", "lin", "vg_f1", "-wi-a-----"][pick as usize % 4].into())
            }
            FieldType::StrList => SelValue::List(match pick % 3 {
                0 => vec![],
                1 => vec!["db".into()],
                _ => vec!["db".into(), "web".into()],
            }),
            FieldType::Num | FieldType::Bin | FieldType::SNum => {
                SelValue::Num(if pick & 1 == 0 { n } else { UNDEF })
            }
            FieldType::Size => SelValue::Size(match pick % 3 {
                0 => n as f64 * 2048.0,
                1 => f64::NAN,
                _ => u64::MAX as f64,
            }),
            FieldType::Pct => SelValue::Pct(if pick & 1 == 0 {
                n * PERCENT_1 / 3
            } else {
                UNDEF
            }),
            FieldType::Time => SelValue::Time(i64::from(pick) * 86_400 * 97),
        }
    };
    let a = sel.matches(&mut row);
    let b = sel.matches(&mut row);
    assert_eq!(a, b, "a selection gave two answers for one row");
});
