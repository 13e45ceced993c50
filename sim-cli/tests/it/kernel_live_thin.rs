//! Thin pools and thin LVs served by the simulated kernel (FUSE), on the
//! kernel-made pool of testdata/kernel/thin-pool: the device tables and
//! status lines against the real kernel's records, ext4 on a thin LV and
//! on a thin snapshot taken through the kernel, the images after a stop
//! equal to what the files read, and a kernel killed during writes
//! leaving pool metadata `thin_check` accepts with every write acknowledged
//! by an fsync.

use crate::common::{self, Lvmsim};
use crate::kernel_live::{live, nbd_go, nbd_trim, run, wait_handles, Running};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

const SCENARIO: &str = "thin-pool";

fn recorded(step: &str) -> String {
    std::fs::read_to_string(common::kernel(SCENARIO).join(step)).unwrap()
}

/// `lvmsim cat LV` of the images (no kernel running).
fn cat(devs: &[(String, std::path::PathBuf)], lv: &str) -> Vec<u8> {
    let o = Lvmsim::new()
        .dev(&devs[0].0, &devs[0].1)
        .args(["cat", lv])
        .run();
    assert!(o.ok(), "cat {lv}: {}", o.stderr);
    o.stdout
}

/// `thin_check` (thin-provisioning-tools) of the pool's metadata LV as
/// `lvmsim cat` reads it.
fn thin_check(devs: &[(String, std::path::PathBuf)], dir: &Path) {
    let meta = dir.join("tmeta.bin");
    std::fs::write(&meta, cat(devs, "vg/pool_tmeta")).unwrap();
    let o = Command::new("thin_check")
        .arg(&meta)
        .output()
        .expect("thin_check (thin-provisioning-tools) is installed");
    assert!(
        o.status.success(),
        "thin_check rejects the metadata: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_file(meta).unwrap();
}

#[test]
fn tables_and_status_equal_the_kernels() {
    let s = common::load_kernel(SCENARIO);
    let kdir = s.work.path().join("k");
    let k = Running::start(&s.devs, &kdir);
    let devno = format!("{}=254:0", s.devs[0].0);
    // Steps 025/026: the pool's stack (its `_tmeta`, `_tdata` and
    // `-tpool` numbered 253:0..2 as the real kernel numbered them), its
    // read-only linear device and the thin LVs.
    let o = live(&s.devs, &kdir, &["dmsetup", "table", "--devno", &devno]);
    assert_eq!(o.text(), recorded("025.stdout"), "{}", o.stderr);
    let o = live(&s.devs, &kdir, &["dmsetup", "status"]);
    assert_eq!(o.text(), recorded("026.stdout"), "{}", o.stderr);
    // Open counts: the metadata and data LVs are held by `-tpool`,
    // `-tpool` by the pool's device and each thin LV.
    let o = live(
        &s.devs,
        &kdir,
        &["dmsetup", "info", "-c", "-o", "name,attr,open"],
    );
    assert_eq!(
        o.text(),
        "Name             Stat Open\n\
         vg-pool          L--r    0\n\
         vg-pool-tpool    L--w    4\n\
         vg-pool_tdata    L--w    1\n\
         vg-pool_tmeta    L--w    1\n\
         vg-snap          L--w    0\n\
         vg-thin1         L--w    0\n\
         vg-thin2         L--w    0\n",
        "{}",
        o.stderr
    );
    // The pool's own device is loaded read-only (lvm2's read_only_lv).
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(k.file("mapper/vg-pool"))
        .unwrap();
    let e = f.write_all_at(b"x", 0).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(30), "{e}");
    drop(f);
    wait_handles(&k, "vg-pool", 0);
    k.stop();
}

