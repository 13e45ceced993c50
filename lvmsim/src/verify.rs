//! `lvmsim verify`: the media hashes an evidence container stored at
//! acquisition, checked against the media as it reads now. Opening a
//! container for any other command does not check them (it would read
//! every byte of the evidence each time).

use crate::error::Result;
use lvm_meta::ewf::{is_ewf, Ewf};
use std::io::Write;
use std::path::PathBuf;

/// Checks every image `given` names (as `--dev` names them) and prints one
/// line per image: an E01's stored MD5 and SHA-1 against the media's, or
/// that the format stores no hash. Returns false if a stored hash differs.
///
/// # Errors
/// An image that cannot be opened or read.
pub fn verify(given: &[PathBuf], out: &mut dyn Write) -> Result<bool> {
    let mut all_match = true;
    let mut seen: Vec<String> = Vec::new();
    for spec in crate::device_specs(given)? {
        if seen.contains(&spec.path) {
            continue;
        }
        seen.push(spec.path.clone());
        let file = lvm_meta::io::Image::open(&spec.path)?;
        let mut head = vec![0u8; usize::try_from(file.size.min(16)).unwrap_or(16)];
        file.read_into(0, &mut head)?;
        if !is_ewf(&head) {
            writeln!(
                out,
                "{}: stores no media hash (not an E01 image): nothing to verify",
                spec.path
            )?;
            continue;
        }
        let check = Ewf::open(&spec.path)?.verify()?;
        if check.md5.is_none() && check.sha1.is_none() {
            writeln!(
                out,
                "{}: E01 image without a stored MD5 or SHA-1: its integrity cannot be checked",
                spec.path
            )?;
            continue;
        }
        let mut parts = Vec::new();
        for (name, h) in [("MD5", &check.md5), ("SHA-1", &check.sha1)] {
            if let Some((stored, media)) = h {
                parts.push(if stored == media {
                    format!("{name} {media} matches")
                } else {
                    format!("{name} of the media {media}, stored {stored}: MISMATCH")
                });
            }
        }
        let verdict = if check.matches() {
            "verified"
        } else {
            all_match = false;
            "the image is damaged or altered"
        };
        writeln!(out, "{}: E01: {}: {verdict}", spec.path, parts.join(", "))?;
    }
    Ok(all_match)
}
