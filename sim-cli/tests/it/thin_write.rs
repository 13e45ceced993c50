//! `lvmsim write` into the thin LVs of testdata/kernel/thin-pool (64 KiB
//! data blocks; thin1 = device 1 with its snapshot `snap` = device 4
//! taken at pool time 1): the bytes read back equal a model of each LV,
//! writes into blocks the snapshot shares leave the snapshot as it was,
//! and the committed metadata counts the new mappings. thin_check on the
//! metadata written here runs in CI (testdata/thin-write-check.sh).

use crate::common::{self, load_kernel, Scenario};

const BLOCK: usize = 64 << 10;

fn cat(s: &Scenario, lv: &str) -> Vec<u8> {
    let o = s.lvmsim().args(["cat", lv]).run();
    assert_eq!(o.status, 0, "cat {lv}: {}", o.stderr);
    o.stdout
}

fn write(s: &Scenario, lv: &str, offset: usize, data: &[u8]) -> crate::common::Output {
    s.lvmsim()
        .args(["write", lv, "--offset", &offset.to_string()])
        .stdin(data)
        .run()
}

fn put(model: &mut [u8], offset: usize, data: &[u8]) {
    model[offset..offset + data.len()].copy_from_slice(data);
}

fn dump_line(xml: &str, dev: u32) -> &str {
    let want = format!("<device dev_id=\"{dev}\" ");
    xml.lines()
        .find(|l| l.trim_start().starts_with(&want))
        .unwrap_or_else(|| panic!("no device {dev} in\n{xml}"))
}

#[test]
fn writes_land_where_the_thin_target_puts_them() {
    let s = load_kernel("thin-pool");
    let mut thin1 = cat(&s, "vg/thin1");
    let mut snap = cat(&s, "vg/snap");
    let thin2 = cat(&s, "vg/thin2");
    assert_eq!(thin1.len(), 8 << 20);

    // Block 3 of thin1 is shared with the snapshot (mapped before it was
    // taken): the write gets a copy of the block, the snapshot keeps the
    // old bytes. Block 2 was written after the snapshot: in place.
    // Blocks 49 and 50 are unmapped: new blocks, zeroed around the bytes.
    let cases: [(usize, Vec<u8>); 3] = [
        (3 * BLOCK + 100, vec![b'x'; 5000]),
        (2 * BLOCK + 10, vec![b'y'; 10]),
        (50 * BLOCK - 7, vec![b'z'; 20]),
    ];
    for (offset, data) in &cases {
        let o = write(&s, "vg/thin1", *offset, data);
        assert_eq!(o.status, 0, "{}", o.stderr);
        put(&mut thin1, *offset, data);
    }
    assert!(cat(&s, "vg/thin1") == thin1, "thin1 differs from the model");
    assert!(cat(&s, "vg/snap") == snap, "the snapshot changed");

    // A whole block into the snapshot, over a block it shares with thin1.
    let whole: Vec<u8> = (0..BLOCK).map(|i| (i % 251) as u8).collect();
    let o = write(&s, "vg/snap", 4 * BLOCK, &whole);
    assert_eq!(o.status, 0, "{}", o.stderr);
    put(&mut snap, 4 * BLOCK, &whole);
    assert!(cat(&s, "vg/snap") == snap, "snap differs from the model");
    assert!(cat(&s, "vg/thin1") == thin1, "thin1 changed");
    assert!(cat(&s, "vg/thin2") == thin2, "thin2 changed");

    // Past the end: the bytes before it are written, then ENOSPC.
    let o = write(&s, "vg/thin1", (8 << 20) - 3, b"0123456789");
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("No space left on device"), "{}", o.stderr);
    put(&mut thin1, (8 << 20) - 3, b"012");
    assert!(cat(&s, "vg/thin1") == thin1, "thin1 differs after ENOSPC");

    // The committed metadata: thin1 gained blocks 49, 50 and 127; the
    // snapshot's copy of block 4 replaced a mapping, so its count stays.
    let o = s.lvmsim().args(["thin_dump", "vg/pool"]).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let xml = o.text();
    assert!(
        dump_line(&xml, 1).contains("mapped_blocks=\"21\""),
        "{}",
        dump_line(&xml, 1)
    );
    assert!(
        dump_line(&xml, 4).contains("mapped_blocks=\"18\""),
        "{}",
        dump_line(&xml, 4)
    );
    assert!(
        xml.contains("<single_mapping origin_block=\"127\" "),
        "{xml}"
    );
}