#[test]
fn ext4_on_a_thin_lv_and_its_thin_snapshot() {
    let s = common::load_kernel(SCENARIO);
    let kdir = s.work.path().join("k");
    let mut k = Running::start(&s.devs, &kdir);
    let thin2 = k.file("vg/thin2");
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&thin2));
    let mnt = s.work.path().join("m");
    k.mount(&thin2, &mnt, "");
    let text: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(mnt.join("one"), &text).unwrap();
    std::fs::File::open(mnt.join("one"))
        .unwrap()
        .sync_all()
        .unwrap();
    run(Command::new("sync").arg("-f").arg(&mnt));
    // A thin snapshot of the mounted origin, through the kernel.
    let o = live(
        &s.devs,
        &kdir,
        &["lvcreate", "-s", "-kn", "-n", "s2", "vg/thin2"],
    );
    assert!(o.ok(), "lvcreate -s: {}", o.stderr);
    assert!(
        o.text().contains("Logical volume \"s2\" created."),
        "{}",
        o.text()
    );
    // The origin changes after it.
    std::fs::write(mnt.join("one"), b"changed").unwrap();
    std::fs::write(mnt.join("two"), &text[..5000]).unwrap();
    run(Command::new("sync").arg("-f").arg(&mnt));
    let snap_mnt = s.work.path().join("s");
    k.mount(&k.file("vg/s2"), &snap_mnt, "ro,noload");
    assert!(std::fs::read(snap_mnt.join("one")).unwrap() == text);
    assert!(!snap_mnt.join("two").exists());
    assert_eq!(std::fs::read(mnt.join("one")).unwrap(), b"changed");
    k.umount(&snap_mnt);
    k.umount(&mnt);
    // A new thin LV through the kernel is served at once.
    let o = live(
        &s.devs,
        &kdir,
        &["lvcreate", "-V", "4M", "-T", "vg/pool", "-n", "t3"],
    );
    assert!(o.ok(), "lvcreate -V: {}", o.stderr);
    std::fs::OpenOptions::new()
        .write(true)
        .open(k.file("vg/t3"))
        .unwrap()
        .write_all_at(&[7u8; 70000], 100_000)
        .unwrap();
    let o = live(&s.devs, &kdir, &["dmsetup", "table", "vg-t3"]);
    assert_eq!(o.text(), "0 8192 thin 253:2 6\n", "{}", o.stderr);
    // lvremove of a thin LV through the kernel removes its device.
    let o = live(&s.devs, &kdir, &["lvremove", "-y", "vg/snap"]);
    assert!(o.ok(), "lvremove: {}", o.stderr);
    assert!(!k.file("mapper/vg-snap").exists());
    // What the files read is what the images hold after the stop.
    let lvs = ["thin1", "thin2", "s2", "t3"];
    let read: Vec<Vec<u8>> = lvs
        .iter()
        .map(|l| std::fs::read(k.file(&format!("vg/{l}"))).unwrap())
        .collect();
    k.stop();
    for (l, bytes) in lvs.iter().zip(&read) {
        assert!(cat(&s.devs, &format!("vg/{l}")) == *bytes, "vg/{l}");
    }
    thin_check(&s.devs, s.work.path());
}

#[test]
fn a_killed_kernel_leaves_the_last_committed_thin_metadata() {
    use std::sync::{Arc, Mutex};
    let s = common::load_kernel(SCENARIO);
    let kdir = s.work.path().join("k");
    let k = Running::start(&s.devs, &kdir);
    let pid = k.status()["pid"].as_u64().unwrap().to_string();
    let block = |i: u64| -> Vec<u8> {
        format!("thin block {i:04} ")
            .bytes()
            .cycle()
            .take(4096)
            .collect()
    };
    // 4 KiB into each 64 KiB data block of thin2 (each write provisions a
    // block), an fsync after every third: the blocks before the last
    // fsync are durable.
    let durable = Arc::new(Mutex::new(0u64));
    let writer = {
        let durable = Arc::clone(&durable);
        let thin2 = k.file("vg/thin2");
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new().write(true).open(thin2).unwrap();
            for i in 0..128u64 {
                if f.write_all_at(&block(i), i * 65536 + 8192).is_err() {
                    return;
                }
                if i % 3 == 2 {
                    if f.sync_data().is_err() {
                        return;
                    }
                    *durable.lock().unwrap() = i + 1;
                }
            }
        })
    };
    while *durable.lock().unwrap() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    run(Command::new("kill").args(["-9", &pid]));
    writer.join().unwrap();
    let durable = *durable.lock().unwrap();
    run(Command::new("umount").arg("-l").arg(kdir.join("dev")));
    thin_check(&s.devs, s.work.path());
    let thin2 = cat(&s.devs, "vg/thin2");
    for i in 0..durable {
        let at = (i * 65536 + 8192) as usize;
        assert!(
            thin2[at..at + 4096] == block(i)[..],
            "block {i} acknowledged by an fsync is lost"
        );
    }
    drop(k);
}

