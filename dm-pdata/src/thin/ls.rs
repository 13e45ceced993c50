//! `thin_ls`'s table of a pool's thin devices, as thin-provisioning-tools
//! 0.9.0 prints it: one row per device of the device-details tree (in id
//! order), the chosen columns right-aligned to their widest cell, every
//! cell followed by one space.
//!
//! A data block is *exclusive* to a device when no other mapping of any
//! device names it; the device's *shared* count is its `mapped_blocks`
//! less its exclusive mappings. Sizes in the `MAPPED`, `EXCLUSIVE` and
//! `SHARED` columns are bytes divided by 1024 while above 1 MiB, then once
//! more, rounded to nearest, when still above 8 KiB, with the unit named
//! (`1152KiB`, `0`).

use crate::error::{Error, Result};
use crate::pdata::block::MetadataDev;
use crate::thin::metadata::{Mapping, ThinMetadata};
use lvm_meta::io::ReadAt;
use std::collections::HashMap;
use std::io::Write;

/// A column of `thin_ls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `DEV`: the thin device id.
    Dev,
    /// `MAPPED_BLOCKS`.
    MappedBlocks,
    /// `EXCLUSIVE_BLOCKS`.
    ExclusiveBlocks,
    /// `SHARED_BLOCKS`.
    SharedBlocks,
    /// `MAPPED_SECTORS`.
    MappedSectors,
    /// `EXCLUSIVE_SECTORS`.
    ExclusiveSectors,
    /// `SHARED_SECTORS`.
    SharedSectors,
    /// `MAPPED_BYTES`.
    MappedBytes,
    /// `EXCLUSIVE_BYTES`.
    ExclusiveBytes,
    /// `SHARED_BYTES`.
    SharedBytes,
    /// `MAPPED`: a size with its unit.
    Mapped,
    /// `EXCLUSIVE`: a size with its unit.
    Exclusive,
    /// `SHARED`: a size with its unit.
    Shared,
    /// `TRANSACTION`.
    Transaction,
    /// `CREATE_TIME`.
    CreateTime,
    /// `SNAP_TIME`.
    SnapTime,
}

/// Every field with its name, in `thin_ls --help`'s order.
pub const FIELDS: [(Field, &str); 16] = [
    (Field::Dev, "DEV"),
    (Field::MappedBlocks, "MAPPED_BLOCKS"),
    (Field::ExclusiveBlocks, "EXCLUSIVE_BLOCKS"),
    (Field::SharedBlocks, "SHARED_BLOCKS"),
    (Field::MappedSectors, "MAPPED_SECTORS"),
    (Field::ExclusiveSectors, "EXCLUSIVE_SECTORS"),
    (Field::SharedSectors, "SHARED_SECTORS"),
    (Field::MappedBytes, "MAPPED_BYTES"),
    (Field::ExclusiveBytes, "EXCLUSIVE_BYTES"),
    (Field::SharedBytes, "SHARED_BYTES"),
    (Field::Mapped, "MAPPED"),
    (Field::Exclusive, "EXCLUSIVE"),
    (Field::Shared, "SHARED"),
    (Field::Transaction, "TRANSACTION"),
    (Field::CreateTime, "CREATE_TIME"),
    (Field::SnapTime, "SNAP_TIME"),
];

/// The columns printed without `-o`.
pub const DEFAULT_FIELDS: [Field; 4] = [
    Field::Dev,
    Field::Mapped,
    Field::CreateTime,
    Field::SnapTime,
];

impl Field {
    /// The column's header.
    pub fn name(self) -> &'static str {
        FIELDS
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("", |(_, n)| n)
    }
}

/// Parses `-o`'s comma-separated list (`None`: a name `thin_ls` does not
/// know; it says `unknown field`).
pub fn parse_fields(list: &str) -> Option<Vec<Field>> {
    let mut items: Vec<&str> = list.split(',').collect();
    // A trailing comma ends the list without an empty item.
    if items.last() == Some(&"") {
        items.pop();
    }
    items
        .into_iter()
        .map(|i| FIELDS.iter().find(|(_, n)| *n == i).map(|(f, _)| *f))
        .collect()
}

/// A byte count as `thin_ls` shows sizes.
pub fn disk_unit(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut n = bytes;
    let mut i = 0usize;
    while n > 1024 * 1024 {
        n /= 1024;
        i = i.saturating_add(1);
    }
    if n > 8 * 1024 {
        // Rounded to nearest, halves away from zero.
        n = n.saturating_add(512) / 1024;
        i = i.saturating_add(1);
    }
    format!("{n}{}", UNITS.get(i).copied().unwrap_or("?"))
}

