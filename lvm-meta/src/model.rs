//! The typed VG model over the metadata text tree (lvm2
//! `lib/format_text/import_vsn1.c`).
//!
//! Keys lvm2 requires are required here; unknown segment types are kept
//! verbatim as [`SegmentKind::Unknown`], never dropped.

use crate::error::{Corruption, Error, NotFound};
use crate::text::{parse_flat, Flat, FlatKind, FlatNode, FlatValue, Node, Sect, Tree};
use crate::units::Sectors;
use crate::uuid::parse_uuid;

/// Most stripes in one segment (lvm2 `MAX_STRIPES`).
pub const MAX_STRIPES: u32 = 128;

/// The header values around the VG section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextHeader {
    /// `description`.
    pub description: Option<String>,
    /// `creation_host`.
    pub creation_host: Option<String>,
    /// `creation_time` (seconds since the epoch).
    pub creation_time: Option<i64>,
    /// `creation_host_system_id` (written by lvm2 when the host has a
    /// system id).
    pub creation_host_system_id: Option<String>,
}

/// A volume group.
#[derive(Debug, Clone, PartialEq)]
pub struct Vg {
    /// The VG name (the section key).
    pub name: String,
    /// `id`, hyphenated as written.
    pub id: String,
    /// `seqno`.
    pub seqno: u32,
    /// `format`.
    pub format: Option<String>,
    /// `status`.
    pub status: Vec<String>,
    /// `flags`.
    pub flags: Vec<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `system_id`.
    pub system_id: Option<String>,
    /// `lock_type` (lvmlockd: `sanlock`, `dlm`, `idm`).
    pub lock_type: Option<String>,
    /// `lock_args` (written by lvm2 only together with `lock_type`).
    pub lock_args: Option<String>,
    /// `extent_size`; 0 is accepted, as lvm2 does (every size is then 0).
    pub extent_size: Sectors,
    /// `max_lv`.
    pub max_lv: u32,
    /// `max_pv`.
    pub max_pv: u32,
    /// `allocation_policy`.
    pub allocation_policy: Option<String>,
    /// `profile` (metadata profile name).
    pub profile: Option<String>,
    /// `metadata_copies`.
    pub metadata_copies: u32,
    /// `physical_volumes`, in text order.
    pub pvs: Vec<Pv>,
    /// `logical_volumes`, in text order.
    pub lvs: Vec<Lv>,
    /// The children of `historical_logical_volumes` (one section per
    /// removed LV), kept verbatim in text order; empty if absent.
    pub historical_lvs: Vec<Node>,
    /// Top-level header values.
    pub header: TextHeader,
    /// Snapshot relations of each LV (same order as `lvs`), derived from
    /// the `snapshot` segments once, so lookups are O(1).
    pub roles: Vec<SnapRole>,
}

/// An LV's part in old-style snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapRole {
    /// Set if this LV is the COW store of a snapshot.
    pub cow_of: Option<CowOf>,
    /// Glue LVs whose snapshot has this LV as origin.
    pub origin_of: Vec<usize>,
    /// True if one of those snapshots is merging into this LV.
    pub merging_origin: bool,
}

/// The snapshot an LV is the COW store of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CowOf {
    /// The glue LV (`snapshotN`).
    pub glue: usize,
    /// The origin LV.
    pub origin: usize,
    /// `chunk_size`.
    pub chunk_size: Sectors,
    /// Written as `merging_store`.
    pub merging: bool,
    /// The glue segment's `extent_count`: the snapshot's length.
    pub glue_extents: u32,
}

/// A PV as the VG metadata describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pv {
    /// The subsection key (`pv0`, ...), used by segment area lists.
    pub key: String,
    /// `id`, hyphenated as written.
    pub id: String,
    /// The 32 raw UUID characters.
    pub uuid: [u8; 32],
    /// `device` (a hint only).
    pub device: Option<String>,
    /// `device_id_type` (devices-file identity, e.g. `sys_wwid`).
    pub device_id_type: Option<String>,
    /// `device_id`.
    pub device_id: Option<String>,
    /// `status`.
    pub status: Vec<String>,
    /// `flags`.
    pub flags: Vec<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `dev_size`.
    pub dev_size: Option<Sectors>,
    /// `pe_start`.
    pub pe_start: Sectors,
    /// `pe_count`.
    pub pe_count: u32,
    /// `ba_start`: bootloader area start in sectors (lvm2 writes it, with
    /// `ba_size`, only when both are non-zero).
    pub ba_start: Option<Sectors>,
    /// `ba_size`: bootloader area size in sectors.
    pub ba_size: Option<Sectors>,
}

/// A logical volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Lv {
    /// The LV name (the section key).
    pub name: String,
    /// `id`.
    pub id: String,
    /// `status`.
    pub status: Vec<String>,
    /// `flags`.
    pub flags: Vec<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `creation_time`.
    pub creation_time: Option<i64>,
    /// `creation_host`.
    pub creation_host: Option<String>,
    /// `read_ahead`.
    pub read_ahead: Option<i64>,
    /// `lock_args` (lvmlockd per-LV lock data).
    pub lock_args: Option<String>,
    /// `allocation_policy` (absent = inherit).
    pub allocation_policy: Option<String>,
    /// `profile`.
    pub profile: Option<String>,
    /// `major` (lvm2 writes it for `FIXED_MINOR` LVs).
    pub major: Option<i64>,
    /// `minor`.
    pub minor: Option<i64>,
    /// Segments ordered by `start_extent`, tiling the LV.
    pub segments: Vec<Segment>,
}

/// One segment of an LV.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The subsection key (`segment1`, ...).
    pub key: String,
    /// `start_extent`.
    pub start_extent: u32,
    /// `extent_count`.
    pub extent_count: u32,
    /// `reshape_count` (RAID reshape space in extents; lvm2 reads it for
    /// every segment type and writes it before `type` when non-zero).
    pub reshape_count: Option<u32>,
    /// The type as written, with any `+FLAG` suffixes.
    pub type_name: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// What the type means.
    pub kind: SegmentKind,
}

/// Where a stripe lives: a PV and a PE, or another LV and an LE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// Index into [`Vg::pvs`], and the first PE.
    Pv {
        /// Index into [`Vg::pvs`].
        pv: usize,
        /// First physical extent.
        pe: u32,
    },
    /// Index into [`Vg::lvs`], and the first LE.
    Lv {
        /// Index into [`Vg::lvs`].
        lv: usize,
        /// First logical extent.
        le: u32,
    },
}

/// A segment's type and its keys.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentKind {
    /// `striped`; linear is one stripe.
    Striped {
        /// `stripe_size` in sectors (absent for one stripe).
        stripe_size: Option<Sectors>,
        /// One area per stripe.
        stripes: Vec<Area>,
    },
    /// `snapshot`: the glue of an old-style COW snapshot.
    Snapshot {
        /// `chunk_size`.
        chunk_size: Sectors,
        /// Index of the origin LV.
        origin: usize,
        /// Index of the COW LV.
        cow: usize,
        /// True if written as `merging_store`.
        merging: bool,
    },
    /// `error`.
    Error,
    /// `zero`.
    Zero,
    /// Any other type, kept verbatim (every key but the common ones).
    Unknown {
        /// The other keys of the segment, in order.
        nodes: Vec<Node>,
    },
}

/// LV names in text order, and where each is.
struct Names<'a> {
    names: &'a [&'a str],
    index: &'a NameIndex<'a>,
    /// PV keys to their index, when there are more than a few PVs (with
    /// few, a look through the list costs less).
    pvs: Option<NameIndex<'a>>,
}

impl Names<'_> {
    /// The index of the PV whose key is `key`.
    fn pv(&self, pvs: &[Pv], key: &str) -> Option<usize> {
        match &self.pvs {
            Some(index) => index.get(key),
            None => pvs.iter().position(|p| p.key == key),
        }
    }
}

