//! A file given with --dev as a whole disk or a container: the partition
//! table reader (MBR with its chain of extended boot records, GPT with its
//! backup) and the qcow2 reader (header checks, L1/L2 mapping, deflated
//! clusters) on any bytes. Neither may panic, loop or allocate without
//! bound; partitions lie inside the disk; reads stay inside the guest size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::io::ReadAt;
use lvm_meta::{partition, qcow2};

fuzz_target!(|data: &[u8]| {
    let disk = data.to_vec();
    if let Ok(Some(t)) = partition::read(&disk, "f") {
        for p in &t.partitions {
            let end = p.start.checked_add(p.len).expect("no overflow");
            assert!(
                end <= disk.len() as u64,
                "partition {} past the end",
                p.number
            );
        }
    }
    if let Ok(q) = qcow2::Qcow2::open(disk, "f") {
        let size = q.size().expect("a size");
        let mut buf = vec![0u8; 65536.min(size) as usize];
        let _ = q.read_exact_at(&mut buf, 0);
        if size >= 512 {
            let _ = q.read_exact_at(&mut buf[..512], size - 512);
        }
        assert!(q.read_exact_at(&mut [0u8; 1], size).is_err());
    }
});
