//! `lvmsim gen`: reproducible random LVM setups for testing other people's
//! LVM code. Blank image files are made PVs, VGs and LVs by running lvm2's
//! commands through this library (`pvcreate`, `vgcreate` over several PVs,
//! linear and striped `lvcreate`, snapshots, data written through the
//! copy-on-write engine, merges, renames, removals, `lvextend`, tags), so
//! the metadata rings hold the history of those commands and the snapshot
//! stores hold the kernel's exceptions.
//!
//! Everything comes from the seed: a seeded generator picks the commands
//! and their arguments, the [`Context`] fixes the host name, the time (one
//! minute more for each command) and the identifiers. The same seed and
//! options give byte-identical images on any machine.
//!
//! The [`Manifest`] (`manifest.json`) says what each image and each LV
//! must contain (sha256 of the whole LV and of each 1 MiB block, as
//! `lvmsim cat` and `dd if=/dev/VG/LV` after activation would read it) and
//! which commands made them, as lvm2 command lines (data writes as `dd`).
//!
//! ```no_run
//! use lvmsim::gen::{generate, GenOptions, Profile};
//! let m = generate(&GenOptions::new(7, Profile::Snapshots), "out".as_ref())?;
//! for vg in &m.vgs {
//!     for lv in &vg.lvs {
//!         println!("{}/{}: {} bytes, sha256 {}", vg.name, lv.name, lv.size, lv.sha256);
//!     }
//! }
//! # Ok::<(), lvmsim::error::Error>(())
//! ```

use crate::context::Context;
use crate::error::{Error, Result, ResultExt};
use crate::ids::ids_for;
use crate::lv::LvresizeOpts;
use crate::lv::{lvchange, lvcreate, lvremove, lvrename, lvresize, LvchangeOpts, LvcreateOpts};
use crate::pv::{pvcreate, PvcreateOpts};
use crate::size::{Amount, Sign};
use crate::snapshot::{lvconvert_merge, MergeStart};
use crate::vg::vgcreate;
use lvm_meta::io::Image;
use lvm_meta::model::SegmentKind;
use lvm_meta::scan::System;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The manifest's file name in the output directory.
pub const MANIFEST: &str = "manifest.json";
/// The block size of the per-block hashes.
pub const BLOCK: u64 = 1 << 20;
/// The version of the manifest's layout.
pub const FORMAT: u32 = 1;
/// The time of the first command (seconds since the epoch); each command
/// runs a minute after the one before.
pub const START_TIME: i64 = 1_700_000_000;
/// The data alignment (sectors) of PVs with small metadata areas.
const SMALL_ALIGN: u64 = 128;
/// The most PVs `--pvs` may ask for (device names `/dev/vda` to `/dev/vdh`).
pub const MAX_PVS: usize = 8;

/// What kind of setup to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Two 8 MiB PVs, one VG, a few linear and striped LVs with data.
    Small,
    /// Snapshots with data written through the copy-on-write engine into
    /// origins and snapshots, and merges.
    Snapshots,
    /// Small metadata areas and many commands (renames, removals, extends,
    /// tags), so the rings wrap and hold old versions of the VG.
    History,
    /// All of the above, on up to two VGs.
    All,
}

impl Profile {
    /// The profile's name on the command line and in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Small => "small",
            Profile::Snapshots => "snapshots",
            Profile::History => "history",
            Profile::All => "all",
        }
    }

    /// The profile called `name`.
    pub fn parse(name: &str) -> Option<Profile> {
        [
            Profile::Small,
            Profile::Snapshots,
            Profile::History,
            Profile::All,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// PVs by default, size of each PV in MiB, random commands after the
    /// fixed start.
    fn shape(self) -> (usize, u64, usize) {
        match self {
            Profile::Small => (2, 8, 4),
            Profile::Snapshots => (2, 16, 12),
            Profile::History => (3, 12, 40),
            Profile::All => (4, 24, 36),
        }
    }
}

/// The options of [`generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Seeds every choice.
    pub seed: u64,
    /// What to make.
    pub profile: Profile,
    /// How many PV images (1 to [`MAX_PVS`]); `None`: the profile's number.
    pub pvs: Option<usize>,
}

impl GenOptions {
    /// The profile's defaults with this seed.
    pub fn new(seed: u64, profile: Profile) -> GenOptions {
        GenOptions {
            seed,
            profile,
            pvs: None,
        }
    }
}

/// What [`generate`] made: `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The seed.
    pub seed: u64,
    /// The profile.
    pub profile: Profile,
    /// The image files, one per PV.
    pub images: Vec<ImageEntry>,
    /// The VGs on them.
    pub vgs: Vec<VgEntry>,
    /// The commands that made them, in order, as lvm2 command lines on the
    /// images' device names; LV data writes as `dd` lines (the bytes come
    /// from the seed and are not in the line).
    pub commands: Vec<String>,
}

/// One image file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    /// File name in the output directory.
    pub file: String,
    /// The device name the commands used (and the metadata's `device` hint).
    pub device: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the whole file.
    pub sha256: String,
}

/// One VG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VgEntry {
    /// Name.
    pub name: String,
    /// UUID as lvm2 prints it.
    pub uuid: String,
    /// The sequence number of its latest commit.
    pub seqno: u32,
    /// Extent size in bytes.
    pub extent_size: u64,
    /// The image files of its PVs, in the metadata's order.
    pub pvs: Vec<String>,
    /// Its LVs as `lvs` lists them (snapshot glue and other hidden LVs
    /// left out).
    pub lvs: Vec<LvEntry>,
}