/// Names to their index: (name, index) pairs sorted by name, searched by
/// bisection. Building it is O(n log n) whatever names the image holds
/// (no hash a crafted image could flood), and lvm2's names, written
/// mostly in order, sort in about one pass.
struct NameIndex<'a> {
    sorted: Vec<(&'a str, usize)>,
}

impl<'a> NameIndex<'a> {
    /// The index of `names`, or the first name (in their order) that is
    /// the same as an earlier one.
    fn new(names: &[&'a str]) -> Result<NameIndex<'a>, &'a str> {
        let mut sorted: Vec<(&'a str, usize)> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        // Names in strictly increasing order hold no repeat.
        if names.windows(2).all(|w| w[0] < w[1]) {
            return Ok(NameIndex { sorted });
        }
        // Stable: equal names stay in text order, so in each pair of equal
        // neighbours the second is a repeat.
        sorted.sort_by(|x, y| x.0.cmp(y.0));
        let first_repeat = sorted
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| w[1].1)
            .min();
        match first_repeat {
            Some(i) => Err(names[i]),
            None => Ok(NameIndex { sorted }),
        }
    }

    fn get(&self, name: &str) -> Option<usize> {
        let i = self.sorted.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
        Some(self.sorted[i].1)
    }
}

/// Names the object an error is about ("LV lv0 segment1"); formatted only
/// when an error is reported.
struct Where<'a>(&'static str, &'a str, Option<&'a str>);

impl std::fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)?;
        if let Some(s) = self.2 {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

fn model(msg: impl Into<String>) -> Corruption {
    Corruption::Model(msg.into())
}

// The readers below take the value of the first node named `key` (lvm2's
// lookup), `None` if there is none or it is a section. They are small and
// inlined; the messages of their errors are made out of line.

/// "`what`: `key` `problem`" (e.g. "LV lv0: id is missing").
#[cold]
#[inline(never)]
fn bad_key(what: &Where<'_>, key: &str, problem: &str) -> Corruption {
    model(format!("{what}: {key} {problem}"))
}

#[cold]
#[inline(never)]
fn out_of_range(what: &Where<'_>, key: &str, v: i64, problem: &str) -> Corruption {
    model(format!("{what}: {key} = {v} is {problem}"))
}

#[inline]
fn get_int(v: Option<FlatValue<'_>>, key: &str, what: &Where<'_>) -> Result<i64, Corruption> {
    match v {
        Some(FlatValue::Int(v)) => Ok(v),
        Some(_) => Err(bad_key(what, key, "must be an integer")),
        None => Err(bad_key(what, key, "is missing")),
    }
}

#[inline]
fn opt_int(
    v: Option<FlatValue<'_>>,
    key: &str,
    what: &Where<'_>,
) -> Result<Option<i64>, Corruption> {
    match v {
        None => Ok(None),
        Some(FlatValue::Int(v)) => Ok(Some(v)),
        Some(_) => Err(bad_key(what, key, "must be an integer")),
    }
}

/// An optional integer lvm2 reads leniently (a value of another type is
/// treated as absent, as `_read_int32`/`_read_uint64` failures are there).
#[inline]
fn lenient_int(v: Option<FlatValue<'_>>) -> Option<i64> {
    match v {
        Some(FlatValue::Int(v)) => Some(v),
        _ => None,
    }
}

#[inline]
fn to_u32(v: i64, key: &str, what: &Where<'_>) -> Result<u32, Corruption> {
    u32::try_from(v).map_err(|_| out_of_range(what, key, v, "out of range"))
}

#[inline]
fn to_u64(v: i64, key: &str, what: &Where<'_>) -> Result<u64, Corruption> {
    u64::try_from(v).map_err(|_| out_of_range(what, key, v, "negative"))
}

/// A required string, borrowed from the text.
#[inline]
fn get_str<'t>(
    v: Option<FlatValue<'t>>,
    key: &str,
    what: &Where<'_>,
) -> Result<&'t str, Corruption> {
    match v {
        Some(FlatValue::Str(v)) => Ok(v),
        Some(_) => Err(bad_key(what, key, "must be a string")),
        None => Err(bad_key(what, key, "is missing")),
    }
}

#[inline]
fn opt_str(v: Option<FlatValue<'_>>) -> Option<String> {
    match v {
        Some(FlatValue::Str(s)) => Some(s.to_owned()),
        _ => None,
    }
}

#[inline]
fn str_list(
    t: &Flat<'_>,
    v: Option<FlatValue<'_>>,
    key: &str,
    what: &Where<'_>,
    required: bool,
) -> Result<Vec<String>, Corruption> {
    match v {
        None if required => Err(bad_key(what, key, "is missing")),
        None => Ok(Vec::new()),
        Some(FlatValue::Array { len: 0, .. }) => Ok(Vec::new()),
        Some(v) => str_items(t, v, key, what),
    }
}

/// The strings of a string or an array of strings.
fn str_items(
    t: &Flat<'_>,
    v: FlatValue<'_>,
    key: &str,
    what: &Where<'_>,
) -> Result<Vec<String>, Corruption> {
    match v {
        FlatValue::Str(v) => Ok(vec![v.to_owned()]),
        FlatValue::Array { .. } => {
            let items = t.array(&v);
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    FlatValue::Str(v) => out.push((*v).to_owned()),
                    _ => return Err(bad_key(what, key, "must list strings")),
                }
            }
            Ok(out)
        }
        _ => Err(bad_key(what, key, "must be a list of strings")),
    }
}

