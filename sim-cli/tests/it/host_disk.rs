//! When the host's disk fails under a command: a write that gets ENOSPC or
//! EIO (injected with `LVMSIM_FAIL_AFTER`/`LVMSIM_FAIL_ERRNO` at every
//! write in turn, and for real on a full tmpfs), images on a read-only
//! mount or immutable, and an image shorter than its PV. Every command must
//! exit with status 5, name the image and the offset, and leave the old or
//! the new state, with every LV's data as promised.

use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IMAGES: [&str; 2] = ["a.img", "b.img"];
const IMAGE_SIZE: u64 = 16 << 20;

/// A pattern that differs from `seed`'s other patterns at every 512 bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

fn run_in(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lvmsim"));
    for n in IMAGES {
        c.arg("--dev").arg(dir.join(n));
    }
    c.args(args)
        .env("LVMSIM_DETERMINISTIC", "1")
        .env_remove("LVMSIM_CRASH_AFTER")
        .env_remove("LVMSIM_FAIL_AFTER")
        .env_remove("LVMSIM_FAIL_ERRNO")
        .env_remove("LVMSIM_WRITE_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok_in(dir: &Path, args: &[&str]) -> Output {
    let o = run_in(dir, args, &[]);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A set of images in its own directory.
struct Set {
    dir: tempfile::TempDir,
}

impl Set {
    fn blank() -> Set {
        let dir = crate::common::scratch();
        for n in IMAGES {
            std::fs::File::create(dir.path().join(n))
                .unwrap()
                .set_len(IMAGE_SIZE)
                .unwrap();
        }
        Set { dir }
    }

    fn copy(&self) -> Set {
        let dir = crate::common::scratch();
        for n in IMAGES {
            crate::common::copy_sparse(&self.dir.path().join(n), &dir.path().join(n));
        }
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if name.to_string_lossy().ends_with(".in") {
                std::fs::copy(e.path(), dir.path().join(name)).unwrap();
            }
        }
        Set { dir }
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }

    /// `args` with `@NAME` replaced by the path of file NAME in the set.
    fn args(&self, args: &str) -> Vec<String> {
        args.split_whitespace()
            .map(|a| match a.strip_prefix('@') {
                Some(n) => self.path(n).display().to_string(),
                None => a.to_owned(),
            })
            .collect()
    }

    fn run(&self, args: &str, env: &[(&str, String)]) -> Output {
        let a = self.args(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run_in(self.dir.path(), &a, env)
    }

    fn ok(&self, args: &str) {
        let a = self.args(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ok_in(self.dir.path(), &a);
    }

    /// The VG's metadata as reported, and every LV's bytes (by name): the
    /// library's `vgs`, `lvs` and `cat` (what the binary prints), called in
    /// this process.
    fn state(&self) -> Result<State, String> {
        use lvmsim::report::{Kind, Options};
        let images: Vec<(&str, PathBuf)> = IMAGES.iter().map(|n| (*n, self.path(n))).collect();
        let s = lvmsim::api::Session::open(&images, lvmsim::context::Context::deterministic())
            .map_err(|e| format!("scan: {e}"))?;
        // lvm2 warns of a copy left behind by a cut commit, and uses the
        // newest: only that warning is expected.
        if let Some(p) = s
            .system()
            .problems
            .iter()
            .find(|p| !p.error.to_string().contains("ignoring metadata seqno"))
        {
            return Err(format!("scan: {}", p.error));
        }
        let mut report = Vec::new();
        // Not the seqno: a command that undoes its first commit (lvm2's
        // revert of a new LV it could not wipe) leaves the old VG with a
        // higher one.
        for (kind, fields) in [
            (Kind::Vg, "vg_name,lv_count,vg_free_count"),
            (
                Kind::Seg,
                "lv_name,lv_attr,origin,seg_start_pe,seg_pe_ranges",
            ),
        ] {
            let opts = Options {
                all: kind == Kind::Seg,
                segments: kind == Kind::Seg,
                fields: vec![fields.to_owned()],
                json: true,
                ..Options::default()
            };
            let r = if kind == Kind::Vg {
                s.vgs(&opts)
            } else {
                s.lvs(&opts)
            };
            r.and_then(|r| r.write(&mut report))
                .map_err(|e| format!("{kind:?} report: {e}"))?;
        }
        let lvs = s
            .lvs(&Options {
                all: true,
                fields: vec!["lv_name,lv_attr".to_owned()],
                names: vec!["vg".to_owned()],
                ..Options::default()
            })
            .map_err(|e| format!("lvs: {e}"))?;
        let mut data = Vec::new();
        for row in 0..lvs.len() {
            let (Some(name), Some(attr)) = (lvs.text(row, "lv_name"), lvs.text(row, "lv_attr"))
            else {
                continue;
            };
            if name.starts_with('[') {
                continue;
            }
            let mut bytes = Vec::new();
            let got = lvmsim::data::cat(
                s.system(),
                &format!("vg/{name}"),
                0,
                None,
                false,
                &mut bytes,
            );
            data.push((
                name.to_owned(),
                got.map(|()| bytes).map_err(|e| format!("{attr}: {e}")),
            ));
        }
        Ok(State {
            report: String::from_utf8(report).unwrap(),
            data,
        })
    }

    fn sha(&self) -> Vec<Vec<u8>> {
        IMAGES
            .iter()
            .map(|n| sha2::Sha256::digest(std::fs::read(self.path(n)).unwrap()).to_vec())
            .collect()
    }
}

/// What the tools show of a set.
#[derive(Debug, Clone, PartialEq)]
struct State {
    report: String,
    data: Vec<(String, Result<Vec<u8>, String>)>,
}

impl State {
    fn lv(&self, name: &str) -> Option<&Result<Vec<u8>, String>> {
        self.data.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }
}

/// How many writes a command makes (its write log's entries).
fn count_writes(s: &Set, cmd: &str) -> u64 {
    let c = s.copy();
    let log = c.path("writes.log");
    let o = c.run(cmd, &[("LVMSIM_WRITE_LOG", log.display().to_string())]);
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let b = std::fs::read(&log).unwrap_or_default();
    let mut at = 0;
    let mut n = 0;
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    while at < b.len() {
        let pl = u32_at(at);
        let dl = u32_at(at + 4 + pl + 8);
        at += 4 + pl + 8 + 4 + dl;
        n += 1;
    }
    n
}

/// True when `err` names one of the images and a byte offset in it.
fn names_image_and_offset(err: &str) -> bool {
    let image = IMAGES.iter().any(|n| err.contains(n));
    let offset = err.match_indices(" at ").any(|(i, _)| {
        let rest = err[i + 4..].trim_start_matches("byte ");
        rest.starts_with(|c: char| c.is_ascii_digit())
    });
    image && offset
}

/// The data of LV `name` in a cut state is the old or the new data, or
/// (`mixed`: a write interrupted part-way) each byte is the old or the new.
fn data_ok(
    name: &str,
    got: &[u8],
    old: Option<&Vec<u8>>,
    new: Option<&Vec<u8>>,
    mixed: bool,
) -> bool {
    if old.is_some_and(|o| o == got) || new.is_some_and(|n| n == got) {
        return true;
    }
    match (mixed, old, new) {
        (true, Some(o), Some(n)) if o.len() == got.len() && n.len() == got.len() => got
            .iter()
            .zip(o.iter().zip(n))
            .all(|(g, (o, n))| g == o || g == n),
        _ => {
            eprintln!("{name}: neither old nor new data");
            false
        }
    }
}

/// One command under test, from the state `base` leaves.
struct Case {
    cmd: &'static str,
    /// The states between commits a command of several commits may leave
    /// (as lvm2 would): accepted when they read cleanly.
    commits: usize,
    /// A data write (an interrupted one leaves a mix of old and new bytes).
    mixed: bool,
    /// LVs a state between commits shows as plain LVs holding a store's raw
    /// bytes (lvremove detaches a snapshot's COW in its first commit, as
    /// lvm2 does): their data is not compared there.
    raw: &'static [&'static str],
}

/// Fails write k+1 of `case.cmd` with `errno`, for every k; returns the
/// number of runs.
fn fail_everywhere(base: &Set, case: &Case, errno: &str, report: &mut Vec<String>) -> u64 {
    let old = base.state().expect("state before");
    let after = base.copy();
    after.ok(case.cmd);
    let new = after.state().expect("state after");
    assert_ne!(old, new, "{}: changed nothing", case.cmd);
    let n = count_writes(base, case.cmd);
    assert!(n > 0, "{}: no writes", case.cmd);
    let mut between = 0;
    let mut invalidated = 0;
    for k in 0..n {
        let s = base.copy();
        let o = s.run(
            case.cmd,
            &[
                ("LVMSIM_FAIL_AFTER", k.to_string()),
                ("LVMSIM_FAIL_ERRNO", errno.to_owned()),
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        let at = format!("{} with {errno} at write {} of {n}", case.cmd, k + 1);
        let st = s
            .state()
            .unwrap_or_else(|e| panic!("{at}: unreadable: {e}"));
        let invalid = |name: &str| {
            st.lv(name)
                .is_some_and(|r| r.as_ref().is_err_and(|e| e.contains("is invalid")))
        };
        if o.status.success() && case.mixed {
            // As the kernel: a failed write to a snapshot's store
            // invalidates the snapshot, and the origin's write goes on.
            assert!(invalid("s"), "{at}: succeeded, snapshot still valid");
            assert_eq!(
                st.lv("o").and_then(|r| r.as_ref().ok()),
                new.lv("o").and_then(|r| r.as_ref().ok()),
                "{at}"
            );
            invalidated += 1;
            continue;
        }
        assert_eq!(o.status.code(), Some(5), "{at}: {err}");
        let text = if errno == "ENOSPC" {
            "No space left on device"
        } else {
            "Input/output error"
        };
        assert!(err.contains(text), "{at}: {err}");
        assert!(
            names_image_and_offset(&err),
            "{at}: names no image or offset: {err}"
        );
        let between_now = st.report != old.report && st.report != new.report;
        if between_now {
            assert!(
                case.commits > 1,
                "{at}: a state neither old nor new:\n{}\nold:\n{}\nnew:\n{}",
                st.report,
                old.report,
                new.report
            );
            between += 1;
        }
        for (name, d) in &st.data {
            if between_now && case.raw.contains(&name.as_str()) {
                continue;
            }
            fn want<'a>(s: &'a State, name: &str) -> Option<&'a Vec<u8>> {
                s.lv(name).and_then(|r| r.as_ref().ok())
            }
            match d {
                Ok(got) => assert!(
                    data_ok(name, got, want(&old, name), want(&new, name), case.mixed),
                    "{at}: LV {name} holds neither its old nor its new data"
                ),
                // A snapshot that merges cannot be read (as the kernel).
                // A snapshot whose store failed a write is invalidated.
                Err(e) => assert!(
                    e.starts_with('S')
                        || old.lv(name).is_some_and(|r| r.is_err())
                        || (case.mixed && invalid(name)),
                    "{at}: LV {name} unreadable: {e}"
                ),
            }
        }
    }
    report.push(format!(
        "{} {errno}: {n} writes, {between} between commits, {invalidated} invalidated a snapshot",
        case.cmd
    ));
    n
}

/// The VG every case starts from: an origin with data on two images.
fn base() -> Set {
    let s = Set::blank();
    s.ok("vgcreate -s 1M vg @a.img @b.img");
    s.ok("lvcreate -n o -L 4M vg");
    std::fs::write(s.path("one.in"), pattern(4 << 20, 1)).unwrap();
    std::fs::write(s.path("two.in"), pattern(48 << 10, 2)).unwrap();
    std::fs::write(s.path("three.in"), pattern(200 << 10, 3)).unwrap();
    s.ok("write vg/o --offset 0 --input @one.in");
    s
}

/// `base` with a 64 KiB-chunk snapshot of the origin and part of the
/// origin rewritten since.
fn with_snapshot() -> Set {
    let s = base().copy();
    s.ok("lvcreate -s -c 64k -n s -L 2M vg/o");
    s.ok("write vg/o --offset 8192 --input @two.in");
    s
}

#[test]
fn every_write_fails_with_enospc_and_eio_and_leaves_old_or_new() {
    let plain = base();
    let snap = with_snapshot();
    let pending = snap.copy();
    pending.ok("lvconvert --merge vg/s");
    let cases: [(&Set, Case); 9] = [
        (
            &plain,
            Case {
                cmd: "lvcreate -n n -L 3M vg",
                commits: 1,
                mixed: false,
                raw: &[],
            },
        ),
        (
            &plain,
            Case {
                cmd: "lvextend -L +2M vg/o",
                commits: 1,
                mixed: false,
                raw: &[],
            },
        ),
        (
            &plain,
            Case {
                cmd: "lvrename vg o p",
                commits: 1,
                mixed: false,
                raw: &[],
            },
        ),
        (
            &plain,
            Case {
                cmd: "lvremove -y vg/o",
                commits: 1,
                mixed: false,
                raw: &[],
            },
        ),
        (
            &plain,
            Case {
                cmd: "lvcreate -s -c 64k -n s -L 2M vg/o",
                commits: 2,
                mixed: false,
                raw: &[],
            },
        ),
        (
            &snap,
            Case {
                cmd: "lvremove -y vg/s",
                commits: 2,
                mixed: false,
                raw: &["s"],
            },
        ),
        (
            &snap,
            Case {
                cmd: "lvconvert --merge --now vg/s",
                commits: 3,
                mixed: false,
                raw: &["s"],
            },
        ),
        (
            &pending,
            Case {
                cmd: "vgchange -ay vg",
                commits: 2,
                mixed: false,
                raw: &["s"],
            },
        ),
        (
            &snap,
            Case {
                cmd: "write vg/o --offset 70000 --input @three.in",
                commits: 1,
                mixed: true,
                raw: &[],
            },
        ),
    ];
    let mut report = Vec::new();
    let mut total = 0;
    for (set, case) in &cases {
        for errno in ["ENOSPC", "EIO"] {
            total += fail_everywhere(set, case, errno, &mut report);
        }
    }
    eprintln!("injected failures: {total}\n{}", report.join("\n"));
    assert!(total > 100, "only {total} injected failures");
}

/// A mount made for a test, undone on drop (also on a panic).
struct Mount(PathBuf);

impl Mount {
    fn new(args: &[&str], at: &Path) -> Mount {
        let o = Command::new("mount").args(args).arg(at).output();
        match o {
            Ok(o) if o.status.success() => Mount(at.to_owned()),
            Ok(o) => panic!(
                "mount {args:?} {} failed (these tests need root and mount(2)): {}",
                at.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("cannot run mount: {e}"),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_tmpfs_stops_commands_with_old_or_new_state() {
    let top = tempfile::tempdir().unwrap();
    let mnt = top.path().join("fs");
    std::fs::create_dir(&mnt).unwrap();
    let _m = Mount::new(&["-t", "tmpfs", "-o", "size=2m", "tmpfs"], &mnt);
    // Two sparse 16 MiB images on a 2 MiB filesystem.
    for n in IMAGES {
        std::fs::File::create(mnt.join(n))
            .unwrap()
            .set_len(IMAGE_SIZE)
            .unwrap();
    }
    ok_in(
        &mnt,
        &[
            "vgcreate",
            "-s",
            "1M",
            "vg",
            &mnt.join("a.img").display().to_string(),
            &mnt.join("b.img").display().to_string(),
        ],
    );
    ok_in(&mnt, &["lvcreate", "-n", "o", "-L", "8M", "vg"]);
    // Fill the rest of the filesystem.
    let mut fill = std::fs::File::create(mnt.join("fill")).unwrap();
    let block = vec![0xa5u8; 4096];
    loop {
        use std::io::Write;
        if fill.write_all(&block).is_err() {
            break;
        }
    }
    drop(fill);
    let before_lvs = ok_in(&mnt, &["lvs", "-a", "--reportformat", "json"]).stdout;
    let input = top.path().join("data.in");
    std::fs::write(&input, pattern(4 << 20, 7)).unwrap();

    // A write to the LV: the images cannot grow by 4 MiB.
    let o = run_in(
        &mnt,
        &[
            "write",
            "vg/o",
            "--offset",
            "0",
            "--input",
            &input.display().to_string(),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "write on a full tmpfs: {err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        names_image_and_offset(&err),
        "names no image or offset: {err}"
    );
    eprintln!("write on a full tmpfs: {err}");
    let lvs = ok_in(&mnt, &["lvs", "-a", "--reportformat", "json"]).stdout;
    assert_eq!(lvs, before_lvs);
    // The LV holds the new bytes up to where the disk filled, then zeros
    // (its old contents): each byte old or new.
    let got = ok_in(&mnt, &["cat", "vg/o"]).stdout;
    let new = pattern(4 << 20, 7);
    assert!(got[..4 << 20]
        .iter()
        .zip(&new)
        .all(|(g, n)| g == n || *g == 0));
    assert!(got[4 << 20..].iter().all(|b| *b == 0));

    // Metadata commands: every one either completes or leaves the old state.
    for cmd in [
        vec!["lvcreate", "-n", "n", "-L", "3M", "vg"],
        vec!["lvcreate", "-s", "-n", "s", "-L", "2M", "vg/o"],
        vec!["lvextend", "-L", "+4M", "vg/o"],
    ] {
        let pre = ok_in(
            &mnt,
            &[
                "vgs",
                "-o",
                "vg_name,vg_seqno,lv_count",
                "--reportformat",
                "json",
            ],
        )
        .stdout;
        let o = run_in(&mnt, &cmd, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        eprintln!(
            "{cmd:?} on a full tmpfs: status {:?} {err}",
            o.status.code()
        );
        let post = run_in(
            &mnt,
            &[
                "vgs",
                "-o",
                "vg_name,vg_seqno,lv_count",
                "--reportformat",
                "json",
            ],
            &[],
        );
        assert!(
            post.status.success() && post.stderr.is_empty(),
            "{cmd:?}: unreadable after"
        );
        if o.status.success() {
            assert_ne!(post.stdout, pre, "{cmd:?}");
        } else {
            assert_eq!(post.stdout, pre, "{cmd:?} failed but changed the VG");
            assert_eq!(o.status.code(), Some(5));
            assert!(err.contains("No space left on device"), "{err}");
            assert!(
                names_image_and_offset(&err),
                "names no image or offset: {err}"
            );
        }
    }
}

#[test]
fn read_only_images_refuse_writing_commands_and_change_nothing() {
    let s = with_snapshot();
    let ro = tempfile::tempdir().unwrap();
    let _m = Mount::new(&["--bind", &s.dir.path().display().to_string()], ro.path());
    let o = Command::new("mount")
        .args(["-o", "remount,ro,bind"])
        .arg(ro.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "remount ro: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sha = s.sha();
    let dir = ro.path();
    let a = |n: &str| dir.join(n).display().to_string();
    for cmd in [
        "lvcreate -n n -L 3M vg",
        "lvextend -L +2M vg/o",
        "lvrename vg o p",
        "lvremove -y vg/s",
        "lvcreate -s -n t -L 1M vg/o",
        "lvconvert --merge vg/s",
        "vgrename vg vh",
        "write vg/o --offset 0 --input @one.in",
        "lvchange --addtag x vg/o",
        "vgremove -f vg",
    ] {
        let args: Vec<String> = cmd
            .split_whitespace()
            .map(|w| {
                w.strip_prefix('@')
                    .map_or(w.to_owned(), |n| s.path(n).display().to_string())
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_in(dir, &args, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(5),
            "{cmd} on a read-only mount: {err}"
        );
        assert!(
            err.contains("cannot open for writing: Read-only file system"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains(&a("a.img")) || err.contains(&a("b.img")),
            "{cmd}: {err}"
        );
        assert!(
            o.stdout.is_empty(),
            "{cmd} printed {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert_eq!(s.sha(), sha, "{cmd} changed an image");
    }
    // A new VG on a read-only image: the implicit pvcreate refuses before
    // writing anything.
    let fresh = Set::blank();
    let ro2 = tempfile::tempdir().unwrap();
    let _m2 = Mount::new(
        &["--bind", &fresh.dir.path().display().to_string()],
        ro2.path(),
    );
    assert!(Command::new("mount")
        .args(["-o", "remount,ro,bind"])
        .arg(ro2.path())
        .status()
        .unwrap()
        .success());
    let fsha = fresh.sha();
    let o = run_in(
        ro2.path(),
        &[
            "vgcreate",
            "vg",
            &ro2.path().join("a.img").display().to_string(),
            &ro2.path().join("b.img").display().to_string(),
        ],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(fresh.sha(), fsha);
    // Reading commands work.
    for cmd in [
        vec!["lvs", "-a"],
        vec!["vgs"],
        vec!["pvs"],
        vec!["cat", "vg/s"],
        vec!["vgcfgbackup", "-f", "/dev/null", "vg"],
        vec!["vgchange", "-ay", "vg"],
        vec!["dmsetup", "table"],
    ] {
        let o = run_in(dir, &cmd, &[]);
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(s.sha(), sha);
}

#[test]
fn an_immutable_image_refuses_writing_commands() {
    let s = with_snapshot();
    let b = s.path("b.img");
    let o = Command::new("chattr").arg("+i").arg(&b).output();
    match o {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("chattr +i failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("cannot run chattr: {e}"),
    }
    struct Unset(PathBuf);
    impl Drop for Unset {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        }
    }
    let _u = Unset(b.clone());
    let sha = s.sha();
    for cmd in [
        "lvcreate -n n -L 3M vg",
        "lvcreate -s -n t -L 1M vg/o",
        "lvconvert --merge vg/s",
        "write vg/o --offset 0 --input @two.in",
    ] {
        let o = s.run(cmd, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(5), "{cmd}: {err}");
        assert!(
            err.contains(&format!("{}: cannot open for writing", b.display())),
            "{cmd}: {err}"
        );
        assert_eq!(s.sha(), sha, "{cmd} changed an image");
    }
    assert!(s.run("lvs -a", &[]).status.success());
}

#[test]
fn an_image_shorter_than_its_pv_reads_and_refuses_what_does_not_fit() {
    let s = base();
    s.ok("lvcreate -n tail -l 100%FREE vg");
    // Cut b.img in half: the end of its PV (and of LV tail) is gone.
    let b = std::fs::OpenOptions::new()
        .write(true)
        .open(s.path("b.img"))
        .unwrap();
    b.set_len(IMAGE_SIZE / 2).unwrap();
    drop(b);
    let o = s.run("lvs -a", &[]);
    eprintln!(
        "lvs on a truncated image: status {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.code().is_some(), "killed by a signal");
    let o = s.run("cat vg/tail", &[]);
    eprintln!(
        "cat of an LV past the image's end: status {:?} {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.code().is_some(), "killed by a signal");
    let o = s.run("cat vg/o", &[]);
    assert!(o.status.code().is_some(), "killed by a signal");
    // A write to the part of LV tail past b.img's end (tail starts with
    // b's extents; b's data starts at 1 MiB, so the LV's bytes from 7 MiB
    // on are gone) fails and does not grow the image.
    let o = s.run("write vg/tail --offset 8392704 --input @two.in", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!(
        "write past the image's end: status {:?} {err}",
        o.status.code()
    );
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("b.img"), "{err}");
    assert_eq!(
        std::fs::metadata(s.path("b.img")).unwrap().len(),
        IMAGE_SIZE / 2,
        "the image grew"
    );
    // Metadata commands still work on what the images hold (lvm2 only
    // warns of the short device).
    let o = s.run("lvrename vg o p", &[]);
    eprintln!(
        "lvrename with a truncated image: status {:?} {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.code().is_some(), "killed by a signal");
    assert_eq!(
        std::fs::metadata(s.path("b.img")).unwrap().len(),
        IMAGE_SIZE / 2,
        "the image grew"
    );
}
