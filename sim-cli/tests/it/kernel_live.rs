//! `lvmsim kernel`: the simulated kernel serving active LVs as files
//! through FUSE, checked against the one-shot commands and the real
//! kernel's filesystems.
//!
//! - every device file of every kernel-corpus scenario reads as `lvmsim
//!   cat` of its LV (an invalid or merging snapshot's file fails with EIO
//!   where `cat` refuses), `-real` as the origin, `-cow` starts with the
//!   store's magic; a kernel that only read leaves the images byte for
//!   byte as the real kernel left them (cached LVs too, with their
//!   `_corig`, `_cdata` and `_cmeta` devices; their writes are checked in
//!   kernel_cache.rs);
//! - the same writes through the files and through `lvmsim write` give
//!   identical images, overflow and invalidation included; the snapshot's
//!   file then fails with EIO and the kernel logs the kernel's line;
//! - the real kernel's ext4 on the origin's file (`mount -o loop`), a
//!   snapshot taken between two runs, files changed in the origin: the
//!   snapshot's mount shows the old files.
//!
//! They need root, /dev/fuse, `mount` and `mkfs.ext4` (e2fsprogs): a
//! missing one fails the test. Every kernel is stopped and every mount
//! undone when a test ends, also when it fails.

use crate::common::{self, Lvmsim};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `EIO`.
const EIO: i32 = 5;

