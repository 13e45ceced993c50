//! Per-device details (`struct disk_device_details`), the values of the
//! device-details btree (key = thin device id).

use byteorder::{ByteOrder, LittleEndian};

/// Bytes of a `disk_device_details`.
pub const DEVICE_DETAILS_SIZE: usize = 24;
/// Offset of `mapped_blocks`.
pub const MAPPED_BLOCKS: usize = 0;
/// Offset of `transaction_id`.
pub const TRANSACTION_ID: usize = 8;
/// Offset of `creation_time`.
pub const CREATION_TIME: usize = 16;
/// Offset of `snapshotted_time`.
pub const SNAPSHOTTED_TIME: usize = 20;

/// One thin device's details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceDetails {
    /// `mapped_blocks`: virtual blocks that have a data block.
    pub mapped_blocks: u64,
    /// `transaction_id`: the pool's transaction id when it was created.
    pub transaction_id: u64,
    /// `creation_time`: the pool time when it was created.
    pub creation_time: u32,
    /// `snapshotted_time`: the pool time when it was last snapshotted.
    pub snapshotted_time: u32,
}

impl DeviceDetails {
    /// Decodes one value.
    pub fn parse(b: &[u8; DEVICE_DETAILS_SIZE]) -> DeviceDetails {
        DeviceDetails {
            mapped_blocks: LittleEndian::read_u64(&b[MAPPED_BLOCKS..TRANSACTION_ID]),
            transaction_id: LittleEndian::read_u64(&b[TRANSACTION_ID..CREATION_TIME]),
            creation_time: LittleEndian::read_u32(&b[CREATION_TIME..SNAPSHOTTED_TIME]),
            snapshotted_time: LittleEndian::read_u32(&b[SNAPSHOTTED_TIME..DEVICE_DETAILS_SIZE]),
        }
    }

    /// Encodes one value.
    pub fn write(&self, b: &mut [u8; DEVICE_DETAILS_SIZE]) {
        LittleEndian::write_u64(&mut b[MAPPED_BLOCKS..TRANSACTION_ID], self.mapped_blocks);
        LittleEndian::write_u64(&mut b[TRANSACTION_ID..CREATION_TIME], self.transaction_id);
        LittleEndian::write_u32(&mut b[CREATION_TIME..SNAPSHOTTED_TIME], self.creation_time);
        LittleEndian::write_u32(
            &mut b[SNAPSHOTTED_TIME..DEVICE_DETAILS_SIZE],
            self.snapshotted_time,
        );
    }
}
