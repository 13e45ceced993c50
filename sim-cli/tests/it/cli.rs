//! The command-line contract every command keeps: help, a bad option, a
//! missing file, a directory where a file is needed, corrupt input, and a
//! closed pipe.

use crate::common;

use std::path::Path;

fn run(args: &[&str], cwd: &Path) -> common::Output {
    common::lvmsim(args, cwd)
}

macro_rules! conformance {
    ($($name:ident: [$($arg:expr),*];)*) => {
        $(
            mod $name {
                use super::*;

                fn base() -> Vec<&'static str> {
                    vec![$($arg),*]
                }

                #[test]
                fn help_works() {
                    let mut a = base();
                    a.push("--help");
                    let o = run(&a, Path::new("."));
                    assert_eq!(o.status, 0, "{}", o.stderr);
                    assert!(o.text().contains("Usage"), "{}", o.text());
                }

                #[test]
                fn bad_option_is_refused() {
                    let mut a = base();
                    a.push("--no-such-option");
                    let o = run(&a, Path::new("."));
                    assert_ne!(o.status, 0);
                    assert!(o.stderr.contains("--no-such-option"), "{}", o.stderr);
                }

                #[test]
                fn missing_file_is_named() {
                    let t = crate::common::scratch();
                    let mut a = vec!["--dev", "nope.img"];
                    a.extend(base());
                    if a.contains(&"pvck") {
                        a.push("nope.img");
                    }
                    let o = run(&a, t.path());
                    assert_ne!(o.status, 0);
                    assert!(o.stderr.contains("nope.img"), "{}", o.stderr);
                    assert_eq!(o.stderr.lines().count(), 1, "one line per failure: {}", o.stderr);
                }

                #[test]
                fn garbage_input_is_not_a_crash() {
                    let t = crate::common::scratch();
                    let junk: Vec<u8> = (0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
                    std::fs::write(t.path().join("junk.img"), junk).unwrap();
                    let mut a = vec!["--dev", "junk.img"];
                    a.extend(base());
                    if a.contains(&"pvck") {
                        a.push("junk.img");
                    }
                    let o = run(&a, t.path());
                    assert!(o.status == 0 || o.status == 5, "status {}: {}", o.status, o.stderr);
                    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
                }
            }
        )*
    };
}

conformance! {
    pvs: ["pvs"];
    vgs: ["vgs"];
    lvs: ["lvs"];
    cat: ["cat", "vg/lv"];
    pvck: ["pvck", "--dump", "headers"];
    vgcfgbackup: ["vgcfgbackup", "vg"];
    history: ["history"];
    history_json: ["history", "--json"];
    history_scan_all: ["--scan-all", "history"];
    recover: ["recover"];
    recover_export: ["recover", "--export", "vg/s", "--seqno", "1", "-o", "out.img"];
    scan_all_lvs: ["--scan-all", "lvs"];
    pvcreate: ["pvcreate", "junk.img"];
    vgcreate: ["vgcreate", "vg", "junk.img"];
    vgextend: ["vgextend", "vg", "junk.img"];
    vgreduce: ["vgreduce", "vg", "junk.img"];
    vgremove: ["vgremove", "-f", "vg"];
    vgrename: ["vgrename", "vg", "vg2"];
    vgcfgrestore: ["vgcfgrestore", "-f", "none.vg", "vg"];
    lvcreate: ["lvcreate", "-n", "l", "-l", "1", "vg"];
    lvcreate_snapshot: ["lvcreate", "-s", "-n", "s", "-l", "1", "vg/l"];
    lvextend: ["lvextend", "-l", "+1", "vg/l"];
    lvreduce: ["lvreduce", "-y", "-l", "-1", "vg/l"];
    lvchange: ["lvchange", "--addtag", "t", "vg/l"];
    write: ["write", "vg/lv"];
    dmsetup_table: ["dmsetup", "table"];
    cow_dump: ["cow", "dump", "vg/s"];
    cow_dump_seqno: ["cow", "dump", "--json", "--seqno", "1", "vg/s"];
    map_vg: ["map", "vg", "-o", "-"];
    map_snapshot: ["map", "vg/s", "-o", "-"];
    write_explain: ["write", "--explain=json", "vg/lv"];
}

#[test]
fn a_directory_is_scanned_and_an_empty_one_reports_nothing() {
    let t = crate::common::scratch();
    std::fs::create_dir(t.path().join("empty")).unwrap();
    let o = run(&["--dev", "empty", "vgs"], t.path());
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(o.text(), "");
}

#[test]
fn pvck_of_a_directory_fails_with_its_name() {
    let t = crate::common::scratch();
    std::fs::create_dir(t.path().join("d")).unwrap();
    let o = run(&["pvck", "--dump", "headers", "d"], t.path());
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains('d'), "{}", o.stderr);
}

#[test]
fn no_devices_is_a_clear_error() {
    let o = common::lvmsim(&["pvs".to_string()], Path::new("."));
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("--dev"), "{}", o.stderr);
}