/// A kernel started for a test, with the filesystems mounted from its
/// devices; dropping it unmounts them and stops the kernel (killing it and
/// detaching its mount if the stop fails).
pub(crate) struct Running {
    dir: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Running {
    /// `lvmsim --dev ... kernel start DIR` on `devs`.
    pub(crate) fn start(devs: &[(String, PathBuf)], dir: &Path) -> Running {
        Running::start_with(devs, dir, &[])
    }

    /// `lvmsim --dev ... kernel start OPTIONS DIR` on `devs`.
    pub(crate) fn start_with(devs: &[(String, PathBuf)], dir: &Path, options: &[&str]) -> Running {
        let out = devs
            .iter()
            .fold(Lvmsim::new(), |l, (n, p)| l.dev(n, p))
            .args(["kernel", "start"])
            .args(options)
            .arg(dir)
            .run();
        assert!(
            out.ok(),
            "kernel start: {} (this test needs root and /dev/fuse)",
            out.stderr
        );
        Running {
            dir: dir.to_owned(),
            mounts: Vec::new(),
        }
    }

    /// `kernel status --json`.
    pub(crate) fn status(&self) -> serde_json::Value {
        let out = Lvmsim::new()
            .args(["kernel", "status", "--json"])
            .arg(&self.dir)
            .run();
        assert!(out.ok(), "kernel status: {}", out.stderr);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The status entry of device `name`.
    pub(crate) fn device(&self, name: &str) -> serde_json::Value {
        self.status()["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no device {name}"))
            .clone()
    }

    /// `DIR/dev/REL`.
    pub(crate) fn file(&self, rel: &str) -> PathBuf {
        self.dir.join("dev").join(rel)
    }

    /// Mounts `dev` (a device file) on `at` with `mount -o loop[,OPTS]`.
    pub(crate) fn mount(&mut self, dev: &Path, at: &Path, opts: &str) {
        std::fs::create_dir_all(at).unwrap();
        let o = if opts.is_empty() {
            "loop".to_owned()
        } else {
            format!("loop,{opts}")
        };
        run(Command::new("mount").args(["-o", &o]).arg(dev).arg(at));
        self.mounts.push(at.to_owned());
    }

    /// Unmounts `at` (its loop device goes with it).
    pub(crate) fn umount(&mut self, at: &Path) {
        run(Command::new("umount").arg(at));
        self.mounts.retain(|m| m != at);
    }

    /// `kernel stop`, which must succeed; the kernel's log is returned.
    pub(crate) fn stop(mut self) -> String {
        for m in std::mem::take(&mut self.mounts).iter().rev() {
            run(Command::new("umount").arg(m));
        }
        // The last close reaches the kernel after umount returns.
        let out = stop_when_closed(&self.dir);
        assert!(out.ok(), "kernel stop: {}", out.stderr);
        std::fs::read_to_string(self.dir.join("kernel.log")).unwrap_or_default()
    }
}

/// `kernel stop`, retried for a moment while a device is still open (the
/// kernel sees a file's last close a little after `close` returns, and a
/// loop device's after its rundown; up to 5 s).
fn stop_when_closed(dir: &Path) -> common::Output {
    let mut tries = 0;
    loop {
        let out = Lvmsim::new().args(["kernel", "stop"]).arg(dir).run();
        if out.ok() || !out.stderr.contains("in use") || tries == 250 {
            return out;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let ok = Command::new("umount")
                .arg(m)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
        if !self.dir.join("control").exists() {
            return;
        }
        if stop_when_closed(&self.dir).ok() {
            return;
        }
        // Only a kernel process of this test's directory is killed (a
        // stale pid file may name a reused pid).
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let cmdline =
                std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
            let dir = self.dir.display().to_string();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args.contains(&&b"--foreground"[..]) && args.contains(&dir.as_bytes()) {
                let _ = Command::new("kill").args(["-9", pid.trim()]).status();
            }
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.join("dev"))
            .status();
    }
}

/// Runs a tool that must succeed (a missing tool fails the test).
pub(crate) fn run(c: &mut Command) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{c:?}: {e} (is the tool installed?)"));
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Scenarios whose devices the simulated kernel does not serve yet, with
/// the words of its refusal: integrity images (the writecache
/// scenario's raid1 `ri`: their table lines hold dm-integrity's journal
/// settings, which lvmsim does not derive yet).
const NOT_SERVED: &[(&str, &str)] = &[(
    "writecache",
    "vg/ri_rimage_0: lvmsim's dmsetup does not print integrity targets yet",
)];

/// The sha256 of every image of `s`.
fn hashes(devs: &[(String, PathBuf)]) -> Vec<String> {
    devs.iter().map(|(_, p)| common::sha256_file(p)).collect()
}

/// Every device file of scenario `name` reads as `lvmsim cat` of its LV,
/// and a kernel that only read leaves the images unchanged.
fn reads_as_cat(name: &str) {
    let s = common::load_kernel(name);
    let before = hashes(&s.devs);
    if let Some((_, why)) = NOT_SERVED.iter().find(|(n, _)| *n == name) {
        // The kernel refuses to start rather than serve devices it cannot
        // table, and says why.
        let out = s
            .devs
            .iter()
            .fold(Lvmsim::new(), |l, (n, p)| l.dev(n, p))
            .args(["kernel", "start"])
            .arg(s.work.path().join("k"))
            .run();
        assert!(
            !out.ok() && out.stderr.contains(why),
            "{name}: kernel start: {}",
            out.stderr
        );
        assert_eq!(
            hashes(&s.devs),
            before,
            "{name}: a refused start changed the images"
        );
        return;
    }
    let k = Running::start(&s.devs, &s.work.path().join("k"));
    let status = k.status();
    for d in status["devices"].as_array().unwrap() {
        let dev = d["name"].as_str().unwrap();
        let lv = format!(
            "{}/{}",
            d["vg"].as_str().unwrap(),
            d["lv"].as_str().unwrap()
        );
        let path = PathBuf::from(d["path"].as_str().unwrap());
        let read = std::fs::read(&path);
        // A thin pool's own device and `-tpool` map to its data LV (a
        // new pool's own device is its `thin-pool` target).
        let pool = status["devices"].as_array().unwrap().iter().any(|x| {
            x["lv"] == d["lv"]
                && (x["layer"] == "tpool"
                    || x["table"]
                        .as_str()
                        .is_some_and(|t| t.contains(" thin-pool ")))
        });
        let lv = if pool { format!("{lv}_tdata") } else { lv };
        // The kernel holds the images' locks: cat reads beside it.
        let cat = s.lvmsim().args(["--nolocking", "cat", &lv]).run();
        let layer = match d["layer"].as_str().unwrap() {
            "tpool" => "top",
            l => l,
        };
        match layer {
            "top" => match (&read, cat.ok()) {
                (Ok(bytes), true) => {
                    assert!(*bytes == cat.stdout, "{name}: {dev} differs from cat {lv}")
                }
                (Err(e), false) => assert_eq!(
                    e.raw_os_error(),
                    Some(EIO),
                    "{name}: {dev}: {e}; cat: {}",
                    cat.stderr
                ),
                (r, _) => panic!(
                    "{name}: {dev} read {:?} but cat {lv} exited {}: {}",
                    r.as_ref().map(Vec::len),
                    cat.status,
                    cat.stderr
                ),
            },
            "real" => {
                assert!(cat.ok(), "{name}: cat {lv}: {}", cat.stderr);
                assert!(
                    read.unwrap() == cat.stdout,
                    "{name}: {dev} differs from cat {lv}"
                );
            }
            "cow" => {
                let bytes = read.unwrap();
                assert_eq!(bytes.len() as u64, d["size"].as_u64().unwrap());
                assert_eq!(&bytes[..4], b"SnAp", "{name}: {dev}: no store magic");
            }
            other => panic!("{name}: {dev}: layer {other}"),
        }
        if let Some(link) = d["link"].as_str() {
            assert_eq!(
                std::fs::canonicalize(link).unwrap(),
                std::fs::canonicalize(&path).unwrap(),
                "{name}: {link}"
            );
        }
    }
    k.stop();
    assert_eq!(
        hashes(&s.devs),
        before,
        "{name}: reading changed the images"
    );
}

common::scenario_tests!("kernel", "scenario", reads_as_cat;
    damaged_label, damaged_mda, linear_fragmented, merge_complete, merge_interrupted,
    merge_with_sibling, ring_wrap, snap_areas, snap_chunks, snap_drop_reuse, snap_extend,
    snap_full_edges, snap_lvremove, snap_overflow, snap_overflow_blocks, snap_partial_chunk,
    snap_striped_origin, snap_write_overflow, striped_mdacopies, two_snaps_one_overflows,
    walkthrough, walkthrough_merge, plan_threshold, thin_pool,
    raid_levels,
    thin_recover,
    thin_merge,
    cache_writeback, writecache,
    thin_resize);

/// A fresh VG `vg` on one 64 MiB image in `dir`: `origin` (`origin_mib`)
/// and, unless `cow_mib` is 0, snapshot `snap` of `cow_mib` with 4 KiB
/// chunks, made by lvmsim.
fn fresh_vg(dir: &Path, origin_mib: u32, cow_mib: u32) -> Vec<(String, PathBuf)> {
    let img = dir.join("d.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let l = || {
        Lvmsim::new()
            .dev("/dev/sdz", &img)
            .env("LVMSIM_DETERMINISTIC", "1")
    };
    for args in [
        vec!["vgcreate".to_owned(), "vg".into(), "/dev/sdz".into()],
        vec![
            "lvcreate".into(),
            "-L".into(),
            format!("{origin_mib}m"),
            "-n".into(),
            "origin".into(),
            "vg".into(),
        ],
    ] {
        let out = l().args(&args).run();
        assert!(out.ok(), "{args:?}: {}", out.stderr);
    }
    let devs = vec![("/dev/sdz".to_owned(), img)];
    if cow_mib > 0 {
        snapshot(&devs, cow_mib);
    }
    devs
}

/// `lvcreate -s -n snap -L COW -c 4k vg/origin` on the images.
fn snapshot(devs: &[(String, PathBuf)], cow_mib: u32) {
    let out = devs
        .iter()
        .fold(Lvmsim::new(), |l, (n, p)| l.dev(n, p))
        .env("LVMSIM_DETERMINISTIC", "1")
        .args(["lvcreate", "-s", "-n", "snap", "-c", "4k", "-L"])
        .arg(format!("{cow_mib}m"))
        .arg("vg/origin")
        .run();
    assert!(out.ok(), "lvcreate -s: {}", out.stderr);
}

/// Writes of the equality test: (LV, byte offset, length, fill byte). The
/// origin writes cross chunk edges; the large ones fill the COW (4 MiB, one
/// extent), so the snapshot is invalidated in the middle of one and the
/// snapshot write after it fails.
const WRITES: &[(&str, u64, usize, u8)] = &[
    ("origin", 0, 4096, 0x11),
    ("origin", 6000, 10_000, 0x22),
    ("snap", 4096 * 40 + 100, 3000, 0x33),
    ("snap", 4096 * 50, 8192, 0x44),
    ("origin", 4096 * 40, 4096 * 3, 0x55),
    ("origin", 1 << 20, 2 << 20, 0x66),
    ("origin", (4 << 20) + 512, 3 << 20, 0x77),
    ("snap", 0, 4096, 0x88),
];

#[test]
fn writes_through_the_files_equal_lvmsim_write() {
    let t = common::scratch();
    let base = t.path().join("base");
    std::fs::create_dir(&base).unwrap();
    let devs = fresh_vg(&base, 8, 1);
    let img = &devs[0].1;
    let (a, b) = (t.path().join("a.img"), t.path().join("b.img"));
    std::fs::copy(img, &a).unwrap();
    std::fs::copy(img, &b).unwrap();

    // Through the kernel's files.
    let k = Running::start_with(
        &[("/dev/sdz".into(), a.clone())],
        &t.path().join("k"),
        &["--explain"],
    );
    let mut file_errors = Vec::new();
    for &(lv, off, len, fill) in WRITES {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(k.file(&format!("vg/{lv}")))
            .unwrap();
        // From a page-aligned buffer, so that FUSE cuts the write into
        // requests of 1 MiB from its start, as `lvmsim write` cuts its
        // input: each request's exceptions commit as one batch.
        let buf = vec![fill; len + 4096];
        let skip = buf.as_ptr().align_offset(4096);
        file_errors.push(
            f.write_all_at(&buf[skip..skip + len], off)
                .err()
                .and_then(|e| e.raw_os_error()),
        );
    }
    let snap = k.device("vg-snap");
    assert_eq!(snap["invalid"], true, "the COW should have filled: {snap}");
    assert_eq!(snap["event"], 1);
    let err = std::fs::read(k.file("vg/snap")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EIO), "{err}");
    let log = k.stop();
    assert!(
        log.contains(
            "device-mapper: snapshots: Invalidating snapshot: Unable to allocate exception."
        ),
        "{log}"
    );