/// One LV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvEntry {
    /// Name.
    pub name: String,
    /// UUID as lvm2 prints it.
    pub uuid: String,
    /// `linear`, `striped` or `snapshot` (a snapshot's COW store); with
    /// `origin` for an LV that has snapshots.
    pub role: String,
    /// The segment type of each segment, in order (`striped` with one
    /// stripe is written `linear`, as `lvs -o segtype` does).
    pub segtypes: Vec<String>,
    /// lvm2's `lv_size` in bytes (a snapshot: its COW store's size).
    pub lv_size: u64,
    /// For a snapshot, the origin's name.
    pub origin: Option<String>,
    /// True if the LV's bytes lie in order in its segments' PV extents
    /// (every segment linear, not a snapshot, no merge pending), so
    /// `dd` at `lvs -o seg_pe_ranges` reads them.
    pub direct: bool,
    /// Bytes a reader sees after activation (a snapshot: its origin's size).
    pub size: u64,
    /// sha256 of those bytes.
    pub sha256: String,
    /// sha256 of each [`BLOCK`] of them (the last one may be shorter).
    pub blocks: Vec<String>,
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The sha256 of a file, in hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(hex(&h.finalize()))
}

/// A seeded generator (splitmix64): small, fast, the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6c76_6d73_696d_2067)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi` (`lo` if the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// An index below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n.max(1) as u64).unwrap_or(0)
    }

    /// One of `xs` (not empty).
    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }

    /// True with probability `num`/`den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den.max(1) < num
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// A command's outcome for the generator: made (and recorded) or refused
/// by lvm2's rules (skipped: lvm2 would have written nothing either).
fn refused(e: &Error) -> bool {
    matches!(e.root(), Error::Refused(_) | Error::Usage(_)) || e.not_found().is_some()
}

/// The state of one run: the images, the surroundings, the generator and
/// the commands made so far.
struct Run {
    paths: Vec<PathBuf>,
    devs: Vec<String>,
    ctx: Context,
    rng: Rng,
    commands: Vec<String>,
    names: u32,
}

impl Run {
    fn scan(&self) -> Result<System> {
        let mut images = Vec::new();
        for (p, d) in self.paths.iter().zip(&self.devs) {
            let mut img = Image::open(&p.display().to_string())?;
            img.path = d.clone();
            images.push(img);
        }
        Ok(System::scan(images)?)
    }

    /// Runs `f` as command `line` on a fresh scan, one minute after the
    /// previous command; records the line if the command was made.
    fn cmd(
        &mut self,
        line: String,
        f: impl FnOnce(&System, &Context, &str) -> Result<()>,
    ) -> Result<bool> {
        let sys = self.scan()?;
        let n = i64::try_from(self.commands.len()).unwrap_or(0);
        self.ctx.now = START_TIME + 60 * n;
        match f(&sys, &self.ctx, &line) {
            Ok(()) => {
                self.commands.push(line);
                Ok(true)
            }
            Err(e) if refused(&e) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("gen: {line}")),
        }
    }

    fn fresh_name(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names)
    }

    fn pvcreate(&mut self, dev: usize, copies: u32, mdasize: Option<u64>) -> Result<bool> {
        let name = self.devs[dev].clone();
        // A small area needs a small data alignment too: lvm2 grows the
        // area up to the first aligned PE.
        let size = mdasize.map_or(String::new(), |s| {
            format!(
                " --metadatasize {}k --dataalignment {}k",
                s / 2,
                SMALL_ALIGN / 2
            )
        });
        let line = format!("pvcreate --metadatacopies {copies}{size} {name}");
        self.cmd(line, |sys, ctx, line| {
            let o = PvcreateOpts {
                metadatacopies: Some(copies),
                metadatasize: mdasize,
                data_alignment: mdasize.map(|_| SMALL_ALIGN),
                ..PvcreateOpts::default()
            };
            let mut ids = ids_for(ctx, sys, line);
            pvcreate(sys, &[name], &o, &mut ids, &ctx.hooks, &mut std::io::sink())
        })
    }

    fn vgcreate(&mut self, vg: &str, devs: &[usize], extent: u64) -> Result<bool> {
        let names: Vec<String> = devs.iter().map(|&d| self.devs[d].clone()).collect();
        let line = format!("vgcreate -s {}k {vg} {}", extent / 2, names.join(" "));
        self.cmd(line, |sys, ctx, line| {
            let mut ids = ids_for(ctx, sys, line);
            vgcreate(
                sys,
                vg,
                &names,
                Some(extent),
                &PvcreateOpts::default(),
                &ctx.writer(line),
                &mut ids,
                &mut std::io::sink(),
            )
        })
    }

    fn lvcreate(&mut self, vg: &str, lv: &str, extents: u64, stripes: u32) -> Result<bool> {
        let striping = if stripes > 1 {
            format!(" -i {stripes} -I 64k")
        } else {
            String::new()
        };
        let line = format!("lvcreate -n {lv} -l {extents}{striping} {vg}");
        self.cmd(line, |sys, ctx, line| {
            let o = LvcreateOpts {
                name: Some(lv.to_owned()),
                amount: Some(Amount::Extents(extents)),
                stripes: Some(stripes),
                stripe_size: (stripes > 1).then_some(128),
                ..LvcreateOpts::default()
            };
            let mut ids = ids_for(ctx, sys, line);
            lvcreate(
                sys,
                vg,
                &[],
                &o,
                &ctx.writer(line),
                &mut ids,
                &mut std::io::sink(),
                &mut std::io::sink(),
            )
        })
    }

    /// A snapshot as large as its origin can ever need (so that no write
    /// fills it: every snapshot stays valid).
    fn snapshot(&mut self, vg: &str, origin: &str, lv: &str, chunk: u64) -> Result<bool> {
        let sys = self.scan()?;
        let Some(inst) = sys.vg(vg) else {
            return Ok(false);
        };
        let Some(oi) = inst.vg.lv_index(origin) else {
            return Ok(false);
        };
        let ext = inst.vg.extent_size.0;
        let origin_sectors = inst.vg.lv_extents(&inst.vg.lvs[oi]) * ext;
        let extents = crate::snapshot::cow_max_extents(origin_sectors, chunk, ext);
        let line = format!(
            "lvcreate -s -n {lv} -l {extents} -c {}k {vg}/{origin}",
            chunk / 2
        );
        self.cmd(line, |sys, ctx, line| {
            let o = LvcreateOpts {
                name: Some(lv.to_owned()),
                amount: Some(Amount::Extents(extents)),
                origin: Some(origin.to_owned()),
                chunk: Some(chunk),
                ..LvcreateOpts::default()
            };
            let mut ids = ids_for(ctx, sys, line);
            lvcreate(
                sys,
                vg,
                &[],
                &o,
                &ctx.writer(line),
                &mut ids,
                &mut std::io::sink(),
                &mut std::io::sink(),
            )
        })
    }

    /// Writes seeded bytes into `vg/lv` as `dd` would after activation.
    fn write(&mut self, vg: &str, lv: &str, offset: u64, len: usize) -> Result<bool> {
        let bytes = self.rng.bytes(len);
        let line = format!(
            "dd if=DATA of=/dev/{vg}/{lv} bs=512 seek={} count={} conv=notrunc",
            offset / 512,
            len / 512
        );
        self.cmd(line, |sys, ctx, _| {
            let n = crate::data::write(
                sys,
                &format!("{vg}/{lv}"),
                offset,
                &mut &bytes[..],
                &ctx.hooks,
                &mut std::io::sink(),
            )?;
            if n != len as u64 {
                return Err(Error::Refused(format!(
                    "gen: wrote {n} of {len} bytes to {vg}/{lv}"
                )));
            }
            Ok(())
        })
    }

    fn merge(&mut self, vg: &str, snap: &str) -> Result<bool> {
        let line = format!("lvconvert --merge {vg}/{snap}");
        self.cmd(line, |sys, ctx, line| {
            lvconvert_merge(
                sys,
                &format!("{vg}/{snap}"),
                MergeStart::Now { stop_after: None },
                Some(&mut |_| {}),
                &ctx.writer(line),
                &mut std::io::sink(),
            )
        })
    }

    fn rename(&mut self, vg: &str, old: &str, new: &str) -> Result<bool> {
        let line = format!("lvrename {vg} {old} {new}");
        self.cmd(line, |sys, ctx, line| {
            let args = [vg.to_owned(), old.to_owned(), new.to_owned()];
            lvrename(sys, &args, &ctx.writer(line), &mut std::io::sink())
        })
    }

    fn remove(&mut self, vg: &str, lv: &str) -> Result<bool> {
        let line = format!("lvremove -f {vg}/{lv}");
        self.cmd(line, |sys, ctx, line| {
            lvremove(
                sys,
                &[format!("{vg}/{lv}")],
                &ctx.writer(line),
                &mut std::io::sink(),
            )
        })
    }

    fn extend(&mut self, vg: &str, lv: &str, extents: u64) -> Result<bool> {
        let line = format!("lvextend -l +{extents} {vg}/{lv}");
        self.cmd(line, |sys, ctx, line| {
            let o = LvresizeOpts {
                sign: Sign::Plus,
                amount: Some(Amount::Extents(extents)),
                ..LvresizeOpts::default()
            };
            lvresize(
                sys,
                &format!("{vg}/{lv}"),
                &[],
                &o,
                true,
                &ctx.writer(line),
                &mut std::io::sink(),
            )
        })
    }

    fn tag(&mut self, vg: &str, lv: &str, tag: &str) -> Result<bool> {
        let line = format!("lvchange --addtag {tag} {vg}/{lv}");
        self.cmd(line, |sys, ctx, line| {
            let o = LvchangeOpts {
                addtag: vec![tag.to_owned()],
                ..LvchangeOpts::default()
            };
            lvchange(
                sys,
                &[format!("{vg}/{lv}")],
                &o,
                &ctx.writer(line),
                &mut std::io::sink(),
            )
        })
    }
}

