//! docs/snapshot-tutorial.md runs as written: its `sh` blocks, joined in
//! order, run under `bash -e` in an empty folder with this build's lvmsim
//! first on the PATH; every picture they make parses as SVG, and every line
//! of the page's `text` blocks (what the page says the commands print) is
//! among what they printed, so the page cannot drift from the program.
//! Whether the pictures and numbers are right is checked against the
//! kernel in teach.rs.

use crate::common;
use std::path::Path;

/// The page's fenced blocks of one kind, in order.
fn blocks(page: &str, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in page.lines() {
        match (&mut cur, line.strip_prefix("```")) {
            (None, Some(k)) if k == kind => cur = Some(String::new()),
            (Some(_), Some("")) => out.push(cur.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_tutorial_runs_as_written() {
    let page = std::fs::read_to_string(common::repo().join("docs/snapshot-tutorial.md")).unwrap();
    let script = blocks(&page, "sh").join("");
    assert!(script.contains("lvmsim plan"), "{script}");
    let dir = common::scratch();
    let bin = Path::new(env!("CARGO_BIN_EXE_lvmsim")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = std::process::Command::new("bash")
        .args(["-e", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("LVMSIM_DEVICES")
        .output()
        .expect("bash");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{printed}");
    let printed: Vec<&str> = printed.lines().map(str::trim_end).collect();
    for b in blocks(&page, "text") {
        for line in b.lines() {
            assert!(
                printed.contains(&line.trim_end()),
                "the page shows {line:?}, the commands did not print it:\n{}",
                printed.join("\n")
            );
        }
    }
    // The committed chart is the one the page's command makes.
    let plot = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(
        plot(&dir.path().join("plot.svg")),
        plot(&common::repo().join("docs/snapshot-tutorial/plot.svg")),
        "docs/snapshot-tutorial/plot.svg is not what the page's plot command makes"
    );
    for svg in ["vg", "snap", "vg-after", "big", "plot"] {
        for p in [
            dir.path().join(format!("{svg}.svg")),
            common::repo().join(format!("docs/snapshot-tutorial/{svg}.svg")),
        ] {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}