    // The kernel's steps it logged for the requests (FUSE may split a
    // write into several requests; the steps run on).
    let kernel_steps: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("  ")).collect();

    // Through `lvmsim write`.
    let mut write_errors = Vec::new();
    let mut write_steps = String::new();
    for &(lv, off, len, fill) in WRITES {
        let out = Lvmsim::new()
            .dev("/dev/sdz", &b)
            .args(["write", &format!("vg/{lv}"), "--offset", &off.to_string()])
            .arg("--explain")
            .stdin(&vec![fill; len])
            .run();
        write_errors.push((!out.ok()).then_some(EIO));
        write_steps.push_str(&out.text());
    }
    let write_steps: Vec<&str> = write_steps.lines().collect();
    assert!(
        write_steps
            .iter()
            .any(|l| l.contains(" -> snap COW chunk ")),
        "{write_steps:?}"
    );
    assert_eq!(
        kernel_steps, write_steps,
        "the kernel's explained steps differ from lvmsim write --explain's"
    );
    assert_eq!(file_errors, write_errors, "the writes that failed");
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "the images differ after the same writes"
    );
    // Writes to the snapshot after the overflow fail.
    assert!(file_errors.iter().any(Option::is_some), "{file_errors:?}");
}

#[test]
fn ext4_on_the_origin_and_its_snapshot_under_the_real_kernel() {
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 32, 0);
    let kdir = t.path().join("k");
    let (m, sm) = (t.path().join("m"), t.path().join("s"));

    // A filesystem with two files, made through the origin's file.
    let mut k = Running::start(&devs, &kdir);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(k.file("vg/origin")));
    k.mount(&k.file("vg/origin"), &m, "");
    std::fs::write(m.join("kept"), b"old kept\n").unwrap();
    std::fs::write(m.join("gone"), vec![7u8; 300_000]).unwrap();
    k.umount(&m);
    k.stop();

    // The snapshot, taken while the kernel is stopped.
    snapshot(&devs, 16);

    let mut k = Running::start(&devs, &kdir);
    assert_eq!(k.device("vg-snap")["open"], 0);
    k.mount(&k.file("vg/origin"), &m, "");
    assert_eq!(
        k.device("vg-origin")["handles"],
        1,
        "the loop device holds the origin open"
    );
    std::fs::write(m.join("kept"), b"new kept\n").unwrap();
    std::fs::remove_file(m.join("gone")).unwrap();
    std::fs::write(m.join("added"), b"added\n").unwrap();
    run(Command::new("sync").arg("-f").arg(m.join("kept")));
    k.mount(&k.file("vg/snap"), &sm, "ro,noload");
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&m), ["added", "kept", "lost+found"]);
    assert_eq!(names(&sm), ["gone", "kept", "lost+found"]);
    assert_eq!(std::fs::read(sm.join("kept")).unwrap(), b"old kept\n");
    assert_eq!(std::fs::read(sm.join("gone")).unwrap(), vec![7u8; 300_000]);
    assert_eq!(std::fs::read(m.join("kept")).unwrap(), b"new kept\n");
    let log = k.stop();
    assert!(!log.contains("Invalidating"), "{log}");

    // The images afterwards: the snapshot holds copied chunks, the
    // one-shot reader sees the same old filesystem.
    let lvs = Lvmsim::new()
        .dev(&devs[0].0, &devs[0].1)
        .args(["dmsetup", "status", "vg-snap"])
        .run();
    assert!(lvs.ok(), "{}", lvs.stderr);
    let used: u64 = lvs
        .text()
        .split_whitespace()
        .nth(3)
        .and_then(|u| u.split('/').next())
        .and_then(|u| u.parse().ok())
        .unwrap_or(0);
    assert!(
        used > 8,
        "the snapshot's store holds no copied chunk: {}",
        lvs.text()
    );
}

#[test]
fn a_running_kernel_holds_its_images_and_its_directory() {
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 4);
    let kdir = t.path().join("k");
    let l = || Lvmsim::new().dev(&devs[0].0, &devs[0].1);

    let none = Lvmsim::new().args(["kernel", "status"]).arg(&kdir).run();
    assert_eq!(none.status, 5);
    assert!(
        none.stderr.contains("no lvmsim kernel runs in"),
        "{}",
        none.stderr
    );

    let k = Running::start(&devs, &kdir);
    let pid = k.status()["pid"].as_u64().unwrap();
    // Another writer cannot change what the kernel has loaded.
    let w = l()
        .args([
            "--lock-opt",
            "nowait",
            "write",
            "vg/origin",
            "--offset",
            "0",
        ])
        .stdin(b"x")
        .run();
    assert_ne!(w.status, 0);
    assert!(
        w.stderr.contains(&format!("locked by pid {pid}")),
        "{}",
        w.stderr
    );
    // One kernel per directory.
    let again = l().args(["kernel", "start"]).arg(&kdir).run();
    assert_eq!(again.status, 5);
    assert!(
        again.stderr.contains(&format!(
            "already runs in {} (pid {pid})",
            std::fs::canonicalize(&kdir).unwrap().display()
        )),
        "{}",
        again.stderr
    );
    // An open device keeps the kernel from stopping, as the kernel refuses
    // to remove a device in use.
    let held = std::fs::File::open(k.file("vg/snap")).unwrap();
    let mut status = k.device("vg-snap");
    for _ in 0..250 {
        if status["handles"] == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        status = k.device("vg-snap");
    }
    assert_eq!(status["handles"], 1, "{status}");
    assert_eq!(
        k.device("vg-origin-real")["open"],
        2,
        "origin and snapshot stack on -real"
    );
    // The reports show the live state through --kernel, as lvm2 on a
    // running system: active, and open where a handle is.
    let lvs = l()
        .arg("--kernel")
        .arg(&kdir)
        .args([
            "lvs",
            "--noheadings",
            "-o",
            "lv_name,lv_attr,lv_device_open",
        ])
        .run();
    assert!(lvs.ok(), "{}", lvs.stderr);
    let rows: Vec<Vec<String>> = lvs
        .text()
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["origin", "owi-a-s---"],
            vec!["snap", "swi-aos---", "open"]
        ]
    );
    let info = Lvmsim::new()
        .dev(&devs[0].0, &devs[0].1)
        .env("LVMSIM_KERNEL", &kdir)
        .args(["dmsetup", "info", "-c", "--noheadings", "-o", "name,open"])
        .run();
    assert!(info.ok(), "{}", info.stderr);
    assert_eq!(
        info.text(),
        "vg-origin:0\nvg-origin-real:2\nvg-snap:1\nvg-snap-cow:1\n"
    );
    let refused = l()
        .arg("--kernel")
        .arg(&kdir)
        .args(["lvremove", "vg/snap"])
        .run();
    // An open LV is not removed, as lvm2 refuses it on a running system.
    assert_eq!(refused.status, 5);
    assert_eq!(refused.stderr, "  Logical volume vg/snap in use.\n");
    let busy = Lvmsim::new().args(["kernel", "stop"]).arg(&kdir).run();
    assert_eq!(busy.status, 5);
    assert!(
        busy.stderr
            .contains("devices in use: vg-snap (open count 1)"),
        "{}",
        busy.stderr
    );
    drop(held);
    k.stop();
    assert!(!kdir.join("control").exists() && !kdir.join("pid").exists());
    // The images are free again.
    assert!(l().args(["--lock-opt", "nowait", "lvs"]).run().ok());
    let gone = l().arg("--kernel").arg(&kdir).arg("lvs").run();
    assert_eq!(gone.status, 5);
    assert!(
        gone.stderr.contains("no lvmsim kernel runs in"),
        "{}",
        gone.stderr
    );
}