#[test]
fn corrupt_header_is_reported_with_file_structure_and_offset() {
    let t = crate::common::scratch();
    let p = common::repo().join("testdata/lvm2/corpus/single/a.img.zst");
    let mut b = common::unzst(&p);
    b[4096 + 100] ^= 1;
    std::fs::write(t.path().join("b.img"), b).unwrap();
    let o = run(&["--dev", "b.img", "vgs"], t.path());
    assert_eq!(o.status, 0, "lvm2 reports a damaged area and goes on");
    assert!(
        o.stderr
            .contains("b.img: metadata area at 4096: header checksum 0x")
            && o.stderr.contains("over bytes 4100-4607"),
        "{}",
        o.stderr
    );
}

#[test]
fn cat_into_a_closed_pipe_exits_quietly() {
    let t = crate::common::scratch();
    let p = common::repo().join("testdata/lvm2/corpus/single/a.img.zst");
    common::unzst_to(&p, &t.path().join("a.img"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .args(["--dev", "a.img", "cat", "vg_single/lv0"])
        .current_dir(t.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn cat_gives_the_bytes_lvm2_placed() {
    // gen.sh stamped every 64 KiB block of the PV's extent area with
    // "LVMSIM <image> @<byte offset>"; lvm2's lvs-segments golden says lv0
    // starts at PE 0 and pvs.json gives pe_start and the extent size.
    let t = crate::common::scratch();
    let dir = common::repo().join("testdata/lvm2/corpus/single");
    std::fs::write(
        t.path().join("a.img"),
        common::unzst(&dir.join("a.img.zst")),
    )
    .unwrap();
    let pvs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("pvs.json")).unwrap()).unwrap();
    let pe_start: u64 = pvs["report"][0]["pv"][0]["pe_start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let o = run(&["--dev", "a.img", "cat", "vg_single/lv0"], t.path());
    assert!(o.ok());
    assert_eq!(o.stdout.len(), 12 << 20);
    for (k, block) in o.stdout.chunks(65536).enumerate() {
        let want = format!("LVMSIM a.img @{}\n", pe_start + k as u64 * 65536);
        assert!(
            block.starts_with(want.as_bytes()),
            "block {k}: {:?}",
            String::from_utf8_lossy(&block[..40])
        );
    }
    // --offset/--length pick the same bytes.
    let o2 = run(
        &[
            "--dev",
            "a.img",
            "cat",
            "vg_single/lv0",
            "--offset",
            "65530",
            "--length",
            "20",
        ],
        t.path(),
    );
    assert_eq!(o2.stdout, o.stdout[65530..65550]);
}

/// A report larger than the piece the writers build before writing (64 KiB):
/// every row arrives once, whole and in order, as JSON and as columns.
#[test]
fn a_large_report_is_written_whole() {
    const N: usize = 700;
    let t = common::scratch();
    let img = t.path().join("d.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let ok = |args: &[&str]| {
        let o = common::Lvmsim::new().dev("/dev/sda", &img).args(args).run();
        assert!(o.ok(), "{args:?}: {}", o.stderr);
        o
    };
    ok(&["pvcreate", "/dev/sda"]);
    ok(&["vgcreate", "-s", "1m", "vg", "/dev/sda"]);
    let backup = t.path().join("vg.backup");
    ok(&["vgcfgbackup", "-f", backup.to_str().unwrap(), "vg"]);
    // N one-extent LVs, written into the backup as lvm2 writes LVs.
    let mut lvs = String::from("\tlogical_volumes {\n");
    for i in 0..N {
        lvs += &format!(
            "\t\tlv{i:04} {{\n\t\t\tid = \"aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-a{i:05}\"\n\
             \t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\t\t\tflags = []\n\
             \t\t\tsegment_count = 1\n\t\t\tsegment1 {{\n\t\t\t\tstart_extent = 0\n\
             \t\t\t\textent_count = 1\n\t\t\t\ttype = \"striped\"\n\t\t\t\tstripe_count = 1\n\
             \t\t\t\tstripes = [\"pv0\", {i}]\n\t\t\t}}\n\t\t}}\n"
        );
    }
    lvs += "\t}\n";
    let text = std::fs::read_to_string(&backup).unwrap();
    let end = text.rfind('}').unwrap();
    std::fs::write(&backup, format!("{}{lvs}{}", &text[..end], &text[end..])).unwrap();
    ok(&["vgcfgrestore", "-f", backup.to_str().unwrap(), "vg"]);

    let json = ok(&["lvs", "-a", "--reportformat", "json"]).stdout;
    assert!(json.len() > 2 * 65536, "{} bytes", json.len());
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let rows = v["report"][0]["lv"].as_array().unwrap();
    assert_eq!(rows.len(), N);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["lv_name"], format!("lv{i:04}"));
        assert_eq!(r["lv_size"], "1.00m");
    }
    let cols = ok(&["lvs", "-a", "-o", "lv_name,lv_size,devices,seg_pe_ranges"]).text();
    let lines: Vec<&str> = cols.lines().collect();
    assert_eq!(lines.len(), N + 1);
    for (i, l) in lines[1..].iter().enumerate() {
        let want = format!("  lv{i:04} 1.00m /dev/sda({i}) /dev/sda:{i}-{i}");
        assert_eq!(
            l.split_whitespace().collect::<Vec<_>>().join(" "),
            want.trim()
        );
    }
}
