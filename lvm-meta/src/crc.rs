//! LVM's checksum: CRC-32 with the reflected IEEE polynomial (0xEDB88320),
//! an initial register value of [`INITIAL_CRC`] and no final XOR
//! (lvm2 `lib/misc/crc.c`, `calc_crc`).
//!
//! Because there is no final XOR, the checksum chains:
//! `lvm_crc(I, a ++ b) == lvm_crc(lvm_crc(I, a), b)`. lvm2 relies on this for
//! metadata text that wraps around the end of the ring.

/// The register value lvm2 starts every checksum from (`INITIAL_CRC`).
pub const INITIAL_CRC: u32 = 0xF597_A6CF;

/// Continues an LVM checksum whose register holds `crc` over `bytes`.
pub fn lvm_crc_continue(crc: u32, bytes: &[u8]) -> u32 {
    // crc32fast keeps its state inverted on entry and exit; invert around it
    // so that the value handed in and out is lvm2's raw register.
    let mut h = crc32fast::Hasher::new_with_initial(!crc);
    h.update(bytes);
    !h.finalize()
}

/// The LVM checksum of `bytes`, starting from [`INITIAL_CRC`].
pub fn lvm_crc(bytes: &[u8]) -> u32 {
    lvm_crc_continue(INITIAL_CRC, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_is_the_initial_value() {
        assert_eq!(lvm_crc(b""), INITIAL_CRC);
    }

    #[test]
    fn check_value() {
        // The catalogue check string; lvm2's variant of CRC-32 gives 0x4991CF02
        // where the standard CRC-32 gives 0xCBF43926.
        assert_eq!(lvm_crc(b"123456789"), 0x4991_CF02);
    }

    #[test]
    fn chaining_equals_one_pass() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 + 3) as u8).collect();
        for cut in [0, 1, 511, 1000, 2999, 3000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(lvm_crc_continue(lvm_crc(a), b), lvm_crc(&data));
        }
    }

    #[test]
    fn bytewise_reference_agrees() {
        // An independent bytewise implementation of the definition.
        fn reference(bytes: &[u8]) -> u32 {
            let mut crc = INITIAL_CRC;
            for &b in bytes {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            crc
        }
        let data: Vec<u8> = (0..777u32).map(|i| (i * 31 + 11) as u8).collect();
        assert_eq!(lvm_crc(&data), reference(&data));
    }
}

#[cfg(test)]
mod spec_text {
    #[test]
    fn spec_example_text_checksum() {
        // The on-disk text of spec section 9.4 (1617 bytes with the NUL).
        let mut t = include_bytes!("../tests/data/spec-9.4.vg").to_vec();
        t.push(0);
        assert_eq!(t.len(), 1617);
        assert_eq!(super::lvm_crc(&t), 0x8AF4_D8E1);
        assert_eq!(super::lvm_crc(&t[..1000]), 0x7E2B_3978);
    }
}
