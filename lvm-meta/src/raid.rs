//! RAID and mirror segments: their keys as lvm2 writes them (`raid1`,
//! `raid4`, `raid5_*`, `raid6_*`, `raid10`, `raid0`, `raid0_meta`,
//! `mirror`), the placement of data, parity and copies on the images as
//! the kernel's md personalities and `dm-mirror` lay them out, and the
//! arithmetic that rebuilds a missing image from parity (XOR for P,
//! GF(2^8) for Q).
//!
//! The VG model keeps these segments verbatim as
//! [`SegmentKind::Unknown`]; [`RaidSeg::of`] gives them their types.
//! Placement formulas: `/work/shared/spec/dm-raid.md` §4 (md `raid5.c`
//! `raid5_compute_sector`, `raid10.c` near copies, `raid0.c`).

use crate::error::Corruption;
use crate::model::{Segment, SegmentKind};
use crate::text::{Lookup, Node, Value};
use crate::units::Sectors;

/// Most images in one RAID or mirror segment (lvm2 `DEFAULT_RAID_MAX_IMAGES`
/// is 64; md refuses more than 253 anyway).
pub const MAX_IMAGES: u32 = 64;

/// The rotation of data and parity in a raid4/5/6 segment (md's
/// `ALGORITHM_*` for the layout lvm2 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParityLayout {
    /// `raid4`: parity on the first image (md `PARITY_0`).
    Raid4,
    /// `raid5_la`: left asymmetric.
    Raid5La,
    /// `raid5_ra`: right asymmetric.
    Raid5Ra,
    /// `raid5_ls` (and `raid5`): left symmetric.
    Raid5Ls,
    /// `raid5_rs`: right symmetric.
    Raid5Rs,
    /// `raid5_n`: parity on the last image (md `PARITY_N`).
    Raid5N,
    /// `raid6_zr` (and `raid6`): rotating, zero restart (DDF).
    Raid6Zr,
    /// `raid6_nr`: rotating, N restart (DDF).
    Raid6Nr,
    /// `raid6_nc`: rotating, N continue (DDF).
    Raid6Nc,
    /// `raid6_la_6`: raid5_la on all images but the last, Q last.
    Raid6La6,
    /// `raid6_ra_6`: raid5_ra, Q last.
    Raid6Ra6,
    /// `raid6_ls_6`: raid5_ls, Q last.
    Raid6Ls6,
    /// `raid6_rs_6`: raid5_rs, Q last.
    Raid6Rs6,
    /// `raid6_n_6`: P and Q on the last two images.
    Raid6N6,
}

/// Every parity layout lvm2 writes.
pub const PARITY_LAYOUTS: [ParityLayout; 14] = [
    ParityLayout::Raid4,
    ParityLayout::Raid5La,
    ParityLayout::Raid5Ra,
    ParityLayout::Raid5Ls,
    ParityLayout::Raid5Rs,
    ParityLayout::Raid5N,
    ParityLayout::Raid6Zr,
    ParityLayout::Raid6Nr,
    ParityLayout::Raid6Nc,
    ParityLayout::Raid6La6,
    ParityLayout::Raid6Ra6,
    ParityLayout::Raid6Ls6,
    ParityLayout::Raid6Rs6,
    ParityLayout::Raid6N6,
];

impl ParityLayout {
    /// Parity images per stripe: 1 (P) or 2 (P and Q).
    pub fn parity_images(self) -> u32 {
        match self {
            ParityLayout::Raid4
            | ParityLayout::Raid5La
            | ParityLayout::Raid5Ra
            | ParityLayout::Raid5Ls
            | ParityLayout::Raid5Rs
            | ParityLayout::Raid5N => 1,
            _ => 2,
        }
    }

    /// True for the DDF layouts, whose Q coefficients follow the image
    /// number rather than the order of the data images.
    pub fn ddf(self) -> bool {
        matches!(
            self,
            ParityLayout::Raid6Zr | ParityLayout::Raid6Nr | ParityLayout::Raid6Nc
        )
    }

