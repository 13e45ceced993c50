//! `cache_dump`'s XML form of a cache's metadata, as thin-provisioning-tools
//! 0.9.0 prints it: a `superblock` element, the valid mappings in cache
//! block order with the dirtiness as stored, and the hints of those blocks
//! in base64; two spaces per level. A superblock that never saw a clean
//! shutdown stores no policy and a hint size of 0; `cache_dump` prints
//! `hint_width="4"` for it all the same (seen on both such metadata of
//! `testdata/kernel/cache-writeback`), and so does [`write_xml`].

use crate::cache::metadata::CacheMetadata;
use crate::error::{Error, Result};
use crate::pdata::array;
use crate::pdata::block::MetadataDev;
use lvm_meta::io::ReadAt;
use std::collections::BTreeMap;
use std::io::Write;

/// Largest hint read (`DM_CACHE_POLICY_MAX_HINT_SIZE`).
pub const MAX_HINT_SIZE: u32 = 4;

fn io(e: std::io::Error) -> Error {
    Error::Output(e)
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> shift) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The hints of the cache blocks in `meta`'s mappings, by cache block
/// (empty when the metadata has no hint array).
pub fn hints<R: ReadAt>(
    dev: &MetadataDev<R>,
    meta: &CacheMetadata,
) -> Result<BTreeMap<u64, Vec<u8>>> {
    let sb = &meta.superblock;
    let mut out = BTreeMap::new();
    if sb.hint_root == 0 || sb.policy_hint_size == 0 {
        return Ok(out);
    }
    if sb.policy_hint_size > MAX_HINT_SIZE {
        return Err(Error::Unsupported(format!(
            "hint array: hints of {} bytes (at most {MAX_HINT_SIZE} are read)",
            sb.policy_hint_size
        )));
    }
    let size = usize::try_from(sb.policy_hint_size).unwrap_or(0);
    let wanted: std::collections::HashSet<u64> = meta.mappings.iter().map(|m| m.cblock).collect();
    array::walk(
        dev,
        sb.hint_root,
        size,
        u64::from(sb.cache_blocks),
        "hint array",
        &mut |cblock, v| {
            if wanted.contains(&cblock) {
                out.insert(cblock, v.to_vec());
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// Writes the XML of `meta`, read from `dev`, to `out`.
pub fn write_xml<R: ReadAt>(
    dev: &MetadataDev<R>,
    meta: &CacheMetadata,
    out: &mut dyn Write,
) -> Result<()> {
    let sb = &meta.superblock;
    let hints = hints(dev, meta)?;
    let hint_width = match sb.policy_hint_size {
        0 => MAX_HINT_SIZE,
        w => w,
    };
    writeln!(
        out,
        "<superblock uuid=\"\" block_size=\"{}\" nr_cache_blocks=\"{}\" policy=\"{}\" hint_width=\"{}\">",
        sb.data_block_size,
        sb.cache_blocks,
        sb.policy(),
        hint_width
    )
    .map_err(io)?;
    writeln!(out, "  <mappings>").map_err(io)?;
    for m in &meta.mappings {
        writeln!(
            out,
            "    <mapping cache_block=\"{}\" origin_block=\"{}\" dirty=\"{}\"/>",
            m.cblock, m.oblock, m.dirty_on_disk
        )
        .map_err(io)?;
    }
    writeln!(out, "  </mappings>").map_err(io)?;
    writeln!(out, "  <hints>").map_err(io)?;
    for (cblock, h) in &hints {
        writeln!(
            out,
            "    <hint cache_block=\"{cblock}\" data=\"{}\"/>",
            base64(h)
        )
        .map_err(io)?;
    }
    writeln!(out, "  </hints>").map_err(io)?;
    writeln!(out, "</superblock>").map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_of_the_standard_examples() {
        // RFC 4648 §10.
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
