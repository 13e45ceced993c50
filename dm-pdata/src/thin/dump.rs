//! `thin_dump`'s XML form of a pool's metadata, as thin-provisioning-tools
//! 0.9.0 prints it: a `superblock` element, one `device` element per
//! device of the top-level mapping tree (ascending id), its mappings in
//! virtual block order as `range_mapping` runs (consecutive virtual and
//! data blocks with one time) or `single_mapping`s; two spaces per level.

use crate::error::{Error, Result};
use crate::pdata::block::MetadataDev;
use crate::thin::metadata::{Mapping, ThinMetadata};
use lvm_meta::io::ReadAt;
use std::io::Write;

/// A run of mappings that `thin_dump` prints as one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First virtual block.
    pub origin_begin: u64,
    /// First data block.
    pub data_begin: u64,
    /// Blocks in the run (≥ 1).
    pub length: u64,
    /// The time shared by the run.
    pub time: u32,
}

/// Groups mappings (in virtual block order) into `thin_dump`'s runs.
pub fn runs(mappings: &[Mapping]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for m in mappings {
        if let Some(r) = out.last_mut() {
            let continues = r.origin_begin.checked_add(r.length) == Some(m.virt)
                && r.data_begin.checked_add(r.length) == Some(m.value.block)
                && r.time == m.value.time;
            if continues {
                r.length = r.length.saturating_add(1);
                continue;
            }
        }
        out.push(Run {
            origin_begin: m.virt,
            data_begin: m.value.block,
            length: 1,
            time: m.value.time,
        });
    }
    out
}

fn io(e: std::io::Error) -> Error {
    Error::Output(e)
}

/// Writes the XML of the metadata `meta` read from `dev` to `out`.
pub fn write_xml<R: ReadAt>(
    dev: &MetadataDev<R>,
    meta: &ThinMetadata,
    out: &mut dyn Write,
) -> Result<()> {
    let sb = &meta.superblock;
    writeln!(
        out,
        "<superblock uuid=\"\" time=\"{}\" transaction=\"{}\" flags=\"{}\" version=\"{}\" data_block_size=\"{}\" nr_data_blocks=\"{}\">",
        sb.time,
        sb.trans_id,
        sb.flags,
        sb.version,
        sb.data_block_size,
        meta.nr_data_blocks()
    )
    .map_err(io)?;
    for &id in meta.roots.keys() {
        let Some(d) = meta.details.get(&id) else {
            return Err(Error::Inconsistent(format!(
                "mappings present for device {id}, but it has no device details"
            )));
        };
        writeln!(
            out,
            "  <device dev_id=\"{id}\" mapped_blocks=\"{}\" transaction=\"{}\" creation_time=\"{}\" snap_time=\"{}\">",
            d.mapped_blocks, d.transaction_id, d.creation_time, d.snapshotted_time
        )
        .map_err(io)?;
        for r in runs(&meta.mappings(dev, id)?) {
            if r.length == 1 {
                writeln!(
                    out,
                    "    <single_mapping origin_block=\"{}\" data_block=\"{}\" time=\"{}\"/>",
                    r.origin_begin, r.data_begin, r.time
                )
            } else {
                writeln!(
                    out,
                    "    <range_mapping origin_begin=\"{}\" data_begin=\"{}\" length=\"{}\" time=\"{}\"/>",
                    r.origin_begin, r.data_begin, r.length, r.time
                )
            }
            .map_err(io)?;
        }
        writeln!(out, "  </device>").map_err(io)?;
    }
    writeln!(out, "</superblock>").map_err(io)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;
    use crate::thin::block_time::BlockTime;

    fn m(virt: u64, block: u64, time: u32) -> Mapping {
        Mapping {
            virt,
            value: BlockTime { block, time },
        }
    }

    #[test]
    fn runs_break_on_gaps_data_jumps_and_time() {
        let r = runs(&[
            m(0, 5, 0),
            m(1, 6, 0),
            m(2, 7, 1),
            m(4, 8, 1),
            m(5, 9, 1),
            m(6, 20, 1),
        ]);
        let lens: Vec<(u64, u64, u64)> = r
            .iter()
            .map(|r| (r.origin_begin, r.data_begin, r.length))
            .collect();
        assert_eq!(lens, vec![(0, 5, 2), (2, 7, 1), (4, 8, 2), (6, 20, 1)]);
    }
}