#[test]
fn a_thin_pool_is_committed_once_a_second() {
    let s = common::load_kernel(SCENARIO);
    let kdir = s.work.path().join("k");
    let k = Running::start(&s.devs, &kdir);
    let pid = k.status()["pid"].as_u64().unwrap().to_string();
    // A new block of thin2, written with no fsync and the file kept open:
    // only the kernel's periodic commit makes its mapping durable.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(k.file("vg/thin2"))
        .unwrap();
    f.write_all_at(&[0x5a; 4096], 40 * 65536).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    run(Command::new("kill").args(["-9", &pid]));
    drop(f);
    run(Command::new("umount").arg("-l").arg(kdir.join("dev")));
    thin_check(&s.devs, s.work.path());
    let thin2 = cat(&s.devs, "vg/thin2");
    let at = 40 * 65536;
    assert!(thin2[at..at + 4096].iter().all(|b| *b == 0x5a));
    drop(k);
}

/// The pool of testdata/kernel/thin-recover holds a metadata snapshot
/// (block 59, the kernel's status at step 022) and skips block zeroing:
/// the kernel serves it, a write to `keep` provisions blocks, and the
/// metadata afterwards passes `thin_check` with the snapshot still held.
#[test]
fn a_pool_holding_a_metadata_snapshot_takes_writes() {
    let s = common::load_kernel("thin-recover");
    let kdir = s.work.path().join("k");
    let k = Running::start(&s.devs, &kdir);
    let before = live(&s.devs, &kdir, &["dmsetup", "status", "vg-pool-tpool"]);
    assert_eq!(
        before.text(),
        "0 16384 thin-pool 6 117/1024 112/128 59 rw discard_passdown queue_if_no_space - 256 \n",
        "{}",
        before.stderr
    );
    // keep has its first 16 blocks (1 MiB) mapped: of blocks 10..30, 6
    // are rewritten in place and 14 are new (112 + 14 = 126 pool blocks
    // used; keep maps 30 blocks of 128 sectors, the last ending at sector
    // 3839).
    let bytes = vec![0x5au8; 20 * 65536];
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(k.file("vg/keep"))
        .unwrap();
    f.write_all_at(&bytes, 10 * 65536).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let after = live(
        &s.devs,
        &kdir,
        &["dmsetup", "status", "vg-pool-tpool", "vg-keep"],
    );
    assert!(
        after
            .text()
            .contains(" 126/128 59 rw discard_passdown queue_if_no_space - 256 ")
            && after.text().contains("thin 3840 3839"),
        "{}{}",
        after.text(),
        after.stderr
    );
    wait_handles(&k, "vg-keep", 0);
    k.stop();
    let keep = cat(&s.devs, "vg/keep");
    assert!(keep[10 * 65536..30 * 65536] == bytes[..]);
    thin_check(&s.devs, s.work.path());
}

