//! Every golden recorded from real lvm2 in testdata/lvm2/corpus must come
//! out of lvmsim byte for byte, on the same images.

mod common;

#[test]
fn lvm2_corpus_matches() {
    let root = common::repo().join("testdata/lvm2/corpus");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("commands.txt").exists())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 5,
        "the corpus holds too few scenarios: {dirs:?}"
    );
    let mut all = Vec::new();
    let mut total = 0;
    for d in &dirs {
        let s = common::load(d);
        let (n, f) = common::replay(&s);
        total += n;
        all.extend(f);
    }
    eprintln!(
        "compared {total} lvm2 goldens over {} scenarios",
        dirs.len()
    );
    assert!(
        all.is_empty(),
        "{} of {total} goldens differ:\n{}",
        all.len(),
        all.join("\n")
    );
}