/// Writes the table for `fields` (with the header row when `headers`).
pub fn write_ls<R: ReadAt>(
    dev: &MetadataDev<R>,
    meta: &ThinMetadata,
    fields: &[Field],
    headers: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let needs_sharing = fields.iter().any(|f| {
        matches!(
            f,
            Field::ExclusiveBlocks
                | Field::SharedBlocks
                | Field::ExclusiveSectors
                | Field::SharedSectors
                | Field::ExclusiveBytes
                | Field::SharedBytes
                | Field::Exclusive
                | Field::Shared
        )
    });
    let root_missing = || Error::Inconsistent("couldn't find mapping tree root".into());
    // Mappings per data block, over every device.
    let mut users: HashMap<u64, u32> = HashMap::new();
    let mut maps = HashMap::new();
    if needs_sharing {
        for &id in meta.details.keys() {
            if !meta.roots.contains_key(&id) {
                return Err(root_missing());
            }
            let m = meta.mappings(dev, id)?;
            for x in &m {
                let c = users.entry(x.value.block).or_insert(0);
                *c = c.saturating_add(1);
            }
            maps.insert(id, m);
        }
    }
    let bs = u64::from(meta.superblock.data_block_size);
    let mut rows: Vec<Vec<String>> = Vec::new();
    if headers {
        rows.push(fields.iter().map(|f| f.name().to_owned()).collect());
    }
    for (&id, d) in &meta.details {
        let exclusive = maps.get(&id).map_or(0, |m: &Vec<Mapping>| {
            let n = m
                .iter()
                .filter(|x| users.get(&x.value.block) == Some(&1))
                .count();
            u64::try_from(n).unwrap_or(u64::MAX)
        });
        let mapped = d.mapped_blocks;
        let shared = mapped.wrapping_sub(exclusive);
        let sectors = |b: u64| b.wrapping_mul(bs);
        let bytes = |b: u64| b.wrapping_mul(bs).wrapping_mul(512);
        rows.push(
            fields
                .iter()
                .map(|f| match f {
                    Field::Dev => id.to_string(),
                    Field::MappedBlocks => mapped.to_string(),
                    Field::ExclusiveBlocks => exclusive.to_string(),
                    Field::SharedBlocks => shared.to_string(),
                    Field::MappedSectors => sectors(mapped).to_string(),
                    Field::ExclusiveSectors => sectors(exclusive).to_string(),
                    Field::SharedSectors => sectors(shared).to_string(),
                    Field::MappedBytes => bytes(mapped).to_string(),
                    Field::ExclusiveBytes => bytes(exclusive).to_string(),
                    Field::SharedBytes => bytes(shared).to_string(),
                    Field::Mapped => disk_unit(bytes(mapped)),
                    Field::Exclusive => disk_unit(bytes(exclusive)),
                    Field::Shared => disk_unit(bytes(shared)),
                    Field::Transaction => d.transaction_id.to_string(),
                    Field::CreateTime => d.creation_time.to_string(),
                    Field::SnapTime => d.snapshotted_time.to_string(),
                })
                .collect(),
        );
    }
    let mut widths = vec![0usize; fields.len()];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut text = String::new();
    for r in &rows {
        for (w, c) in widths.iter().zip(r) {
            text.push_str(&format!("{c:>w$} "));
        }
        text.push('\n');
    }
    out.write_all(text.as_bytes()).map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_the_tools_show_them() {
        // Seen from thin_ls 0.9.0 with 64 KiB blocks.
        assert_eq!(disk_unit(0), "0");
        assert_eq!(disk_unit(1_179_648), "1152KiB");
        assert_eq!(disk_unit(1_048_576), "1024KiB");
        assert_eq!(disk_unit(1_114_112), "1088KiB");
        assert_eq!(disk_unit(262_144), "256KiB");
        assert_eq!(disk_unit(512), "512");
        assert_eq!(disk_unit(8192), "8192");
        assert_eq!(disk_unit(3 << 30), "3072MiB");
    }

    #[test]
    fn field_lists() {
        assert_eq!(
            parse_fields("DEV,MAPPED,"),
            Some(vec![Field::Dev, Field::Mapped])
        );
        assert_eq!(parse_fields("DEV,BOGUS"), None);
        assert_eq!(parse_fields(",DEV"), None);
        assert_eq!(Field::SnapTime.name(), "SNAP_TIME");
    }
}