/// `lvmsim --kernel DIR CMD ...` on the test's image: (exit status,
/// stdout, stderr).
pub(crate) fn live(devs: &[(String, PathBuf)], kdir: &Path, args: &[&str]) -> common::Output {
    Lvmsim::new()
        .dev(&devs[0].0, &devs[0].1)
        .env("LVMSIM_DETERMINISTIC", "1")
        .arg("--kernel")
        .arg(kdir)
        .args(args)
        .run()
}

/// The running kernel's devices: (name, minor), by name.
fn minors(k: &Running) -> Vec<(String, u64)> {
    k.status()["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["minor"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Waits (up to 5 s) until device `name` has `n` open handles: the kernel
/// sees a close a little after `close` returns.
pub(crate) fn wait_handles(k: &Running, name: &str, n: u64) {
    for _ in 0..250 {
        if k.device(name)["handles"] == n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{name}: {}", k.device(name));
}

#[test]
fn table_changes_go_through_the_running_kernel() {
    use std::os::unix::fs::FileExt;
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 0);
    let kdir = t.path().join("k");
    let k = Running::start(&devs, &kdir);
    let origin = k.file("vg/origin");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&origin)
        .unwrap()
        .write_all_at(&[b'A'; 8192], 0)
        .unwrap();

    // lvcreate -s of the active origin: the origin keeps its number, the
    // temporary device zeroing the store comes and goes, the origin is
    // suspended around the commit and resumed with the snapshot.
    let out = live(
        &devs,
        &kdir,
        &[
            "lvcreate",
            "-s",
            "-n",
            "snap",
            "-L",
            "4m",
            "-c",
            "4k",
            "-v",
            "vg/origin",
        ],
    );
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.text(), "  Logical volume \"snap\" created.\n");
    assert_eq!(
        out.stderr,
        "  Creating vg-snap\n  Loading table for vg-snap (253:1).\n  Resuming vg-snap (253:1).\n  \
         Removing vg-snap (253:1)\n  Creating vg-origin-real\n  Loading table for vg-origin-real (253:1).\n  \
         Resuming vg-origin-real (253:1).\n  Loading table for vg-origin (253:0).\n  Creating vg-snap-cow\n  \
         Loading table for vg-snap-cow (253:2).\n  Resuming vg-snap-cow (253:2).\n  Creating vg-snap\n  \
         Loading table for vg-snap (253:3).\n  \
         Suspending vg-origin (253:0) with filesystem sync with device flush\n  \
         Resuming vg-origin (253:0).\n  Resuming vg-snap (253:3).\n"
    );
    let numbered = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
        v.iter().map(|(n, m)| (n.to_string(), *m)).collect()
    };
    assert_eq!(
        minors(&k),
        numbered(&[
            ("vg-origin", 0),
            ("vg-origin-real", 1),
            ("vg-snap", 3),
            ("vg-snap-cow", 2)
        ])
    );
    // The snapshot's file is there and keeps the origin's old data.
    let snap = k.file("vg/snap");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&origin)
        .unwrap()
        .write_all_at(&[b'B'; 4096], 0)
        .unwrap();
    assert_eq!(std::fs::read(&snap).unwrap()[..8192], [b'A'; 8192]);

    // Deactivation is refused while the snapshot is open, and removal of
    // the open snapshot too; nothing changes.
    let held = std::fs::File::open(&snap).unwrap();
    wait_handles(&k, "vg-snap", 1);
    let an = live(&devs, &kdir, &["lvchange", "-an", "vg/origin"]);
    assert_eq!(an.status, 5);
    assert_eq!(
        an.stderr,
        "  Logical volume vg/snap in use.\n  LV vg/origin has open 1 snapshot(s), not deactivating.\n"
    );
    let rm = live(&devs, &kdir, &["lvremove", "-f", "vg/snap"]);
    assert_eq!(
        (rm.status, rm.stderr.as_str()),
        (5, "  Logical volume vg/snap in use.\n")
    );
    let vgan = live(&devs, &kdir, &["vgchange", "-an", "vg"]);
    assert_eq!(vgan.status, 5);
    assert_eq!(
        vgan.stderr,
        "  Can't deactivate volume group \"vg\" with 1 open logical volume(s)\n"
    );
    drop(held);
    wait_handles(&k, "vg-snap", 0);

    // A file open on a device that goes away fails, it does not read the
    // old device: the store's layer goes with the snapshot.
    let cow = std::fs::File::open(k.file("mapper/vg-snap-cow")).unwrap();
    let rm = live(&devs, &kdir, &["lvremove", "-f", "-v", "vg/snap"]);
    assert!(rm.ok(), "{}", rm.stderr);
    assert_eq!(
        rm.stderr,
        "  Loading table for vg-origin (253:0).\n  \
         Suspending vg-origin (253:0) with filesystem sync with device flush\n  \
         Resuming vg-origin (253:0).\n  Removing vg-snap (253:3)\n  Removing vg-snap-cow (253:2)\n  \
         Removing vg-origin-real (253:1)\n"
    );
    let mut buf = [0u8; 512];
    assert_eq!(
        cow.read_at(&mut buf, 0).unwrap_err().raw_os_error(),
        Some(EIO)
    );
    drop(cow);
    assert!(!k.file("mapper/vg-snap-cow").exists() && !snap.exists());
    assert_eq!(minors(&k), numbered(&[("vg-origin", 0)]));

    // lvextend: the device is reloaded and its file grows.
    let ext = live(&devs, &kdir, &["lvextend", "-L", "+4m", "vg/origin"]);
    assert!(ext.ok(), "{}", ext.stderr);
    assert_eq!(std::fs::metadata(&origin).unwrap().len(), 12 << 20);

    // lvchange -an/-ay: the files go and come back with the data; a new
    // LV takes the lowest free number.
    let an = live(&devs, &kdir, &["lvchange", "-an", "-v", "vg/origin"]);
    assert!(an.ok(), "{}", an.stderr);
    assert_eq!(
        an.stderr,
        "  Deactivating logical volume vg/origin.\n  Removing vg-origin (253:0)\n"
    );
    assert!(!origin.exists() && minors(&k).is_empty());
    let new = live(&devs, &kdir, &["lvcreate", "-L", "4m", "-n", "other", "vg"]);
    assert!(new.ok(), "{}", new.stderr);
    // Only the LV the kernel has loaded is active: lvm2 shows the other
    // one as on any running system with its LV deactivated.
    let lvs = live(
        &devs,
        &kdir,
        &["lvs", "--noheadings", "-o", "lv_name,lv_attr,lv_active"],
    );
    assert!(lvs.ok(), "{}", lvs.stderr);
    assert_eq!(
        lvs.text(),
        "  origin -wi-------       \n  other  -wi-a----- active\n"
    );
    let ay = live(&devs, &kdir, &["vgchange", "-ay", "vg"]);
    assert!(ay.ok(), "{}", ay.stderr);
    assert_eq!(minors(&k), numbered(&[("vg-origin", 1), ("vg-other", 0)]));
    assert_eq!(std::fs::read(&origin).unwrap()[..4096], [b'B'; 4096]);
    k.stop();
}