/// The metadata text of VG copy `seqno` on the scenario's image, found
/// through `history` (its offset and length on the image).
fn copy_text(s: &Scenario, seqno: u32) -> String {
    let h = s.lvmsim().args(["history", "vg"]).run().text();
    let head = format!("vg seqno {seqno} ");
    let mut lines = h.lines().skip_while(|l| !l.starts_with(&head));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no seqno {seqno}:\n{h}"));
    let len: usize = first
        .split("length ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let found = lines.find(|l| l.contains("found: ")).unwrap();
    let at: usize = found.rsplit(" at ").next().unwrap().trim().parse().unwrap();
    let img = std::fs::read(&s.devs[0].1).unwrap();
    String::from_utf8(img[at..at + len].to_vec()).unwrap()
}

/// The text of LV `lv`'s section in a VG metadata text, from its first
/// segment on (ids and times differ between runs).
fn segment_of(text: &str, lv: &str) -> String {
    let start = text
        .find(&format!("\n{lv} {{\n"))
        .unwrap_or_else(|| panic!("no {lv} in\n{text}"));
    let rest = &text[start..];
    let seg = rest.find("segment1 {").unwrap();
    let end = rest[seg..].find("\n}\n}\n").unwrap();
    rest[seg..seg + end].to_owned()
}

#[test]
fn thin_lvs_are_created_and_removed_as_lvm2_and_the_kernel_do() {
    let s = load_kernel("thin-pool");
    // lvm2's own copies on the image: seqno 9 created `gone` (pool at
    // transaction 2 -> 3, device 3), seqno 13 removed it (4 -> 5).
    let lvm2_create = copy_text(&s, 9);
    let lvm2_remove = copy_text(&s, 13);

    let o = s
        .lvmsim()
        .args(["lvcreate", "-y", "-V", "4M", "-T", "vg/pool", "-n", "gone2"])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  WARNING: You have not turned on protection against thin pools running out of space.\n  \
         WARNING: Set activation/thin_pool_autoextend_threshold below 100 to trigger automatic extension of thin pools before they get full.\n  \
         Logical volume \"gone2\" created.\n"
    );
    assert_eq!(
        o.stderr,
        "  WARNING: Sum of all thin volume sizes (28.00 MiB) exceeds the size of thin pool vg/pool (16.00 MiB).\n"
    );
    // The first write queues the message as lvm2 did for `gone`; the
    // second drops it.
    let mine = copy_text(&s, 15);
    assert_eq!(
        segment_of(&mine, "pool"),
        segment_of(&lvm2_create, "pool")
            .replace("transaction_id = 3", "transaction_id = 6")
            .replace("create = \"gone\"", "create = \"gone2\"")
    );
    assert_eq!(
        segment_of(&mine, "gone2"),
        segment_of(&lvm2_create, "gone")
            .replace("transaction_id = 2", "transaction_id = 5")
            .replace("device_id = 3", "device_id = 5")
    );
    assert!(!copy_text(&s, 16).contains("message1"));
    let o = s.lvmsim().args(["thin_dump", "vg/pool"]).run();
    assert!(
        o.text().contains(
            "<superblock uuid=\"\" time=\"1\" transaction=\"6\" "
        ) && o.text().contains(
            "<device dev_id=\"5\" mapped_blocks=\"0\" transaction=\"5\" creation_time=\"1\" snap_time=\"1\">\n  </device>"
        ),
        "{}",
        o.text()
    );
    assert!(cat(&s, "vg/gone2") == vec![0u8; 4 << 20]);

    // A thin snapshot of thin1 shares its blocks; a write to thin1 then
    // leaves the snapshot as it was.
    let o = s
        .lvmsim()
        .args(["lvcreate", "-y", "-s", "-kn", "-n", "snap2", "vg/thin1"])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let before = cat(&s, "vg/thin1");
    assert!(cat(&s, "vg/snap2") == before);
    let o = write(&s, "vg/thin1", 0, &[7u8; 100]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(cat(&s, "vg/snap2") == before, "the snapshot changed");
    let lvs = s
        .lvmsim()
        .args([
            "lvs",
            "--noheadings",
            "-o",
            "lv_name,lv_attr,origin,thin_id,transaction_id",
            "vg/snap2",
            "vg/pool",
        ])
        .run()
        .text();
    let rows: Vec<Vec<&str>> = lvs
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["pool", "twi---tz--", "7"],
            vec!["snap2", "Vwi---tz--", "thin1", "6", "6"]
        ]
    );

    // lvremove: the message lvm2 queued for `gone`, then the device gone.
    let o = s.lvmsim().args(["lvremove", "-y", "vg/gone2"]).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  Logical volume \"gone2\" successfully removed.\n"
    );
    let mine = copy_text(&s, 19);
    assert_eq!(
        segment_of(&mine, "pool"),
        segment_of(&lvm2_remove, "pool")
            .replace("transaction_id = 5", "transaction_id = 8")
            .replace("delete = 3", "delete = 5")
    );
    let xml = s.lvmsim().args(["thin_dump", "vg/pool"]).run().text();
    assert!(
        xml.contains("transaction=\"8\"") && !xml.contains("dev_id=\"5\""),
        "{xml}"
    );
    // A thin origin with a thin snapshot is refused, nothing written.
    let o = s.lvmsim().args(["lvremove", "-y", "vg/thin1"]).run();
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("names it as its origin"), "{}", o.stderr);
}

