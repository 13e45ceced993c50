//! Metadata texts lvm2 reads although they are odd, compared with what real
//! lvm2 2.03.16 printed for the same images.
//!
//! Each case starts from `lvmsim gen --seed 1 --profile small` (VG vg0 on
//! pv0.img and pv1.img), edits VG vg0's text and commits it with lvm-meta's
//! own writer (`commit::plan`: every metadata area, checksums computed):
//! - `duplicate_key`: lv1's segment1 says `extent_count = 3` and then
//!   `extent_count = 2`; lvm2 keeps the first and warns once per parse;
//! - `extent_size_zero`: the VG's `extent_size` is 0; lvm2 takes the VG and
//!   every size reads 0.
//!
//! The goldens in `testdata/lvm2/text-quirks/` were recorded by
//! `testdata/lvm2/text-quirks.sh`, which has this test keep its images
//! (`LVMSIM_KEEP_QUIRK_IMAGES=DIR`) and runs lvm2 on them through read-only
//! loop devices linked as /tmp/l2quirks/pv0.img and pv1.img.

use crate::common::{repo, scratch, Lvmsim};
use std::path::Path;

/// The device names lvm2 saw when the goldens were recorded.
const DEVDIR: &str = "/tmp/l2quirks";
const IMAGES: [&str; 2] = ["pv0.img", "pv1.img"];

/// Makes the gen directory `dir` and commits `edit` of VG vg0's text.
fn build(dir: &Path, edit: impl Fn(&str) -> String) {
    let o = Lvmsim::new()
        .args(["gen", "--seed", "1", "--profile", "small", "-o"])
        .arg(dir)
        .run();
    assert!(o.ok(), "gen: {}", o.stderr);
    let m = lvmsim::gen::read_manifest(dir).unwrap();
    let sys = lvmsim::mutate::scan_dir(&m, dir).unwrap();
    let inst = sys.vg("vg0").unwrap();
    let text = String::from_utf8(inst.text.strip_suffix(&[0]).unwrap().to_vec()).unwrap();
    let new = edit(&text);
    assert_ne!(new, text, "the edit changed nothing");
    let writes = lvm_meta::commit::plan(&sys, inst, &new).unwrap();
    for w in writes {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join(&m.images[w.device].file))
            .unwrap();
        f.write_all_at(&w.data, w.offset).unwrap();
    }
    if let Some(keep) = std::env::var_os("LVMSIM_KEEP_QUIRK_IMAGES") {
        let name = dir.file_name().unwrap();
        let to = Path::new(&keep).join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in IMAGES {
            std::fs::copy(dir.join(f), to.join(f)).unwrap();
        }
    }
}

/// Replaces the first line `from` of `text` by `to` (several lines).
fn replace_line(text: &str, from: &str, to: &str) -> String {
    let mut done = false;
    let mut out = String::new();
    for l in text.lines() {
        if !done && l.trim() == from {
            out.push_str(to);
            done = true;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    assert!(done, "no line {from:?}");
    out
}

/// One recorded command: its arguments, stdout, stderr and exit code.
struct Recorded {
    args: Vec<String>,
    stdout: String,
    stderr: String,
    status: i32,
}

/// Reads a golden: blocks of `### lvm ARGS`, stdout, `### stderr`, stderr,
/// `### exit N`.
fn goldens(case: &str) -> Vec<Recorded> {
    let p = repo()
        .join("testdata/lvm2/text-quirks")
        .join(format!("{case}.txt"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut out = Vec::new();
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(head) = lines.next() {
        let args = head
            .strip_prefix("### lvm ")
            .unwrap_or_else(|| panic!("{}: expected `### lvm`, got {head:?}", p.display()));
        let stdout = take_until(&mut lines, "### stderr");
        lines.next();
        let stderr = take_until(&mut lines, "### exit ");
        let status = lines
            .next()
            .and_then(|l| l.trim().strip_prefix("### exit "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: no exit code after {args:?}", p.display()));
        out.push(Recorded {
            args: args.split_whitespace().map(str::to_owned).collect(),
            stdout,
            stderr,
            status,
        });
    }
    assert!(!out.is_empty(), "{}: no commands", p.display());
    out
}

/// The lines before the next one starting with `until`, joined.
fn take_until<'a>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    until: &str,
) -> String {
    let mut s = String::new();
    while let Some(l) = lines.next_if(|l| !l.starts_with(until)) {
        s.push_str(l);
    }
    s
}

/// lvmsim on the images of `dir`, named as lvm2 saw them.
fn on(dir: &Path) -> Lvmsim {
    IMAGES.iter().fold(Lvmsim::new(), |l, f| {
        l.dev(&format!("{DEVDIR}/{f}"), &dir.join(f))
    })
}

/// Runs every recorded command through lvmsim and compares.
fn compare(case: &str, dir: &Path) {
    for r in goldens(case) {
        let o = on(dir).args(&r.args).run();
        let what = format!("{case}: lvmsim {}", r.args.join(" "));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            r.stdout,
            "{what}: stdout"
        );
        assert_eq!(o.stderr, r.stderr, "{what}: stderr");
        assert_eq!(o.status, r.status, "{what}: exit code");
    }
}

#[test]
fn duplicate_key_warns_and_keeps_the_first() {
    let t = scratch();
    let dir = t.path().join("duplicate_key");
    build(&dir, |text| {
        let text = replace_line(text, "seqno = 3", "seqno = 4");
        replace_line(
            &text,
            "extent_count = 3",
            "extent_count = 3\nextent_count = 2",
        )
    });
    compare("duplicate_key", &dir);
}

#[test]
fn extent_size_zero_reads_as_size_zero() {
    let t = scratch();
    let dir = t.path().join("extent_size_zero");
    build(&dir, |text| {
        let text = replace_line(text, "seqno = 3", "seqno = 4");
        replace_line(&text, "extent_size = 2048", "extent_size = 0")
    });
    compare("extent_size_zero", &dir);
    // No mapping exists: reading or writing an LV fails with a reason
    // instead of giving (or taking) bytes.
    for args in [
        vec!["cat", "vg0/lv1"],
        vec!["write", "vg0/lv2", "--offset", "0", "--input", "/dev/null"],
        vec!["lvextend", "-l+1", "vg0/lv1"],
        vec!["lvcreate", "-L", "1m", "-n", "new", "vg0"],
    ] {
        let o = on(&dir).args(&args).run();
        assert!(!o.ok(), "lvmsim {args:?} succeeded");
        assert!(o.stdout.is_empty(), "lvmsim {args:?} wrote data");
        assert_eq!(
            o.stderr, "  VG vg0: extent_size is 0, so its LVs map no data\n",
            "lvmsim {args:?}"
        );
    }
}