    /// The placement of stripe row `stripe` over `n` images.
    ///
    /// # Panics
    ///
    /// If `n` is not above the parity image count.
    pub fn stripe(self, n: usize, stripe: u64) -> StripeLayout {
        let pc = self.parity_images() as usize;
        assert!(n > pc, "{self:?} needs more than {pc} images");
        let d = n - pc;
        // The row's position in the rotation, over all images and over
        // all images but the last (the `_6` layouts keep Q there).
        let r = (stripe % n as u64) as usize;
        let r1 = (stripe % (n as u64 - 1)) as usize;
        use ParityLayout::*;
        let (p, q) = match self {
            Raid4 => (0, None),
            Raid5N => (d, None),
            Raid5La | Raid5Ls => (d - r, None),
            Raid5Ra | Raid5Rs => (r, None),
            Raid6Zr => (r, Some(if r == n - 1 { 0 } else { r + 1 })),
            Raid6Nr => {
                let p = n - 1 - ((stripe + 1) % n as u64) as usize;
                (p, Some(if p == n - 1 { 0 } else { p + 1 }))
            }
            Raid6Nc => {
                let p = n - 1 - r;
                (p, Some((p + n - 1) % n))
            }
            Raid6La6 | Raid6Ls6 => (d - r1, Some(n - 1)),
            Raid6Ra6 | Raid6Rs6 => (r1, Some(n - 1)),
            Raid6N6 => (d, Some(d + 1)),
        };
        let data = (0..d)
            .map(|k| match self {
                Raid4 => k + 1,
                Raid5N | Raid6N6 => k,
                Raid5La | Raid5Ra | Raid6La6 | Raid6Ra6 => {
                    if k >= p {
                        k + 1
                    } else {
                        k
                    }
                }
                Raid5Ls | Raid5Rs | Raid6Nc => (p + 1 + k) % n,
                Raid6Ls6 | Raid6Rs6 => (p + 1 + k) % (n - 1),
                Raid6Zr | Raid6Nr => {
                    if p == n - 1 {
                        k + 1
                    } else if k >= p {
                        k + 2
                    } else {
                        k
                    }
                }
            })
            .collect::<Vec<_>>();
        // Q coefficients: DDF layouts number every image from 0 (P's and
        // Q's own numbers stay unused); md layouts number the data images
        // 0, 1, ... walking from the image after Q (image 0 when Q is
        // last).
        let mut slot = vec![0u8; n];
        if let Some(q) = q {
            if self.ddf() {
                for (i, s) in slot.iter_mut().enumerate() {
                    *s = i as u8;
                }
            } else {
                let start = if q == n - 1 { 0 } else { q + 1 };
                let mut count = 0u8;
                for step in 0..n {
                    let i = (start + step) % n;
                    if i != p && i != q {
                        slot[i] = count;
                        count += 1;
                    }
                }
            }
        }
        StripeLayout { data, p, q, slot }
    }
}

/// Where the chunks of one stripe row sit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeLayout {
    /// The image of data chunk `k` of the row, for each `k`.
    pub data: Vec<usize>,
    /// The image holding P.
    pub p: usize,
    /// The image holding Q (raid6).
    pub q: Option<usize>,
    /// The exponent of the Q coefficient of each image (meaningful for
    /// data images of raid6 rows only).
    pub slot: Vec<u8>,
}

/// What a segment's images hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaidLevel {
    /// `mirror`: the old `dm-mirror` target, every image a full copy.
    Mirror,
    /// `raid1`: every image a full copy.
    Raid1,
    /// `raid0` (no metadata images) and `raid0_meta`: striped.
    Raid0,
    /// `raid10` (`raid10_near`): near copies.
    Raid10,
    /// `raid4`, `raid5_*`, `raid6_*`.
    Parity(ParityLayout),
}

impl RaidLevel {
    /// The level lvm2's type name stands for (without `+FLAG` suffixes);
    /// `None` if it is not a RAID or mirror type.
    pub fn from_type(name: &str) -> Option<RaidLevel> {
        use ParityLayout::*;
        Some(match name {
            "mirror" => RaidLevel::Mirror,
            "raid1" => RaidLevel::Raid1,
            "raid0" | "raid0_meta" => RaidLevel::Raid0,
            "raid10" | "raid10_near" => RaidLevel::Raid10,
            "raid4" => RaidLevel::Parity(Raid4),
            "raid5_la" => RaidLevel::Parity(Raid5La),
            "raid5_ra" => RaidLevel::Parity(Raid5Ra),
            "raid5" | "raid5_ls" => RaidLevel::Parity(Raid5Ls),
            "raid5_rs" => RaidLevel::Parity(Raid5Rs),
            "raid5_n" => RaidLevel::Parity(Raid5N),
            "raid6" | "raid6_zr" => RaidLevel::Parity(Raid6Zr),
            "raid6_nr" => RaidLevel::Parity(Raid6Nr),
            "raid6_nc" => RaidLevel::Parity(Raid6Nc),
            "raid6_la_6" => RaidLevel::Parity(Raid6La6),
            "raid6_ra_6" => RaidLevel::Parity(Raid6Ra6),
            "raid6_ls_6" => RaidLevel::Parity(Raid6Ls6),
            "raid6_rs_6" => RaidLevel::Parity(Raid6Rs6),
            "raid6_n_6" => RaidLevel::Parity(Raid6N6),
            _ => return None,
        })
    }

    /// Fewest images the kernel accepts for the level.
    pub fn min_images(self) -> u32 {
        match self {
            RaidLevel::Mirror | RaidLevel::Raid1 => 1,
            RaidLevel::Raid0 => 1,
            RaidLevel::Raid10 => 2,
            RaidLevel::Parity(p) => p.parity_images() + 1,
        }
    }
}

/// One image of a RAID or mirror segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaidImage {
    /// Index of the data sub-LV (`_rimage_N`, `_mimage_N`).
    pub data: usize,
    /// First extent used in the data sub-LV (mirrors name it; 0 for RAID).
    pub le: u32,
    /// Index of the metadata sub-LV (`_rmeta_N`), if the image has one.
    pub meta: Option<usize>,
}