/// A write into thin1 cut at each of its image writes (whole, or torn
/// after 512 bytes): the pool metadata reads back, and thin1 shows either
/// all of the old bytes or all of the new ones, since every block the
/// write touches gets a new data block (blocks 14-15 are shared with the
/// snapshot, 16-17 unmapped) and the superblock, written last, switches
/// at once.
#[test]
fn a_crash_during_a_thin_write_leaves_the_old_or_the_new_state() {
    let s = load_kernel("thin-pool");
    let img = s.devs[0].1.clone();
    let pristine = img.with_extension("pristine");
    common::copy_sparse(&img, &pristine);
    let before = cat(&s, "vg/thin1");
    let snap = cat(&s, "vg/snap");
    let offset = 14 * BLOCK + 5;
    let data: Vec<u8> = (0..4 * BLOCK - 10).map(|i| (i % 253) as u8).collect();
    let mut after = before.clone();
    put(&mut after, offset, &data);
    let run = |crash: Option<(u64, bool)>| {
        common::copy_sparse(&pristine, &img);
        let mut c = s
            .lvmsim()
            .args(["write", "vg/thin1", "--offset", &offset.to_string()])
            .stdin(&data);
        if let Some((k, torn)) = crash {
            c = c.env("LVMSIM_CRASH_AFTER", k.to_string());
            if torn {
                c = c.env("LVMSIM_CRASH_TORN", "1");
            }
        }
        c.run().status == 0
    };
    assert!(run(None));
    assert!(cat(&s, "vg/thin1") == after);
    let mut cuts = 0;
    for torn in [false, true] {
        for k in 0.. {
            let finished = run(Some((k, torn)));
            let o = s.lvmsim().args(["thin_dump", "vg/pool"]).run();
            assert_eq!(o.status, 0, "cut at {k} (torn {torn}): {}", o.stderr);
            let now = cat(&s, "vg/thin1");
            assert!(
                now == before || now == after,
                "cut at {k} (torn {torn}): thin1 is neither state"
            );
            assert!(
                cat(&s, "vg/snap") == snap,
                "cut at {k}: the snapshot changed"
            );
            cuts += 1;
            if finished {
                assert!(now == after);
                break;
            }
            assert!(k < 200, "the write never finishes");
        }
    }
    assert!(cuts > 10, "{cuts} cut points");
}

#[test]
fn thin_ls_equals_the_tools_on_the_kernels_metadata() {
    let s = load_kernel("thin-pool");
    let data = common::repo().join("dm-pdata/tests/data");
    let o = s.lvmsim().args(["thin_ls", "vg/pool"]).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        std::fs::read_to_string(data.join("thin-pool.thin_ls.txt")).unwrap()
    );
    let all = "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_SECTORS,EXCLUSIVE_SECTORS,\
               SHARED_SECTORS,MAPPED_BYTES,EXCLUSIVE_BYTES,SHARED_BYTES,MAPPED,EXCLUSIVE,SHARED,\
               TRANSACTION,CREATE_TIME,SNAP_TIME";
    let o = s.lvmsim().args(["thin_ls", "-o", all, "vg/pool"]).run();
    assert_eq!(
        o.text(),
        std::fs::read_to_string(data.join("thin-pool.thin_ls-all.txt")).unwrap()
    );
    let o = s
        .lvmsim()
        .args(["thin_ls", "-o", "DEV,BOGUS", "vg/pool"])
        .run();
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("unknown field"), "{}", o.stderr);
}

