//! Replaying the kernel's scenarios with lvmsim's writing commands and
//! comparing whole PV images, byte for byte, with what the real kernel and
//! lvm2 left. The host, uname and time of each metadata write are set to
//! the recorded ones (LVMSIM_HOSTNAME, LVMSIM_UNAME, LVMSIM_TIME), so that
//! nothing may differ at all.

use crate::common;

use common::{kernel, unzst, Lvmsim};

/// merge-interrupted: the machine was powered off mid-merge; on the next
/// boot `vgchange -ay --poll n vg` let the kernel finish the merge and
/// `lvm lvpoll --polloperation merge -i 1 vg/origin` recorded it (two
/// metadata writes). lvmsim runs the same two commands on the images left
/// by the power-off.
#[test]
fn merge_interrupted_resumes_to_the_kernels_bytes() {
    let k = kernel("merge-interrupted");
    let t = crate::common::scratch();
    common::unzst_to(
        &k.join("pv1.after-boot1.img.zst"),
        &t.path().join("pv1.img"),
    );
    let dev = "/dev/vda=pv1.img";
    let o = Lvmsim::new()
        .args(["--dev", dev, "vgchange", "-ay", "--poll", "n", "vg"])
        .cwd(t.path())
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        std::fs::read_to_string(k.join("021.stdout")).unwrap()
    );
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
    let o = Lvmsim::new()
        .args([
            "--dev",
            dev,
            "lvpoll",
            "--polloperation",
            "merge",
            "-i",
            "1",
            "vg/origin",
        ])
        .cwd(t.path())
        .env("LVMSIM_HOSTNAME", "kgen")
        .env("LVMSIM_UNAME", &uname)
        .env("LVMSIM_TIME", &time)
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        std::fs::read_to_string(k.join("024.stdout")).unwrap()
    );
    let ours = std::fs::read(t.path().join("pv1.img")).unwrap();
    assert_eq!(ours.len(), recorded.len());
    if let Some(at) = ours.iter().zip(&recorded).position(|(a, b)| a != b) {
        panic!("the PV image differs from the kernel's first at byte {at}");
    }
}