/// A RAID or mirror segment's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidSeg {
    /// The type as written, without `+FLAG` suffixes.
    pub type_name: String,
    /// The `+FLAG` suffixes of the type (reshape markers).
    pub flags: Vec<String>,
    /// What the images hold.
    pub level: RaidLevel,
    /// The images in order (`raids`, `raid0_lvs` or `mirrors`).
    pub images: Vec<RaidImage>,
    /// `stripe_size` (the md chunk) in sectors, if written.
    pub stripe_size: Option<Sectors>,
    /// `region_size` in sectors, if written.
    pub region_size: Option<Sectors>,
    /// `data_offset` in sectors, if written (reshape space before data).
    pub data_offset: Option<Sectors>,
    /// `data_copies` (raid10), if written.
    pub data_copies: Option<u32>,
    /// `mirror_log`: index of the disk log LV (`_mlog`) of a mirror.
    pub mirror_log: Option<usize>,
    /// `writebehind`, if written.
    pub writebehind: Option<u32>,
    /// `min_recovery_rate`, if written.
    pub min_recovery_rate: Option<u32>,
    /// `max_recovery_rate`, if written.
    pub max_recovery_rate: Option<u32>,
}

fn bad(lv: &str, seg: &str, msg: impl std::fmt::Display) -> Corruption {
    Corruption::Model(format!("LV {lv} {seg}: {msg}"))
}

struct Keys<'a>(&'a [Node]);

impl Lookup for Keys<'_> {
    fn nodes(&self) -> &[Node] {
        self.0
    }
}

impl RaidSeg {
    /// The typed keys of `seg` (of LV `lv`), if its type is a RAID or
    /// mirror type; `lv_index` resolves sub-LV names. Errors name the LV
    /// and segment.
    ///
    /// # Errors
    ///
    /// [`Corruption::Model`] for a missing or malformed key, an image
    /// count that does not match the list, or a name that is not an LV.
    pub fn of(
        lv: &str,
        seg: &Segment,
        lv_index: impl Fn(&str) -> Option<usize>,
    ) -> Result<Option<RaidSeg>, Corruption> {
        let SegmentKind::Unknown { nodes } = &seg.kind else {
            return Ok(None);
        };
        let mut parts = seg.type_name.split('+');
        let base = parts.next().unwrap_or_default();
        let Some(level) = RaidLevel::from_type(base) else {
            return Ok(None);
        };
        let flags = parts.map(str::to_owned).collect::<Vec<_>>();
        let k = Keys(nodes);
        let sk = seg.key.as_str();
        let int = |key: &str| -> Result<Option<u64>, Corruption> {
            match k.value(key) {
                None => Ok(None),
                Some(Value::Int(v)) => u64::try_from(*v)
                    .map(Some)
                    .map_err(|_| bad(lv, sk, format_args!("{key} = {v} is negative"))),
                Some(_) => Err(bad(lv, sk, format_args!("{key} must be an integer"))),
            }
        };
        let int32 = |key: &str| -> Result<Option<u32>, Corruption> {
            int(key)?
                .map(|v| {
                    u32::try_from(v)
                        .map_err(|_| bad(lv, sk, format_args!("{key} = {v} is out of range")))
                })
                .transpose()
        };
        let find = |name: &str, list: &str| {
            lv_index(name).ok_or_else(|| {
                bad(
                    lv,
                    sk,
                    format_args!("{list} names {name:?}, which is not an LV of this VG"),
                )
            })
        };
        let count_key = match (level, base) {
            (RaidLevel::Mirror, _) => "mirror_count",
            (RaidLevel::Raid0, _) => "stripe_count",
            _ => "device_count",
        };
        let count =
            int32(count_key)?.ok_or_else(|| bad(lv, sk, format_args!("{count_key} is missing")))?;
        if count < level.min_images() || count > MAX_IMAGES {
            return Err(bad(
                lv,
                sk,
                format_args!(
                    "{count_key} {count} is not in {}..={MAX_IMAGES} for {base}",
                    level.min_images()
                ),
            ));
        }
        let list_key = match (level, base) {
            (RaidLevel::Mirror, _) => "mirrors",
            (_, "raid0") => "raid0_lvs",
            _ => "raids",
        };
        let items = match k.value(list_key) {
            Some(Value::Array(a)) => a.as_slice(),
            Some(v @ Value::Str(_)) => std::slice::from_ref(v),
            _ => {
                return Err(bad(
                    lv,
                    sk,
                    format_args!("{list_key} is missing or not a list"),
                ))
            }
        };
        let mut images = Vec::new();
        let mut it = items.iter().peekable();
        let name_of = |v: &Value| match v {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(bad(lv, sk, format_args!("{list_key} must list LV names"))),
        };
        while let Some(v) = it.next() {
            let name = name_of(v)?;
            let image = if level == RaidLevel::Mirror {
                // Mirrors list "name", first-extent pairs.
                let le = match it.next() {
                    Some(Value::Int(n)) => u32::try_from(*n).map_err(|_| {
                        bad(
                            lv,
                            sk,
                            format_args!("{list_key}: extent {n} is out of range"),
                        )
                    })?,
                    _ => {
                        return Err(bad(
                            lv,
                            sk,
                            format_args!("{list_key} must be \"name\", number pairs"),
                        ))
                    }
                };
                RaidImage {
                    data: find(&name, list_key)?,
                    le,
                    meta: None,
                }
            } else if name.contains("_rmeta_") {
                // lvm2 tells metadata images by name; the data image
                // follows its metadata image.
                let meta = find(&name, list_key)?;
                let data = match it.next() {
                    Some(d) => name_of(d)?,
                    None => {
                        return Err(bad(
                            lv,
                            sk,
                            format_args!("{list_key}: metadata image {name:?} has no data image"),
                        ))
                    }
                };
                RaidImage {
                    data: find(&data, list_key)?,
                    le: 0,
                    meta: Some(meta),
                }
            } else {
                RaidImage {
                    data: find(&name, list_key)?,
                    le: 0,
                    meta: None,
                }
            };
            images.push(image);
        }
        if images.len() != count as usize {
            return Err(bad(
                lv,
                sk,
                format_args!(
                    "{list_key} lists {} images but {count_key} is {count}",
                    images.len()
                ),
            ));
        }
        let sectors =
            |key: &str| -> Result<Option<Sectors>, Corruption> { Ok(int(key)?.map(Sectors)) };
        let stripe_size = sectors("stripe_size")?.filter(|s| s.0 != 0);
        let needs_chunk = matches!(
            level,
            RaidLevel::Raid0 | RaidLevel::Raid10 | RaidLevel::Parity(_)
        ) && count > 1;
        if needs_chunk && stripe_size.is_none() {
            return Err(bad(lv, sk, "stripe_size is missing"));
        }
        let mirror_log = match k.value("mirror_log") {
            None => None,
            Some(Value::Str(s)) => Some(find(s, "mirror_log")?),
            Some(_) => return Err(bad(lv, sk, "mirror_log must be a string")),
        };
        let data_copies = int32("data_copies")?;
        if data_copies == Some(0) || data_copies.is_some_and(|c| c > count) {
            return Err(bad(
                lv,
                sk,
                format_args!(
                    "data_copies {} is not in 1..={count}",
                    data_copies.unwrap_or(0)
                ),
            ));
        }
        Ok(Some(RaidSeg {
            type_name: base.to_owned(),
            flags,
            level,
            images,
            stripe_size,
            region_size: sectors("region_size")?.filter(|s| s.0 != 0),
            data_offset: sectors("data_offset")?,
            data_copies,
            mirror_log,
            writebehind: int32("writebehind")?,
            min_recovery_rate: int32("min_recovery_rate")?,
            max_recovery_rate: int32("max_recovery_rate")?,
        }))
    }