#[test]
fn a_merge_runs_in_the_kernel_while_the_origin_reads_the_same() {
    use std::os::unix::fs::FileExt;
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 4);
    let kdir = t.path().join("k");
    // Ten batches a second: the merge below takes about two seconds.
    let k = Running::start_with(&devs, &kdir, &["--merge-rate", "10"]);
    let origin = k.file("vg/origin");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&origin)
        .unwrap();
    // Twenty chunks apart from each other: twenty merge batches.
    for i in 0..20u64 {
        f.write_all_at(&[b'B'; 4096], i * 3 * 4096).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    let view = std::fs::read(k.file("vg/snap")).unwrap();
    let data = |k: &Running| -> Option<f64> {
        let o = live(
            &devs,
            &k.dir,
            &["lvs", "-a", "--noheadings", "-o", "lv_name,data_percent"],
        );
        assert!(o.ok(), "{}", o.stderr);
        o.text()
            .lines()
            .find(|l| l.contains("snap"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    };
    let full = data(&k).unwrap();
    assert!(full > 0.0);
    let conv = std::process::Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .arg("--dev")
        .arg(format!("{}={}", devs[0].0, devs[0].1.display()))
        .arg("--kernel")
        .arg(&kdir)
        .args(["lvconvert", "--merge", "-i", "1", "vg/snap"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs, the origin reads as the snapshot did (merged chunks
    // are in the origin, the others still come from the store) and the
    // store's Data% only falls.
    let mut seen = vec![full];
    for _ in 0..8 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            std::fs::read(&origin).unwrap() == view,
            "the origin's view changed"
        );
        if let Some(d) = data(&k) {
            seen.push(d);
        }
    }
    let out = conv.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        seen.windows(2).all(|w| w[1] <= w[0]) && seen.iter().any(|d| *d > 0.0 && *d < full),
        "Data% while merging: {seen:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "  Merging of volume vg/snap started.", "{text}");
    assert_eq!(
        lines[lines.len() - 3..],
        [
            "  vg/origin: Merged: 100.00%",
            "  Merge of snapshot into logical volume vg/origin has finished.",
            "  Logical volume \"snap\" successfully removed."
        ],
        "{text}"
    );
    assert!(lines.len() > 4, "no progress line: {text}");
    // The snapshot is gone from the tables and the metadata; the origin
    // holds its data.
    assert_eq!(minors(&k), [("vg-origin".to_owned(), 1)]);
    assert!(std::fs::read(&origin).unwrap() == view);
    let lvs = live(
        &devs,
        &kdir,
        &["lvs", "-a", "--noheadings", "-o", "lv_name"],
    );
    assert_eq!(lvs.text().trim(), "origin");
    k.stop();
}

/// A kernel killed (SIGKILL) in the middle of origin writes through its
/// files, each write flushed (fsync) before the next: every write it
/// acknowledged is in the origin, the snapshot still reads as the origin
/// did before any of them (an exception is on the image before the origin
/// chunk it saves is overwritten), and the next kernel serves the same.
/// `lvconvert --merge` while the origin is open: lvm2 delays the merge,
/// the kernel keeps its tables and the origin keeps copying into the
/// snapshot; the origin's next activation starts the merge.
#[test]
fn a_merge_of_an_open_origin_waits_for_its_next_activation() {
    use std::os::unix::fs::FileExt;
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 4);
    let kdir = t.path().join("k");
    let k = Running::start(&devs, &kdir);
    let origin = k.file("vg/origin");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&origin)
        .unwrap();
    f.write_all_at(&[b'B'; 4096], 0).unwrap();
    wait_handles(&k, "vg-origin", 1);
    let tables = live(&devs, &kdir, &["dmsetup", "table"]).text();
    let out = live(&devs, &kdir, &["lvconvert", "--merge", "vg/snap"]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(
        out.text(),
        "  Delaying merge since origin is open.\n  \
         Merging of snapshot vg/snap will occur on next activation of vg/origin.\n"
    );
    assert_eq!(live(&devs, &kdir, &["dmsetup", "table"]).text(), tables);
    // Still snapshot-origin: a write copies the old chunk into the store.
    f.write_all_at(&[b'C'; 4096], 4096).unwrap();
    drop(f);
    wait_handles(&k, "vg-origin", 0);
    let snap = std::fs::read(k.file("vg/snap")).unwrap();
    assert!(
        snap[..8192].iter().all(|b| *b == 0),
        "the snapshot lost its view"
    );
    // Deactivated and activated again, nothing open: the merge runs (at
    // once: no merge rate) and lvm2's poller ends it; the origin keeps the
    // number it took after its layers (-real 0, -cow 1, origin 2).
    for a in ["-an", "-ay"] {
        let o = live(&devs, &kdir, &["lvchange", a, "vg/origin"]);
        assert!(o.ok(), "lvchange {a}: {}", o.stderr);
    }
    assert_eq!(minors(&k), [("vg-origin".to_owned(), 2)]);
    assert!(std::fs::read(&origin).unwrap() == snap);
    k.stop();
}

#[test]
fn a_kernel_killed_during_writes_keeps_what_it_acknowledged() {
    use std::os::unix::fs::FileExt;
    use std::sync::{Arc, Mutex};
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 4);
    let kdir = t.path().join("k");
    let k = Running::start(&devs, &kdir);
    let pid = k.status()["pid"].as_u64().unwrap().to_string();
    let block = |i: u64| -> Vec<u8> {
        format!("block {i:06} ")
            .bytes()
            .cycle()
            .take(4096)
            .collect()
    };
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let acked = Arc::clone(&acked);
        let origin = k.file("vg/origin");
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(origin)
                .unwrap();
            // Every other chunk: each write copies one chunk into the store.
            for i in 0..400u64 {
                if f.write_all_at(&block(i), i * 8192).is_err() || f.sync_data().is_err() {
                    return;
                }
                acked.lock().unwrap().push(i);
            }
        })
    };
    while acked.lock().unwrap().len() < 40 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    run(Command::new("kill").args(["-9", &pid]));
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() < 400, "the kernel was killed after the writes");
    // The dead kernel's mount is detached, as an administrator would.
    run(Command::new("umount").arg("-l").arg(kdir.join("dev")));
    let cat = |lv: &str| {
        let o = Lvmsim::new()
            .dev(&devs[0].0, &devs[0].1)
            .args(["cat", lv])
            .run();
        assert!(o.ok(), "cat {lv}: {}", o.stderr);
        o.stdout
    };
    let origin = cat("vg/origin");
    for &i in &acked {
        let at = (i * 8192) as usize;
        assert!(
            origin[at..at + 4096] == block(i)[..],
            "acknowledged block {i} lost"
        );
    }
    assert!(
        cat("vg/snap").iter().all(|b| *b == 0),
        "the snapshot no longer reads as the origin before the writes"
    );
    // The next kernel serves what the images hold.
    std::fs::remove_file(kdir.join("control")).ok();
    let again = Running::start(&devs, &kdir);
    assert!(std::fs::read(again.file("vg/origin")).unwrap() == origin);
    assert!(std::fs::read(again.file("vg/snap"))
        .unwrap()
        .iter()
        .all(|b| *b == 0));
    again.stop();
    drop(k);
}

