//! The command line: clap's view of lvm2's commands and options. Nothing
//! here acts; `main` turns these into the library's typed options.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// lvm2's commands on disk-image files.
#[derive(Parser, Debug)]
#[command(name = "lvmsim", version, about, long_about = None)]
pub(crate) struct Cli {
    /// An image file, or a directory whose regular files are all scanned.
    /// `NAME=PATH` reads PATH but reports it as NAME (e.g.
    /// `/dev/sdb=disk.img`). Repeatable, before or after the command (all
    /// are scanned). Without --dev, $LVMSIM_DEVICES (colon-separated) is
    /// used. Images named as a command's PV arguments are scanned too.
    /// A whole disk is read as lvm2 reads its partitions (MBR or GPT):
    /// `disk.img:p1`, or `/dev/sda1` for `/dev/sda=disk.img`; `PATH@OFFSET`
    /// reads a PV from byte OFFSET (decimal or 0x hex). qcow2 and E01
    /// images are read as the disk they hold (read-only; `verify` checks
    /// an E01's stored hashes).
    #[arg(long = "dev", global = true, value_name = "PATH")]
    pub(crate) dev: Vec<PathBuf>,
    /// Also find VGs whose label or metadata-area header is damaged, by
    /// scanning the whole images for metadata text; every guess is reported.
    #[arg(long = "scan-all", global = true)]
    pub(crate) scan_all: bool,
    /// Take no locks. By default a command that writes locks its images
    /// exclusively and one that reads locks them shared, waiting for other
    /// lvmsim commands on the same images.
    #[arg(long = "nolocking", global = true)]
    pub(crate) nolocking: bool,
    /// `nowait`: fail at once when another lvmsim command holds the images.
    #[arg(long = "lock-opt", alias = "lockopt", global = true, value_name = "OPT",
          value_parser = ["nowait"])]
    pub(crate) lock_opt: Option<String>,
    /// More detail, as lvm2's -v (repeatable; accepted by every command).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Less output, as lvm2's -q (repeatable; accepted by every command).
    #[arg(short = 'q', long = "quiet", global = true, action = clap::ArgAction::Count)]
    pub(crate) quiet: u8,
    /// Open nothing for writing (as lvm2's --readonly): commands that would
    /// write refuse before touching anything; `vgchange -ay` and `lvchange
    /// -ay` report a pending merge instead of running it.
    #[arg(long = "readonly", global = true)]
    pub(crate) readonly: bool,
    /// The directory of a running `lvmsim kernel` whose live state the
    /// reports show (`lvs`: active, `o` for open LVs; `dmsetup info`: open
    /// counts); they read the images beside it without locking. Without
    /// it, $LVMSIM_KERNEL.
    #[arg(long = "kernel", global = true, value_name = "DIR")]
    pub(crate) kernel: Option<PathBuf>,
    /// lvm2's `--config 'SECTION/KEY=VALUE'` (repeatable; accepted by every
    /// command and ignored: lvmsim reads no lvm.conf and runs no external
    /// tool such as thin_check).
    #[arg(long = "config", global = true, value_name = "SETTINGS")]
    pub(crate) config: Vec<String>,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