    /// raid10 copies (lvm2 writes `data_copies` only when not 2).
    pub fn copies(&self) -> usize {
        self.data_copies.unwrap_or(2) as usize
    }

    /// Where byte `off` of the segment's data lies: a run of `len` bytes
    /// (never crossing a chunk) and the images that hold or rebuild it.
    /// Image offsets are bytes from the start of each image's data
    /// (before `le` and `data_offset`, which the caller adds).
    pub fn locate(&self, off: u64, seg_len: u64) -> Located {
        let n = self.images.len();
        let rest = seg_len.saturating_sub(off);
        let chunk = self.stripe_size.map_or(0, |s| s.0.saturating_mul(512));
        match self.level {
            RaidLevel::Mirror | RaidLevel::Raid1 => Located {
                len: rest,
                source: Source::Copies((0..n).map(|i| (i, off)).collect()),
            },
            _ if n == 1 || chunk == 0 => Located {
                len: rest,
                source: Source::Copies(vec![(0, off)]),
            },
            RaidLevel::Raid0 => {
                let c = off / chunk;
                let within = off % chunk;
                Located {
                    len: (chunk - within).min(rest),
                    source: Source::Copies(vec![(
                        (c % n as u64) as usize,
                        (c / n as u64) * chunk + within,
                    )]),
                }
            }
            RaidLevel::Raid10 => {
                let c = off / chunk;
                let within = off % chunk;
                let copies = self.copies() as u64;
                let first = c * copies;
                Located {
                    len: (chunk - within).min(rest),
                    source: Source::Copies(
                        (0..copies)
                            .map(|j| {
                                let cell = first + j;
                                (
                                    (cell % n as u64) as usize,
                                    (cell / n as u64) * chunk + within,
                                )
                            })
                            .collect(),
                    ),
                }
            }
            RaidLevel::Parity(layout) => {
                let d = (n - layout.parity_images() as usize) as u64;
                let c = off / chunk;
                let within = off % chunk;
                let stripe = c / d;
                let k = (c % d) as usize;
                Located {
                    len: (chunk - within).min(rest),
                    source: Source::Parity {
                        row: layout.stripe(n, stripe),
                        k,
                        offset: stripe * chunk + within,
                    },
                }
            }
        }
    }
}

/// A run of a RAID or mirror segment: its length and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Bytes from the located offset to the end of the run.
    pub len: u64,
    /// The images that hold the bytes.
    pub source: Source,
}

