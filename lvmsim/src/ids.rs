//! lvm2's identifiers (PV, VG and LV UUIDs): random, or reproducible for
//! a command line and the state it starts from.

use crate::context::Context;
use crate::error::{refused, Result};
use lvm_meta::scan::System;

/// lvm2's identifiers: 32 characters from `[A-Za-z0-9]` (`id_create`),
/// from the system's random source, or (`LVMSIM_DETERMINISTIC=1`) from a
/// generator seeded by the command line, so runs are reproducible.
pub struct Ids {
    state: Option<u64>,
}

pub(crate) const ID_CHARS: &[u8; 62] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Ids {
    /// Random identifiers, or reproducible ones seeded by `seed`.
    pub fn new(deterministic: bool, seed: &str) -> Ids {
        let state = deterministic.then(|| {
            seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        });
        Ids { state }
    }

    /// The next identifier.
    pub fn next_id(&mut self) -> Result<[u8; 32]> {
        let mut raw = [0u8; 32];
        match &mut self.state {
            Some(s) => {
                for b in raw.iter_mut() {
                    // splitmix64
                    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut z = *s;
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    *b = (z ^ (z >> 31)) as u8;
                }
            }
            None => {
                use std::io::Read;
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut raw))
                    .map_err(|e| refused!("/dev/urandom: {e}"))?;
            }
        }
        for b in raw.iter_mut() {
            *b = ID_CHARS[usize::from(*b) % ID_CHARS.len()];
        }
        Ok(raw)
    }
}

/// The identifiers of command line `line` run on `sys`: random, or
/// (deterministic) seeded by the command and by the state it starts from,
/// so that repeating a command line gives new ones.
pub fn ids_for(ctx: &Context, sys: &System, line: &str) -> Ids {
    let state: Vec<String> = sys
        .vgs
        .iter()
        .map(|v| format!("{}:{}", v.vg.name, v.vg.seqno))
        .chain(
            sys.devices
                .iter()
                .map(|d| format!("{}:{}", d.image.path, d.label.is_some())),
        )
        .collect();
    ctx.ids(&format!("{line}|{}", state.join(",")))
}
