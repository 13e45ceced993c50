//! Persistent-data bitsets (`dm-bitset.c`): an array (see
//! [`crate::pdata::array`]) of little-endian u64 words, bit `i` being bit
//! `i % 64` (least significant first) of word `i / 64`.

use crate::error::Result;
use crate::pdata::array;
use crate::pdata::block::MetadataDev;
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;

/// Bits per word.
pub const BITS_PER_WORD: u64 = 64;

/// A bitset read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    nr_bits: u64,
}

impl Bitset {
    /// Reads the `nr_bits` bits of the bitset rooted at `root`; `name`
    /// names it in errors.
    pub fn read<R: ReadAt>(
        dev: &MetadataDev<R>,
        root: u64,
        nr_bits: u64,
        name: &'static str,
    ) -> Result<Bitset> {
        let nr_words = nr_bits.div_ceil(BITS_PER_WORD);
        let mut words = Vec::new();
        array::walk(dev, root, 8, nr_words, name, &mut |_, v| {
            words.push(LittleEndian::read_u64(v));
            Ok(())
        })?;
        Ok(Bitset { words, nr_bits })
    }

    /// Builds a bitset from words (bits past `nr_bits` are ignored).
    pub fn from_words(words: Vec<u64>, nr_bits: u64) -> Bitset {
        Bitset { words, nr_bits }
    }

    /// Bits in the set.
    pub fn len(&self) -> u64 {
        self.nr_bits
    }

    /// True for a set of no bits.
    pub fn is_empty(&self) -> bool {
        self.nr_bits == 0
    }

    /// Bit `i` (false past the end).
    pub fn get(&self, i: u64) -> bool {
        if i >= self.nr_bits {
            return false;
        }
        let word = usize::try_from(i / BITS_PER_WORD)
            .ok()
            .and_then(|w| self.words.get(w))
            .copied()
            .unwrap_or(0);
        word >> (i % BITS_PER_WORD) & 1 == 1
    }

    /// Bits set.
    pub fn count_ones(&self) -> u64 {
        u64::try_from((0..self.nr_bits).filter(|&i| self.get(i)).count()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;
    use crate::pdata::array::tests::array_block_bytes;
    use crate::pdata::btree::tests::node_bytes;
    use crate::pdata::btree::LEAF_NODE;

    #[test]
    fn bits_are_least_significant_first() {
        let mut img = node_bytes(0, LEAF_NODE, 8, &[(0, 1u64.to_le_bytes().to_vec())]);
        let words = [0b1001u64, 1 << 63];
        img.extend(array_block_bytes(
            1,
            8,
            &words
                .iter()
                .map(|w| w.to_le_bytes().to_vec())
                .collect::<Vec<_>>(),
        ));
        let dev = MetadataDev::new(img).unwrap();
        let b = Bitset::read(&dev, 0, 128, "test bitset").unwrap();
        let set: Vec<u64> = (0..128).filter(|&i| b.get(i)).collect();
        assert_eq!(set, [0, 3, 127]);
        assert_eq!(b.count_ones(), 3);
        // 65 bits need two words as well; bit 127 is then past the end.
        let b = Bitset::read(&dev, 0, 65, "test bitset").unwrap();
        assert!(!b.get(127));
        assert_eq!(b.count_ones(), 2);
        // 64 bits need one word; the array block holds two.
        assert!(Bitset::read(&dev, 0, 64, "test bitset").is_err());
    }
}