/// What the generator needs to know of a VG to pick a command.
struct VgView {
    name: String,
    pvs: usize,
    free: u64,
    extent_bytes: u64,
    /// Visible LVs.
    lvs: Vec<LvView>,
}

/// A visible LV: name, extents a reader sees, is a snapshot, has snapshots.
type LvView = (String, u64, bool, bool);

fn views(sys: &System) -> Vec<VgView> {
    sys.vgs
        .iter()
        .map(|inst| {
            let vg = &inst.vg;
            let lvs = (0..vg.lvs.len())
                .filter(|&i| vg.lv_visible(i))
                .map(|i| {
                    // A snapshot shows as many extents as its glue covers.
                    let view = match vg.roles[i].cow_of {
                        Some(c) => u64::from(c.glue_extents),
                        None => vg.lv_extents(&vg.lvs[i]),
                    };
                    (
                        vg.lvs[i].name.clone(),
                        view,
                        vg.roles[i].cow_of.is_some(),
                        !vg.roles[i].origin_of.is_empty(),
                    )
                })
                .collect();
            VgView {
                name: vg.name.clone(),
                pvs: vg.pvs.len(),
                free: vg.free_extents(),
                extent_bytes: vg.extent_bytes(),
                lvs,
            }
        })
        .collect()
}

/// One write of up to `max` bytes somewhere in an LV of `size` bytes,
/// sector-aligned: (offset, length).
fn write_span(rng: &mut Rng, size: u64, max: u64) -> (u64, usize) {
    let sectors = size / 512;
    let len = rng.range(1, (max / 512).min(sectors).max(1));
    let off = rng.range(0, sectors.saturating_sub(len));
    (off * 512, usize::try_from(len * 512).unwrap_or(512))
}

