//! Shared by the integration tests: the images real lvm2 and the real
//! kernel made, in testdata/.

use std::path::{Path, PathBuf};

/// A path under the repository's `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

/// The contents of a zstd-compressed file.
pub fn unzst(p: &Path) -> Vec<u8> {
    let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    zstd::stream::decode_all(f).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every `*.img.zst` of the lvm2 corpus and the kernel scenarios, sorted.
pub fn corpus_images() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [testdata("lvm2/corpus"), testdata("kernel")] {
        for scenario in std::fs::read_dir(&dir).unwrap() {
            let scenario = scenario.unwrap().path();
            if !scenario.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&scenario).unwrap() {
                let f = f.unwrap().path();
                if f.to_string_lossy().ends_with(".img.zst") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    out
}
