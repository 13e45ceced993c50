//! The exception-store loader over an arbitrary COW image, then the engine
//! on it: a store that loads as valid is activated, takes origin writes
//! (copy-on-write) chosen by the input, and must load back equal to the
//! engine's own state; then it is merged back into the origin, after which
//! it loads with no exception left.
//!
//! Input: byte 0 = the table's chunk size (log2 sectors, 0..=7), byte 1 =
//! how many origin writes (0..=15), bytes 2..18 = their chunks; the rest is
//! the COW image.
#![no_main]
use cow_engine::engine::{merge, origin_write, PStore, Snap};
use cow_engine::exception_store::Store;
use libfuzzer_sys::fuzz_target;

/// The origin: 64 KiB.
const ORIGIN: usize = 64 * 1024;

fn load(cow: &[u8], table_cs: u64) -> Result<Store, String> {
    Store::load(cow, table_cs).map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 + 512 {
        return;
    }
    let table_cs = 1u64 << (data[0] % 8);
    let writes = usize::from(data[1] % 16);
    let chunks = &data[2..18];
    let cow = data[18..].to_vec();
    let Ok(store) = load(&cow, table_cs) else {
        return;
    };
    // The loader's state is self-consistent.
    assert!(store.record_count >= store.map.len() as u64);
    for (_, new) in store.map.range(0, u64::MAX) {
        assert!(new < store.next_free, "a mapped chunk at or past next_free");
    }
    if store.new || !store.header.is_valid() {
        return;
    }
    // Like the kernel, the engine keeps the current area's raw bytes and
    // writes them back with each new record: bytes after the terminating
    // record are never zeroed, and a new record overwriting the terminator
    // makes any garbage after it count. Kernel-made stores have zeros
    // there; the round-trip property holds for those.
    let cb = store.chunk_sectors as usize * 512;
    let area = store.area_location(store.current_area) as usize * cb;
    let tail = area + store.current_committed as usize * 16;
    let clean_tail = cow
        .get(tail..area + cb)
        .is_some_and(|t| t.iter().all(|&b| b == 0));
    let mut origin = vec![0u8; ORIGIN];
    for (i, b) in origin.iter_mut().enumerate() {
        *b = (i / 512) as u8;
    }
    let mut devs = vec![origin, cow];
    let Ok(ps) = PStore::activate(&mut devs, 1, table_cs) else {
        return;
    };
    assert_eq!(
        ps.map.range(0, u64::MAX),
        store.map.range(0, u64::MAX),
        "the engine activates what the loader loads"
    );
    let mut snaps = [Snap {
        store: ps,
        len: ORIGIN as u64,
    }];
    for &c in &chunks[..writes] {
        let at = u64::from(c) * 512 % ORIGIN as u64;
        if origin_write(&mut devs, 0, &mut snaps, at, &[0xff; 512]).is_err() {
            return;
        }
    }
    if !clean_tail {
        let _ = load(&devs[1], table_cs);
        return;
    }
    let again = load(&devs[1], table_cs).expect("a store the engine wrote loads");
    let s = &snaps[0].store;
    assert_eq!(again.header.is_valid(), s.valid);
    if s.valid {
        assert_eq!(
            again.map.range(0, u64::MAX),
            s.map.range(0, u64::MAX),
            "the store loads back as the engine left it"
        );
        assert_eq!(again.next_free, s.next_free);
        assert_eq!(
            (again.current_area, again.current_committed),
            (s.current_area, s.current_committed)
        );
        let mut m = PStore::activate(&mut devs, 1, table_cs).expect("activates again");
        // A merge of hostile records may fail with an error, never panic.
        if merge(&mut devs, 0, &mut m, &mut [], None).is_ok() {
            let after = load(&devs[1], table_cs).expect("a merged store loads");
            assert!(after.map.is_empty(), "exceptions left after the merge");
        }
    }
});