/// A discard of thin1's file (`fallocate --punch-hole`, as the loop driver
/// turns a discard into) unmaps the whole 64 KiB blocks it covers, as
/// dm-thin does, and leaves a partly covered block alone. The kernel's
/// thin_dump of this pool (dm-pdata/tests/data/thin-pool.thin_dump.xml)
/// maps thin1's (device 1) blocks 1..=4 to data blocks 1, 30, 3 and 31;
/// the snapshot (device 4) shares data block 1. So thin1 loses 4 mapped
/// blocks (2304 - 4 * 128 = 1792 sectors, the kernel's 026 status giving
/// 2304), the pool frees 3 (27 - 3 = 24 used), and the snapshot reads as
/// before.
#[test]
fn a_discard_unmaps_a_thin_lvs_whole_blocks() {
    let s = common::load_kernel(SCENARIO);
    let kdir = s.work.path().join("k");
    let k = Running::start(&s.devs, &kdir);
    let status = || {
        let o = live(&s.devs, &kdir, &["dmsetup", "status"]);
        assert!(o.ok(), "{}", o.stderr);
        o.text()
    };
    assert_eq!(status(), recorded("026.stdout"));
    let thin1 = std::fs::read(k.file("vg/thin1")).unwrap();
    let snap = std::fs::read(k.file("vg/snap")).unwrap();
    const B: usize = 65536;
    let (off, len) = (B, 4 * B + 1000);
    run(Command::new("fallocate")
        .args(["--punch-hole", "--keep-size", "-o", &off.to_string(), "-l"])
        .arg(len.to_string())
        .arg(k.file("vg/thin1")));
    let now = std::fs::read(k.file("vg/thin1")).unwrap();
    assert!(now[..B] == thin1[..B], "block 0 is not discarded");
    assert!(
        now[B..5 * B].iter().all(|&b| b == 0),
        "blocks 1..=4 read as zeros"
    );
    assert!(
        now[5 * B..] == thin1[5 * B..],
        "block 5, partly covered, is kept"
    );
    assert!(std::fs::read(k.file("vg/snap")).unwrap() == snap);
    let st = status();
    assert!(st.contains("vg-thin1: 0 16384 thin 1792 12927\n"), "{st}");
    assert!(st.contains(" 24/256 - rw "), "{st}");
    assert!(st.contains("vg-snap: 0 16384 thin 2304 7807\n"), "{st}");
    // A discard of less than a block does nothing.
    run(Command::new("fallocate")
        .args(["--punch-hole", "--keep-size", "-o", "0", "-l", "65535"])
        .arg(k.file("vg/thin1")));
    assert!(std::fs::read(k.file("vg/thin1")).unwrap() == now);
    wait_handles(&k, "vg-thin1", 0);
    k.stop();
    thin_check(&s.devs, s.work.path());
    assert!(cat(&s.devs, "vg/thin1") == now);
    assert!(cat(&s.devs, "vg/snap") == snap);
}

/// NBD TRIM on thin2's export unmaps a whole block: the kernel's thin_dump
/// maps thin2's (device 2, shared with nothing) block 32 to data block 18,
/// so thin2 goes from 640 mapped sectors (the kernel's 026 status) to 512
/// and the pool from 27 used blocks to 26; a TRIM of less than a block
/// succeeds and changes nothing.
#[test]
fn nbd_trim_unmaps_a_thin_lvs_whole_block() {
    let s = common::load_kernel(SCENARIO);
    let kdir = s.work.path().join("k");
    let sock = s.work.path().join("nbd.sock");
    let k = Running::start_with(
        &s.devs,
        &kdir,
        &["--nbd", &format!("unix:{}", sock.display())],
    );
    let before = std::fs::read(k.file("vg/thin2")).unwrap();
    let (mut c, size) = nbd_go(&sock, "vg/thin2");
    assert_eq!(size, 8 << 20);
    const B: usize = 65536;
    assert_eq!(nbd_trim(&mut c, 32 * B as u64, B as u32), 0);
    assert_eq!(nbd_trim(&mut c, 64 * B as u64 + 512, B as u32 - 1024), 0);
    drop(c);
    let now = std::fs::read(k.file("vg/thin2")).unwrap();
    assert!(now[32 * B..33 * B].iter().all(|&b| b == 0));
    assert!(before[32 * B..33 * B].iter().any(|&b| b != 0));
    assert!(now[..32 * B] == before[..32 * B] && now[33 * B..] == before[33 * B..]);
    let o = live(&s.devs, &kdir, &["dmsetup", "status"]);
    assert!(
        o.text().contains("vg-thin2: 0 16384 thin 512 16383\n"),
        "{}",
        o.text()
    );
    assert!(o.text().contains(" 26/256 - rw "), "{}", o.text());
    wait_handles(&k, "vg-thin2", 0);
    k.stop();
    thin_check(&s.devs, s.work.path());
}
