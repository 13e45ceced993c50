//! Shared by the integration tests: the kernel's scenarios in
//! testdata/kernel, sha256, and handles on in-memory images.

use cow_engine::blocks::Images;
use cow_engine::handle::LvHandle;
use lvm_meta::model::Vg;
use std::path::{Path, PathBuf};

/// A file of the kernel scenario `scenario`.
pub fn kernel(scenario: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/kernel")
        .join(scenario)
        .join(file)
}

/// A zstd-compressed image of the kernel scenario `scenario`, decompressed.
pub fn image(scenario: &str, file: &str) -> Vec<u8> {
    let p = kernel(scenario, file);
    let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    zstd::stream::decode_all(f).unwrap()
}

/// The sha256 of `data` in lowercase hex, as `sha256sum` prints it.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// A handle on LV `lv` of `vg`, whose only PV is `img`.
pub fn open<'a>(vg: &'a Vg, img: Vec<u8>, lv: &str) -> LvHandle<'a, Vec<u8>> {
    let i = vg
        .lv_index(lv)
        .unwrap_or_else(|| panic!("LV {lv} in seqno {}", vg.seqno));
    LvHandle::open(
        vg,
        Images {
            pvs: vec![Some(img)],
        },
        i,
    )
    .unwrap()
}