/// A subcommand's arguments, added to the command only when that subcommand
/// is the one parsed (clap's `Command::defer`). Building the arguments of
/// all forty subcommands on every start took more CPU than a small report;
/// help and errors still show every subcommand with its about line.
#[derive(Debug)]
pub(crate) struct Lazy<T>(pub(crate) T);

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Args> Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args_for_update)
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }
    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum Cmd {
    /// Report physical volumes (as lvm2's pvs).
    Pvs(Lazy<ReportArgs>),
    /// Report volume groups (as lvm2's vgs).
    Vgs(Lazy<ReportArgs>),
    /// Report logical volumes (as lvm2's lvs).
    Lvs(Lazy<ReportArgs>),
    /// Show PVs property by property (as lvm2's pvdisplay).
    Pvdisplay(Lazy<DisplayArgs>),
    /// Show VGs property by property (as lvm2's vgdisplay).
    Vgdisplay(Lazy<DisplayArgs>),
    /// Show LVs property by property (as lvm2's lvdisplay).
    Lvdisplay(Lazy<DisplayArgs>),
    /// Write an LV's bytes to stdout, as `dd if=/dev/VG/LV` would (snapshots
    /// show their view; an origin under merge shows the merging data).
    Cat(Lazy<CatArgs>),
    /// Check and dump a PV's label, headers and metadata (as lvm2's pvck).
    Pvck(Lazy<PvckArgs>),
    /// Print (or write with -f) a VG's metadata backup (as lvm2's vgcfgbackup).
    Vgcfgbackup(Lazy<BackupArgs>),
    /// Rename an LV (as lvm2's lvrename): `lvrename VG OLD NEW` or
    /// `lvrename VG/OLD NEW`. Writes only the images holding the VG's
    /// metadata areas, in lvm2's order.
    Lvrename(Lazy<LvrenameArgs>),
    /// Start merging a snapshot into its origin (`lvconvert --merge VG/SNAP`);
    /// the merge runs at the origin's next activation (`--now`: at once).
    Lvconvert(Lazy<LvconvertArgs>),
    /// Activate (`-ay`: run pending merges to their end) or deactivate a VG.
    Vgchange(Lazy<VgchangeArgs>),
    /// Finish a merge and record it in the metadata
    /// (`lvpoll --polloperation merge VG/ORIGIN`).
    Lvpoll(Lazy<LvpollArgs>),
    /// Remove LVs, snapshots, and origins with their snapshots (as lvm2's
    /// lvremove on an inactive VG: no question is asked).
    Lvremove(Lazy<LvremoveArgs>),
    /// The device-mapper view of the VGs as lvm2 would activate them.
    Dmsetup(DmsetupArgs),
    /// Initialise images as PVs (as lvm2's pvcreate).
    Pvcreate(Lazy<PvcreateArgs>),
    /// Create a VG from PVs (non-PV images are made PVs first).
    Vgcreate(Lazy<VgcreateArgs>),
    /// Add PVs to a VG.
    Vgextend(Lazy<VgextendArgs>),
    /// Remove unused PVs from a VG.
    Vgreduce(Lazy<VgreduceArgs>),
    /// Remove a VG (its PVs stay PVs).
    Vgremove(Lazy<VgremoveArgs>),
    /// Create a linear or striped LV with lvm2's normal allocation.
    Lvcreate(Lazy<LvcreateArgs>),
    /// Grow an LV.
    Lvextend(Lazy<LvresizeArgs>),
    /// Shrink an LV (the end is cut off).
    Lvreduce(Lazy<LvresizeArgs>),
    /// Rename a VG.
    Vgrename(Lazy<VgrenameArgs>),
    /// Write a VG from a backup file (as lvm2's vgcfgrestore -f FILE VG).
    Vgcfgrestore(Lazy<VgcfgrestoreArgs>),
    /// Change LVs: tags (`--addtag`, `--deltag`), activation (`-ay` of an
    /// origin runs its pending merge).
    Lvchange(Lazy<LvchangeArgs>),
    /// Every metadata copy on the images, oldest first, and what changed.
    History(Lazy<HistoryArgs>),
    /// Every snapshot any metadata copy knew, and what can be rebuilt.
    Recover(Lazy<RecoverArgs>),
    /// Write stdin (or --input) into an LV at --offset, as `dd
    /// of=/dev/VG/LV conv=notrunc` after activation would (copy-on-write
    /// into snapshots, snapshot overflow, merging origins as the kernel).
    Write(Lazy<WriteArgs>),
    /// Snapshot stores as the kernel reads them (`cow dump VG/SNAP`).
    Cow(CowArgs),
    /// Draw a VG's extents (`map VG`) or a snapshot's COW chunks
    /// (`map VG/SNAP`) as an SVG picture.
    Map(Lazy<MapArgs>),
    /// The smallest snapshot that survives a workload, per chunk size.
    Plan(Lazy<PlanArgs>),
    /// Print a thin pool's metadata as thin_dump's XML (`thin_dump VG/POOL`),
    /// read from its metadata LV as it is on the images.
    #[command(name = "thin_dump")]
    ThinDump(Lazy<ThinDumpArgs>),
    /// Make a reproducible random LVM setup in a directory: PV images built
    /// by lvm2's commands with a seeded generator, and manifest.json (what
    /// every LV must contain, and the commands that made it).
    Gen(Lazy<GenArgs>),
    /// Check the media hashes an E01 image stored at acquisition (MD5,
    /// SHA-1) against its media, for every `--dev` image; exit 5 if one
    /// differs. Other commands do not check them (it reads every byte).
    Verify,
    /// Damage a `gen` directory in one structure-aware way (checksums fixed
    /// up) into a new directory, with a manifest saying what changed and
    /// what lvm2 is predicted to do with it.
    Mutate(Lazy<MutateArgs>),
    /// A simulated kernel serving the active LVs as files through FUSE
    /// (`kernel start DIR`, `kernel status DIR`, `kernel stop DIR`).
    Kernel(Lazy<KernelArgs>),
    /// Chart of a snapshot's Data% over the writes of a workload (SVG, or
    /// CSV with --csv), one line per chunk size.
    Plot(Lazy<PlotArgs>),
    /// List a thin pool's thin devices as thin_ls does (`thin_ls VG/POOL`),
    /// read from its metadata LV as it is on the images.
    #[command(name = "thin_ls")]
    ThinLs(Lazy<ThinLsArgs>),
    /// RAID metadata as the kernel keeps it (`raid dump VG/LV`): each
    /// `_rmeta_` LV's dm-raid superblock and write-intent bitmap.
    Raid(RaidArgs),
}

/// What a command does to the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Opens them read-only.
    Read,
    /// Writes the VGs' images.
    Write,
    /// Writes, and may name images not given with --dev (as PVs).
    WriteNamed,
}

impl Cmd {
    /// Every command's access, in one place: a new command does not
    /// compile until it says what it does.
    pub(crate) fn access(&self) -> Access {
        match self {
            Cmd::Pvs(_)
            | Cmd::Vgs(_)
            | Cmd::Lvs(_)
            | Cmd::Pvdisplay(_)
            | Cmd::Vgdisplay(_)
            | Cmd::Lvdisplay(_)
            | Cmd::Cat(_)
            | Cmd::Pvck(_)
            | Cmd::Vgcfgbackup(_)
            | Cmd::Dmsetup(_)
            | Cmd::History(_)
            | Cmd::Recover(_)
            | Cmd::ThinDump(_) => Access::Read,
            Cmd::Cow(_) | Cmd::Map(_) | Cmd::Plan(_) => Access::Read,
            // They write files in their own directories, never --dev images.
            Cmd::Gen(_) | Cmd::Mutate(_) => Access::Read,
            Cmd::Verify => Access::Read,
            Cmd::Lvrename(_)
            | Cmd::Lvconvert(_)
            | Cmd::Vgchange(_)
            | Cmd::Lvpoll(_)
            | Cmd::Lvremove(_)
            | Cmd::Write(_)
            | Cmd::Vgreduce(_)
            | Cmd::Vgremove(_)
            | Cmd::Lvcreate(_)
            | Cmd::Lvextend(_)
            | Cmd::Lvreduce(_)
            | Cmd::Vgrename(_)
            | Cmd::Vgcfgrestore(_)
            | Cmd::Lvchange(_) => Access::Write,
            Cmd::Pvcreate(_) | Cmd::Vgcreate(_) | Cmd::Vgextend(_) => Access::WriteNamed,
            Cmd::Kernel(_) => Access::Write,
            Cmd::Plot(_) => Access::Read,
            Cmd::ThinLs(_) => Access::Read,
            Cmd::Raid(_) => Access::Read,
        }
    }
}