/// The images behind a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Identical copies, as (image, byte offset); the kernel reads the
    /// first one it can (one entry for raid0).
    Copies(Vec<(usize, u64)>),
    /// Data chunk `k` of a parity stripe row whose chunks all sit at byte
    /// `offset` of their images.
    Parity {
        /// The row's placement.
        row: StripeLayout,
        /// The wanted data chunk of the row.
        k: usize,
        /// Byte offset of the row in every image.
        offset: u64,
    },
}

// ---------------------------------------------------------------- GF(2^8)

/// Powers of the generator {02} in GF(2^8) with the polynomial 0x11D,
/// twice over so that sums of two logarithms index it directly.
const GF_EXP: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 512 {
        t[i] = x as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11D;
        }
        i += 1;
    }
    t
};

/// Discrete logarithms to the base {02} (entry 0 unused).
const GF_LOG: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 255 {
        t[GF_EXP[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The product of `a` and `b` in GF(2^8).
pub fn gf_mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        GF_EXP[GF_LOG[a as usize] as usize + GF_LOG[b as usize] as usize]
    }
}

/// {02} to the power `e`.
pub fn gf_pow2(e: u32) -> u8 {
    GF_EXP[(e % 255) as usize]
}

/// The inverse of non-zero `a`.
///
/// # Panics
///
/// If `a` is 0.
pub fn gf_inv(a: u8) -> u8 {
    assert!(a != 0, "0 has no inverse");
    GF_EXP[(255 - u32::from(GF_LOG[a as usize])) as usize % 255]
}

/// `acc ^= c * src`, byte by byte.
fn mul_xor(acc: &mut [u8], src: &[u8], c: u8) {
    if c == 1 {
        for (a, s) in acc.iter_mut().zip(src) {
            *a ^= s;
        }
        return;
    }
    let mut table = [0u8; 256];
    for (v, t) in table.iter_mut().enumerate() {
        *t = gf_mul(v as u8, c);
    }
    for (a, s) in acc.iter_mut().zip(src) {
        *a ^= table[*s as usize];
    }
}

/// `buf = c * buf`.
fn mul_in_place(buf: &mut [u8], c: u8) {
    let mut table = [0u8; 256];
    for (v, t) in table.iter_mut().enumerate() {
        *t = gf_mul(v as u8, c);
    }
    for b in buf {
        *b = table[*b as usize];
    }
}

/// P and Q of a row from its data chunks (`data[k]` = chunk `k`), as the
/// kernel writes them; `q` is left untouched for raid5 rows.
pub fn parity(row: &StripeLayout, data: &[&[u8]], p: &mut [u8], q: &mut [u8]) {
    p.fill(0);
    for d in data {
        mul_xor(p, d, 1);
    }
    if row.q.is_some() {
        q.fill(0);
        for (k, d) in data.iter().enumerate() {
            mul_xor(q, d, gf_pow2(u32::from(row.slot[row.data[k]])));
        }
    }
}

/// Why a row could not be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyMissing {
    /// Images of the row that were missing.
    pub missing: Vec<usize>,
}

impl std::fmt::Display for TooManyMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "images {:?} of the stripe are missing, more than its parity covers",
            self.missing
        )
    }
}