/// A list of the keys lvm2's importer looks up in one kind of section,
/// and the function that gives a key's place in it (one pass of string
/// compares the compiler lays out, not a search of the list).
macro_rules! key_list {
    ($(#[$doc:meta])* $list:ident, $index:ident, [$($k:literal),* $(,)?]) => {
        $(#[$doc])*
        const $list: &[&str] = &[$($k),*];
        fn $index(key: &str) -> Option<usize> {
            let mut i = 0usize;
            $(
                if key == $k {
                    return Some(i);
                }
                i += 1;
            )*
            let _ = i;
            None
        }
    };
}

/// The place of `key` in `list`, for use in a `const` block (a typo is a
/// compile error).
const fn key_at(list: &[&str], key: &str) -> usize {
    let mut i = 0;
    while i < list.len() {
        let (a, b) = (list[i].as_bytes(), key.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a key of the list")
}

/// The nodes of one section that lvm2 looks up, found in one pass over
/// it: the first node of each key of a list (the one lvm2 uses), and a bit
/// for each key that more than one node has (lvm2 warns about those).
struct Picked<'f, 't, const N: usize> {
    first: [Option<&'f FlatNode<'t>>; N],
    repeated: u32,
}

impl<'f, 't, const N: usize> Picked<'f, 't, N> {
    #[inline]
    fn new(nodes: &'f [FlatNode<'t>], index: fn(&str) -> Option<usize>) -> Self {
        const { assert!(N <= 32, "one bit per key in `repeated`") };
        let mut p = Picked {
            first: [None; N],
            repeated: 0,
        };
        for n in nodes {
            if let Some(i) = index(n.key) {
                if p.first[i].is_some() {
                    p.repeated |= 1 << i;
                } else {
                    p.first[i] = Some(n);
                }
            }
        }
        p
    }

    /// The value of the first node of key `i`, if that node is a setting.
    #[inline]
    fn value(&self, i: usize) -> Option<FlatValue<'t>> {
        match self.first[i]?.kind {
            FlatKind::Setting(v) => Some(v),
            FlatKind::Section { .. } => None,
        }
    }

    /// Appends the repeated keys among `keys[range]` (names of `list`), in
    /// list order.
    #[inline]
    fn push_repeated(&self, list: &[&str], range: std::ops::Range<usize>, out: &mut Vec<String>) {
        if self.repeated != 0 {
            Self::push_bits(self.repeated, list, range, out);
        }
    }

    #[cold]
    fn push_bits(
        repeated: u32,
        list: &[&str],
        range: std::ops::Range<usize>,
        out: &mut Vec<String>,
    ) {
        for i in range {
            if repeated & (1 << i) != 0 {
                out.push(list[i].to_owned());
            }
        }
    }
}

/// The place of a key in a key list, checked at compile time.
macro_rules! k {
    ($list:ident, $key:literal) => {
        const { key_at($list, $key) }
    };
}

key_list!(
    /// The keys lvm2's importer looks up at the top level of a metadata
    /// text.
    TOP_KEYS,
    top_key,
    ["contents", "version"]
);
key_list!(
    /// The keys it looks up in the VG section.
    VG_KEYS,
    vg_key,
    [
        "id",
        "seqno",
        "format",
        "status",
        "flags",
        "system_id",
        "lock_type",
        "lock_args",
        "extent_size",
        "max_lv",
        "max_pv",
        "allocation_policy",
        "profile",
        "metadata_copies",
        "tags",
        "physical_volumes",
        "logical_volumes",
        "historical_logical_volumes",
    ]
);
key_list!(
    /// The keys it looks up in a PV section.
    PV_KEYS,
    pv_key,
    [
        "id",
        "device",
        "device_id_type",
        "device_id",
        "status",
        "flags",
        "dev_size",
        "pe_start",
        "pe_count",
        "ba_start",
        "ba_size",
        "tags",
    ]
);
key_list!(
    /// The keys it looks up in an LV section (segments are read in a
    /// second pass over the LVs).
    LV_KEYS,
    lv_key,
    [
        "id",
        "status",
        "flags",
        "creation_host",
        "creation_time",
        "lock_args",
        "allocation_policy",
        "profile",
        "read_ahead",
        "major",
        "minor",
        "tags",
        "segment_count",
    ]
);
key_list!(
    /// The keys it looks up in a segment section: those of every segment
    /// ([`SEG_RANGE`]), then those of a `striped` one ([`STRIPED_RANGE`]),
    /// then those of a `snapshot` one ([`SNAPSHOT_RANGE`]).
    SEGMENT_KEYS,
    segment_key,
    [
        "start_extent",
        "extent_count",
        "reshape_count",
        "type",
        "tags",
        "stripe_count",
        "stripe_size",
        "stripes",
        "chunk_size",
        "merging_store",
        "cow_store",
        "origin",
    ]
);
/// Where the keys of every segment, of a striped one and of a snapshot
/// are in [`SEGMENT_KEYS`].
const SEG_RANGE: std::ops::Range<usize> = 0..5;
const STRIPED_RANGE: std::ops::Range<usize> = 5..8;
const SNAPSHOT_RANGE: std::ops::Range<usize> = 8..12;

impl Vg {
    /// Builds the VG from a parsed text (on-disk or backup file form).
    pub fn from_tree<S: AsRef<str>>(t: &Tree<S>) -> Result<Vg, Corruption> {
        Self::from_flat(&Flat::from_tree(t))
    }

    /// Parses a metadata text and builds its VG: the text is read into
    /// flat form when it can be ([`parse_flat`]), else into a tree, with the
    /// same result. Also returns the keys lvm2 finds more than once where
    /// it looks them up, in the order it reads them: lvm2 uses the first of
    /// each (as this model does) and prints `WARNING: Ignoring duplicate
    /// config node: KEY (seeking KEY)` for each; keys it never looks up
    /// (unknown ones) may repeat silently. A text that does not parse gives
    /// the parser's error ([`Corruption::Text`]).
    pub fn from_text(text: &[u8]) -> Result<(Vg, Vec<String>), Corruption> {
        match parse_flat(text) {
            Some(f) => Self::build(&f),
            None => Self::build(&Flat::from_tree(&crate::text::parse_borrowed(text)?)),
        }
    }

    /// Builds the VG from a parsed text in flat form.
    pub fn from_flat(t: &Flat<'_>) -> Result<Vg, Corruption> {
        Self::build(t).map(|(vg, _)| vg)
    }

    /// The VG of a flat text and the keys lvm2 finds repeated (see
    /// [`Vg::from_text`]), found in the same pass over each section.
    fn build(t: &Flat<'_>) -> Result<(Vg, Vec<String>), Corruption> {
        let root = t.root();
        match root.str("contents") {
            Some("Text Format Volume Group") => {}
            _ => return Err(model("contents is not \"Text Format Volume Group\"")),
        }
        match root.value("version") {
            Some(FlatValue::Int(1)) => {}
            _ => return Err(model("version is not 1")),
        }
        let (name, s) = root
            .subsections()
            .next()
            .ok_or_else(|| model("no VG section"))?;
        // The top level and the VG section repeat keys as every other
        // section does: found by `Picked`'s one pass.
        let mut dups = Vec::new();
        Picked::<{ TOP_KEYS.len() }>::new(root.nodes, top_key).push_repeated(
            TOP_KEYS,
            0..TOP_KEYS.len(),
            &mut dups,
        );
        Picked::<{ VG_KEYS.len() }>::new(s.nodes, vg_key).push_repeated(
            VG_KEYS,
            0..VG_KEYS.len(),
            &mut dups,
        );
        let w = &Where("VG", name, None);
        // lvm2 takes an extent size of 0: every size then reads 0, and
        // nothing can be read through the LVs' mappings.
        let extent_size = to_u64(
            get_int(s.value("extent_size"), "extent_size", w)?,
            "extent_size",
            w,
        )?;
        let mut vg = Vg {
            name: name.to_owned(),
            id: get_str(s.value("id"), "id", w)?.to_owned(),
            seqno: to_u32(get_int(s.value("seqno"), "seqno", w)?, "seqno", w)?,
            format: opt_str(s.value("format")),
            status: str_list(t, s.value("status"), "status", w, true)?,
            flags: str_list(t, s.value("flags"), "flags", w, false)?,
            tags: str_list(t, s.value("tags"), "tags", w, false)?,
            system_id: opt_str(s.value("system_id")),
            lock_type: opt_str(s.value("lock_type")),
            lock_args: opt_str(s.value("lock_args")),
            extent_size: Sectors(extent_size),
            max_lv: to_u32(get_int(s.value("max_lv"), "max_lv", w)?, "max_lv", w)?,
            max_pv: to_u32(get_int(s.value("max_pv"), "max_pv", w)?, "max_pv", w)?,
            allocation_policy: opt_str(s.value("allocation_policy")),
            profile: opt_str(s.value("profile")),
            metadata_copies: match s.value("metadata_copies") {
                Some(FlatValue::Int(v)) => u32::try_from(v).unwrap_or(0),
                _ => 0,
            },
            pvs: Vec::new(),
            lvs: Vec::new(),
            historical_lvs: s
                .section("historical_logical_volumes")
                .map(|h| h.to_owned_nodes())
                .unwrap_or_default(),
            roles: Vec::new(),
            header: TextHeader {
                description: opt_str(root.value("description")),
                creation_host: opt_str(root.value("creation_host")),
                creation_time: lenient_int(root.value("creation_time")),
                creation_host_system_id: opt_str(root.value("creation_host_system_id")),
            },
        };
        if parse_uuid(&vg.id).is_none() {
            return Err(model(format!("{w}: id {:?} is not a valid UUID", vg.id)));
        }
        let pvs = s
            .section("physical_volumes")
            .ok_or_else(|| model(format!("{w}: physical_volumes is missing")))?;
        // Names and UUIDs seen so far, to refuse a repeat at the PV that
        // repeats it (a set: an image may list many PVs).
        let mut pv_keys = std::collections::HashSet::new();
        let mut pv_uuids = std::collections::HashSet::new();
        for (key, p) in pvs.subsections() {
            let w = &Where("PV", key, None);
            let f = Picked::<{ PV_KEYS.len() }>::new(p.nodes, pv_key);
            f.push_repeated(PV_KEYS, 0..PV_KEYS.len(), &mut dups);
            let id = get_str(f.value(k!(PV_KEYS, "id")), "id", w)?;
            let uuid = parse_uuid(id)
                .ok_or_else(|| model(format!("{w}: id {id:?} is not a valid UUID")))?;
            let pv = Pv {
                key: key.to_owned(),
                id: id.to_owned(),
                uuid,
                device: opt_str(f.value(k!(PV_KEYS, "device"))),
                device_id_type: opt_str(f.value(k!(PV_KEYS, "device_id_type"))),
                device_id: opt_str(f.value(k!(PV_KEYS, "device_id"))),
                status: str_list(t, f.value(k!(PV_KEYS, "status")), "status", w, true)?,
                flags: str_list(t, f.value(k!(PV_KEYS, "flags")), "flags", w, false)?,
                tags: str_list(t, f.value(k!(PV_KEYS, "tags")), "tags", w, false)?,
                dev_size: opt_int(f.value(k!(PV_KEYS, "dev_size")), "dev_size", w)?
                    .map(|v| to_u64(v, "dev_size", w).map(Sectors))
                    .transpose()?,
                pe_start: Sectors(to_u64(
                    get_int(f.value(k!(PV_KEYS, "pe_start")), "pe_start", w)?,
                    "pe_start",
                    w,
                )?),
                pe_count: to_u32(
                    get_int(f.value(k!(PV_KEYS, "pe_count")), "pe_count", w)?,
                    "pe_count",
                    w,
                )?,
                ba_start: lenient_int(f.value(k!(PV_KEYS, "ba_start")))
                    .and_then(|v| u64::try_from(v).ok())
                    .map(Sectors),
                ba_size: lenient_int(f.value(k!(PV_KEYS, "ba_size")))
                    .and_then(|v| u64::try_from(v).ok())
                    .map(Sectors),
            };
            if !pv_keys.insert(key) {
                return Err(model(format!("{w}: the name is used twice")));
            }
            if !pv_uuids.insert(uuid) {
                return Err(model(format!("{w}: UUID {} is used twice", pv.id)));
            }
            vg.pvs.push(pv);
        }
        let lvs_nodes = s.section("logical_volumes");
        let lv_sections = || lvs_nodes.into_iter().flat_map(|l| l.subsections());
        // First pass: names, so that segments can refer to any LV.
        let lv_names: Vec<&str> = lv_sections().map(|(k, _)| k).collect();
        let index = NameIndex::new(&lv_names)
            .map_err(|n| model(format!("LV {n}: the name is used twice")))?;
        // PV keys are unique (checked above): the index cannot refuse them.
        let pv_keys: Vec<&str> = vg.pvs.iter().map(|p| p.key.as_str()).collect();
        let names = Names {
            names: &lv_names,
            index: &index,
            pvs: (pv_keys.len() > 8)
                .then(|| NameIndex::new(&pv_keys).ok())
                .flatten(),
        };
        vg.lvs.reserve_exact(lv_names.len());
        // lvm2 reads the segments in a second pass over the LVs: their
        // repeated keys come after those of every LV.
        let mut segment_dups = Vec::new();
        for (name, l) in lv_sections() {
            Self::read_lv(
                &vg.pvs,
                &mut vg.lvs,
                t,
                &names,
                name,
                l,
                &mut dups,
                &mut segment_dups,
            )?;
        }
        dups.append(&mut segment_dups);
        vg.check_extents()?;
        vg.derive_roles();
        vg.check_snapshot_chains()?;
        Ok((vg, dups))
    }

    /// Refuses snapshot relations lvm2 never makes ("Snapshots of snapshots
    /// are not supported"): an origin or COW that is itself a glue LV, an
    /// origin that is a COW, a COW that is an origin. With these gone every
    /// snapshot is one level deep, so nothing that follows origins can
    /// loop or recurse.
    fn check_snapshot_chains(&self) -> Result<(), Corruption> {
        for (g, seg) in self.snapshots() {
            let SegmentKind::Snapshot { origin, cow, .. } = seg.kind else {
                continue;
            };
            let name = |i: usize| &self.lvs[i].name;
            let w = format!("LV {} {}", name(g), seg.key);
            for (what, i) in [("origin", origin), ("COW store", cow)] {
                if self.lvs[i].is_snapshot_glue() {
                    return Err(model(format!(
                        "{w}: {what} {} is itself a snapshot glue LV",
                        name(i)
                    )));
                }
            }
            if let Some(c) = self.roles[origin].cow_of {
                return Err(model(format!(
                    "{w}: origin {} is the COW store of {} (snapshots of snapshots are not supported)",
                    name(origin),
                    name(c.glue)
                )));
            }
            if !self.roles[cow].origin_of.is_empty() {
                return Err(model(format!(
                    "{w}: COW store {} is itself an origin (snapshots of snapshots are not supported)",
                    name(cow)
                )));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn read_lv(
        pvs: &[Pv],
        lvs: &mut Vec<Lv>,
        t: &Flat<'_>,
        lv_names: &Names<'_>,
        name: &str,
        l: Sect<'_, '_>,
        dups: &mut Vec<String>,
        segment_dups: &mut Vec<String>,
    ) -> Result<(), Corruption> {
        let w = &Where("LV", name, None);
        let f = Picked::<{ LV_KEYS.len() }>::new(l.nodes, lv_key);
        f.push_repeated(LV_KEYS, 0..LV_KEYS.len(), dups);
        let creation_time = opt_int(f.value(k!(LV_KEYS, "creation_time")), "creation_time", w)?;
        let creation_host = f.value(k!(LV_KEYS, "creation_host"));
        let creation_host_str = matches!(creation_host, Some(FlatValue::Str(_)));
        if creation_host_str != creation_time.is_some() && creation_time.is_some() {
            return Err(model(format!("{w}: creation_time without creation_host")));
        }
        let segment_count = to_u32(
            get_int(f.value(k!(LV_KEYS, "segment_count")), "segment_count", w)?,
            "segment_count",
            w,
        )?;
        let mut segments = Vec::with_capacity(segment_count.min(64) as usize);
        for (key, sg) in l.subsections() {
            Self::read_segment(pvs, &mut segments, t, lv_names, name, key, sg, segment_dups)?;
        }
        if segments.len() as u64 != u64::from(segment_count) {
            return Err(model(format!(
                "{w}: segment_count is {segment_count} but {} segments are present",
                segments.len()
            )));
        }
        if segments.is_empty() {
            return Err(model(format!("{w}: no segments")));
        }
        // Mostly one segment, or segments already in order.
        if !segments.is_sorted_by_key(|s| s.start_extent) {
            segments.sort_by_key(|s| s.start_extent);
        }
        let mut next = 0u64;
        for s in &segments {
            if u64::from(s.start_extent) != next {
                return Err(model(format!(
                    "{w}: segment {} starts at extent {} where {next} was expected",
                    s.key, s.start_extent
                )));
            }
            next += u64::from(s.extent_count);
        }
        let id = get_str(f.value(k!(LV_KEYS, "id")), "id", w)?;
        // Pushed here, not returned: the LV is written once, in place.
        lvs.push(Lv {
            name: name.to_owned(),
            id: id.to_owned(),
            status: str_list(t, f.value(k!(LV_KEYS, "status")), "status", w, true)?,
            flags: str_list(t, f.value(k!(LV_KEYS, "flags")), "flags", w, false)?,
            tags: str_list(t, f.value(k!(LV_KEYS, "tags")), "tags", w, false)?,
            creation_time,
            creation_host: opt_str(creation_host),
            read_ahead: opt_int(f.value(k!(LV_KEYS, "read_ahead")), "read_ahead", w)?,
            lock_args: opt_str(f.value(k!(LV_KEYS, "lock_args"))),
            allocation_policy: opt_str(f.value(k!(LV_KEYS, "allocation_policy"))),
            profile: opt_str(f.value(k!(LV_KEYS, "profile"))),
            major: lenient_int(f.value(k!(LV_KEYS, "major"))),
            minor: lenient_int(f.value(k!(LV_KEYS, "minor"))),
            segments,
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn read_segment(
        pvs: &[Pv],
        segments: &mut Vec<Segment>,
        t: &Flat<'_>,
        lv_names: &Names<'_>,
        lv: &str,
        key: &str,
        s: Sect<'_, '_>,
        dups: &mut Vec<String>,
    ) -> Result<(), Corruption> {
        let w = &Where("LV", lv, Some(key));
        let f = Picked::<{ SEGMENT_KEYS.len() }>::new(s.nodes, segment_key);
        let v = |k: usize| f.value(k);
        let start_extent = to_u32(
            get_int(v(k!(SEGMENT_KEYS, "start_extent")), "start_extent", w)?,
            "start_extent",
            w,
        )?;
        let extent_count = to_u32(
            get_int(v(k!(SEGMENT_KEYS, "extent_count")), "extent_count", w)?,
            "extent_count",
            w,
        )?;
        if extent_count == 0 {
            return Err(model(format!("{w}: extent_count is 0")));
        }
        let type_name = get_str(v(k!(SEGMENT_KEYS, "type")), "type", w)?;
        f.push_repeated(SEGMENT_KEYS, SEG_RANGE, dups);
        let lv_index = |n: &str| lv_names.index.get(n);
        let kind = match type_name {
            "striped" => {
                f.push_repeated(SEGMENT_KEYS, STRIPED_RANGE, dups);
                let count = to_u32(
                    get_int(v(k!(SEGMENT_KEYS, "stripe_count")), "stripe_count", w)?,
                    "stripe_count",
                    w,
                )?;
                if count == 0 || count > MAX_STRIPES {
                    return Err(model(format!(
                        "{w}: stripe_count {count} is not in 1..={MAX_STRIPES}"
                    )));
                }
                if extent_count % count != 0 {
                    return Err(model(format!(
                        "{w}: extent_count {extent_count} is not a multiple of stripe_count {count}"
                    )));
                }
                let stripe_size =
                    match opt_int(v(k!(SEGMENT_KEYS, "stripe_size")), "stripe_size", w)? {
                        Some(v) => {
                            let v = to_u64(v, "stripe_size", w)?;
                            if v == 0 {
                                return Err(model(format!("{w}: stripe_size is 0")));
                            }
                            Some(Sectors(v))
                        }
                        None if count != 1 => {
                            return Err(model(format!("{w}: stripe_size is missing")))
                        }
                        None => None,
                    };
                let items = match v(k!(SEGMENT_KEYS, "stripes")) {
                    Some(a @ FlatValue::Array { .. }) => t.array(&a),
                    _ => return Err(model(format!("{w}: stripes is missing or not a list"))),
                };
                if items.len() as u64 != 2 * u64::from(count) {
                    return Err(model(format!(
                        "{w}: stripes lists {} items for {count} stripes",
                        items.len()
                    )));
                }
                // count is at most MAX_STRIPES.
                let mut stripes = Vec::with_capacity(count as usize);
                for pair in items.chunks(2) {
                    let (FlatValue::Str(name), FlatValue::Int(n)) = (pair[0], pair[1]) else {
                        return Err(model(format!(
                            "{w}: stripes must be \"name\", number pairs"
                        )));
                    };
                    let n = to_u32(n, "stripes", w)?;
                    let area = if let Some(pv) = lv_names.pv(pvs, name) {
                        Area::Pv { pv, pe: n }
                    } else if let Some(l) = lv_index(name) {
                        Area::Lv { lv: l, le: n }
                    } else {
                        return Err(model(format!(
                            "{w}: stripes names {name:?}, which is neither a PV nor an LV"
                        )));
                    };
                    stripes.push(area);
                }
                SegmentKind::Striped {
                    stripe_size,
                    stripes,
                }
            }
            "snapshot" => {
                f.push_repeated(SEGMENT_KEYS, SNAPSHOT_RANGE, dups);
                let chunk_size = to_u64(
                    get_int(v(k!(SEGMENT_KEYS, "chunk_size")), "chunk_size", w)?,
                    "chunk_size",
                    w,
                )?;
                if chunk_size == 0 {
                    return Err(model(format!("{w}: chunk_size is 0")));
                }
                let origin_name = get_str(v(k!(SEGMENT_KEYS, "origin")), "origin", w)?;
                let cow = match v(k!(SEGMENT_KEYS, "cow_store")) {
                    Some(FlatValue::Str(c)) => Some(c),
                    _ => None,
                };
                let merging = match v(k!(SEGMENT_KEYS, "merging_store")) {
                    Some(FlatValue::Str(m)) => Some(m),
                    _ => None,
                };
                let (cow_name, merging) = match (cow, merging) {
                    (Some(c), None) => (c, false),
                    (None, Some(m)) => (m, true),
                    (Some(_), Some(_)) => {
                        return Err(model(format!(
                            "{w}: both cow_store and merging_store are present"
                        )))
                    }
                    (None, None) => return Err(model(format!("{w}: cow_store is missing"))),
                };
                let origin = lv_index(origin_name).ok_or_else(|| {
                    model(format!(
                        "{w}: origin {origin_name:?} is not an LV of this VG"
                    ))
                })?;
                let cow = lv_index(cow_name).ok_or_else(|| {
                    model(format!(
                        "{w}: COW store {cow_name:?} is not an LV of this VG"
                    ))
                })?;
                if lv_names.names.get(origin) == Some(&lv)
                    || lv_names.names.get(cow) == Some(&lv)
                    || origin == cow
                {
                    return Err(model(format!("{w}: a snapshot cannot refer to itself")));
                }
                SegmentKind::Snapshot {
                    chunk_size: Sectors(chunk_size),
                    origin,
                    cow,
                    merging,
                }
            }
            "error" => SegmentKind::Error,
            "zero" => SegmentKind::Zero,
            _ => SegmentKind::Unknown {
                nodes: s
                    .nodes
                    .iter()
                    .filter(|n| !matches!(n.key, "start_extent" | "extent_count" | "type" | "tags"))
                    .map(|n| s.to_owned_node(n))
                    .collect(),
            },
        };
        segments.push(Segment {
            key: key.to_owned(),
            start_extent,
            extent_count,
            reshape_count: lenient_int(v(k!(SEGMENT_KEYS, "reshape_count")))
                .and_then(|v| u32::try_from(v).ok()),
            type_name: type_name.to_owned(),
            tags: str_list(t, v(k!(SEGMENT_KEYS, "tags")), "tags", w, false)?,
            kind,
        });
        Ok(())
    }

    /// Checks that every PV area stays inside its PV and that no PE is used
    /// twice (lvm2 `vg_validate`).
    fn check_extents(&self) -> Result<(), Corruption> {
        let mut used: Vec<Vec<(u64, u64, &str)>> = vec![Vec::new(); self.pvs.len()];
        for lv in &self.lvs {
            for seg in &lv.segments {
                if let SegmentKind::Striped { stripes, .. } = &seg.kind {
                    let per = u64::from(seg.extent_count) / stripes.len() as u64;
                    for a in stripes {
                        if let Area::Pv { pv, pe } = a {
                            let end = u64::from(*pe) + per;
                            let p = &self.pvs[*pv];
                            if end > u64::from(p.pe_count) {
                                return Err(model(format!(
                                    "LV {} {}: PEs {}-{} run past the end of PV {} ({} PEs)",
                                    lv.name,
                                    seg.key,
                                    pe,
                                    end - 1,
                                    p.key,
                                    p.pe_count
                                )));
                            }
                            used[*pv].push((u64::from(*pe), end, &lv.name));
                        }
                    }
                }
            }
        }
        for (i, list) in used.iter_mut().enumerate() {
            // lvm2 mostly allocates PEs in LV order.
            if !list.is_sorted() {
                list.sort();
            }
            for w in list.windows(2) {
                if w[1].0 < w[0].1 {
                    return Err(model(format!(
                        "PV {}: PE {} is used by both LV {} and LV {}",
                        self.pvs[i].key, w[1].0, w[0].2, w[1].2
                    )));
                }
            }
        }
        Ok(())
    }

    /// Recomputes [`Vg::roles`] from the `snapshot` segments; call after
    /// changing LVs or segments.
    pub fn derive_roles(&mut self) {
        self.roles = vec![SnapRole::default(); self.lvs.len()];
        for (g, l) in self.lvs.iter().enumerate() {
            for sg in &l.segments {
                if let SegmentKind::Snapshot {
                    chunk_size,
                    origin,
                    cow,
                    merging,
                } = sg.kind
                {
                    // The first glue naming a COW wins, as a lookup in lvm2 would.
                    if self.roles[cow].cow_of.is_none() {
                        self.roles[cow].cow_of = Some(CowOf {
                            glue: g,
                            origin,
                            chunk_size,
                            merging,
                            glue_extents: sg.extent_count,
                        });
                    }
                    self.roles[origin].origin_of.push(g);
                    self.roles[origin].merging_origin |= merging;
                }
            }
        }
    }

    /// Removes LV `i`, renumbering every reference to the LVs after it.
    /// Fails if another LV still refers to it.
    pub fn remove_lv(&mut self, i: usize) -> Result<Lv, Corruption> {
        let name = self
            .lvs
            .get(i)
            .map(|l| l.name.clone())
            .ok_or_else(|| model(format!("no LV with index {i}")))?;
        let refers = |k: usize| k == i;
        for (j, l) in self.lvs.iter().enumerate() {
            if j == i {
                continue;
            }
            for sg in &l.segments {
                let used = match &sg.kind {
                    SegmentKind::Snapshot { origin, cow, .. } => refers(*origin) || refers(*cow),
                    SegmentKind::Striped { stripes, .. } => stripes
                        .iter()
                        .any(|a| matches!(a, Area::Lv { lv, .. } if refers(*lv))),
                    _ => false,
                };
                if used {
                    return Err(model(format!("LV {name} is still used by LV {}", l.name)));
                }
            }
        }
        let lv = self.lvs.remove(i);
        let fix = |k: &mut usize| {
            if *k > i {
                *k -= 1;
            }
        };
        for l in &mut self.lvs {
            for sg in &mut l.segments {
                match &mut sg.kind {
                    SegmentKind::Snapshot { origin, cow, .. } => {
                        fix(origin);
                        fix(cow);
                    }
                    SegmentKind::Striped { stripes, .. } => {
                        for a in stripes {
                            if let Area::Lv { lv, .. } = a {
                                fix(lv);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        self.derive_roles();
        Ok(lv)
    }

    /// The extent size for commands that map or allocate extents: lvm2
    /// reads a VG whose `extent_size` is 0 (every size is then 0) but
    /// nothing can be placed in or read from its extents.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] naming the VG when `extent_size` is 0.
    pub fn mappable_extent_size(&self) -> Result<Sectors, Error> {
        if self.extent_size.0 == 0 {
            return Err(Error::Unsupported(format!(
                "VG {}: extent_size is 0, so its LVs map no data",
                self.name
            )));
        }
        Ok(self.extent_size)
    }

    /// Extent size in bytes.
    pub fn extent_bytes(&self) -> u64 {
        self.extent_size.0.saturating_mul(512)
    }

    /// The LV's length in extents.
    pub fn lv_extents(&self, lv: &Lv) -> u64 {
        lv.segments.iter().map(|s| u64::from(s.extent_count)).sum()
    }

    /// Index of the LV named `name`.
    pub fn lv_index(&self, name: &str) -> Option<usize> {
        self.lvs.iter().position(|l| l.name == name)
    }

    /// lvm2's `lv_is_visible` for LV `i` (false if there is no such LV):
    ///
    /// - a snapshot glue LV is never visible;
    /// - a COW LV is visible if its origin is a virtual origin (lvm2 marks
    ///   an origin without `VISIBLE` as the sparse device of
    ///   `lvcreate --virtualsize`), hidden while its snapshot merges, and
    ///   otherwise as visible as its origin;
    /// - any other LV is visible if its status has `VISIBLE`.
    ///
    /// The snapshot links come from [`Vg::roles`], so call
    /// [`Vg::derive_roles`] after changing segments.
    pub fn lv_visible(&self, i: usize) -> bool {
        self.lv_visible_at(i, 0)
    }

    fn lv_visible_at(&self, i: usize, depth: usize) -> bool {
        // A COW -> origin chain longer than the LV count is a cycle, which
        // neither lvm2 nor `from_tree` accepts.
        let Some(lv) = self.lvs.get(i).filter(|_| depth <= self.lvs.len()) else {
            return false;
        };
        if lv.is_snapshot_glue() {
            return false;
        }
        // lvm2 `lv_is_cow`: an origin is never taken for a COW.
        let cow_of = self
            .roles
            .get(i)
            .filter(|r| r.origin_of.is_empty())
            .and_then(|r| r.cow_of);
        match cow_of {
            Some(c) => {
                let origin = self.lvs.get(c.origin);
                if origin.is_some_and(|o| !o.visible_flag()) {
                    true
                } else if c.merging {
                    false
                } else {
                    self.lv_visible_at(c.origin, depth + 1)
                }
            }
            None => lv.visible_flag(),
        }
    }

    /// Every PV area of every `striped` segment: (PV index, first PE,
    /// length in extents).
    fn pv_areas(&self) -> impl Iterator<Item = (usize, u32, u32)> + '_ {
        self.lvs.iter().flat_map(|l| &l.segments).flat_map(|s| {
            let (stripes, per): (&[Area], u32) = match &s.kind {
                SegmentKind::Striped { stripes, .. } => {
                    // `max(1)`: a stripe list is never empty, but a model
                    // built by hand might have one.
                    let n = u32::try_from(stripes.len()).unwrap_or(u32::MAX).max(1);
                    (stripes, s.extent_count / n)
                }
                _ => (&[], 0),
            };
            stripes.iter().filter_map(move |a| match a {
                Area::Pv { pv, pe } => Some((*pv, *pe, per)),
                Area::Lv { .. } => None,
            })
        })
    }

    /// The extents of each PV in use by any LV, as `(first PE, count)` runs
    /// sorted by PE; one list per PV of [`Vg::pvs`].
    pub fn pv_used_runs(&self) -> Vec<Vec<(u32, u32)>> {
        let mut used = vec![Vec::new(); self.pvs.len()];
        for (pv, pe, n) in self.pv_areas() {
            if let Some(u) = used.get_mut(pv) {
                u.push((pe, n));
            }
        }
        for u in &mut used {
            u.sort_unstable();
        }
        used
    }

    /// Extents of PV `pv` in use by LVs (lvm2 `pv_pe_alloc_count`).
    pub fn pv_used_extents(&self, pv: usize) -> u64 {
        self.pv_areas()
            .filter(|a| a.0 == pv)
            .map(|a| u64::from(a.2))
            .sum()
    }

    /// Free extents of PV `pv`: its `pe_count` less those in use (0 for no
    /// such PV).
    pub fn pv_free_extents(&self, pv: usize) -> u64 {
        self.pvs.get(pv).map_or(0, |p| {
            u64::from(p.pe_count).saturating_sub(self.pv_used_extents(pv))
        })
    }

    /// Extents of all PVs (lvm2 `vg->extent_count`).
    pub fn total_extents(&self) -> u64 {
        self.pvs.iter().map(|p| u64::from(p.pe_count)).sum()
    }

    /// Free extents of all PVs, allocatable or not (lvm2 `vg->free_count`).
    pub fn free_extents(&self) -> u64 {
        (0..self.pvs.len()).map(|i| self.pv_free_extents(i)).sum()
    }

    /// Index of the LV named `name`, or [`NotFound::Lv`].
    pub fn lv_index_or_err(&self, name: &str) -> Result<usize, Error> {
        self.lv_index(name).ok_or_else(|| {
            NotFound::Lv {
                vg: self.name.clone(),
                name: name.to_owned(),
            }
            .into()
        })
    }

    /// The snapshot glue segments: (glue LV index, segment).
    pub fn snapshots(&self) -> impl Iterator<Item = (usize, &Segment)> {
        self.lvs.iter().enumerate().flat_map(|(i, l)| {
            l.segments
                .iter()
                .filter(|s| matches!(s.kind, SegmentKind::Snapshot { .. }))
                .map(move |s| (i, s))
        })
    }
}

impl Lv {
    /// Adds or removes `VISIBLE` in `status`, keeping lvm2's flag order
    /// (READ, WRITE, FIXED_MINOR, VISIBLE, then the rest).
    pub fn set_visible(&mut self, on: bool) {
        self.status.retain(|f| f != "VISIBLE");
        if on {
            let at = self
                .status
                .iter()
                .position(|f| !matches!(f.as_str(), "READ" | "WRITE" | "FIXED_MINOR"))
                .unwrap_or(self.status.len());
            self.status.insert(at, "VISIBLE".into());
        }
    }

    /// True if `status` has `VISIBLE`.
    pub fn visible_flag(&self) -> bool {
        self.status.iter().any(|s| s == "VISIBLE")
    }
    /// True if the LV is the glue of a snapshot (one `snapshot` segment).
    pub fn is_snapshot_glue(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s.kind, SegmentKind::Snapshot { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse;

    pub(crate) const SAMPLE: &str = include_str!("../tests/data/spec-9.4.vg");

    #[test]
    fn spec_example_builds() {
        let t = parse(SAMPLE.as_bytes()).unwrap();
        let vg = Vg::from_tree(&t).unwrap();
        assert_eq!(vg.name, "vg0");
        assert_eq!(vg.seqno, 4);
        assert_eq!(vg.lvs.len(), 3);
        let (glue, seg) = vg.snapshots().next().unwrap();
        assert_eq!(vg.lvs[glue].name, "snapshot0");
        assert_eq!(
            seg.kind,
            SegmentKind::Snapshot {
                chunk_size: Sectors(8),
                origin: 0,
                cow: 1,
                merging: false
            }
        );
    }

    fn expect_model_err(from: &str, to: &str) {
        let text = SAMPLE.replacen(from, to, 1);
        assert_ne!(text, SAMPLE, "replacement {from:?} did not apply");
        let t = parse(text.as_bytes()).unwrap();
        assert!(
            matches!(Vg::from_tree(&t), Err(Corruption::Model(_))),
            "{from} -> {to}"
        );
    }

    #[test]
    fn extent_size_zero_is_read_but_maps_nothing() {
        let vg = sample_with(&[("extent_size = 8192", "extent_size = 0")]);
        assert_eq!(vg.extent_size, Sectors(0));
        assert_eq!(vg.extent_bytes(), 0);
        let e = vg.mappable_extent_size().unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "VG vg0: extent_size is 0, so its LVs map no data"
        );
        let vg = sample_with(&[]);
        assert_eq!(vg.mappable_extent_size().unwrap(), Sectors(8192));
    }

    #[test]
    fn duplicate_keys_are_found_where_lvm2_looks() {
        let dups =
            |from: &str, to: &str| Vg::from_text(SAMPLE.replacen(from, to, 1).as_bytes()).unwrap();
        assert!(Vg::from_text(SAMPLE.as_bytes()).unwrap().1.is_empty());
        // The first value wins, as in lvm2.
        let (vg, d) = dups("pe_count = 255", "pe_count = 255\npe_count = 7");
        assert_eq!(d, ["pe_count"]);
        assert_eq!(vg.pvs[0].pe_count, 255);
        let (vg, d) = dups(
            "extent_size = 8192",
            "extent_size = 8192\nmax_lv = 0\nextent_size = 1",
        );
        assert_eq!(d, ["extent_size", "max_lv"]);
        assert_eq!(vg.extent_size, Sectors(8192));
        assert_eq!(
            dups("chunk_size = 8", "chunk_size = 8\nchunk_size = 16").1,
            ["chunk_size"]
        );
        // Keys lvm2 never looks up repeat silently.
        assert!(dups("seqno = 4", "seqno = 4\nfoo = 1\nfoo = 2")
            .1
            .is_empty());
    }

    /// Every setting line of the sample repeated in turn, then pairs of
    /// lines far apart: `from_text` names the repeated keys in lvm2's
    /// order of reading. That order, worked out here from where each line
    /// sits: the top level, the VG section, the PVs, every LV's own keys,
    /// then every LV's segments; in text order within each. The three
    /// top-level keys lvm2 only reads for display are never looked up.
    #[test]
    fn from_text_names_repeats_in_lvm2_reading_order() {
        let lines: Vec<&str> = SAMPLE.lines().collect();
        // The reading phase of each line, from its depth and section.
        let mut phase = Vec::with_capacity(lines.len());
        let (mut depth, mut in_pvs) = (0usize, false);
        for l in &lines {
            if l.ends_with('{') {
                if depth == 1 {
                    in_pvs = l.starts_with("physical_volumes");
                }
                depth += 1;
            } else if *l == "}" {
                depth -= 1;
            }
            phase.push(match depth {
                0 => 0,
                1 | 2 => 1,
                3 if in_pvs => 2,
                3 => 3,
                _ => 4,
            });
        }
        let looked_up = |i: usize| {
            let l = lines[i];
            l.contains(" = ")
                && !l.ends_with('[')
                && !(phase[i] == 0
                    && ["description", "creation_host", "creation_time"]
                        .iter()
                        .any(|k| l.starts_with(k)))
        };
        let with_repeats = |at: &[usize]| {
            let mut out = String::new();
            for (i, l) in lines.iter().enumerate() {
                out.push_str(l);
                out.push('\n');
                if at.contains(&i) && l.contains(" = ") && !l.ends_with('[') {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out
        };
        let mut found = 0;
        let mut check = |at: &[usize]| {
            let mut want: Vec<usize> = at.iter().copied().filter(|&i| looked_up(i)).collect();
            want.sort_by_key(|&i| (phase[i], i));
            want.dedup();
            let want: Vec<&str> = want
                .iter()
                .map(|&i| lines[i].split(" = ").next().unwrap())
                .collect();
            let text = with_repeats(at);
            let (_, dups) = Vg::from_text(text.as_bytes()).unwrap();
            assert_eq!(dups, want, "{text}");
            found += usize::from(!dups.is_empty());
        };
        for i in 0..lines.len() {
            check(&[i]);
        }
        for i in (0..lines.len() / 2).step_by(3) {
            check(&[i, lines.len() - 1 - i]);
        }
        assert!(found > 40, "{found} texts with repeats");
    }

    /// With many PVs, stripes find their PV through an index: the area
    /// names the right one, and a name that is no PV is still refused.
    #[test]
    fn stripes_find_their_pv_among_many() {
        let mut pvs = String::new();
        for i in 1..=12 {
            pvs.push_str(&format!(
                "pv{i} {{\nid = \"x3dF8k-QwPz-7LmN-b2Vc-Rt9Y-hG4s-Ue6W{i:02}\"\nstatus = [\"ALLOCATABLE\"]\npe_start = 2048\npe_count = 255\n}}\n"
            ));
        }
        let text = SAMPLE
            .replacen(
                "physical_volumes {\n",
                &format!("physical_volumes {{\n{pvs}"),
                1,
            )
            .replacen("\"pv0\", 0", "\"pv11\", 0", 1);
        let vg = Vg::from_tree(&parse(text.as_bytes()).unwrap()).unwrap();
        // pv1..pv12 come before pv0 in the text.
        assert_eq!(vg.pvs.len(), 13);
        assert_eq!(vg.pvs[10].key, "pv11");
        match &vg.lvs[0].segments[0].kind {
            SegmentKind::Striped { stripes, .. } => {
                assert_eq!(stripes, &[Area::Pv { pv: 10, pe: 0 }]);
            }
            k => panic!("{k:?}"),
        }
        let bad = text.replacen("\"pv11\", 0", "\"pv13\", 0", 1);
        assert!(matches!(
            Vg::from_tree(&parse(bad.as_bytes()).unwrap()),
            Err(Corruption::Model(m)) if m.contains("neither a PV nor an LV")
        ));
    }

    #[test]
    fn each_rule_is_enforced() {
        expect_model_err("seqno = 4", "seqno = 99999999999");
        expect_model_err("\"pv0\", 100", "\"pv0\", 250");
        expect_model_err("\"pv0\", 100", "\"pv0\", 50");
        expect_model_err("\"pv0\", 100", "\"pv9\", 100");
        expect_model_err("origin = \"data\"", "origin = \"nope\"");
        expect_model_err("cow_store = \"snap\"", "cow_store = \"snapshot0\"");
        expect_model_err("segment_count = 1", "segment_count = 2");
        expect_model_err("start_extent = 0", "start_extent = 1");
        expect_model_err(
            "contents = \"Text Format Volume Group\"",
            "contents = \"x\"",
        );
        expect_model_err("stripe_count = 1", "stripe_count = 0");
    }

    /// SAMPLE with a second glue LV `snapshot1` whose segment ends with
    /// `origin = ORIGIN` and `cow_store = COW`.
    fn with_second_glue(origin: &str, cow: &str) -> Result<Vg, Corruption> {
        let glue = format!(
            "snapshot1 {{\nid = \"Hd4Fg6-Jk8L-zX1c-Vb3N-mQ5w-Er7T-yU9iOq\"\nstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\nsegment_count = 1\n\nsegment1 {{\nstart_extent = 0\nextent_count = 100\n\ntype = \"snapshot\"\nchunk_size = 8\norigin = \"{origin}\"\ncow_store = \"{cow}\"\n}}\n}}\n"
        );
        let text = SAMPLE.replacen("snapshot0 {", &format!("{glue}\nsnapshot0 {{"), 1);
        Vg::from_tree(&parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn snapshot_chains_are_refused() {
        // A second snapshot of data, with its COW in snap: snap would be
        // the COW of two snapshots, which lvm2 resolves to the first; the
        // model keeps that (see derive_roles). The chains below are errors.
        let err = |r: Result<Vg, Corruption>| match r {
            Err(Corruption::Model(m)) => m,
            other => panic!("{other:?}"),
        };
        // The origin is a COW (a snapshot of a snapshot).
        let m = err(with_second_glue("snap", "data"));
        assert!(m.contains("snapshots of snapshots"), "{m}");
        // The origin is a glue LV.
        let m = err(with_second_glue("snapshot0", "data"));
        assert!(m.contains("is itself a snapshot glue LV"), "{m}");
        // The COW is a glue LV.
        let m = err(with_second_glue("data", "snapshot0"));
        assert!(m.contains("is itself a snapshot glue LV"), "{m}");
    }

    fn sample_with(replacements: &[(&str, &str)]) -> Vg {
        let mut text = SAMPLE.to_owned();
        for (from, to) in replacements {
            let t = text.replacen(from, to, 1);
            assert_ne!(t, text, "replacement {from:?} did not apply");
            text = t;
        }
        Vg::from_tree(&parse(text.as_bytes()).unwrap()).unwrap()
    }

    /// lvm2 `lv_is_visible` on the sample (data, its COW snap, the glue
    /// snapshot0): `lvs` lists data and snap, never the glue.
    #[test]
    fn visibility_follows_lvm2() {
        let vg = sample_with(&[]);
        let [data, snap, glue] = [0, 1, 2];
        assert!(vg.lv_visible(data));
        // snap has no VISIBLE flag yet is visible: its origin is.
        assert!(!vg.lvs[snap].visible_flag());
        assert!(vg.lv_visible(snap));
        // The glue carries VISIBLE and is hidden all the same.
        assert!(vg.lvs[glue].visible_flag());
        assert!(!vg.lv_visible(glue));
        assert!(!vg.lv_visible(3));
        // While merging, the COW is hidden (`lvs -a` shows `[snap]` in the
        // snapshot-merging corpus scenario).
        let vg = sample_with(&[("cow_store = \"snap\"", "merging_store = \"snap\"")]);
        assert!(!vg.lv_visible(snap));
        assert!(vg.lv_visible(data));
    }

    /// An origin without VISIBLE is a virtual origin (`lvcreate -V`, the
    /// hidden `*_vorigin` zero LV): its COW stands for the snapshot and is
    /// visible, merging or not.
    #[test]
    fn cow_of_a_virtual_origin_is_visible() {
        let hide_data = (
            "status = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\ncreation_time = 1700000000\ncreation_host = \"host1\"\nsegment_count = 1\n\nsegment1 {\nstart_extent = 0\nextent_count = 100",
            "status = [\"READ\", \"WRITE\"]\nflags = []\ncreation_time = 1700000000\ncreation_host = \"host1\"\nsegment_count = 1\n\nsegment1 {\nstart_extent = 0\nextent_count = 100",
        );
        let vg = sample_with(&[hide_data]);
        assert!(!vg.lv_visible(0));
        assert!(vg.lv_visible(1));
        assert!(!vg.lv_visible(2));
        let vg = sample_with(&[
            hide_data,
            ("cow_store = \"snap\"", "merging_store = \"snap\""),
        ]);
        assert!(vg.lv_visible(1));
    }

    #[test]
    fn lv_lookup_names_the_vg_and_lv() {
        let vg = sample_with(&[]);
        assert_eq!(vg.lv_index_or_err("snap").unwrap(), 1);
        let e = vg.lv_index_or_err("nope").unwrap_err();
        assert!(matches!(
            &e,
            Error::NotFound(NotFound::Lv { vg, name }) if vg == "vg0" && name == "nope"
        ));
        assert_eq!(e.to_string(), "Failed to find logical volume \"vg0/nope\"");
    }

    /// Extent use of the sample, counted from its text by hand: pv0 has 255
    /// PEs, data uses 100 and snap 25.
    #[test]
    fn extent_counts_of_the_sample() {
        let vg = sample_with(&[]);
        assert_eq!(vg.total_extents(), 255);
        assert_eq!(vg.pv_used_extents(0), 125);
        assert_eq!(vg.pv_free_extents(0), 130);
        assert_eq!(vg.free_extents(), 130);
        assert_eq!(vg.pv_used_runs(), vec![vec![(0, 100), (100, 25)]]);
        // No such PV.
        assert_eq!(vg.pv_used_extents(7), 0);
        assert_eq!(vg.pv_free_extents(7), 0);
    }

    #[test]
    fn unknown_segment_types_are_kept() {
        let text = SAMPLE.replacen("type = \"striped\"", "type = \"raid9\"\nmagic = [1, 2]", 1);
        let vg = Vg::from_tree(&parse(text.as_bytes()).unwrap()).unwrap();
        match &vg.lvs[0].segments[0].kind {
            SegmentKind::Unknown { nodes } => {
                assert!(nodes.iter().any(|n| n.key() == "magic"));
                assert!(nodes.iter().any(|n| n.key() == "stripes"));
            }
            k => panic!("{k:?}"),
        }
    }
}
