//! `lvmsim write` into the thin LVs of testdata/kernel/thin-pool (64 KiB
//! data blocks; thin1 = device 1 with its snapshot `snap` = device 4
//! taken at pool time 1): the bytes read back equal a model of each LV,
//! writes into blocks the snapshot shares leave the snapshot as it was,
//! and the committed metadata counts the new mappings. thin_check on the
//! metadata written here runs in CI (testdata/thin-write-check.sh).

use crate::common::{load_kernel, Scenario};

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
