//! lvmsim processes on the same image at the same time: two `lvcreate`
//! loops, an `lvs` loop and a `write` loop. With the image locks (the
//! default) every LV a writer reported created is in the VG afterwards and
//! every reader saw whole metadata; with `--nolocking` the writers'
//! metadata-ring writes interleave and the VG is lost, which shows the race
//! is real on this machine. Also: `--lock-opt nowait` fails at once naming
//! the image and the holder, and a waiting command says whom it waits for.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PER_WRITER: usize = 40;
const ORIGIN_WRITES: u8 = 20;

fn lvmsim(img: &Path, extra: &[&str], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lvmsim"));
    c.env_remove("LVMSIM_DEVICES")
        .env_remove("LVMSIM_DETERMINISTIC")
        .arg("--dev")
        .arg(img)
        .args(extra)
        .args(args);
    c
}

fn run(img: &Path, extra: &[&str], args: &[&str]) -> Output {
    lvmsim(img, extra, args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A 400 MiB sparse image holding VG `vg` with a 4 MiB LV `origin`.
fn new_vg(dir: &Path) -> PathBuf {
    let img = dir.join("d.img");
    File::create(&img)
        .unwrap()
        .set_len(400 << 20)
        .expect("sparse image");
    for args in [
        &["vgcreate", "vg", img.to_str().unwrap()][..],
        &["lvcreate", "-an", "-Zn", "-n", "origin", "-L", "4m", "vg"][..],
    ] {
        let o = run(&img, &[], args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    }
    img
}

/// Runs the writers, the reader and the origin writer at once and returns
/// what went wrong (empty: nothing). `extra` goes before each command.
fn race(dir: &Path, extra: &'static [&'static str]) -> Vec<String> {
    let img = new_vg(dir);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|prefix| {
            let img = img.clone();
            std::thread::spawn(move || {
                let mut created = Vec::new();
                for i in 0..PER_WRITER {
                    let name = format!("{prefix}{i}");
                    let o = run(
                        &img,
                        extra,
                        &["lvcreate", "-an", "-Zn", "-n", &name, "-L", "4m", "vg"],
                    );
                    if text(&o.stdout).contains(&format!("Logical volume \"{name}\" created.")) {
                        created.push(name);
                    }
                }
                created
            })
        })
        .collect();
    let reader = {
        let (img, done) = (img.clone(), done.clone());
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || runs == 0 {
                runs += 1;
                let o = run(&img, extra, &["lvs", "--noheadings", "-o", "lv_name"]);
                let err = text(&o.stderr);
                let unexpected = err
                    .lines()
                    .any(|l| !l.contains("lvmsim: waiting for the lock"));
                if !o.status.success() || unexpected {
                    bad.push(format!("lvs run {runs}: exit {:?}: {err}", o.status.code()));
                }
            }
            bad
        })
    };
    let origin = {
        let img = img.clone();
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            for v in 1..=ORIGIN_WRITES {
                let data = dir_file(&img, v);
                let o = run(
                    &img,
                    extra,
                    &["write", "vg/origin", "--input", data.to_str().unwrap()],
                );
                if !o.status.success() {
                    bad.push(format!("write {v}: {}", text(&o.stderr)));
                }
            }
            bad
        })
    };
    let created: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let mut problems = origin.join().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    problems.extend(reader.join().unwrap());

    // The VG afterwards.
    let o = run(&img, &[], &["lvs", "--noheadings", "-o", "lv_name"]);
    let listed: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect();
    if !o.status.success() || !o.stderr.is_empty() {
        problems.push(format!("final lvs: {}", text(&o.stderr)));
    }
    if created.len() != 2 * PER_WRITER {
        problems.push(format!(
            "{} of {} lvcreate runs reported success",
            created.len(),
            2 * PER_WRITER
        ));
    }
    let lost: Vec<&String> = created.iter().filter(|n| !listed.contains(n)).collect();
    if !lost.is_empty() {
        problems.push(format!("reported created but not in the VG: {lost:?}"));
    }
    if listed.len() != 2 * PER_WRITER + 1 {
        problems.push(format!("lvs lists {} LVs: {listed:?}", listed.len()));
    }
    for args in [
        &["vgcfgbackup", "vg"][..],
        &["pvck", img.to_str().unwrap()][..],
    ] {
        let o = run(&img, &[], args);
        if !o.status.success() || !o.stderr.is_empty() {
            problems.push(format!("{args:?}: {}", text(&o.stderr)));
        }
    }
    let o = run(&img, &[], &["cat", "vg/origin", "--length", "4096"]);
    if o.stdout != vec![ORIGIN_WRITES; 4096] {
        problems.push(format!("origin after the writes: {}", text(&o.stderr)));
    }
    problems
}

/// A 4 KiB file of byte `v` beside the image.
fn dir_file(img: &Path, v: u8) -> PathBuf {
    let p = img.with_file_name(format!("data{v}"));
    std::fs::write(&p, vec![v; 4096]).unwrap();
    p
}

