//! SIGINT and SIGTERM in the middle of long work: a merge stops between
//! merge runs and resumes at the next activation to the snapshot's data; an
//! LV write stops between pieces and says how much it wrote, and those bytes
//! (no more) are on the LV.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn lvmsim(img: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .arg("--dev")
        .arg(img)
        .args(args)
        .output()
        .unwrap()
}

fn ok(img: &Path, args: &[&str]) -> Vec<u8> {
    let o = lvmsim(img, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn pattern(tag: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag ^ (i as u8).wrapping_mul(37) ^ (i >> 12) as u8)
        .collect()
}

fn write_lv(img: &Path, lv: &str, data: &[u8]) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .arg("--dev")
        .arg(img)
        .args(["write", lv])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    assert!(c.wait().unwrap().success());
}

fn sigint(pid: u32) {
    let st = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// An origin, a snapshot holding every chunk of it, the origin rewritten.
fn merge_setup(dir: &Path, mib: usize) -> (std::path::PathBuf, Vec<u8>) {
    let img = dir.join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(((3 * mib + 16) as u64) << 20)
        .unwrap();
    ok(&img, &["pvcreate", img.to_str().unwrap()]);
    ok(&img, &["vgcreate", "-s", "1m", "vg", img.to_str().unwrap()]);
    let size = format!("{mib}m");
    ok(
        &img,
        &["lvcreate", "-Zn", "-n", "origin", "-L", &size, "vg"],
    );
    let old = pattern(0x11, mib << 20);
    write_lv(&img, "vg/origin", &old);
    let cow = format!("{}m", mib + mib / 8 + 2);
    ok(
        &img,
        &[
            "lvcreate",
            "-s",
            "-c",
            "4k",
            "-L",
            &cow,
            "-n",
            "snap",
            "vg/origin",
        ],
    );
    write_lv(&img, "vg/origin", &pattern(0x22, mib << 20));
    ok(
        &img,
        &["lvconvert", "--merge", "--interrupt-after", "0", "vg/snap"],
    );
    (img, old)
}

#[test]
fn sigint_stops_a_merge_that_then_resumes_to_the_snapshots_data() {
    let t = crate::common::scratch();
    let (img, old) = merge_setup(t.path(), 32);
    // The merge records every write into a FIFO that this test reads: it
    // cannot run ahead of the reader by more than the pipe's buffer, so the
    // signal surely arrives in the middle of it.
    let fifo = t.path().join("writes");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .arg("--dev")
        .arg(&img)
        .args(["vgchange", "-ay", "vg"])
        .env("LVMSIM_WRITE_LOG", &fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::fs::File::open(&fifo).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = 0;
    let mut signalled = false;
    loop {
        let n = std::io::Read::read(&mut log, &mut buf).unwrap();
        seen += n;
        if !signalled && seen >= 1 << 20 {
            sigint(child.id());
            signalled = true;
        }
        if n == 0 {
            // Between two records no writer holds the FIFO open.
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(signalled, "the merge wrote less than 1 MiB: {seen} bytes");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.contains("lvmsim: merge into vg/origin stopped after")
            && err.contains("it resumes at the next activation (vgchange -ay vg)"),
        "{err}"
    );
    // Mid-merge the origin already reads as the snapshot's data, and the
    // merge is not recorded as finished.
    assert!(ok(&img, &["cat", "vg/origin"]) == old);
    let lvs = String::from_utf8(ok(&img, &["lvs", "-a", "--noheadings", "-o", "lv_name"])).unwrap();
    assert!(lvs.contains("snap"), "the merge is not finished: {lvs}");
    // The next activation ends it.
    ok(&img, &["vgchange", "-ay", "vg"]);
    assert!(ok(&img, &["cat", "vg/origin"]) == old);
    let lvs = String::from_utf8(ok(&img, &["lvs", "-a", "--noheadings", "-o", "lv_name"])).unwrap();
    assert_eq!(lvs.split_whitespace().collect::<Vec<_>>(), ["origin"]);
}

#[test]
fn sigint_stops_an_lv_write_between_pieces() {
    let t = crate::common::scratch();
    let img = t.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    ok(&img, &["pvcreate", img.to_str().unwrap()]);
    ok(&img, &["vgcreate", "-s", "1m", "vg", img.to_str().unwrap()]);
    ok(&img, &["lvcreate", "-Zn", "-n", "lv", "-L", "16m", "vg"]);
    let before = ok(&img, &["cat", "vg/lv"]);
    let new = pattern(0x5a, 8 << 20);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .arg("--dev")
        .arg(&img)
        .args(["write", "vg/lv"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(&new[..3 << 20]).unwrap();
    input.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    sigint(child.id());
    std::thread::sleep(Duration::from_millis(100));
    // More input wakes the reader; it must stop instead of writing it.
    let _ = input.write_all(&new[3 << 20..]);
    drop(input);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    let n: usize = err
        .split(" bytes written)")
        .next()
        .and_then(|l| l.rsplit('(').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {err}"));
    assert!(
        err.contains("lvmsim: write to vg/lv stopped at byte"),
        "{err}"
    );
    assert!(
        (1 << 20..=3 << 20).contains(&n) && n.is_multiple_of(1 << 20),
        "{n}"
    );
    let after = ok(&img, &["cat", "vg/lv"]);
    assert!(after[..n] == new[..n], "the bytes it says it wrote");
    assert!(after[n..] == before[n..], "nothing after them");
}