/// The fixed start: PVs, VGs, a linear and (with two PVs) a striped LV
/// with data; with snapshots, a snapshot with writes on both sides.
fn start(run: &mut Run, o: &GenOptions) -> Result<()> {
    let k = run.devs.len();
    let mdasize = matches!(o.profile, Profile::History | Profile::All).then_some(64u64);
    for d in 0..k {
        let copies = if run.rng.chance(1, 3) { 2 } else { 1 };
        run.pvcreate(d, copies, mdasize)?;
    }
    let extent = match o.profile {
        Profile::Small => 2048,
        _ => run.rng.pick(&[1024u64, 2048, 4096]),
    };
    if o.profile == Profile::All && k >= 3 {
        let split = k / 2 + 1;
        run.vgcreate("vg0", &(0..split).collect::<Vec<_>>(), extent)?;
        run.vgcreate("vg1", &(split..k).collect::<Vec<_>>(), 2048)?;
    } else {
        run.vgcreate("vg0", &(0..k).collect::<Vec<_>>(), extent)?;
    }
    for v in views(&run.scan()?) {
        let lin = run.fresh_name("lv");
        let n = run.rng.range(1, (v.free / 3).max(1));
        if run.lvcreate(&v.name, &lin, n, 1)? {
            let size = n * v.extent_bytes;
            let (off, len) = write_span(&mut run.rng, size, 256 << 10);
            run.write(&v.name, &lin, off, len)?;
        }
        if v.pvs >= 2 {
            let st = run.fresh_name("lv");
            let stripes = run.rng.range(2, v.pvs.min(3) as u64);
            let n = stripes * run.rng.range(1, 2);
            if run.lvcreate(&v.name, &st, n, u32::try_from(stripes).unwrap_or(2))? {
                let (off, len) = write_span(&mut run.rng, n * v.extent_bytes, 512 << 10);
                run.write(&v.name, &st, off, len)?;
            }
        }
        if matches!(o.profile, Profile::Snapshots | Profile::All) {
            let sn = run.fresh_name("sn");
            let chunk = run.rng.pick(&[8u64, 16, 128]);
            if run.snapshot(&v.name, &lin, &sn, chunk)? {
                let size = n * v.extent_bytes;
                for _ in 0..3 {
                    let (off, len) = write_span(&mut run.rng, size, 128 << 10);
                    run.write(&v.name, &lin, off, len)?;
                }
                let (off, len) = write_span(&mut run.rng, size, 64 << 10);
                run.write(&v.name, &sn, off, len)?;
            }
        }
    }
    Ok(())
}

/// One command of a generated setup, after the fixed start (PVs, VGs, a
/// first LV or two). VGs and LVs are named by their position among those
/// that exist when it runs (modulo their number) and sizes are clamped to
/// what is free, so every program runs: a command that finds nothing to
/// act on, or that lvm2 refuses, is skipped. The bytes a write puts are
/// drawn from the run's seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `lvcreate` of a linear (`stripes` 0) or striped LV, then a write
    /// into it.
    Create {
        /// Which VG.
        vg: u8,
        /// Stripes beyond the first (up to the VG's PVs, at most 3 in all).
        stripes: u8,
        /// Extents, modulo a quarter of the free ones.
        extents: u16,
    },
    /// `dd` into an LV (a snapshot too) through the copy-on-write engine.
    Write {
        /// Which VG.
        vg: u8,
        /// Which visible LV.
        lv: u8,
        /// First sector, modulo the LV's.
        sector: u32,
        /// Sectors, 1 + this modulo 512 (32 into a snapshot).
        sectors: u16,
    },
    /// `lvcreate -s` of an LV that is not a snapshot, as large as the
    /// origin can ever need.
    Snapshot {
        /// Which VG.
        vg: u8,
        /// Which non-snapshot LV.
        origin: u8,
        /// Chunk size: 4, 8, 16 or 64 KiB.
        chunk: u8,
    },
    /// `lvconvert --merge` of a snapshot, run to its end.
    Merge {
        /// Which VG.
        vg: u8,
        /// Which snapshot.
        snapshot: u8,
    },
    /// `lvrename` to a fresh name.
    Rename {
        /// Which VG.
        vg: u8,
        /// Which LV.
        lv: u8,
    },
    /// `lvremove -f` (not of a VG's last LV).
    Remove {
        /// Which VG.
        vg: u8,
        /// Which LV.
        lv: u8,
    },
    /// `lvextend -l +N` of an LV that has no snapshot and is none.
    Extend {
        /// Which VG.
        vg: u8,
        /// Which such LV.
        lv: u8,
        /// Extents, modulo a quarter of the free ones.
        extents: u16,
    },
    /// `lvchange --addtag`.
    Tag {
        /// Which VG.
        vg: u8,
        /// Which LV.
        lv: u8,
        /// One of four tags.
        tag: u8,
    },
}

/// A random command among those `profile` uses.
pub fn random_command(rng: &mut Rng, profile: Profile) -> Command {
    // Weights: create, striped create, write, snapshot, merge, rename,
    // remove, extend, tag.
    let w: [u64; 9] = match profile {
        Profile::Small => [3, 2, 4, 0, 0, 0, 0, 1, 0],
        Profile::Snapshots => [2, 1, 6, 3, 1, 0, 1, 0, 0],
        Profile::History => [3, 2, 2, 0, 0, 3, 2, 3, 2],
        Profile::All => [2, 1, 4, 2, 1, 2, 1, 2, 1],
    };
    let mut roll = rng.range(0, w.iter().sum::<u64>() - 1);
    let mut kind = 0;
    while roll >= w[kind] {
        roll -= w[kind];
        kind += 1;
    }
    let mut byte = || rng.next_u64() as u8;
    let (vg, lv) = (byte(), byte());
    let (n16, n32, b) = (
        rng.next_u64() as u16,
        rng.next_u64() as u32,
        rng.next_u64() as u8,
    );
    match kind {
        0 => Command::Create {
            vg,
            stripes: 0,
            extents: n16,
        },
        1 => Command::Create {
            vg,
            stripes: 1 + b % 2,
            extents: n16,
        },
        2 => Command::Write {
            vg,
            lv,
            sector: n32,
            sectors: n16,
        },
        3 => Command::Snapshot {
            vg,
            origin: lv,
            chunk: b,
        },
        4 => Command::Merge { vg, snapshot: lv },
        5 => Command::Rename { vg, lv },
        6 => Command::Remove { vg, lv },
        7 => Command::Extend {
            vg,
            lv,
            extents: n16,
        },
        _ => Command::Tag { vg, lv, tag: b },
    }
}

