//! The RAID metadata decoders: a `_rmeta_` LV's dm-raid superblock and
//! write-intent bitmap, and a mirror's disk log, from any bytes. They may
//! refuse (an error naming a structure and an offset inside the input, or
//! just past the bytes it needed); nothing may panic, and what decodes is
//! consistent with the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::rmeta::{MirrorLog, Rmeta, BITMAP_OFFSET, BITMAP_SB_BYTES};

fuzz_target!(|data: &[u8]| {
    match Rmeta::decode(data) {
        Ok(m) => {
            assert!(m.sb.array_position < m.sb.num_devices);
            for f in m.sb.failed_list() {
                assert!(f < m.sb.num_devices && m.sb.failed(f));
            }
            if let Some(bm) = &m.bitmap {
                assert!(bm.sb.chunksize.is_power_of_two() && bm.sb.chunksize >= 512);
                assert!(
                    BITMAP_OFFSET + BITMAP_SB_BYTES + bm.regions.div_ceil(8) <= data.len() as u64
                );
                assert!(bm.dirty.windows(2).all(|w| w[0] < w[1]));
                assert!(bm.dirty.last().is_none_or(|&r| r < bm.regions));
            }
        }
        Err(e) => {
            assert!(e.offset <= (data.len() as u64).max(BITMAP_OFFSET + BITMAP_SB_BYTES));
            assert!(!e.to_string().is_empty());
        }
    }
    match MirrorLog::decode(data) {
        Ok(l) => {
            assert!(l.out_of_sync.len() as u64 <= l.regions);
            assert!(l.out_of_sync.last().is_none_or(|&r| r < l.regions));
        }
        Err(e) => assert!(e.offset <= 1024),
    }
});
