//! Changing a thin pool's metadata: the input is a program, then the
//! metadata device (whole 4 KiB blocks, as in `thin_metadata`). Byte 0 is
//! the program's length L; bytes 1..=L are operations on the pool
//! (provision a block of a device, create a thin device or a snapshot,
//! delete one, commit), each commit's blocks written onto the device and
//! the metadata opened again. Every failure must be a typed error: no
//! panic, no hang; a commit's blocks end with the superblock.
#![no_main]
use dm_pdata::pdata::block::{MetadataDev, BLOCK_SIZE};
use dm_pdata::thin::write::ThinTx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let len = usize::from(len).min(rest.len());
    let (program, device) = rest.split_at(len);
    if device.len() < BLOCK_SIZE {
        return;
    }
    let mut dev = device[..device.len() / BLOCK_SIZE * BLOCK_SIZE].to_vec();
    let mut ops = program.chunks(2).peekable();
    while ops.peek().is_some() {
        let Ok(md) = MetadataDev::new(dev.clone()) else {
            return;
        };
        let Ok(mut tx) = ThinTx::open(&md) else {
            return;
        };
        let devices = tx.devices();
        let pick = |b: u8| devices.get(usize::from(b) % devices.len().max(1)).copied();
        for op in ops.by_ref() {
            let (code, arg) = (op[0], op.get(1).copied().unwrap_or(0));
            let r = match code % 8 {
                0..=3 => match pick(code / 8) {
                    Some(id) => tx.provision(id, u64::from(arg)).map(drop),
                    None => Ok(()),
                },
                4 => tx.create_thin(u64::from(arg)),
                5 => match pick(arg) {
                    Some(id) => tx.create_snap(u64::from(code / 8) + 100, id),
                    None => Ok(()),
                },
                6 => match pick(arg) {
                    Some(id) => tx.delete(id),
                    None => Ok(()),
                },
                _ => break,
            };
            if r.is_err() {
                return;
            }
        }
        let Ok(blocks) = tx.commit() else {
            return;
        };
        assert_eq!(
            blocks.last().map(|b| b.0),
            Some(0),
            "the superblock goes last"
        );
        for (n, b) in blocks {
            let at = usize::try_from(n).unwrap() * BLOCK_SIZE;
            dev[at..at + BLOCK_SIZE].copy_from_slice(&b[..]);
        }
    }
});