#[test]
fn a_killed_kernel_leaves_a_mount_that_start_names() {
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 0);
    let kdir = t.path().join("k");
    let k = Running::start(&devs, &kdir);
    let pid = k.status()["pid"].as_u64().unwrap().to_string();
    run(Command::new("kill").args(["-9", &pid]));
    // Its locks end with it; its mount stays until someone unmounts it.
    let mut tries = 0;
    let again = loop {
        let out = Lvmsim::new()
            .dev(&devs[0].0, &devs[0].1)
            .args(["kernel", "start"])
            .arg(&kdir)
            .run();
        if out.stderr.contains("still mounted") || tries == 100 {
            break out;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(again.status, 5, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("still mounted by a kernel that ended"),
        "{}",
        again.stderr
    );
    run(Command::new("umount").arg(kdir.join("dev")));
    drop(k);
    let k = Running::start(&devs, &kdir);
    assert_eq!(k.device("vg-origin")["size"], 8 << 20);
    k.stop();
}

/// Runs a libnbd tool (libnbd-bin) that must succeed; returns stdout.
fn nbd_tool(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (install libnbd-bin)", args[0]));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A client speaking the protocol by hand: the greeting, then `NBD_OPT_GO`
/// for `export`; returns the socket ready for requests and the size.
pub(crate) fn nbd_go(sock: &Path, export: &str) -> (std::os::unix::net::UnixStream, u64) {
    use byteorder::{BigEndian as BE, ReadBytesExt, WriteBytesExt};
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello[..16], b"NBDMAGICIHAVEOPT");
    s.write_u32::<BE>(3).unwrap(); // fixed newstyle, no zeroes
    s.write_all(b"IHAVEOPT").unwrap();
    s.write_u32::<BE>(7).unwrap(); // NBD_OPT_GO
    s.write_u32::<BE>(4 + export.len() as u32 + 2).unwrap();
    s.write_u32::<BE>(export.len() as u32).unwrap();
    s.write_all(export.as_bytes()).unwrap();
    s.write_u16::<BE>(0).unwrap();
    let mut size = 0;
    loop {
        assert_eq!(s.read_u64::<BE>().unwrap(), 0x0003_e889_0455_65a9);
        assert_eq!(s.read_u32::<BE>().unwrap(), 7);
        let kind = s.read_u32::<BE>().unwrap();
        let len = s.read_u32::<BE>().unwrap();
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data).unwrap();
        match kind {
            3 if data[..2] == [0, 0] => size = u64::from_be_bytes(data[2..10].try_into().unwrap()),
            3 => {}
            1 => return (s, size),
            other => panic!("NBD_OPT_GO for {export}: reply {other:#x}"),
        }
    }
}

/// Sends NBD_CMD_READ; returns the reply's error and data.
fn nbd_read(s: &mut std::os::unix::net::UnixStream, off: u64, len: u32) -> (u32, Vec<u8>) {
    use byteorder::{BigEndian as BE, ReadBytesExt, WriteBytesExt};
    use std::io::Read;
    s.write_u32::<BE>(0x2560_9513).unwrap();
    s.write_u16::<BE>(0).unwrap();
    s.write_u16::<BE>(0).unwrap(); // NBD_CMD_READ
    s.write_u64::<BE>(0xfeed).unwrap();
    s.write_u64::<BE>(off).unwrap();
    s.write_u32::<BE>(len).unwrap();
    assert_eq!(s.read_u32::<BE>().unwrap(), 0x6744_6698);
    let error = s.read_u32::<BE>().unwrap();
    assert_eq!(s.read_u64::<BE>().unwrap(), 0xfeed);
    let mut data = vec![0u8; if error == 0 { len as usize } else { 0 }];
    s.read_exact(&mut data).unwrap();
    (error, data)
}

#[test]
fn nbd_exports_read_as_cat_and_take_writes_as_lvmsim_write() {
    use std::io::Write;
    let s = common::load_kernel("two-snaps-one-overflows");
    let b = s.work.path().join("b.img");
    std::fs::copy(&s.devs[0].1, &b).unwrap();
    let sock = s.work.path().join("nbd.sock");
    let uri = |e: &str| format!("nbd+unix:///{e}?socket={}", sock.display());
    let out = s
        .lvmsim()
        .args(["kernel", "start", "--nbd"])
        .arg(format!("unix:{}", sock.display()))
        .arg(s.work.path().join("k"))
        .run();
    assert!(out.ok(), "kernel start --nbd: {}", out.stderr);
    let k = Running {
        dir: s.work.path().join("k"),
        mounts: Vec::new(),
    };
    let list = nbd_tool(&["nbdinfo", "--list", &uri("")]);
    for e in ["vg/big", "vg/origin", "vg/small"] {
        assert!(list.contains(&format!("export=\"{e}\"")), "{list}");
    }
    // A malformed greeting and a client that vanishes mid-request end
    // only their own connections.
    {
        let mut bad = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        let _ = bad.write_all(&[0xff; 64]);
        let (mut gone, _) = nbd_go(&sock, "vg/origin");
        let _ = gone.write_all(&[0x25, 0x60, 0x95, 0x13, 0, 0]);
    }
    for e in ["vg/big", "vg/origin"] {
        assert_eq!(
            nbd_tool(&["nbdinfo", "--size", &uri(e)]).trim(),
            (8u64 << 20).to_string()
        );
        let copy = s.work.path().join("copy");
        nbd_tool(&["nbdcopy", &uri(e), copy.to_str().unwrap()]);
        let cat = s.lvmsim().args(["--nolocking", "cat", e]).run();
        assert!(
            cat.ok() && std::fs::read(&copy).unwrap() == cat.stdout,
            "{e} differs from cat"
        );
    }
    // The invalid snapshot is a read-only export whose reads fail with EIO.
    assert!(nbd_tool(&["nbdinfo", &uri("vg/small")]).contains("is_read_only: true"));
    let (mut small, size) = nbd_go(&sock, "vg/small");
    assert_eq!(size, 8 << 20);
    assert_eq!(nbd_read(&mut small, 0, 4096).0, EIO as u32);
    // A read past the end is refused (EINVAL); the connection stays.
    let (mut origin, _) = nbd_go(&sock, "vg/origin");
    assert_eq!(nbd_read(&mut origin, (8 << 20) - 512, 1024).0, 22);
    assert_eq!(nbd_read(&mut origin, 0, 512).0, 0);
    drop((small, origin));
    // Writes through the export equal the same writes with lvmsim write.
    let data: Vec<u8> = (0..(3u32 << 20) / 4)
        .flat_map(|i| (i * 7).to_le_bytes())
        .collect();
    let src = s.work.path().join("data");
    std::fs::write(&src, &data).unwrap();
    // One request at a time, in order: chunks reach the COW as they do
    // through `lvmsim write`.
    nbd_tool(&[
        "nbdcopy",
        "--connections=1",
        "--requests=1",
        "--threads=1",
        src.to_str().unwrap(),
        &uri("vg/origin"),
    ]);
    let out = stop_when_closed(&k.dir);
    assert!(out.ok(), "kernel stop: {}", out.stderr);
    let w = Lvmsim::new()
        .dev(&s.devs[0].0, &b)
        .args(["write", "vg/origin", "--offset", "0"])
        .stdin(&data)
        .run();
    assert!(w.ok(), "{}", w.stderr);
    assert!(
        std::fs::read(&s.devs[0].1).unwrap() == std::fs::read(&b).unwrap(),
        "the images differ after the same writes"
    );
}