/// `lvcreate -V -T` cut at each of its writes: whatever is left, the next
/// commands finish the job as lvm2's next activation would (the queued
/// message sent to the pool), and the VG's thin LVs and the pool's devices
/// agree.
#[test]
fn a_crash_during_lvcreate_thin_is_finished_by_the_next_command() {
    let s = load_kernel("thin-pool");
    let img = s.devs[0].1.clone();
    let pristine = img.with_extension("pristine");
    common::copy_sparse(&img, &pristine);
    let create = ["lvcreate", "-y", "-V", "1M", "-T", "vg/pool", "-n", "t7"];
    let mut cuts = 0;
    for k in 0.. {
        common::copy_sparse(&pristine, &img);
        let o = s
            .lvmsim()
            .args(create)
            .env("LVMSIM_CRASH_AFTER", k.to_string())
            .run();
        let finished = o.status == 0;
        let lvs = s
            .lvmsim()
            .args(["lvs", "--noheadings", "-o", "lv_name", "vg"])
            .run();
        assert_eq!(lvs.status, 0, "cut at {k}: {}", lvs.stderr);
        if lvs.text().contains("t7") {
            // The LV exists: a write to it goes through (the pool takes
            // the queued create first if it has not yet).
            let o = write(&s, "vg/t7", 10, b"hello");
            assert_eq!(o.status, 0, "cut at {k}: {}", o.stderr);
            let back = cat(&s, "vg/t7");
            assert_eq!(&back[10..15], b"hello", "cut at {k}");
        }
        // Another thin LV can always be made, and lvmsim agrees with itself.
        let o = s
            .lvmsim()
            .args(["lvcreate", "-y", "-V", "1M", "-T", "vg/pool", "-n", "t8"])
            .run();
        assert_eq!(o.status, 0, "cut at {k}: {}", o.stderr);
        let ids = s
            .lvmsim()
            .args([
                "lvs",
                "--noheadings",
                "-o",
                "thin_id",
                "-S",
                "thin_id>0",
                "vg",
            ])
            .run()
            .text();
        let mut ids: Vec<String> = ids.split_whitespace().map(str::to_owned).collect();
        ids.sort();
        let xml = s.lvmsim().args(["thin_dump", "vg/pool"]).run().text();
        let mut devs: Vec<String> = xml
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("<device dev_id=\""))
            .map(|l| l.split('"').next().unwrap().to_owned())
            .collect();
        devs.sort();
        assert_eq!(ids, devs, "cut at {k}");
        cuts += 1;
        if finished {
            break;
        }
        assert!(k < 100, "lvcreate never finishes");
    }
    assert!(cuts > 3, "{cuts} cut points");
}

/// Filling the pool: 229 of its 256 data blocks are free; writing all of
/// thin2 and thin1 needs more. The write stops where the pool ran out,
/// what was provisioned before is committed, and the metadata reads back.
#[test]
fn a_full_pool_stops_the_write_and_keeps_what_was_written() {
    let s = load_kernel("thin-pool");
    let fill = vec![0x5au8; 8 << 20];
    let o = write(&s, "vg/thin2", 0, &fill);
    assert_eq!(o.status, 0, "{}", o.stderr);
    let o = write(&s, "vg/thin1", 0, &fill);
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("out of data space"), "{}", o.stderr);
    let xml = s.lvmsim().args(["thin_dump", "vg/pool"]).run().text();
    assert!(xml.contains("nr_data_blocks=\"256\""), "{xml}");
    // Every data block is in use: thin2 took 123 new ones, thin1 the
    // remaining 106 (blocks it shares with the snapshot are copied).
    let lvs = s
        .lvmsim()
        .args([
            "lvs",
            "--active",
            "--noheadings",
            "-o",
            "data_percent",
            "vg/pool",
        ])
        .run()
        .text();
    assert_eq!(lvs.trim(), "100.00");
    assert!(cat(&s, "vg/thin2") == fill);
    let thin1 = cat(&s, "vg/thin1");
    let written = thin1.iter().take_while(|b| **b == 0x5a).count();
    assert!(written > 100 * BLOCK && written < 8 << 20, "{written}");
}