impl Cmd {
    /// The VGs a writing command changes, as lvm2 would lock them (`None`:
    /// lock every image, for commands whose VG is not known from the
    /// command line or that must see every VG: a new VG name must not be
    /// taken, a restore may land on any PV; and for readers, which lock
    /// every image shared).
    pub(crate) fn changes_vgs(&self) -> Option<Vec<String>> {
        // The VG of an LV argument in any of its forms (a malformed one
        // is refused by the command itself; locking every image is safe).
        let vg_of = |arg: &str| {
            lvmsim::names::lv_arg(arg)
                .map(|n| n.vg)
                .unwrap_or_else(|_| arg.to_owned())
        };
        let vg = |arg: &str| lvmsim::names::skip_dev_dir(arg).name;
        let each = |lvs: &[String]| {
            let mut v: Vec<String> = lvs.iter().map(|l| vg_of(l)).collect();
            v.sort();
            v.dedup();
            v
        };
        match self {
            Cmd::Lvrename(a) => a.names.first().map(|n| vec![vg_of(n)]),
            Cmd::Lvconvert(a) => Some(vec![vg_of(&a.lv)]),
            Cmd::Lvpoll(a) => Some(vec![vg_of(&a.lv)]),
            Cmd::Write(a) => Some(vec![vg_of(&a.lv)]),
            Cmd::Lvremove(a) => Some(each(&a.lvs)),
            Cmd::Lvchange(a) => Some(each(&a.lvs)),
            Cmd::Vgchange(a) => Some(vec![vg(&a.vg)]),
            Cmd::Vgreduce(a) => Some(vec![vg(&a.vg)]),
            Cmd::Vgremove(a) => Some(vec![vg(&a.vg)]),
            Cmd::Vgextend(a) => Some(vec![vg(&a.vg)]),
            Cmd::Lvcreate(a) => a.args.first().map(|v| vec![vg_of(v)]),
            Cmd::Lvextend(a) | Cmd::Lvreduce(a) => a.args.first().map(|v| vec![vg_of(v)]),
            Cmd::Pvcreate(_) => Some(Vec::new()),
            Cmd::Vgcreate(_) | Cmd::Vgrename(_) | Cmd::Vgcfgrestore(_) => None,
            Cmd::Pvs(_)
            | Cmd::Vgs(_)
            | Cmd::Lvs(_)
            | Cmd::Pvdisplay(_)
            | Cmd::Vgdisplay(_)
            | Cmd::Lvdisplay(_)
            | Cmd::Cat(_)
            | Cmd::Pvck(_)
            | Cmd::Vgcfgbackup(_)
            | Cmd::Dmsetup(_)
            | Cmd::History(_)
            | Cmd::Recover(_)
            | Cmd::ThinDump(_) => None,
            Cmd::Cow(_) | Cmd::Map(_) | Cmd::Plan(_) => None,
            Cmd::Gen(_) | Cmd::Mutate(_) => None,
            Cmd::Verify => None,
            Cmd::Kernel(_) => None,
            Cmd::Plot(_) => None,
            Cmd::ThinLs(_) => None,
            Cmd::Raid(_) => None,
        }
    }
}

/// lvm2's y/n option values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Yn {
    /// Yes.
    #[value(name = "y", alias = "yes", alias = "ay")]
    Y,
    /// No.
    #[value(name = "n", alias = "no", alias = "an")]
    N,
}

/// `--reportformat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Columns.
    Basic,
    /// lvm2's JSON.
    Json,
}

/// `pvck --dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum DumpKind {
    /// The label, PV header and metadata-area headers.
    Headers,
    /// The current metadata text.
    Metadata,
    /// Every metadata text in the area.
    MetadataAll,
    /// Every metadata copy found in the area.
    MetadataSearch,
}

/// Options of `lvmsim history`.
#[derive(Args, Debug)]
pub(crate) struct HistoryArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print the text of this copy exactly (`SEQNO`, or `SEQNO#K` for the
    /// K-th distinct copy with that seqno).
    #[arg(long, value_name = "SEQNO")]
    pub(crate) show: Option<String>,
    /// A structural diff of two copies (`A B`, each `SEQNO` or `SEQNO#K`).
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub(crate) diff: Vec<String>,
    /// Only this VG.
    pub(crate) vg: Option<String>,
}

/// Options of `lvmsim recover`.
#[derive(Args, Debug)]
pub(crate) struct RecoverArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Export this snapshot's rebuilt view, or this removed thin LV's
    /// surviving mappings (`VG/LV`; unmapped blocks read as zeros).
    #[arg(long, value_name = "VG/LV", requires = "output")]
    pub(crate) export: Option<String>,
    /// The metadata copy that describes the snapshot (default: the last
    /// copy that held it, when only one snapshot of that name is in the
    /// history; several are listed).
    #[arg(long)]
    pub(crate) seqno: Option<u32>,
    /// The new file to write (never overwritten); the report goes to
    /// `OUT.json`.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Only this VG.
    pub(crate) vg: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct LvchangeArgs {
    /// `y` to activate (runs a pending merge), `n` to deactivate.
    #[arg(short = 'a', long = "activate", value_name = "y|n")]
    pub(crate) activate: Option<Yn>,
    /// Add a tag.
    #[arg(long = "addtag")]
    pub(crate) addtag: Vec<String>,
    /// Remove a tag.
    #[arg(long = "deltag")]
    pub(crate) deltag: Vec<String>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// VG/LV...
    #[arg(required = true)]
    pub(crate) lvs: Vec<String>,
    /// Print what the kernel and lvm2 do in the snapshot stores, one line
    /// per step (`--explain=json`: as JSON).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text",
          value_parser = ["text", "json"], require_equals = true)]
    pub(crate) explain: Option<String>,
    /// With `-ay`: `n` starts a pending merge without polling it to its
    /// end (`lvpoll` finishes it).
    #[arg(long = "poll", value_name = "y|n")]
    pub(crate) poll: Option<Yn>,
}

