//! testdata/kernel/thin-merge: thin snapshot merges and pools that run out
//! of data space, as the kernel and lvm2 did them. lvmsim runs the
//! scenario's steps on the images the guest left before them (boot 1 ended
//! before the first `lvconvert --merge`, boot 2 before the writes that
//! overflow the pools) and is compared with what lvm2 printed and
//! recorded: command output, `vgcfgbackup`, every `lvs` field, the sha256
//! of every LV as the kernel read it, and the pool metadata the kernel
//! left (`thin_dump` of the final images).

use crate::common::{self, kgen, Scenario};

const SCENARIO: &str = "thin-merge";

/// The scenario's images as `suffix` names them (`img` for the final
/// ones, `after-boot1.img`, `after-boot2.img`).
fn load(suffix: &str) -> Scenario {
    let golden = common::kernel(SCENARIO);
    let work = common::scratch();
    let script = std::fs::read_to_string(golden.join("scenario")).unwrap();
    let devs = kgen::disks(&script)
        .into_iter()
        .map(|(disk, dev, _)| {
            let img = work.path().join(format!("{disk}.img"));
            common::unzst_to(&golden.join(format!("{disk}.{suffix}.zst")), &img);
            (dev, img)
        })
        .collect();
    Scenario {
        name: SCENARIO.to_owned(),
        golden,
        work,
        devs,
    }
}