/// A child spawned while a device file is open inherits its descriptor
/// and closes that copy at `exec` (close-on-exec): FUSE announces the
/// close, but the file stays open in its opener and no release follows.
/// The device keeps its open count and the kernel answers at once; the
/// opener's own close is then counted before the next answer.
#[test]
fn a_childs_close_of_an_inherited_file_is_not_the_files_close() {
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 0);
    let kdir = t.path().join("k");
    let k = Running::start(&devs, &kdir);
    let f = std::fs::File::open(k.file("vg/origin")).unwrap();
    run(&mut Command::new("true"));
    let handles = |s: &lvmsim::kernel::Status| {
        s.devices
            .iter()
            .find(|d| d.name == "vg-origin")
            .map(|d| d.handles)
    };
    let began = std::time::Instant::now();
    let s = lvmsim::kernel::status(&kdir).unwrap();
    let waited = began.elapsed();
    assert_eq!(handles(&s), Some(1));
    assert!(
        waited < lvmsim::kernel::RELEASE_WAIT / 2,
        "the status waited {waited:?} for a release that cannot come"
    );
    drop(f);
    assert_eq!(handles(&lvmsim::kernel::status(&kdir).unwrap()), Some(0));
    k.stop();
}

/// `dmsetup suspend`, `resume` and `remove` of the running kernel's
/// devices: I/O to a suspended device waits for its resume while the
/// other devices serve; `info` shows the state; an open device, or one
/// another device stacks on, is not removed (libdevmapper's line for the
/// kernel's EBUSY), a closed one is.
#[test]
fn dmsetup_suspends_resumes_and_removes_live_devices() {
    use std::os::unix::fs::FileExt;
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 4);
    let kdir = t.path().join("k");
    let k = Running::start(&devs, &kdir);
    let dm = |args: &[&str]| {
        let mut a = vec!["dmsetup"];
        a.extend_from_slice(args);
        live(&devs, &kdir, &a)
    };
    let origin = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(k.file("vg/origin"))
        .unwrap();
    origin.write_all_at(&[b'A'; 4096], 0).unwrap();
    let out = dm(&["suspend", "vg-origin"]);
    assert!(out.ok() && out.text().is_empty(), "{}", out.stderr);
    let attrs = dm(&["info", "-c", "-o", "name,attr", "--noheadings"]).text();
    assert!(attrs.contains("vg-origin:L-sw\n"), "{attrs}");
    assert!(attrs.contains("vg-snap:L--w\n"), "{attrs}");
    assert!(dm(&["info", "vg-origin"])
        .text()
        .contains("State:             SUSPENDED\n"));
    // lvs shows the suspended state as lvm2 does: 's' in lv_attr.
    let lvs = live(
        &devs,
        &kdir,
        &["lvs", "--noheadings", "-o", "lv_name,lv_attr,lv_suspended"],
    );
    assert!(lvs.ok(), "{}", lvs.stderr);
    assert_eq!(
        lvs.text(),
        "  origin owi-sos---  suspended\n  snap   swi-a-s---           \n"
    );
    // A read of the suspended origin waits; the snapshot serves.
    let reader = origin.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut b = [0u8; 4096];
        let r = reader.read_exact_at(&mut b, 0).map(|()| b[0]);
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    assert_eq!(
        std::fs::read(k.file("vg/snap")).unwrap()[..4096],
        [0u8; 4096]
    );
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "a read of a suspended device was answered"
    );
    let out = dm(&["resume", "/dev/mapper/vg-origin"]);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap(),
        Ok(b'A')
    );
    assert!(dm(&["info", "vg-origin"])
        .text()
        .contains("State:             ACTIVE\n"));
    let refused = |name: &str, op: &str, why: &str| {
        let out = dm(&[op, name]);
        assert_eq!(out.status, 1, "{op} {name}");
        assert_eq!(
            out.stderr,
            format!("device-mapper: {op} ioctl on {name}  failed: {why}\nCommand failed.\n")
        );
    };
    let busy = "Device or resource busy";
    refused("vg-origin", "remove", busy);
    refused("vg-origin-real", "remove", busy);
    refused("vg-nosuch", "suspend", "No such device or address");
    drop(origin);
    wait_handles(&k, "vg-origin", 0);
    let out = dm(&["remove", "vg-snap"]);
    assert!(out.ok() && out.text().is_empty(), "{}", out.stderr);
    let names: Vec<String> = minors(&k).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["vg-origin", "vg-origin-real", "vg-snap-cow"]);
    assert!(!k.file("vg/snap").exists());
    // The store lost its holder: it can go now.
    let out = dm(&["remove", "vg-snap-cow"]);
    assert!(out.ok(), "{}", out.stderr);
    k.stop();
}

/// `lvrename` of an active origin renames its devices as the kernel
/// renames them: each keeps its number, a file opened under the old name
/// keeps reading and writing the LV, the new names serve it.
#[test]
fn lvrename_renames_the_live_devices() {
    use std::os::unix::fs::FileExt;
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 8, 4);
    let kdir = t.path().join("k");
    let k = Running::start(&devs, &kdir);
    let before = minors(&k);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(k.file("vg/origin"))
        .unwrap();
    f.write_all_at(&[b'R'; 4096], 0).unwrap();
    let out = live(&devs, &kdir, &["lvrename", "vg", "origin", "renamed"]);
    assert!(out.ok(), "{}", out.stderr);
    let mut want: Vec<(String, u64)> = before
        .into_iter()
        .map(|(n, m)| (n.replace("vg-origin", "vg-renamed"), m))
        .collect();
    want.sort();
    assert_eq!(minors(&k), want);
    let mut b = [0u8; 4096];
    f.read_exact_at(&mut b, 0).unwrap();
    assert_eq!(b, [b'R'; 4096]);
    f.write_all_at(&[b'S'; 4096], 4096).unwrap();
    assert!(!k.file("vg/origin").exists());
    let data = std::fs::read(k.file("vg/renamed")).unwrap();
    assert!(data[..4096] == [b'R'; 4096] && data[4096..8192] == [b'S'; 4096]);
    assert_eq!(k.device("vg-renamed")["handles"], 1);
    drop(f);
    k.stop();
}