/// Runs one command of a program.
fn apply(run: &mut Run, c: &Command) -> Result<()> {
    let vgs = views(&run.scan()?);
    let at = |i: u8, n: usize| usize::from(i) % n.max(1);
    let vg_of = |i: u8| (!vgs.is_empty()).then(|| &vgs[at(i, vgs.len())]);
    let nth = |v: &VgView, i: u8, keep: &dyn Fn(&LvView) -> bool| {
        let lvs: Vec<&LvView> = v.lvs.iter().filter(|l| keep(l)).collect();
        (!lvs.is_empty()).then(|| lvs[at(i, lvs.len())].clone())
    };
    let any = |_: &LvView| true;
    match *c {
        Command::Create {
            vg,
            stripes,
            extents,
        } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            let stripes = 1 + u64::from(stripes).min(v.pvs.min(3).saturating_sub(1) as u64);
            let n = stripes * (1 + u64::from(extents) % (v.free / 4 / stripes).max(1));
            let lv = run.fresh_name("lv");
            if run.lvcreate(&v.name, &lv, n, u32::try_from(stripes).unwrap_or(1))? {
                let (off, len) = write_span(&mut run.rng, n * v.extent_bytes, 256 << 10);
                run.write(&v.name, &lv, off, len)?;
            }
        }
        Command::Write {
            vg,
            lv,
            sector,
            sectors,
        } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            let Some((name, ext, is_snap, _)) = nth(v, lv, &any) else {
                return Ok(());
            };
            let total = ext * v.extent_bytes / 512;
            let max = if is_snap { 64 } else { 512 };
            let len = (1 + u64::from(sectors) % max).min(total);
            let first = u64::from(sector) % (total - len + 1);
            run.write(
                &v.name,
                &name,
                first * 512,
                usize::try_from(len * 512).unwrap_or(512),
            )?;
        }
        Command::Snapshot { vg, origin, chunk } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            let Some((origin, ..)) = nth(v, origin, &|l| !l.2) else {
                return Ok(());
            };
            let sn = run.fresh_name("sn");
            let chunk = [8u64, 16, 32, 128][usize::from(chunk) % 4];
            run.snapshot(&v.name, &origin, &sn, chunk)?;
        }
        Command::Merge { vg, snapshot } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            if let Some((sn, ..)) = nth(v, snapshot, &|l| l.2) {
                run.merge(&v.name, &sn)?;
            }
        }
        Command::Rename { vg, lv } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            if let Some((lv, ..)) = nth(v, lv, &any) {
                let new = run.fresh_name("rn");
                run.rename(&v.name, &lv, &new)?;
            }
        }
        Command::Remove { vg, lv } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            if v.lvs.len() > 1 {
                if let Some((lv, ..)) = nth(v, lv, &any) {
                    run.remove(&v.name, &lv)?;
                }
            }
        }
        Command::Extend { vg, lv, extents } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            if v.free == 0 {
                return Ok(());
            }
            if let Some((lv, ..)) = nth(v, lv, &|l| !l.2 && !l.3) {
                let n = 1 + u64::from(extents) % (v.free / 4).max(1);
                run.extend(&v.name, &lv, n)?;
            }
        }
        Command::Tag { vg, lv, tag } => {
            let Some(v) = vg_of(vg) else { return Ok(()) };
            if let Some((lv, ..)) = nth(v, lv, &any) {
                let tag = ["t1", "db", "backup", "web"][usize::from(tag) % 4];
                run.tag(&v.name, &lv, tag)?;
            }
        }
    }
    Ok(())
}

/// With snapshots: each VG ends with a snapshot (the random commands may
/// have merged or removed every one), and one snapshot's origin is
/// written after it, so its store holds exceptions.
fn finish(run: &mut Run, o: &GenOptions) -> Result<()> {
    if !matches!(o.profile, Profile::Snapshots | Profile::All) {
        return Ok(());
    }
    for v in views(&run.scan()?) {
        if !v.lvs.iter().any(|l| l.2) {
            let origins: Vec<_> = v.lvs.iter().filter(|l| !l.2).cloned().collect();
            if origins.is_empty() {
                continue;
            }
            let (origin, ..) = run.rng.pick(&origins);
            let sn = run.fresh_name("sn");
            let chunk = run.rng.pick(&[8u64, 16, 128]);
            run.snapshot(&v.name, &origin, &sn, chunk)?;
        }
        let origins: Vec<_> = v.lvs.iter().filter(|l| l.3).cloned().collect();
        let origins = if origins.is_empty() {
            // The snapshot just made.
            views(&run.scan()?)
                .into_iter()
                .find(|w| w.name == v.name)
                .map(|w| w.lvs.into_iter().filter(|l| l.3).collect())
                .unwrap_or_default()
        } else {
            origins
        };
        if origins.is_empty() {
            continue;
        }
        let (origin, ext, ..) = run.rng.pick(&origins);
        for _ in 0..3 {
            let (off, len) = write_span(&mut run.rng, ext * v.extent_bytes, 128 << 10);
            run.write(&v.name, &origin, off, len)?;
        }
    }
    Ok(())
}

/// Makes the images and `manifest.json` in `dir` (created if missing;
/// existing `pvN.img` files are replaced or removed); returns the manifest.
///
/// # Errors
/// I/O on `dir`; any command failing other than by one of lvm2's refusals
/// (which would be a bug in this library).
pub fn generate(o: &GenOptions, dir: &Path) -> Result<Manifest> {
    let steps = o.profile.shape().2;
    // The program has its own generator, so that the start's draws do not
    // shift it.
    let mut rng = Rng::new(o.seed ^ 0x7072_6f67_7261_6d00 ^ o.profile as u64);
    let program: Vec<Command> = (0..steps)
        .map(|_| random_command(&mut rng, o.profile))
        .collect();
    run_program(o, &program, dir)
}