fn recorded(file: &str) -> String {
    let p = common::kernel(SCENARIO).join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The hash a `check` step recorded.
fn check_hash(step: u32) -> String {
    recorded(&format!("{step:03}.sha256"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn run_ok(s: &Scenario, args: &[&str]) -> String {
    let o = s.lvmsim().args(args).run();
    assert_eq!(o.status, 0, "{args:?}: {}", o.stderr);
    o.text()
}

fn cat_hash(s: &Scenario, lv: &str) -> String {
    let o = s.lvmsim().args(["cat", lv]).run();
    assert_eq!(o.status, 0, "cat {lv}: {}", o.stderr);
    common::sha256(&o.stdout)
}

/// Runs `write` step `step` of the scenario through `lvmsim write`, one
/// piece as kgen's writer writes it; returns the last run's output.
fn write_step(s: &Scenario, step: u32) -> common::Output {
    let line = kgen::steps(&s.golden)
        .into_iter()
        .find(|st| st.n == step)
        .unwrap_or_else(|| panic!("no step {step}"));
    let words = line.words;
    assert_eq!(words[0], "write", "step {step}");
    let mut last = None;
    for (lv, sector, data) in kgen::write_pieces(&words) {
        let o = s
            .lvmsim()
            .args(["write", &lv, "--offset", &(sector * 512).to_string()])
            .stdin(&data)
            .run();
        let failed = o.status != 0;
        last = Some(o);
        if failed {
            break;
        }
    }
    last.unwrap()
}

/// The VG metadata lvmsim's `vgcfgbackup` gives, as
/// [`common::backup_body`] compares it.
fn backup(s: &Scenario) -> Vec<String> {
    let f = s.work.path().join("vg.backup");
    run_ok(s, &["vgcfgbackup", "-f", f.to_str().unwrap(), "vg"]);
    common::backup_body(&std::fs::read_to_string(&f).unwrap())
}

fn json_rows(t: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let v: serde_json::Value = serde_json::from_str(t).unwrap();
    v["report"][0]["lv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

/// Fields an image does not hold: the dm devices' numbers and the
/// kernel's read-ahead (as kernel_corpus.rs normalises them).
const KERNEL_ONLY: &[&str] = &["lv_kernel_major", "lv_kernel_minor", "lv_kernel_read_ahead"];

/// After `lvconvert --merge vg/s2` (step 024) lvm2 had deactivated and
/// reactivated the origin: the pool's own LV was left inactive (`twi---tz--`)
/// while its `-tpool` device served the origin, a state of the running
/// kernel that `lvs --active` (every LV active) does not take.
const POOL_LEFT_INACTIVE: &[&str] = &[
    "lv_active",
    "lv_active_exclusively",
    "lv_active_locally",
    "lv_attr",
    "lv_check_needed",
    "lv_device_open",
    "lv_inactive_table",
    "lv_live_table",
    "lv_permissions",
    "lv_suspended",
    "kernel_discards",
];

/// `lvs -a -o lv_all,vg_name` (JSON, bytes) of lvmsim against report
/// `step`'s, every field of every row; `active` as the guest had the VG;
/// `skip`: (LV, fields) the kernel's state decided.
fn lvs_equal(s: &Scenario, step: u32, active: bool, skip: &[(&str, &[&str])]) {
    let want = json_rows(&recorded(&format!("{step:03}.lvs.json")));
    let mut args = vec!["lvs", "-a"];
    if active {
        args.push("--active");
    }
    args.extend([
        "-o",
        "lv_all,vg_name",
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
    ]);
    let got = json_rows(&run_ok(s, &args));
    let names = |r: &[serde_json::Map<String, serde_json::Value>]| -> Vec<String> {
        r.iter().map(|r| r["lv_name"].to_string()).collect()
    };
    assert_eq!(names(&got), names(&want), "step {step}: rows");
    let mut diffs = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        for (k, v) in w {
            let lv = w["lv_name"].as_str().unwrap_or("");
            if KERNEL_ONLY.contains(&k.as_str())
                || skip
                    .iter()
                    .any(|(l, f)| *l == lv && f.contains(&k.as_str()))
            {
                continue;
            }
            if g.get(k) != Some(v) {
                diffs.push(format!(
                    "{} {k}: lvm2 {v}, lvmsim {:?}",
                    w["lv_name"],
                    g.get(k)
                ));
            }
        }
    }
    assert!(diffs.is_empty(), "step {step}:\n{}", diffs.join("\n"));
}

fn metadata_equal(s: &Scenario, step: u32) {
    let want = common::backup_body(&recorded(&format!("{step:03}.vgcfg.vg")));
    let got = backup(s);
    assert!(
        got == want,
        "step {step}: VG metadata differs:\nlvm2:\n{}\nlvmsim:\n{}",
        want.join("\n"),
        got.join("\n")
    );
}

/// Steps 15-42 on the images boot 1 left (origin `org` and thin snapshot
/// `s1` written, both inactive): the three merges. lvmsim's images are
/// inactive, so each `lvconvert --merge` merges at once, as lvm2 did for
/// `s1` (inactive) and `s2` (active, not open: lvm2 deactivated it); the
/// merge lvm2 left for `s3`'s next activation (origin open) is made by
/// restoring lvm2's metadata of that state, then read and ended by
/// `lvpoll --polloperation merge_thin`.
#[test]
fn thin_snapshots_merge_as_lvm2_and_the_kernel_merged_them() {
    let s = load("after-boot1.img");
    assert_eq!(cat_hash(&s, "vg/org"), check_hash(10));
    assert_eq!(cat_hash(&s, "vg/s1"), check_hash(11));

    // s1: "Volume vg/s1 replaced origin vg/org." (lvm2 prints the names
    // after the swap), two VG writes around the pool's delete of org's
    // device.
    let out = run_ok(&s, &["lvconvert", "--merge", "vg/s1"]);
    assert_eq!(out, recorded("015.stdout"));
    metadata_equal(&s, 16);
    lvs_equal(&s, 16, false, &[]);
    assert_eq!(cat_hash(&s, "vg/org"), check_hash(18));
    let dump = run_ok(&s, &["thin_dump", "vg/pool"]);
    assert!(
        dump.contains("transaction=\"3\"") && !dump.contains("dev_id=\"1\""),
        "{dump}"
    );

    // s2: made, written through both, merged.
    run_ok(&s, &["lvcreate", "-y", "-s", "-kn", "-n", "s2", "vg/org"]);
    for step in [20, 21] {
        let o = write_step(&s, step);
        assert_eq!(o.status, 0, "step {step}: {}", o.stderr);
    }
    assert_eq!(cat_hash(&s, "vg/org"), check_hash(22));
    assert_eq!(cat_hash(&s, "vg/s2"), check_hash(23));
    let out = run_ok(&s, &["lvconvert", "--merge", "vg/s2"]);
    assert_eq!(out, recorded("024.stdout"));
    assert_eq!(cat_hash(&s, "vg/org"), check_hash(25));
    metadata_equal(&s, 26);
    lvs_equal(&s, 26, true, &[("pool", POOL_LEFT_INACTIVE)]);

    // s3: made and written; lvm2's metadata of the merge it left for the
    // next activation (step 034) restored over lvmsim's.
    run_ok(&s, &["lvcreate", "-y", "-s", "-kn", "-n", "s3", "vg/org"]);
    for step in [28, 29] {
        let o = write_step(&s, step);
        assert_eq!(o.status, 0, "step {step}: {}", o.stderr);
    }
    assert_eq!(cat_hash(&s, "vg/org"), check_hash(30));
    assert_eq!(cat_hash(&s, "vg/s3"), check_hash(31));
    let pending = s.work.path().join("034.vgcfg.vg");
    let mut text = recorded("034.vgcfg.vg");
    // lvmsim's s3 has its own id and time: the restored text keeps them.
    let mine = s.work.path().join("mine.vg");
    run_ok(&s, &["vgcfgbackup", "-f", mine.to_str().unwrap(), "vg"]);
    let mine = std::fs::read_to_string(&mine).unwrap();
    for key in ["id = ", "creation_time = "] {
        let of = |t: &str| -> String {
            let at = t.find("\t\ts3 {").unwrap();
            let line = t[at..]
                .lines()
                .find(|l| l.trim_start().starts_with(key))
                .unwrap();
            line.to_owned()
        };
        let (theirs, ours) = (of(&text), of(&mine));
        text = text.replacen(&theirs, &ours, 1);
    }
    // vgcfgrestore writes the file's seqno + 1: lvm2's lvconvert wrote 17.
    assert!(text.contains("\tseqno = 17\n"));
    let text = text.replacen("\tseqno = 17\n", "\tseqno = 16\n", 1);
    std::fs::write(&pending, &text).unwrap();
    run_ok(&s, &["vgcfgrestore", "-f", pending.to_str().unwrap(), "vg"]);
    // The activation reads the snapshot's device for the origin.
    assert_eq!(cat_hash(&s, "vg/org"), check_hash(39));
    let out = run_ok(
        &s,
        &[
            "lvpoll",
            "--polloperation",
            "merge_thin",
            "-i",
            "1",
            "vg/org",
        ],
    );
    assert_eq!(out, recorded("040.stdout"));
    assert_eq!(cat_hash(&s, "vg/org"), check_hash(42));
    metadata_equal(&s, 41);
    // Nothing left to end.
    let out = run_ok(&s, &["lvpoll", "--polloperation", "merge_thin", "vg/org"]);
    assert_eq!(
        out,
        "  Logical volume vg/org is no longer merging origin, polling has finished.\n"
    );
}

/// lvm2's refusals of `lvconvert --merge` for thin LVs, nothing written.
#[test]
fn a_thin_lv_without_an_origin_is_not_mergeable() {
    let s = load("after-boot1.img");
    let before = common::sha256_file(&s.devs[0].1);
    let o = s.lvmsim().args(["lvconvert", "--merge", "vg/org"]).run();
    assert_ne!(o.status, 0);
    assert!(
        o.stderr
            .contains("vg/org is not a mergeable logical volume."),
        "{}",
        o.stderr
    );
    assert_eq!(common::sha256_file(&s.devs[0].1), before);
}

/// Steps 53-59 on the images boot 2 left: efull's pool (error_if_no_space)
/// and qfull's (queue mode, the kernel's timeout cut to 5 s) have 24 of
/// their 32 blocks free; a 2 MiB write needs 32. The kernel failed the
/// second 1 MiB piece with ENOSPC after its first 8 blocks were written;
/// so does lvmsim, at once in both modes. The LVs read as the kernel read
/// them, the pool metadata is the kernel's block for block, and `lvs`
/// after the reactivation (step 069) is lvm2's.
#[test]
fn full_pools_fail_the_write_as_the_kernel_did() {
    let s = load("after-boot2.img");
    for (step, lv, check) in [(53, "vg/efull", 55), (57, "vg/qfull", 59)] {
        let o = write_step(&s, step);
        assert_ne!(o.status, 0, "step {step}");
        assert!(
            o.stderr.contains("out of data space")
                && o.stderr.contains("No space left on device")
                && o.stderr.contains("at byte 2621440"),
            "step {step}: {}",
            o.stderr
        );
        assert_eq!(cat_hash(&s, lv), check_hash(check), "{lv}");
    }
    assert!(recorded("053.stderr").contains("No space left on device"));
    let fin = load("img");
    for pool in ["vg/epool", "vg/qpool"] {
        let mine = run_ok(&s, &["thin_dump", pool]);
        let kernel = run_ok(&fin, &["thin_dump", pool]);
        assert_eq!(mine, kernel, "{pool}");
    }
    for (lv, step) in [("vg/org", 66), ("vg/efull", 67), ("vg/qfull", 68)] {
        assert_eq!(cat_hash(&s, lv), check_hash(step), "{lv}");
    }
    lvs_equal(&s, 69, true, &[]);
    // A further write into a mapped block still works; one that needs a
    // block fails again, the metadata unchanged.
    let o = s
        .lvmsim()
        .args(["write", "vg/efull", "--offset", "0"])
        .stdin(&[1u8; 512])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let o = s
        .lvmsim()
        .args(["write", "vg/efull", "--offset", &(3u64 << 20).to_string()])
        .stdin(&[1u8; 512])
        .run();
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("No space left on device"), "{}", o.stderr);
    assert_eq!(
        run_ok(&s, &["thin_dump", "vg/epool"]),
        run_ok(&fin, &["thin_dump", "vg/epool"])
    );
}

/// What `lvs` shows of a full pool that only the running kernel knows:
/// while the pool was out of data space lvm2 printed the `D` attribute
/// and health `out_of_data` (step 060); both come from the pool's status
/// line, which the images do not hold, so lvmsim (like lvm2 after the
/// reactivation, step 065) shows neither. Data% is 100.00 in both.
#[test]
fn a_full_pools_running_state_is_the_kernels() {
    let live = recorded("060.stdout");
    let row = |t: &str, lv: &str| -> String {
        t.lines()
            .find(|l| l.split_whitespace().next() == Some(lv))
            .unwrap_or_else(|| panic!("no {lv} in\n{t}"))
            .to_owned()
    };
    assert!(row(&live, "epool").contains("twi-aotzD-"));
    assert!(row(&live, "epool").contains("out_of_data"));
    let s = load("img");
    let args = [
        "lvs",
        "-a",
        "--active",
        "-o",
        "+lv_health_status,data_percent,metadata_percent,lv_when_full",
    ];
    assert_eq!(run_ok(&s, &args), recorded("065.stdout"));
}