#[test]
fn concurrent_writers_lose_nothing_under_the_locks() {
    let dir = crate::common::scratch();
    let problems = race(dir.path(), &[]);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The same run without locks must go wrong, or the test above proves
/// nothing. A race can miss, so up to three tries.
#[test]
fn without_locks_the_same_run_corrupts_the_vg() {
    for _ in 0..3 {
        let dir = crate::common::scratch();
        let problems = race(dir.path(), &["--nolocking"]);
        if !problems.is_empty() {
            let n = problems.len();
            let first = &problems[..n.min(4)];
            eprintln!("without locks, as expected ({n} problems): {first:#?}");
            return;
        }
    }
    panic!("three unlocked runs went right: the race test cannot tell locks from luck");
}

#[test]
fn nowait_fails_at_once_naming_the_image_and_holder() {
    let dir = crate::common::scratch();
    let img = new_vg(dir.path());
    let me = std::process::id();
    let held = File::open(&img).unwrap();

    // A reader holds the image: readers go on, writers fail.
    held.lock_shared().unwrap();
    let o = run(
        &img,
        &["--lock-opt", "nowait"],
        &["lvs", "--noheadings", "-o", "lv_name"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), "origin");
    let o = run(
        &img,
        &["--lock-opt", "nowait"],
        &["lvcreate", "-an", "-n", "x", "-L", "4m", "vg"],
    );
    assert_eq!(o.status.code(), Some(5));
    let err = text(&o.stderr);
    assert!(err.contains(&img.display().to_string()), "{err}");
    assert!(err.contains(&format!("pid {me}")), "{err}");
    assert!(o.stdout.is_empty());

    // A writer holds it: readers fail too; NAME=PATH locks PATH.
    held.unlock().unwrap();
    held.lock().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .env_remove("LVMSIM_DEVICES")
        .arg("--dev")
        .arg(format!("/dev/sdz={}", img.display()))
        .args(["--lock-opt", "nowait", "lvs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&format!("pid {me}")));

    // --nolocking ignores the lock.
    let o = run(&img, &["--nolocking", "--lock-opt", "nowait"], &["lvs"]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    // Nothing changed while it was refused.
    held.unlock().unwrap();
    let o = run(&img, &[], &["lvs", "--noheadings", "-o", "lv_name"]);
    assert_eq!(text(&o.stdout).trim(), "origin");
}

#[test]
fn a_blocked_command_says_whom_it_waits_for_then_runs() {
    let dir = crate::common::scratch();
    let img = new_vg(dir.path());
    let held = File::open(&img).unwrap();
    held.lock_shared().unwrap();
    let mut child = lvmsim(
        &img,
        &[],
        &["lvcreate", "-an", "-Zn", "-n", "late", "-L", "4m", "vg"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        format!(
            "  lvmsim: waiting for the lock on {} held by pid {}\n",
            img.display(),
            std::process::id()
        )
    );
    // Still waiting: nothing created yet.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "it did not wait");
    let o = run(
        &img,
        &["--nolocking"],
        &["lvs", "--noheadings", "-o", "lv_name"],
    );
    assert_eq!(text(&o.stdout).trim(), "origin");
    held.unlock().unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(text(&o.stdout).contains("Logical volume \"late\" created."));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(!rest.contains("waiting"), "said it twice: {rest}");
}

/// A writer locks only the images of the VG it changes: with another VG's
/// image held, it runs; with its own VG's image held, `nowait` refuses
/// naming that image. Readers lock every image shared.
#[test]
fn a_writer_locks_the_images_of_its_vg_only() {
    let t = crate::common::scratch();
    let (a, b) = (t.path().join("a.img"), t.path().join("b.img"));
    for (img, vg) in [(&a, "vga"), (&b, "vgb")] {
        std::fs::File::create(img)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_lvmsim"))
            .arg("--dev")
            .arg(img)
            .args(["vgcreate", vg])
            .arg(img)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let both = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lvmsim"))
            .arg("--dev")
            .arg(&a)
            .arg("--dev")
            .arg(&b)
            .args(["--lock-opt", "nowait"])
            .args(args)
            .output()
            .unwrap()
    };
    let held = File::open(&a).unwrap();
    held.lock().unwrap();
    let o = both(&["lvcreate", "-n", "lv", "-L", "4m", "vgb"]);
    assert!(
        o.status.success(),
        "vgb is not on a.img: {}",
        text(&o.stderr)
    );
    let o = both(&["lvcreate", "-n", "lv", "-L", "4m", "vga"]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("a.img"), "{}", text(&o.stderr));
    let o = both(&["lvs"]);
    assert_eq!(o.status.code(), Some(5), "a reader waits for every image");
    held.unlock().unwrap();
    let o = both(&["lvs", "--noheadings", "-o", "vg_name,lv_name"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listed = text(&o.stdout);
    assert!(
        listed.contains("vgb") && !listed.contains("vga"),
        "{listed}"
    );
}