/// Rebuilds data chunk `k` of a row into `out` from the chunks of the
/// images that are there (`chunks[image]`, all as long as `out`): from P
/// when only data is missing besides it, from Q when P is missing too,
/// from P and Q together when two data chunks are missing.
///
/// # Errors
///
/// [`TooManyMissing`] when the row's parity cannot cover what is missing.
pub fn rebuild(
    row: &StripeLayout,
    chunks: &[Option<&[u8]>],
    k: usize,
    out: &mut [u8],
) -> Result<(), TooManyMissing> {
    let want = row.data[k];
    if let Some(Some(c)) = chunks.get(want) {
        out.copy_from_slice(&c[..out.len()]);
        return Ok(());
    }
    let missing: Vec<usize> = (0..chunks.len()).filter(|&i| chunks[i].is_none()).collect();
    let too_many = || TooManyMissing {
        missing: missing.clone(),
    };
    let data_missing: Vec<usize> = row
        .data
        .iter()
        .copied()
        .filter(|i| chunks[*i].is_none())
        .collect();
    let p = chunks[row.p];
    let q = row.q.and_then(|q| chunks[q]);
    let slot = |i: usize| u32::from(row.slot[i]);
    match (data_missing.as_slice(), p, q) {
        ([_], Some(p), _) => {
            out.copy_from_slice(&p[..out.len()]);
            for &i in &row.data {
                if let (true, Some(c)) = (i != want, chunks[i]) {
                    mul_xor(out, c, 1);
                }
            }
            Ok(())
        }
        ([_], None, Some(q)) => {
            // Q minus the others' terms is g^slot(want) * D.
            out.copy_from_slice(&q[..out.len()]);
            for &i in &row.data {
                if let (true, Some(c)) = (i != want, chunks[i]) {
                    mul_xor(out, c, gf_pow2(slot(i)));
                }
            }
            mul_in_place(out, gf_inv(gf_pow2(slot(want))));
            Ok(())
        }
        ([a, b], Some(p), Some(q)) => {
            let other = if *a == want { *b } else { *a };
            // Pxy = Da + Db, Qxy = ga*Da + gb*Db, so
            // Da = (gb*Pxy + Qxy) / (ga + gb).
            let mut pxy = p[..out.len()].to_vec();
            out.copy_from_slice(&q[..out.len()]);
            for &i in &row.data {
                if let (true, Some(c)) = (i != want && i != other, chunks[i]) {
                    mul_xor(&mut pxy, c, 1);
                    mul_xor(out, c, gf_pow2(slot(i)));
                }
            }
            let ga = gf_pow2(slot(want));
            let gb = gf_pow2(slot(other));
            mul_xor(out, &pxy, gb);
            mul_in_place(out, gf_inv(ga ^ gb));
            Ok(())
        }
        _ => Err(too_many()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rows of the spec's pictures (dm-raid.md §4.4): `P`, `Q`, or the
    /// LV chunk number on each image.
    fn picture(layout: ParityLayout, n: usize, stripes: u64) -> Vec<String> {
        let d = n - layout.parity_images() as usize;
        (0..stripes)
            .map(|s| {
                let row = layout.stripe(n, s);
                let mut cells = vec![String::new(); n];
                cells[row.p] = "P".into();
                if let Some(q) = row.q {
                    cells[q] = "Q".into();
                }
                for (k, &i) in row.data.iter().enumerate() {
                    cells[i] = format!("D{}", s as usize * d + k);
                }
                cells.join(" ")
            })
            .collect()
    }

    #[test]
    fn raid5_pictures_of_the_spec() {
        use ParityLayout::*;
        let want: [(ParityLayout, [&str; 5]); 6] = [
            (
                Raid5La,
                [
                    "D0 D1 D2 P",
                    "D3 D4 P D5",
                    "D6 P D7 D8",
                    "P D9 D10 D11",
                    "D12 D13 D14 P",
                ],
            ),
            (
                Raid5Ra,
                [
                    "P D0 D1 D2",
                    "D3 P D4 D5",
                    "D6 D7 P D8",
                    "D9 D10 D11 P",
                    "P D12 D13 D14",
                ],
            ),
            (
                Raid5Ls,
                [
                    "D0 D1 D2 P",
                    "D4 D5 P D3",
                    "D8 P D6 D7",
                    "P D9 D10 D11",
                    "D12 D13 D14 P",
                ],
            ),
            (
                Raid5Rs,
                [
                    "P D0 D1 D2",
                    "D5 P D3 D4",
                    "D7 D8 P D6",
                    "D9 D10 D11 P",
                    "P D12 D13 D14",
                ],
            ),
            (
                Raid4,
                [
                    "P D0 D1 D2",
                    "P D3 D4 D5",
                    "P D6 D7 D8",
                    "P D9 D10 D11",
                    "P D12 D13 D14",
                ],
            ),
            (
                Raid5N,
                [
                    "D0 D1 D2 P",
                    "D3 D4 D5 P",
                    "D6 D7 D8 P",
                    "D9 D10 D11 P",
                    "D12 D13 D14 P",
                ],
            ),
        ];
        for (layout, rows) in want {
            assert_eq!(picture(layout, 4, 5), rows, "{layout:?}");
        }
    }

    #[test]
    fn raid6_pictures_of_the_spec() {
        use ParityLayout::*;
        let want: [(ParityLayout, [&str; 5]); 8] = [
            (
                Raid6Zr,
                [
                    "P Q D0 D1 D2",
                    "D3 P Q D4 D5",
                    "D6 D7 P Q D8",
                    "D9 D10 D11 P Q",
                    "Q D12 D13 D14 P",
                ],
            ),
            (
                Raid6Nr,
                [
                    "D0 D1 D2 P Q",
                    "D3 D4 P Q D5",
                    "D6 P Q D7 D8",
                    "P Q D9 D10 D11",
                    "Q D12 D13 D14 P",
                ],
            ),
            (
                Raid6Nc,
                [
                    "D0 D1 D2 Q P",
                    "D4 D5 Q P D3",
                    "D8 Q P D6 D7",
                    "Q P D9 D10 D11",
                    "P D12 D13 D14 Q",
                ],
            ),
            (
                Raid6La6,
                [
                    "D0 D1 D2 P Q",
                    "D3 D4 P D5 Q",
                    "D6 P D7 D8 Q",
                    "P D9 D10 D11 Q",
                    "D12 D13 D14 P Q",
                ],
            ),
            (
                Raid6Ra6,
                [
                    "P D0 D1 D2 Q",
                    "D3 P D4 D5 Q",
                    "D6 D7 P D8 Q",
                    "D9 D10 D11 P Q",
                    "P D12 D13 D14 Q",
                ],
            ),
            (
                Raid6Ls6,
                [
                    "D0 D1 D2 P Q",
                    "D4 D5 P D3 Q",
                    "D8 P D6 D7 Q",
                    "P D9 D10 D11 Q",
                    "D12 D13 D14 P Q",
                ],
            ),
            (
                Raid6Rs6,
                [
                    "P D0 D1 D2 Q",
                    "D5 P D3 D4 Q",
                    "D7 D8 P D6 Q",
                    "D9 D10 D11 P Q",
                    "P D12 D13 D14 Q",
                ],
            ),
            (
                Raid6N6,
                [
                    "D0 D1 D2 P Q",
                    "D3 D4 D5 P Q",
                    "D6 D7 D8 P Q",
                    "D9 D10 D11 P Q",
                    "D12 D13 D14 P Q",
                ],
            ),
        ];
        for (layout, rows) in want {
            assert_eq!(picture(layout, 5, 5), rows, "{layout:?}");
        }
    }

    /// The spec's worked Q bytes (§4.5): data 0x11, 0x22, 0x33.
    #[test]
    fn q_of_the_worked_examples() {
        let data: [&[u8]; 3] = [&[0x11], &[0x22], &[0x33]];
        let (mut p, mut q) = ([0u8], [0u8]);
        parity(&ParityLayout::Raid6Ls6.stripe(5, 0), &data, &mut p, &mut q);
        assert_eq!((p[0], q[0]), (0x00, 0x99));
        parity(&ParityLayout::Raid6Zr.stripe(5, 0), &data, &mut p, &mut q);
        assert_eq!(q[0], 0x5E);
        assert_eq!(gf_mul(2, 0x80), 0x1D);
        assert_eq!(gf_pow2(8), 0x1D);
        assert_eq!(gf_pow2(255), 1);
    }

    /// A direct model of each layout, written from the layout names
    /// rather than from md's switch: where P goes (moving left from the
    /// last data position, or right from 0), whether data restarts at
    /// image 0 (asymmetric) or follows P round the ring (symmetric), and
    /// the DDF rules for raid6_zr/nr/nc.
    fn model(layout: ParityLayout, n: usize, s: usize) -> (Vec<usize>, usize, Option<usize>) {
        use ParityLayout::*;
        let ring = |from: usize, len: usize, skip: &[usize]| -> Vec<usize> {
            (0..len)
                .map(|i| (from + i) % len)
                .filter(|i| !skip.contains(i))
                .collect()
        };
        match layout {
            Raid4 => ((1..n).collect(), 0, None),
            Raid5N => ((0..n - 1).collect(), n - 1, None),
            Raid5La | Raid5Ra | Raid5Ls | Raid5Rs => {
                let p = match layout {
                    Raid5La | Raid5Ls => n - 1 - s % n,
                    _ => s % n,
                };
                let data = match layout {
                    Raid5La | Raid5Ra => ring(0, n, &[p]),
                    _ => ring(p + 1, n, &[p]),
                };
                (data, p, None)
            }
            Raid6La6 | Raid6Ra6 | Raid6Ls6 | Raid6Rs6 => {
                let m = n - 1;
                let p = match layout {
                    Raid6La6 | Raid6Ls6 => m - 1 - s % m,
                    _ => s % m,
                };
                let data = match layout {
                    Raid6La6 | Raid6Ra6 => ring(0, m, &[p]),
                    _ => ring(p + 1, m, &[p]),
                };
                (data, p, Some(n - 1))
            }
            Raid6N6 => ((0..n - 2).collect(), n - 2, Some(n - 1)),
            Raid6Zr | Raid6Nr => {
                // P moves right from 0 (zr) or left from n-2 (nr), Q right
                // after it; data fills the rest from image 0.
                let p = if layout == Raid6Zr {
                    s % n
                } else {
                    (2 * n - 2 - s % n) % n
                };
                let q = (p + 1) % n;
                (ring(0, n, &[p, q]), p, Some(q))
            }
            Raid6Nc => {
                // P moves left from the last image, Q just before it, data
                // continues round the ring after P.
                let p = n - 1 - s % n;
                let q = (p + n - 1) % n;
                (ring(p + 1, n, &[p, q]), p, Some(q))
            }
        }
    }

    proptest! {
        #[test]
        fn layouts_match_the_direct_model(li in 0usize..14, extra in 0usize..8, s in 0u64..200) {
            let layout = PARITY_LAYOUTS[li];
            let n = layout.parity_images() as usize + 1 + extra + usize::from(layout.parity_images() == 2);
            let row = layout.stripe(n, s);
            let (data, p, q) = model(layout, n, s as usize);
            prop_assert_eq!(&row.data, &data);
            prop_assert_eq!(row.p, p);
            prop_assert_eq!(row.q, q);
            // Every image holds exactly one chunk of the row.
            let mut seen = vec![0; n];
            for &i in row.data.iter().chain([row.p].iter()).chain(row.q.iter()) {
                seen[i] += 1;
            }
            prop_assert!(seen.iter().all(|&c| c == 1));
        }

        #[test]
        fn any_one_or_two_missing_rebuild_the_same_bytes(
            li in 0usize..14,
            extra in 0usize..6,
            s in 0u64..50,
            seed in any::<u64>(),
            gone in proptest::collection::vec(0usize..16, 1..3),
        ) {
            let layout = PARITY_LAYOUTS[li];
            let pc = layout.parity_images() as usize;
            let n = pc + 2 + extra;
            let row = layout.stripe(n, s);
            let len = 64;
            let mut x = seed | 1;
            let data: Vec<Vec<u8>> = (0..n - pc)
                .map(|_| {
                    (0..len)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            let mut p = vec![0u8; len];
            let mut q = vec![0u8; len];
            parity(&row, &refs, &mut p, &mut q);
            let mut chunks: Vec<Option<&[u8]>> = vec![None; n];
            for (k, &i) in row.data.iter().enumerate() {
                chunks[i] = Some(&data[k]);
            }
            chunks[row.p] = Some(&p);
            if let Some(qi) = row.q {
                chunks[qi] = Some(&q);
            }
            let mut gone: Vec<usize> = gone.iter().map(|g| g % n).collect();
            gone.sort_unstable();
            gone.dedup();
            gone.truncate(pc);
            for &g in &gone {
                chunks[g] = None;
            }
            for (k, want) in data.iter().enumerate() {
                let mut out = vec![0u8; len];
                rebuild(&row, &chunks, k, &mut out).unwrap();
                prop_assert_eq!(&out, want, "k {} gone {:?}", k, &gone);
            }
        }
    }

    fn seg_of(keys: &str) -> Result<Option<RaidSeg>, Corruption> {
        let text = format!("segment1 {{\nstart_extent = 0\nextent_count = 2\n{keys}\n}}\n");
        let t = crate::text::parse(text.as_bytes()).unwrap();
        let Node::Section { children, .. } = &t.nodes[0] else {
            panic!()
        };
        let k = Keys(children);
        let Some(Value::Str(type_name)) = k.value("type") else {
            panic!()
        };
        let seg = Segment {
            key: "segment1".into(),
            start_extent: 0,
            extent_count: 2,
            reshape_count: None,
            type_name: type_name.clone(),
            tags: Vec::new(),
            kind: SegmentKind::Unknown {
                nodes: children
                    .iter()
                    .filter(|n| !matches!(n.key(), "start_extent" | "extent_count" | "type"))
                    .cloned()
                    .collect(),
            },
        };
        let names = [
            "r_rmeta_0",
            "r_rimage_0",
            "r_rmeta_1",
            "r_rimage_1",
            "r_rmeta_2",
            "r_rimage_2",
        ];
        RaidSeg::of("r", &seg, |n| names.iter().position(|x| *x == n))
    }

    #[test]
    fn keys_are_typed_and_errors_name_the_lv_and_segment() {
        let ok = seg_of(
            "type = \"raid5\"\ndevice_count = 3\nregion_size = 4096\nstripe_size = 128\nraids = [\"r_rmeta_0\", \"r_rimage_0\", \"r_rmeta_1\", \"r_rimage_1\", \"r_rmeta_2\", \"r_rimage_2\"]",
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.level, RaidLevel::Parity(ParityLayout::Raid5Ls));
        assert_eq!(ok.stripe_size, Some(Sectors(128)));
        assert_eq!(ok.region_size, Some(Sectors(4096)));
        assert_eq!(
            ok.images[2],
            RaidImage {
                data: 5,
                le: 0,
                meta: Some(4)
            }
        );
        let m = seg_of("type = \"mirror\"\nmirror_count = 2\nmirror_log = \"r_rmeta_0\"\nmirrors = [\"r_rimage_0\", 0, \"r_rimage_1\", 0]")
            .unwrap()
            .unwrap();
        assert_eq!((m.images.len(), m.mirror_log), (2, Some(0)));
        assert_eq!(seg_of("type = \"thin\"").unwrap(), None);
        let err = |keys: &str| match seg_of(keys) {
            Err(Corruption::Model(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err("type = \"raid1\"\nraids = [\"r_rmeta_0\", \"r_rimage_0\"]"),
            "LV r segment1: device_count is missing"
        );
        assert_eq!(
            err("type = \"raid1\"\ndevice_count = 3\nraids = [\"r_rmeta_0\", \"r_rimage_0\"]"),
            "LV r segment1: raids lists 1 images but device_count is 3"
        );
        assert_eq!(
            err("type = \"raid1\"\ndevice_count = 1\nraids = [\"r_rmeta_0\", \"nope\"]"),
            "LV r segment1: raids names \"nope\", which is not an LV of this VG"
        );
        assert_eq!(
            err("type = \"raid5_n\"\ndevice_count = 3\nraids = [\"r_rimage_0\", \"r_rimage_1\", \"r_rimage_2\"]"),
            "LV r segment1: stripe_size is missing"
        );
        assert_eq!(
            err("type = \"raid0\"\nstripe_count = 1\nstripe_size = 8\nraid0_lvs = \"r_rmeta_0\""),
            "LV r segment1: raid0_lvs: metadata image \"r_rmeta_0\" has no data image"
        );
    }

    #[test]
    fn more_missing_than_parity_is_an_error() {
        let row = ParityLayout::Raid5Ls.stripe(3, 0);
        let a = [1u8; 4];
        let chunks: Vec<Option<&[u8]>> = vec![None, None, Some(&a)];
        let mut out = [0u8; 4];
        let e = rebuild(&row, &chunks, 0, &mut out).unwrap_err();
        assert_eq!(e.missing, vec![0, 1]);
    }
}