#[derive(Args, Debug)]
pub(crate) struct VgrenameArgs {
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// The VG's name.
    pub(crate) old: String,
    /// Its new name.
    pub(crate) new: String,
}

#[derive(Args, Debug)]
pub(crate) struct VgcfgrestoreArgs {
    /// The backup file.
    #[arg(short = 'f', long = "file", required = true)]
    pub(crate) file: String,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// The VG to restore.
    pub(crate) vg: String,
}

#[derive(Args, Debug)]
pub(crate) struct PvcreateOpts {
    /// Metadata areas on the PV: 0, 1 or 2.
    #[arg(long = "metadatacopies", alias = "pvmetadatacopies")]
    pub(crate) metadatacopies: Option<u32>,
    /// Size of each metadata area (default unit MiB).
    #[arg(long = "metadatasize")]
    pub(crate) metadatasize: Option<String>,
    /// Alignment of the data area (default unit KiB).
    #[arg(long = "dataalignment")]
    pub(crate) dataalignment: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct PvcreateArgs {
    #[command(flatten)]
    pub(crate) opts: PvcreateOpts,
    /// The PV UUID to write (with --norestorefile).
    #[arg(short = 'u', long = "uuid")]
    pub(crate) uuid: Option<String>,
    /// Accepted with --uuid, as lvm2 requires.
    #[arg(long = "norestorefile")]
    pub(crate) norestorefile: bool,
    /// Accepted for lvm2 compatibility (lvmsim never prompts).
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    pub(crate) force: u8,
    /// The images.
    #[arg(required = true)]
    pub(crate) pvs: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct VgcreateArgs {
    #[command(flatten)]
    pub(crate) opts: PvcreateOpts,
    /// Extent size (default unit MiB; default 4 MiB).
    #[arg(short = 's', long = "physicalextentsize")]
    pub(crate) extent: Option<String>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// The new VG's name.
    pub(crate) vg: String,
    /// The PVs (or images to make PVs).
    #[arg(required = true)]
    pub(crate) pvs: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct VgextendArgs {
    #[command(flatten)]
    pub(crate) opts: PvcreateOpts,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// The VG.
    pub(crate) vg: String,
    /// The PVs to add.
    #[arg(required = true)]
    pub(crate) pvs: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct VgreduceArgs {
    /// The VG.
    pub(crate) vg: String,
    /// The PVs to remove.
    #[arg(required = true)]
    pub(crate) pvs: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct VgremoveArgs {
    /// Remove the VG's LVs too.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    pub(crate) force: u8,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// The VG.
    pub(crate) vg: String,
}

#[derive(Args, Debug)]
pub(crate) struct LvcreateArgs {
    /// The LV name (default lvolN).
    #[arg(short = 'n', long = "name")]
    pub(crate) name: Option<String>,
    /// Size (default unit MiB).
    #[arg(short = 'L', long = "size")]
    pub(crate) size: Option<String>,
    /// Extents, or N%FREE, N%VG, N%PVS.
    #[arg(short = 'l', long = "extents")]
    pub(crate) extents: Option<String>,
    /// Stripes.
    #[arg(short = 'i', long = "stripes")]
    pub(crate) stripes: Option<u32>,
    /// Stripe size (default unit KiB; default 64 KiB).
    #[arg(short = 'I', long = "stripesize")]
    pub(crate) stripesize: Option<String>,
    /// `n`: do not zero the LV's first 4 KiB.
    #[arg(short = 'Z', long = "zero", default_value = "y")]
    pub(crate) zero: Yn,
    /// `n`: leave the LV inactive (nothing is zeroed).
    #[arg(short = 'a', long = "activate", default_value = "y")]
    pub(crate) activate: Yn,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// Accepted for lvm2 compatibility (signatures are not wiped).
    #[arg(short = 'W', long = "wipesignatures")]
    pub(crate) wipesignatures: Option<String>,
    /// Create a snapshot of VG/ORIGIN (given instead of VG).
    #[arg(short = 's', long = "snapshot")]
    pub(crate) snapshot: bool,
    /// Snapshot chunk size (default unit KiB; 4k to 512k, default 4k).
    #[arg(short = 'c', long = "chunksize")]
    pub(crate) chunksize: Option<String>,
    /// VG (or VG/ORIGIN with -s), then the PVs (DEV or DEV:PE-PE) to
    /// allocate from.
    #[arg(required = true)]
    pub(crate) args: Vec<String>,
    /// Print what the kernel and lvm2 do in the snapshot stores, one line
    /// per step (`--explain=json`: as JSON).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text",
          value_parser = ["text", "json"], require_equals = true)]
    pub(crate) explain: Option<String>,
    /// Virtual size of a thin LV (default unit MiB), with -T VG/POOL.
    #[arg(short = 'V', long = "virtualsize")]
    pub(crate) virtualsize: Option<String>,
    /// Create a thin LV in the pool VG/POOL (given instead of VG).
    #[arg(short = 'T', long = "thin")]
    pub(crate) thin: bool,
    /// Activation skip flag of a thin snapshot (lvmsim writes `n` only).
    #[arg(short = 'k', long = "setactivationskip")]
    pub(crate) setactivationskip: Option<Yn>,
    /// The segment type: `thin-pool` makes a thin pool (`-n POOL VG`).
    #[arg(long = "type")]
    pub(crate) segtype: Option<String>,
    /// Size of a new thin pool's metadata LV (default unit MiB; default
    /// from lvm2's estimate).
    #[arg(long = "poolmetadatasize")]
    pub(crate) poolmetadatasize: Option<String>,
    /// Discards of a new thin pool (`passdown`, `nopassdown`, `ignore`).
    #[arg(long = "discards", value_parser = ["passdown", "nopassdown", "ignore"])]
    pub(crate) discards: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct LvresizeArgs {
    /// New size or +/- change (default unit MiB).
    #[arg(short = 'L', long = "size", allow_hyphen_values = true)]
    pub(crate) size: Option<String>,
    /// New extents or +/- change, also N%FREE, N%VG, N%PVS.
    #[arg(short = 'l', long = "extents", allow_hyphen_values = true)]
    pub(crate) extents: Option<String>,
    /// Stripes for the new extents (default: the LV's).
    #[arg(short = 'i', long = "stripes")]
    pub(crate) stripes: Option<u32>,
    /// Stripe size for the new extents (default unit KiB).
    #[arg(short = 'I', long = "stripesize")]
    pub(crate) stripesize: Option<String>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    pub(crate) force: u8,
    /// VG/LV, then the PVs to allocate from.
    #[arg(required = true)]
    pub(crate) args: Vec<String>,
    /// Grow a thin pool's metadata LV to, or by (`+`), this size (default
    /// unit MiB).
    #[arg(long = "poolmetadatasize", allow_hyphen_values = true)]
    pub(crate) poolmetadatasize: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct WriteArgs {
    /// VG/LV to write.
    pub(crate) lv: String,
    /// First byte of the LV to write.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: u64,
    /// Read the data from this file instead of stdin.
    #[arg(long)]
    pub(crate) input: Option<PathBuf>,
    /// Print what the kernel does in the snapshot stores, one line per
    /// step (`--explain=json`: as JSON).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text",
          value_parser = ["text", "json"], require_equals = true)]
    pub(crate) explain: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct DmsetupArgs {
    #[command(subcommand)]
    pub(crate) cmd: DmCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum DmCmd {
    /// `dmsetup status`: each device's status line (snapshot fill levels
    /// from the exception stores).
    Status {
        /// `NAME=MAJ:MIN`: the device number of an image (as the kernel saw
        /// it) for striped status lines; default 7:N in --dev order.
        #[arg(long = "devno")]
        devno: Vec<String>,
        /// Only these device-mapper devices.
        names: Vec<String>,
    },
    /// `dmsetup table`: each device's table line as lvm2 loads it on
    /// `vgchange -ay` (snapshot-origin, -real, -cow, snapshot,
    /// snapshot-merge), device numbers as on a fresh activation.
    Table {
        /// `NAME=MAJ:MIN`: the device number of an image; default 7:N in
        /// --dev order.
        #[arg(long = "devno")]
        devno: Vec<String>,
        /// `DMNAME=MINOR`: the minor number of a device-mapper device that an
        /// earlier activation numbered, as the tables that stack on it name
        /// it (default: numbered as a fresh activation creates the devices).
        #[arg(long = "minor", value_name = "DMNAME=MINOR")]
        minor: Vec<String>,
        /// Only these device-mapper devices.
        names: Vec<String>,
    },
    /// `dmsetup targets`: the targets and versions of the corpus kernel.
    Targets,
    /// `dmsetup version`: library and driver versions of the corpus's
    /// dmsetup and kernel.
    Version,
    /// `dmsetup info`: each device's state, open count, event number,
    /// device number and UUID (`-c`: one line per device).
    Info {
        /// One line per device, in columns.
        #[arg(short = 'c', short_alias = 'C', long = "columns")]
        columns: bool,
        /// With -c: the fields to show (name, major, minor, attr, open,
        /// segments, events, uuid).
        #[arg(short = 'o', long = "options", value_name = "FIELDS")]
        options: Option<String>,
        /// With -c: no heading line; values joined by `:`.
        #[arg(long = "noheadings")]
        noheadings: bool,
        #[command(flatten)]
        list: DmListArgs,
        /// Only this device-mapper device.
        name: Option<String>,
    },
    /// `dmsetup ls`: each device's name and device number (`--tree`: the
    /// devices stacked on each other).
    Ls {
        /// Show what each device opens, down to the disks.
        #[arg(long = "tree")]
        tree: bool,
        #[command(flatten)]
        list: DmListArgs,
    },
    /// `dmsetup deps`: the device numbers each device's table opens.
    Deps {
        #[command(flatten)]
        list: DmListArgs,
        /// Only this device-mapper device.
        name: Option<String>,
    },
    /// `dmsetup suspend` of a running kernel's device (`--kernel DIR`):
    /// its I/O waits until `dmsetup resume`.
    Suspend {
        /// The device-mapper device (`NAME` or `/dev/mapper/NAME`).
        name: String,
    },
    /// `dmsetup resume` of a running kernel's device: the I/O that waited
    /// goes on.
    Resume {
        /// The device-mapper device.
        name: String,
    },
    /// `dmsetup remove` of a running kernel's device (refused while it is
    /// open, as the kernel refuses it).
    Remove {
        /// The device-mapper device.
        name: String,
    },
}

/// Device numbers of the device list (`dmsetup info`, `ls`, `deps`).
#[derive(Args, Debug)]
pub(crate) struct DmListArgs {
    /// `NAME=MAJ:MIN`: the device number of an image (as the kernel saw
    /// it); default 7:N in --dev order.
    #[arg(long = "devno")]
    pub(crate) devno: Vec<String>,
    /// `DMNAME=MINOR`: the minor number of a device-mapper device that an
    /// earlier activation numbered (default: numbered as a fresh
    /// activation creates the devices).
    #[arg(long = "minor", value_name = "DMNAME=MINOR")]
    pub(crate) minor: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct LvremoveArgs {
    /// Accepted for lvm2 compatibility (inactive LVs need no prompt).
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    pub(crate) force: u8,
    /// VG/LV to remove.
    #[arg(required = true)]
    pub(crate) lvs: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct LvconvertArgs {
    /// Merge the snapshot into its origin.
    #[arg(long, required = true)]
    pub(crate) merge: bool,
    /// Merge at once, as lvm2 does when the origin is active (lvmsim's own
    /// option: its images are inactive, so by default the snapshot is only
    /// marked and merges at the origin's next activation, as lvm2 does).
    #[arg(long)]
    pub(crate) now: bool,
    /// Merge at once but stop after N merge runs, as a power loss would
    /// (0: only mark the snapshot for merging, as without --now).
    #[arg(long = "interrupt-after", value_name = "N")]
    pub(crate) interrupt_after: Option<usize>,
    /// Accepted for lvm2 compatibility (the polling interval).
    #[arg(short = 'i', long = "interval")]
    pub(crate) interval: Option<u64>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// VG/SNAPSHOT (a thin snapshot merges at once, as lvm2 merges one
    /// whose origin is inactive).
    pub(crate) lv: String,
    /// Print what the kernel and lvm2 do in the snapshot stores, one line
    /// per step (`--explain=json`: as JSON).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text",
          value_parser = ["text", "json"], require_equals = true)]
    pub(crate) explain: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct VgchangeArgs {
    /// `y` to activate, `n` to deactivate.
    #[arg(short = 'a', long = "activate", value_name = "y|n")]
    pub(crate) activate: Yn,
    /// `n`: leave a finished merge unrecorded (lvm2's --poll n).
    #[arg(long, default_value = "y")]
    pub(crate) poll: Yn,
    /// With -ay: stop each pending merge after N merge runs, as a power
    /// loss would (lvmsim's own option).
    #[arg(long = "interrupt-after", value_name = "N")]
    pub(crate) interrupt_after: Option<usize>,
    /// The VG.
    pub(crate) vg: String,
    /// Print what the kernel and lvm2 do in the snapshot stores, one line
    /// per step (`--explain=json`: as JSON).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text",
          value_parser = ["text", "json"], require_equals = true)]
    pub(crate) explain: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct LvpollArgs {
    /// `merge` (a snapshot merge) or `merge_thin` (a thin snapshot merge
    /// left for the origin's next activation).
    #[arg(long = "polloperation")]
    pub(crate) polloperation: String,
    /// Accepted for lvm2 compatibility (lvmsim does not wait).
    #[arg(short = 'i', long = "interval")]
    pub(crate) interval: Option<u64>,
    /// VG/ORIGIN.
    pub(crate) lv: String,
    /// Print what the kernel and lvm2 do in the snapshot stores, one line
    /// per step (`--explain=json`: as JSON).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text",
          value_parser = ["text", "json"], require_equals = true)]
    pub(crate) explain: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct LvrenameArgs {
    /// Accepted for lvm2 compatibility (lvmsim never prompts).
    #[arg(short = 'y', long = "yes")]
    pub(crate) yes: bool,
    /// VG OLD NEW, or VG/OLD NEW.
    #[arg(num_args = 2..=3, required = true)]
    pub(crate) names: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// Also report hidden LVs (lvs) or all devices.
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    /// One row per LV segment.
    #[arg(long)]
    pub(crate) segments: bool,
    /// Fields to report; `+F` adds to the defaults, `-F` removes. Repeatable.
    #[arg(short = 'o', long = "options", allow_hyphen_values = true)]
    pub(crate) options: Vec<String>,
    /// Sort keys (`-F` for descending).
    #[arg(short = 'O', long = "sort", allow_hyphen_values = true)]
    pub(crate) sort: Option<String>,
    /// Report only the objects this lvm2 selection accepts (`lv_size>8m`,
    /// `lv_tags={a,b}`, `lv_name=~^s && !(origin="")`...).
    #[arg(short = 'S', long = "select", allow_hyphen_values = true)]
    pub(crate) select: Option<String>,
    /// `basic` (columns) or `json`.
    #[arg(long = "reportformat", default_value = "basic")]
    pub(crate) reportformat: ReportFormat,
    /// Size units: r h H R b s k m g t p e K M G T P E.
    #[arg(long)]
    pub(crate) units: Option<String>,
    /// Leave the unit letter off sizes.
    #[arg(long)]
    pub(crate) nosuffix: bool,
    /// Leave the heading line off.
    #[arg(long)]
    pub(crate) noheadings: bool,
    /// Separate columns with this string instead of aligning them.
    #[arg(long)]
    pub(crate) separator: Option<String>,
    /// Align columns even with --separator.
    #[arg(long)]
    pub(crate) aligned: bool,
    /// `n`: report as lvm2 does without device-mapper ('X' for unknown
    /// kernel state); the default reports the images as inactive.
    #[arg(long = "driverloaded")]
    pub(crate) driverloaded: Option<Yn>,
    /// Report LVs as after `vgchange -ay`: lv_attr state 'a' ('I' for an
    /// invalid snapshot) and Data%/Snap% of snapshots from their stores.
    #[arg(long)]
    pub(crate) active: bool,
    /// VG, VG/LV or PV names to report.
    pub(crate) names: Vec<String>,
    /// Also historical LVs (lvs, as lvm2's `-H`): removed LVs lvm2 kept a
    /// record of (`metadata/record_lvs_history`), listed as `-NAME` with
    /// their times (`lv_time_removed`) and named in the chains of
    /// `lv_full_ancestors` and `lv_full_descendants`.
    #[arg(short = 'H', long = "history")]
    pub(crate) history: bool,
}

/// Options of `pvdisplay`, `vgdisplay` and `lvdisplay` (each refuses, as
/// lvm2 does, those that are not its own).
#[derive(Args, Debug)]
pub(crate) struct DisplayArgs {
    /// Report as pvs/vgs/lvs do (the report options then apply).
    #[arg(short = 'C', long = "columns")]
    pub(crate) columns: bool,
    /// One colon-separated line per object.
    #[arg(short = 'c', long = "colon")]
    pub(crate) colon: bool,
    /// Add the segment maps (pvdisplay, lvdisplay).
    #[arg(short = 'm', long = "maps")]
    pub(crate) maps: bool,
    /// One short line per object (pvdisplay, vgdisplay).
    #[arg(short = 's', long = "short")]
    pub(crate) short: bool,
    /// Only VGs with active LVs (vgdisplay).
    #[arg(short = 'A', long = "activevolumegroups")]
    pub(crate) activevolumegroups: bool,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

#[derive(Args, Debug)]
pub(crate) struct CatArgs {
    /// VG/LV to read.
    pub(crate) lv: String,
    /// First byte to write.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: u64,
    /// How many bytes (default: to the LV's end).
    #[arg(long)]
    pub(crate) length: Option<u64>,
    /// Read an invalid (or merging) snapshot from the records its store
    /// still holds, for forensics; the kernel fails such reads with EIO.
    #[arg(long)]
    pub(crate) force: bool,
    /// A cached LV: read its origin alone (what lies on the slow device,
    /// whatever the cache holds, dirty blocks included).
    #[arg(long)]
    pub(crate) uncached: bool,
}

#[derive(Args, Debug)]
pub(crate) struct PvckArgs {
    /// headers, metadata, metadata_all or metadata_search.
    #[arg(long)]
    pub(crate) dump: Option<DumpKind>,
    /// Sector that holds the label.
    #[arg(long, default_value_t = 1)]
    pub(crate) labelsector: u64,
    /// Which metadata area (1 or 2).
    #[arg(long = "pvmetadatacopies")]
    pub(crate) pvmetadatacopies: Option<u32>,
    /// `mda_num=N mda_offset=B mda_size=B`.
    #[arg(long)]
    pub(crate) settings: Option<String>,
    /// Write metadata text to this new file.
    #[arg(short = 'f', long = "file")]
    pub(crate) file: Option<String>,
    /// The PV image.
    pub(crate) pv: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct BackupArgs {
    /// Write to this file (`%s` is replaced by the VG name); default stdout.
    #[arg(short = 'f', long = "file")]
    pub(crate) file: Option<String>,
    /// The VG (all VGs if omitted).
    pub(crate) vg: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct CowArgs {
    #[command(subcommand)]
    pub(crate) cmd: CowCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum CowCmd {
    /// The header, metadata areas, exception records, next free chunk and
    /// `dmsetup status`/Data% of a snapshot's store (`VG/SNAP`).
    Dump {
        /// The snapshot, `VG/SNAP`.
        lv: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The metadata copy that describes the snapshot (one since
        /// removed, say); default: the current metadata.
        #[arg(long)]
        seqno: Option<u32>,
    },
}

#[derive(Args, Debug)]
pub(crate) struct MapArgs {
    /// `VG` (its PVs' extents) or `VG/SNAP` (the snapshot's COW chunks).
    pub(crate) target: String,
    /// The SVG file to write (`-`: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// With `VG/SNAP`: the metadata copy that describes the snapshot.
    #[arg(long)]
    pub(crate) seqno: Option<u32>,
}

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// The origin's size (lvm2 units: 512k, 4m, 1g; default unit MiB).
    #[arg(long = "origin-size", value_name = "SIZE")]
    pub(crate) origin_size: String,
    /// Chunk sizes to plan for, comma-separated.
    #[arg(long, value_name = "SIZES", default_value = "4k,16k,64k,512k")]
    pub(crate) chunk: String,
    /// The workload: one write per line, `OFFSET LENGTH` in bytes
    /// (`#` comments; see docs/snapshot-tutorial.md).
    #[arg(long, value_name = "FILE", conflicts_with = "diff")]
    pub(crate) trace: Option<PathBuf>,
    /// The workload as the difference of two images of the origin: every
    /// 512-byte sector that differs is written once, in order.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"],
          required_unless_present_any = ["trace", "blkparse"])]
    pub(crate) diff: Option<Vec<PathBuf>>,
    /// The VG's extent size (lvm2 rounds the COW up to whole extents).
    #[arg(
        short = 's',
        long = "physicalextentsize",
        value_name = "SIZE",
        default_value = "4m"
    )]
    pub(crate) extent_size: String,
    /// A COW size to replay the workload against: whether it survives and,
    /// if not, the write that invalidates it.
    #[arg(short = 'L', long = "size", value_name = "SIZE")]
    pub(crate) size: Option<String>,
    /// lvm2's `snapshot_autoextend_threshold` (percent; 100 = off): with
    /// `-L`, the snapshot grows by `--autoextend-percent` each time Data%
    /// reaches it between writes.
    #[arg(
        long = "autoextend-threshold",
        value_name = "PERCENT",
        default_value_t = 100
    )]
    pub(crate) autoextend_threshold: u32,
    /// lvm2's `snapshot_autoextend_percent`.
    #[arg(
        long = "autoextend-percent",
        value_name = "PERCENT",
        default_value_t = 20
    )]
    pub(crate) autoextend_percent: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// The workload as `blkparse` text output (default format): each
    /// write request is taken once, at its queue (`Q`) action.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trace", "diff"])]
    pub(crate) blkparse: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct ThinDumpArgs {
    /// The thin pool (VG/POOL).
    pub(crate) pool: String,
}

#[derive(Args, Debug)]
pub(crate) struct GenArgs {
    /// Seeds every choice: the same seed gives the same bytes.
    #[arg(long)]
    pub(crate) seed: u64,
    /// small, snapshots, history or all.
    #[arg(long, default_value = "small", value_parser = ["small", "snapshots", "history", "all"])]
    pub(crate) profile: String,
    /// Number of PV images (default: the profile's).
    #[arg(long)]
    pub(crate) pvs: Option<usize>,
    /// Output directory (created if missing).
    #[arg(short = 'o', long = "output")]
    pub(crate) output: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct MutateArgs {
    /// Seeds the choice of the damage.
    #[arg(long)]
    pub(crate) seed: u64,
    /// What to damage (default: picked by the seed).
    #[arg(long, value_parser = ["text", "header", "label", "ring", "cow", "data"])]
    pub(crate) kind: Option<String>,
    /// A directory made by `lvmsim gen`.
    pub(crate) input: PathBuf,
    /// Output directory (created if missing).
    #[arg(short = 'o', long = "output")]
    pub(crate) output: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct KernelArgs {
    #[command(subcommand)]
    pub(crate) cmd: KernelCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum KernelCmd {
    /// Start a kernel for the images (--dev): it activates every VG as
    /// `vgchange -ay` does, serves each device as DIR/dev/mapper/VG-LV
    /// (with DIR/dev/VG/LV beside it) and locks the images while it runs.
    /// Returns once the devices serve; the kernel logs to DIR/kernel.log.
    Start {
        /// The kernel's directory (created if missing).
        dir: PathBuf,
        /// Serve in this process until stopped instead of in the
        /// background (prints `ready` once serving).
        #[arg(long)]
        foreground: bool,
        /// Also serve each visible LV as an NBD export named VG/LV, at
        /// `unix:PATH` or `tcp:HOST:PORT`.
        #[arg(long, value_name = "ADDR")]
        nbd: Option<String>,
        /// Log each write request's kernel steps (the lines of `lvmsim
        /// write --explain`: copies into snapshots, commits, areas, an
        /// invalidation) to DIR/kernel.log.
        #[arg(long)]
        explain: bool,
        /// Run merges in the background at N batches a second (the
        /// default runs each merge to its end as soon as it starts).
        #[arg(long = "merge-rate", value_name = "N")]
        merge_rate: Option<u32>,
    },
    /// Flush the images, unmount the devices and end the kernel (refused
    /// while a device is open); waits until its process has ended.
    Stop {
        /// The kernel's directory.
        dir: PathBuf,
    },
    /// The running kernel's process, images and devices with their open
    /// counts.
    Status {
        /// The kernel's directory.
        dir: PathBuf,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub(crate) struct PlotArgs {
    /// The origin's size (lvm2 units: 512k, 4m, 1g; default unit MiB).
    #[arg(long = "origin-size", value_name = "SIZE")]
    pub(crate) origin_size: String,
    /// Chunk sizes, comma-separated: one line each.
    #[arg(long, value_name = "SIZES", default_value = "4k,16k,64k,512k")]
    pub(crate) chunk: String,
    /// The workload: one write per line, `OFFSET LENGTH` in bytes (as for
    /// `plan`).
    #[arg(long, value_name = "FILE", conflicts_with = "diff")]
    pub(crate) trace: Option<PathBuf>,
    /// The workload as the difference of two images of the origin.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], required_unless_present = "trace")]
    pub(crate) diff: Option<Vec<PathBuf>>,
    /// The snapshot's COW size.
    #[arg(short = 'L', long = "size", value_name = "SIZE")]
    pub(crate) size: String,
    /// The VG's extent size (lvm2 rounds the COW up to whole extents).
    #[arg(
        short = 's',
        long = "physicalextentsize",
        value_name = "SIZE",
        default_value = "4m"
    )]
    pub(crate) extent_size: String,
    /// The SVG file to write (`-`: stdout).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        required_unless_present = "csv"
    )]
    pub(crate) output: Option<PathBuf>,
    /// Print the series as CSV (`write,chunk,data_percent,valid`) instead.
    #[arg(long, conflicts_with = "output")]
    pub(crate) csv: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ThinLsArgs {
    /// The thin pool (VG/POOL).
    pub(crate) pool: String,
    /// Comma-separated columns (DEV, MAPPED_BLOCKS, EXCLUSIVE_BLOCKS,
    /// SHARED_BLOCKS, MAPPED_SECTORS, EXCLUSIVE_SECTORS, SHARED_SECTORS,
    /// MAPPED_BYTES, EXCLUSIVE_BYTES, SHARED_BYTES, MAPPED, EXCLUSIVE,
    /// SHARED, TRANSACTION, CREATE_TIME, SNAP_TIME).
    #[arg(short = 'o', long = "format")]
    pub(crate) format: Option<String>,
    /// Leave out the header row.
    #[arg(long = "no-headers")]
    pub(crate) no_headers: bool,
}

#[derive(Args, Debug)]
pub(crate) struct RaidArgs {
    #[command(subcommand)]
    pub(crate) cmd: RaidCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RaidCmd {
    /// The dm-raid superblock and write-intent bitmap of each image of a
    /// RAID LV (`VG/LV`), field by field, and the byte ranges they mark
    /// out of sync.
    Dump {
        /// The RAID LV, `VG/LV`.
        lv: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap checks a command's definition only when it builds it; with the
    /// subcommands' arguments deferred, this builds every one of them.
    #[test]
    fn every_subcommand_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_deferred_subcommand_parses_its_arguments() {
        let cli = Cli::try_parse_from(["lvmsim", "lvs", "-a", "--reportformat", "json", "vg/lv"])
            .expect("parses");
        let Cmd::Lvs(a) = cli.cmd else {
            panic!("not lvs: {:?}", cli.cmd)
        };
        assert!(a.all);
        assert_eq!(a.names, ["vg/lv"]);
        let e = Cli::try_parse_from(["lvmsim", "lvs", "--no-such-option"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
