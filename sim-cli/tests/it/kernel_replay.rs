//! Replaying the kernel's scenarios with lvmsim's writing commands and
//! comparing whole PV images, byte for byte, with what the real kernel and
//! lvm2 left. The host, uname and time of each metadata write are set to
//! the recorded ones (LVMSIM_HOSTNAME, LVMSIM_UNAME, LVMSIM_TIME), so that
//! nothing may differ at all.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn kernel(scenario: &str) -> PathBuf {
    common::repo().join("testdata/kernel").join(scenario)
}

fn unzst(p: &Path) -> Vec<u8> {
    zstd::stream::decode_all(std::fs::File::open(p).unwrap()).unwrap()
}

fn lvmsim(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// merge-interrupted: the machine was powered off mid-merge; on the next
/// boot `vgchange -ay --poll n vg` let the kernel finish the merge and
/// `lvm lvpoll --polloperation merge -i 1 vg/origin` recorded it (two
/// metadata writes). lvmsim runs the same two commands on the images left
/// by the power-off.
#[test]
fn merge_interrupted_resumes_to_the_kernels_bytes() {
    let k = kernel("merge-interrupted");
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("pv1.img"),
        unzst(&k.join("pv1.after-boot1.img.zst")),
    )
    .unwrap();
    let dev = "/dev/vda=pv1.img";
    let (rc, out, err) = lvmsim(
        t.path(),
        &[],
        &["--dev", dev, "vgchange", "-ay", "--poll", "n", "vg"],
    );
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out, std::fs::read_to_string(k.join("021.stdout")).unwrap());
    // The write time and host of step 024, from the kernel's own record.
    let versions = std::fs::read_to_string(k.join("boot2.versions")).unwrap();
    let release = versions
        .lines()
        .find_map(|l| l.strip_prefix("kernel "))
        .unwrap()
        .to_owned();
    let full = versions
        .lines()
        .find_map(|l| l.strip_prefix("kernel_version "))
        .unwrap();
    let build = &full[full.find(" #").unwrap() + 1..];
    let uname = format!("Linux kgen {release} {build} x86_64");
    let recorded = unzst(&k.join("pv1.img.zst"));
    let text = String::from_utf8_lossy(&recorded[4096..1 << 20]);
    let time = text
        .split("description = \"Write[2] from lvpoll")
        .nth(1)
        .and_then(|r| r.split("creation_time = ").nth(1))
        .and_then(|r| r.split('\t').next())
        .unwrap()
        .to_owned();
    let env = [
        ("LVMSIM_HOSTNAME", "kgen"),
        ("LVMSIM_UNAME", uname.as_str()),
        ("LVMSIM_TIME", time.as_str()),
    ];
    let (rc, out, err) = lvmsim(
        t.path(),
        &env,
        &[
            "--dev",
            dev,
            "lvpoll",
            "--polloperation",
            "merge",
            "-i",
            "1",
            "vg/origin",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out, std::fs::read_to_string(k.join("024.stdout")).unwrap());
    let ours = std::fs::read(t.path().join("pv1.img")).unwrap();
    assert_eq!(ours.len(), recorded.len());
    if let Some(at) = ours.iter().zip(&recorded).position(|(a, b)| a != b) {
        panic!("the PV image differs from the kernel's first at byte {at}");
    }
}