/// Makes the images and `manifest.json` in `dir` as [`generate`] does,
/// with `program` instead of the seed's random commands (the seed still
/// gives the start, the written bytes and the identifiers).
///
/// # Errors
/// As [`generate`].
pub fn run_program(o: &GenOptions, program: &[Command], dir: &Path) -> Result<Manifest> {
    let (default_pvs, mib, _) = o.profile.shape();
    let k = o.pvs.unwrap_or(default_pvs);
    if k == 0 || k > MAX_PVS {
        return Err(Error::Usage(format!(
            "--pvs {k}: gen makes 1 to {MAX_PVS} PVs"
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    // Images of an earlier run with more PVs would be scanned with these.
    for i in k..MAX_PVS {
        let p = dir.join(format!("pv{i}.img"));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("{}: cannot remove", p.display()))?;
        }
    }
    let mut paths = Vec::new();
    let mut devs = Vec::new();
    for i in 0..k {
        let p = dir.join(format!("pv{i}.img"));
        let f =
            std::fs::File::create(&p).with_context(|| format!("{}: cannot create", p.display()))?;
        f.set_len(mib << 20)
            .with_context(|| format!("{}: cannot size", p.display()))?;
        paths.push(p);
        devs.push(format!(
            "/dev/vd{}",
            char::from(b'a' + u8::try_from(i).unwrap_or(0))
        ));
    }
    let mut ctx = Context::deterministic();
    ctx.hostname = Some("lvmsim".into());
    ctx.uname = Some("Linux lvmsim 0 #1 x86_64".into());
    let seed = o
        .seed
        .wrapping_mul(0x2545_f491_4f6c_dd1d)
        .wrapping_add(o.profile as u64);
    let mut run = Run {
        paths,
        devs,
        ctx,
        rng: Rng::new(seed),
        commands: Vec::new(),
        names: 0,
    };
    start(&mut run, o)?;
    for c in program {
        apply(&mut run, c)?;
    }
    finish(&mut run, o)?;
    let m = manifest(&run, o)?;
    let json = serde_json::to_string_pretty(&m).map_err(|e| Error::Refused(e.to_string()))?;
    let path = dir.join(MANIFEST);
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(m)
}

/// Hashes `vg/lv` as `cat` reads it: (size, sha256, per-block sha256).
pub fn lv_hashes(sys: &System, vg: &str, lv: &str) -> Result<(u64, String, Vec<String>)> {
    struct Hasher {
        all: Sha256,
        block: Sha256,
        in_block: u64,
        size: u64,
        blocks: Vec<String>,
    }
    impl Write for Hasher {
        fn write(&mut self, mut b: &[u8]) -> std::io::Result<usize> {
            let n = b.len();
            self.all.update(b);
            self.size += n as u64;
            while !b.is_empty() {
                let room = usize::try_from(BLOCK - self.in_block).unwrap_or(usize::MAX);
                let take = room.min(b.len());
                self.block.update(&b[..take]);
                self.in_block += take as u64;
                b = &b[take..];
                if self.in_block == BLOCK {
                    let h = std::mem::take(&mut self.block);
                    self.blocks.push(hex(&h.finalize()));
                    self.in_block = 0;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hasher {
        all: Sha256::new(),
        block: Sha256::new(),
        in_block: 0,
        size: 0,
        blocks: Vec::new(),
    };
    crate::data::cat(sys, &format!("{vg}/{lv}"), 0, None, false, &mut h)?;
    if h.in_block > 0 {
        let last = std::mem::take(&mut h.block);
        h.blocks.push(hex(&last.finalize()));
    }
    Ok((h.size, hex(&h.all.finalize()), h.blocks))
}

fn manifest(run: &Run, o: &GenOptions) -> Result<Manifest> {
    let sys = run.scan()?;
    let mut images = Vec::new();
    for (p, d) in run.paths.iter().zip(&run.devs) {
        images.push(ImageEntry {
            file: p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            device: d.clone(),
            size: std::fs::metadata(p)
                .with_context(|| format!("{}: cannot stat", p.display()))?
                .len(),
            sha256: file_sha256(p)?,
        });
    }
    let file_of = |dev: Option<usize>| dev.map_or_else(String::new, |d| images[d].file.clone());
    let mut vgs = Vec::new();
    for inst in &sys.vgs {
        let vg = &inst.vg;
        let mut lvs = Vec::new();
        for (i, lv) in vg.lvs.iter().enumerate() {
            if !vg.lv_visible(i) {
                continue;
            }
            let r = &vg.roles[i];
            let segtypes: Vec<String> = lv
                .segments
                .iter()
                .map(|s| match &s.kind {
                    SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => "linear".into(),
                    _ => s.type_name.clone(),
                })
                .collect();
            let role = if r.cow_of.is_some() {
                "snapshot"
            } else if !r.origin_of.is_empty() {
                "origin"
            } else if segtypes.iter().all(|t| t == "linear") {
                "linear"
            } else {
                "striped"
            };
            let (size, sha256, blocks) = lv_hashes(&sys, &vg.name, &lv.name)?;
            lvs.push(LvEntry {
                name: lv.name.clone(),
                uuid: lv.id.clone(),
                role: role.into(),
                direct: r.cow_of.is_none()
                    && !r.merging_origin
                    && segtypes.iter().all(|t| t == "linear"),
                segtypes,
                lv_size: vg.lv_extents(lv) * vg.extent_bytes(),
                origin: r.cow_of.map(|c| vg.lvs[c.origin].name.clone()),
                size,
                sha256,
                blocks,
            });
        }
        vgs.push(VgEntry {
            name: vg.name.clone(),
            uuid: vg.id.clone(),
            seqno: vg.seqno,
            extent_size: vg.extent_bytes(),
            pvs: inst.pv_devices.iter().map(|d| file_of(*d)).collect(),
            lvs,
        });
    }
    Ok(Manifest {
        format: FORMAT,
        seed: o.seed,
        profile: o.profile,
        images,
        vgs,
        commands: run.commands.clone(),
    })
}

/// One line per image and per LV: what [`generate`] made.
pub fn summary(m: &Manifest, out: &mut dyn Write) -> Result<()> {
    for i in &m.images {
        writeln!(out, "{} {} {} bytes", i.file, i.device, i.size)?;
    }
    for vg in &m.vgs {
        for lv in &vg.lvs {
            writeln!(
                out,
                "{}/{} {} {} bytes sha256 {}",
                vg.name, lv.name, lv.role, lv.size, lv.sha256
            )?;
        }
    }
    writeln!(out, "{} commands", m.commands.len())?;
    Ok(())
}

/// Reads `dir/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::Refused(format!("{}: not a gen manifest: {e}", path.display())))
}

/// `proptest` strategies for generated setups (cargo feature `proptest`):
/// options (seed, profile, number of PVs) and programs of [`Command`]s,
/// which shrink to shorter programs. Each value runs with
/// [`run_program`]; the [`Manifest`] says what a correct reader must see.
///
/// Property-testing your own reader against lvmsim's (here lvmsim's own
/// `cat` stands in for it in `read_lv`), as a test of yours would:
///
/// ```
/// use lvmsim::gen::{hex, run_program, strategy};
/// use proptest::prelude::*;
/// use sha2::{Digest, Sha256};
/// use std::path::PathBuf;
///
/// // Your reader here: the bytes of VG/LV on these images.
/// fn read_lv(images: &[PathBuf], vg: &str, lv: &str) -> Vec<u8> {
///     let sys = lvmsim::scan(images, false, &mut std::io::sink()).unwrap();
///     let mut out = Vec::new();
///     lvmsim::data::cat(&sys, &format!("{vg}/{lv}"), 0, None, false, &mut out).unwrap();
///     out
/// }
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2));
/// runner
///     .run(&(strategy::options(), strategy::program(6)), |(o, program)| {
///         let m = run_program(&o, &program, dir.path()).unwrap();
///         let images: Vec<PathBuf> = m.images.iter().map(|i| dir.path().join(&i.file)).collect();
///         for vg in &m.vgs {
///             for lv in &vg.lvs {
///                 let bytes = read_lv(&images, &vg.name, &lv.name);
///                 prop_assert_eq!(bytes.len() as u64, lv.size);
///                 prop_assert_eq!(hex(&Sha256::digest(&bytes)), lv.sha256.clone());
///             }
///         }
///         Ok(())
///     })
///     .unwrap();
/// ```
///
/// [`strategy::vg_models`] gives the VG models themselves, for code that
/// takes a model rather than images. The example is compiled and run by
/// `cargo test -p lvmsim --features proptest --doc` (a CI step).
#[cfg(any(test, feature = "proptest"))]
pub mod strategy {
    use super::{Command, GenOptions, Profile};
    use proptest::prelude::*;

    /// Any profile.
    pub fn profile() -> impl Strategy<Value = Profile> {
        prop_oneof![
            Just(Profile::Small),
            Just(Profile::Snapshots),
            Just(Profile::History),
            Just(Profile::All),
        ]
    }

    /// Any seed and profile, with the profile's PVs or 1 to 4.
    pub fn options() -> impl Strategy<Value = GenOptions> {
        (any::<u64>(), profile(), prop::option::of(1usize..=4))
            .prop_map(|(seed, profile, pvs)| GenOptions { seed, profile, pvs })
    }

    /// Any command.
    pub fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            (any::<u8>(), 0u8..3, any::<u16>()).prop_map(|(vg, stripes, extents)| {
                Command::Create {
                    vg,
                    stripes,
                    extents,
                }
            }),
            (any::<u8>(), any::<u8>(), any::<u32>(), any::<u16>()).prop_map(
                |(vg, lv, sector, sectors)| Command::Write {
                    vg,
                    lv,
                    sector,
                    sectors,
                }
            ),
            (any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(vg, origin, chunk)| Command::Snapshot { vg, origin, chunk }),
            (any::<u8>(), any::<u8>()).prop_map(|(vg, snapshot)| Command::Merge { vg, snapshot }),
            (any::<u8>(), any::<u8>()).prop_map(|(vg, lv)| Command::Rename { vg, lv }),
            (any::<u8>(), any::<u8>()).prop_map(|(vg, lv)| Command::Remove { vg, lv }),
            (any::<u8>(), any::<u8>(), any::<u16>())
                .prop_map(|(vg, lv, extents)| Command::Extend { vg, lv, extents }),
            (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(vg, lv, tag)| Command::Tag {
                vg,
                lv,
                tag
            }),
        ]
    }

    /// Programs of up to `max` commands.
    pub fn program(max: usize) -> impl Strategy<Value = Vec<Command>> {
        prop::collection::vec(command(), 0..=max)
    }

    /// VG models as lvm2's commands leave them: each value is a program of
    /// up to `max` commands run by [`super::run_program`] in `dir` (its
    /// images made anew for every case) and the VGs scanned back from the
    /// images, so every model is one lvm2 itself would have written: its
    /// PVs, extents, segments, snapshots, tags and seqno. Shrinks with the
    /// program.
    ///
    /// # Panics
    /// When `dir` cannot be written (a program itself always runs: a
    /// command lvm2 would refuse is skipped).
    pub fn vg_models(
        dir: std::path::PathBuf,
        max: usize,
    ) -> impl Strategy<Value = Vec<lvm_meta::model::Vg>> {
        (options(), program(max)).prop_map(move |(o, p)| {
            let m = super::run_program(&o, &p, &dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let paths: Vec<std::path::PathBuf> =
                m.images.iter().map(|i| dir.join(&i.file)).collect();
            let sys = crate::scan(&paths, false, &mut std::io::sink())
                .unwrap_or_else(|e| panic!("gen's images do not scan: {e}"));
            sys.vgs.iter().map(|i| (*i.vg).clone()).collect()
        })
    }
}

/// `arbitrary::Arbitrary` for fuzzers (cargo feature `arbitrary`): any
/// fuzzer input is a profile, a seed, PVs and a program.
#[cfg(feature = "arbitrary")]
mod arbitrary_impls {
    use super::{Command, GenOptions, Profile};
    use arbitrary::{Arbitrary, Result, Unstructured};

    impl<'a> Arbitrary<'a> for Profile {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Profile> {
            Ok(*u.choose(&[
                Profile::Small,
                Profile::Snapshots,
                Profile::History,
                Profile::All,
            ])?)
        }
    }

    impl<'a> Arbitrary<'a> for GenOptions {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<GenOptions> {
            Ok(GenOptions {
                seed: u.arbitrary()?,
                profile: u.arbitrary()?,
                pvs: if u.arbitrary()? {
                    Some(u.int_in_range(1..=4)?)
                } else {
                    None
                },
            })
        }
    }

    impl<'a> Arbitrary<'a> for Command {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Command> {
            Ok(match u.int_in_range(0u8..=7)? {
                0 => Command::Create {
                    vg: u.arbitrary()?,
                    stripes: u.int_in_range(0..=2)?,
                    extents: u.arbitrary()?,
                },
                1 => Command::Write {
                    vg: u.arbitrary()?,
                    lv: u.arbitrary()?,
                    sector: u.arbitrary()?,
                    sectors: u.arbitrary()?,
                },
                2 => Command::Snapshot {
                    vg: u.arbitrary()?,
                    origin: u.arbitrary()?,
                    chunk: u.arbitrary()?,
                },
                3 => Command::Merge {
                    vg: u.arbitrary()?,
                    snapshot: u.arbitrary()?,
                },
                4 => Command::Rename {
                    vg: u.arbitrary()?,
                    lv: u.arbitrary()?,
                },
                5 => Command::Remove {
                    vg: u.arbitrary()?,
                    lv: u.arbitrary()?,
                },
                6 => Command::Extend {
                    vg: u.arbitrary()?,
                    lv: u.arbitrary()?,
                    extents: u.arbitrary()?,
                },
                _ => Command::Tag {
                    vg: u.arbitrary()?,
                    lv: u.arbitrary()?,
                    tag: u.arbitrary()?,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_the_same_everywhere() {
        // splitmix64 from state 0 (seed chosen so the state starts at 0):
        // the published first output of the reference generator.
        let mut r = Rng(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert!(Rng::new(1).next_u64() != Rng::new(2).next_u64());
    }

    /// Every VG model the strategy gives is one lvm2's text round-trips:
    /// exported, parsed and built again, it is the same model.
    #[test]
    fn vg_models_round_trip_through_their_text() {
        use proptest::test_runner::{Config, TestRunner};
        let t = tempfile::tempdir().unwrap();
        let mut runner = TestRunner::new(Config::with_cases(4));
        runner
            .run(&strategy::vg_models(t.path().join("m"), 8), |vgs| {
                for vg in &vgs {
                    let h = &vg.header;
                    let header = lvm_meta::export::ExportHeader::new(
                        h.description.as_deref().unwrap_or(""),
                        h.creation_host.as_deref().unwrap_or(""),
                        "Linux",
                        u64::try_from(h.creation_time.unwrap_or(0)).unwrap_or(0),
                    );
                    let text = lvm_meta::export::export(vg, &header);
                    let tree = lvm_meta::text::parse(text.as_bytes()).unwrap();
                    let again = lvm_meta::model::Vg::from_tree(&tree).unwrap();
                    proptest::prop_assert_eq!(&again, vg);
                }
                Ok(())
            })
            .unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4))]
        /// Any program runs (a refusal is skipped, nothing else fails), the
        /// same program makes the same bytes, and the manifest's hashes
        /// are what a fresh scan reads.
        #[test]
        fn any_program_runs_reproducibly(
            seed in proptest::prelude::any::<u64>(),
            program in strategy::program(8),
        ) {
            let t = tempfile::tempdir().unwrap();
            let o = GenOptions { seed, profile: Profile::Small, pvs: Some(2) };
            let (a, b) = (t.path().join("a"), t.path().join("b"));
            let m = run_program(&o, &program, &a).unwrap();
            let again = run_program(&o, &program, &b).unwrap();
            proptest::prop_assert_eq!(&m, &again);
            for i in &m.images {
                let (x, y) = (std::fs::read(a.join(&i.file)).unwrap(), std::fs::read(b.join(&i.file)).unwrap());
                proptest::prop_assert!(x == y, "{} differs", i.file);
            }
            let run = Run {
                paths: m.images.iter().map(|i| a.join(&i.file)).collect(),
                devs: m.images.iter().map(|i| i.device.clone()).collect(),
                ctx: Context::deterministic(),
                rng: Rng::new(0),
                commands: Vec::new(),
                names: 0,
            };
            let sys = run.scan().unwrap();
            for vg in &m.vgs {
                for lv in &vg.lvs {
                    let (size, sha, _) = lv_hashes(&sys, &vg.name, &lv.name).unwrap();
                    proptest::prop_assert_eq!((size, sha), (lv.size, lv.sha256.clone()));
                }
            }
        }
    }

    #[test]
    fn ranges_stay_inside() {
        let mut r = Rng::new(9);
        for _ in 0..1000 {
            let x = r.range(3, 7);
            assert!((3..=7).contains(&x));
        }
        assert_eq!(r.range(5, 5), 5);
        assert_eq!(r.range(6, 2), 6);
    }
}