/// A loop device over a file, detached when dropped (also when a test
/// fails).
struct LoopDev(String);

impl LoopDev {
    fn attach(file: &Path) -> LoopDev {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        LoopDev(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `blkdiscard -o OFFSET -l LEN` on it: Ok, or Err(its stderr).
    fn blkdiscard(&self, offset: u64, len: u64) -> Result<(), String> {
        let out = Command::new("blkdiscard")
            .args(["-o", &offset.to_string(), "-l", &len.to_string(), &self.0])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// `fstrim -v AT`: Ok(its stdout) or Err(its stderr).
fn fstrim(at: &Path) -> Result<String, String> {
    let out = Command::new("fstrim").arg("-v").arg(at).output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// How many 4 KiB blocks of `bytes` are all `b`.
fn blocks_of(bytes: &[u8], b: u8) -> usize {
    bytes
        .chunks(4096)
        .filter(|c| c.len() == 4096 && c.iter().all(|x| *x == b))
        .count()
}

/// Sends NBD_CMD_TRIM; returns the reply's error.
pub(crate) fn nbd_trim(s: &mut std::os::unix::net::UnixStream, off: u64, len: u32) -> u32 {
    use byteorder::{BigEndian as BE, ReadBytesExt, WriteBytesExt};
    s.write_u32::<BE>(0x2560_9513).unwrap();
    s.write_u16::<BE>(0).unwrap();
    s.write_u16::<BE>(4).unwrap(); // NBD_CMD_TRIM
    s.write_u64::<BE>(0x7e1d).unwrap();
    s.write_u64::<BE>(off).unwrap();
    s.write_u32::<BE>(len).unwrap();
    assert_eq!(s.read_u32::<BE>().unwrap(), 0x6744_6698);
    let error = s.read_u32::<BE>().unwrap();
    assert_eq!(s.read_u64::<BE>().unwrap(), 0x7e1d);
    error
}

/// Discards reach the devices as the real kernel's block layer sends
/// them: `blkdiscard` on a loop device over a device file (the loop
/// driver punches a hole in the file: `lo_fallocate`), `fstrim` of an
/// ext4 mounted from one, NBD_CMD_TRIM. A linear LV passes the discard
/// to its PVs (`linear_map`), which read zeros there afterwards (the PV
/// images stand for loop devices over files); an origin with a snapshot
/// (`snapshot-origin`: `origin_ctr` takes no discards) and the snapshot
/// (`snapshot_ctr` takes them only with `discard_zeroes_cow`, which lvm2
/// does not set) refuse them with EOPNOTSUPP and nothing changes.
#[test]
fn discards_zero_a_linear_lv_and_the_snapshot_targets_refuse_them() {
    let t = common::scratch();
    let devs = fresh_vg(t.path(), 16, 0);
    let kdir = t.path().join("k");
    let sock = t.path().join("nbd.sock");
    let start = || {
        Running::start_with(
            &devs,
            &kdir,
            &["--nbd", &format!("unix:{}", sock.display())],
        )
    };
    let m = t.path().join("m");

    // A linear LV: blkdiscard through a loop device zeroes the range.
    let mut k = start();
    let f = k.file("vg/origin");
    let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
    file.write_all_at(&vec![0xa5u8; 1 << 20], 0).unwrap();
    drop(file);
    {
        let l = LoopDev::attach(&f);
        l.blkdiscard(65536, 131072).unwrap();
    }
    let bytes = std::fs::read(&f).unwrap();
    assert!(bytes[65536..196_608].iter().all(|b| *b == 0));
    assert!(bytes[..65536].iter().all(|b| *b == 0xa5));
    assert!(bytes[196_608..1 << 20].iter().all(|b| *b == 0xa5));
    // NBD TRIM zeroes too.
    let (mut s, _) = nbd_go(&sock, "vg/origin");
    assert_eq!(nbd_trim(&mut s, 4096, 8192), 0);
    assert_eq!(nbd_read(&mut s, 0, 16384).1, {
        let mut want = vec![0xa5u8; 16384];
        want[4096..12288].fill(0);
        want
    });
    drop(s);
    // fstrim of an ext4: a deleted file's blocks read as zeros after it.
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "4096", "-E", "nodiscard"])
        .arg(&f));
    k.mount(&f, &m, "");
    std::fs::write(m.join("gone"), vec![0xabu8; 1 << 20]).unwrap();
    run(Command::new("sync").arg("-f").arg(m.join("gone")));
    std::fs::remove_file(m.join("gone")).unwrap();
    run(Command::new("sync").arg("-f").arg(&m));
    assert_eq!(blocks_of(&std::fs::read(&f).unwrap(), 0xab), 256);
    let trimmed = fstrim(&m).unwrap();
    assert!(trimmed.contains("trimmed"), "{trimmed}");
    assert_eq!(blocks_of(&std::fs::read(&f).unwrap(), 0xab), 0);
    k.umount(&m);
    k.stop();

    // With a snapshot: the origin and the snapshot refuse discards. The
    // loop device offers discards at first (its file has `fallocate`);
    // the first one comes back EOPNOTSUPP, which `blkdev_issue_discard`
    // takes as done (a discard is advisory), and the loop driver then
    // drops its discard limits (`lo_fallocate`), so the next BLKDISCARD
    // is refused up front, as on the dm device itself.
    snapshot(&devs, 4);
    let mut k = start();
    let before = hashes(&devs);
    for lv in ["vg/origin", "vg/snap"] {
        let l = LoopDev::attach(&k.file(lv));
        l.blkdiscard(0, 1 << 20).unwrap();
        let e = l.blkdiscard(0, 1 << 20).unwrap_err();
        assert!(e.contains("Operation not supported"), "{lv}: {e}");
        let (mut s, _) = nbd_go(&sock, lv);
        assert_eq!(nbd_trim(&mut s, 0, 4096), 95, "{lv}: NBD TRIM");
    }
    assert_eq!(
        hashes(&devs),
        before,
        "a refused discard changed the images"
    );
    // ext4 on the origin: its discards fail alike, and FITRIM is refused
    // once the loop device has dropped its limits.
    k.mount(&k.file("vg/origin"), &m, "");
    let _ = fstrim(&m);
    let e = fstrim(&m).unwrap_err();
    assert!(e.contains("not supported"), "{e}");
    k.umount(&m);
    k.stop();
}
