//! `lvmsim`: lvm2's commands on disk-image files, with no kernel, no root
//! and no device-mapper. Every command here only reads the images.

use lvmsim::{backup, create, data, dmsetup, history, pvck, recover, report, units, write};
use lvmsim::{device_paths, scan, SCAN_ALL};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use lvm_meta::io::Image;
use lvm_meta::scan::System;
use std::io::Write;
use std::path::PathBuf;

/// lvm2's commands on disk-image files.
#[derive(Parser, Debug)]
#[command(name = "lvmsim", version, about, long_about = None)]
struct Cli {
    /// An image file, or a directory whose regular files are all scanned.
    /// `NAME=PATH` reads PATH but reports it as NAME (e.g.
    /// `/dev/sdb=disk.img`). Repeatable. Without --dev, $LVMSIM_DEVICES
    /// (colon-separated) is used.
    #[arg(long = "dev", global = true, value_name = "PATH")]
    dev: Vec<PathBuf>,
    /// Also find VGs whose label or metadata-area header is damaged, by
    /// scanning the whole images for metadata text; every guess is reported.
    #[arg(long = "scan-all", global = true)]
    scan_all: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Report physical volumes (as lvm2's pvs).
    Pvs(ReportArgs),
    /// Report volume groups (as lvm2's vgs).
    Vgs(ReportArgs),
    /// Report logical volumes (as lvm2's lvs).
    Lvs(ReportArgs),
    /// Write an LV's bytes to stdout, as `dd if=/dev/VG/LV` would (snapshots
    /// show their view; an origin under merge shows the merging data).
    Cat(CatArgs),
    /// Check and dump a PV's label, headers and metadata (as lvm2's pvck).
    Pvck(PvckArgs),
    /// Print (or write with -f) a VG's metadata backup (as lvm2's vgcfgbackup).
    Vgcfgbackup(BackupArgs),
    /// Rename an LV (as lvm2's lvrename): `lvrename VG OLD NEW` or
    /// `lvrename VG/OLD NEW`. Writes only the images holding the VG's
    /// metadata areas, in lvm2's order.
    Lvrename(LvrenameArgs),
    /// Start merging a snapshot into its origin (`lvconvert --merge VG/SNAP`);
    /// the merge runs at the origin's next activation.
    Lvconvert(LvconvertArgs),
    /// Activate (`-ay`: run pending merges to their end) or deactivate a VG.
    Vgchange(VgchangeArgs),
    /// Finish a merge and record it in the metadata
    /// (`lvpoll --polloperation merge VG/ORIGIN`).
    Lvpoll(LvpollArgs),
    /// Remove LVs and snapshots (as lvm2's lvremove on an inactive VG).
    Lvremove(LvremoveArgs),
    /// The device-mapper view of the VGs as lvm2 would activate them.
    Dmsetup(DmsetupArgs),
    /// Initialise images as PVs (as lvm2's pvcreate).
    Pvcreate(PvcreateArgs),
    /// Create a VG from PVs (non-PV images are made PVs first).
    Vgcreate(VgcreateArgs),
    /// Add PVs to a VG.
    Vgextend(VgextendArgs),
    /// Remove unused PVs from a VG.
    Vgreduce(VgreduceArgs),
    /// Remove a VG (its PVs stay PVs).
    Vgremove(VgremoveArgs),
    /// Create a linear or striped LV with lvm2's normal allocation.
    Lvcreate(LvcreateArgs),
    /// Grow an LV.
    Lvextend(LvresizeArgs),
    /// Shrink an LV (the end is cut off).
    Lvreduce(LvresizeArgs),
    /// Rename a VG.
    Vgrename(VgrenameArgs),
    /// Write a VG from a backup file (as lvm2's vgcfgrestore -f FILE VG).
    Vgcfgrestore(VgcfgrestoreArgs),
    /// Change LVs: tags (`--addtag`, `--deltag`), activation (`-ay` of an
    /// origin runs its pending merge).
    Lvchange(LvchangeArgs),
    /// Every metadata copy on the images, oldest first, and what changed.
    History(history::HistoryArgs),
    /// Every snapshot any metadata copy knew, and what can be rebuilt.
    Recover(recover::RecoverArgs),
    /// Write stdin (or --input) into an LV at --offset, as `dd
    /// of=/dev/VG/LV conv=notrunc` after activation would (copy-on-write
    /// into snapshots, snapshot overflow, merging origins as the kernel).
    Write(WriteArgs),
}

impl Cmd {
    /// The commands run by `create_cmd` (they may name images not given
    /// with --dev).
    fn creates(&self) -> bool {
        matches!(
            self,
            Cmd::Pvcreate(_)
                | Cmd::Vgcreate(_)
                | Cmd::Vgextend(_)
                | Cmd::Vgreduce(_)
                | Cmd::Vgremove(_)
                | Cmd::Lvcreate(_)
                | Cmd::Lvextend(_)
                | Cmd::Lvreduce(_)
                | Cmd::Vgrename(_)
                | Cmd::Vgcfgrestore(_)
                | Cmd::Lvchange(_)
        )
    }

    /// Every command that may write to an image.
    fn writes(&self) -> bool {
        self.creates()
            || matches!(
                self,
                Cmd::Lvrename(_)
                    | Cmd::Lvconvert(_)
                    | Cmd::Vgchange(_)
                    | Cmd::Lvpoll(_)
                    | Cmd::Lvremove(_)
                    | Cmd::Write(_)
            )
    }
}

#[derive(Args, Debug)]
struct LvchangeArgs {
    /// `y` to activate (runs a pending merge), `n` to deactivate.
    #[arg(short = 'a', long = "activate", value_name = "y|n")]
    activate: Option<String>,
    /// Add a tag.
    #[arg(long = "addtag")]
    addtag: Vec<String>,
    /// Remove a tag.
    #[arg(long = "deltag")]
    deltag: Vec<String>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// VG/LV...
    #[arg(required = true)]
    lvs: Vec<String>,
}

#[derive(Args, Debug)]
struct VgrenameArgs {
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// The VG's name.
    old: String,
    /// Its new name.
    new: String,
}

#[derive(Args, Debug)]
struct VgcfgrestoreArgs {
    /// The backup file.
    #[arg(short = 'f', long = "file", required = true)]
    file: String,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// The VG to restore.
    vg: String,
}

#[derive(Args, Debug)]
struct PvcreateOpts {
    /// Metadata areas on the PV: 0, 1 or 2.
    #[arg(long = "metadatacopies", alias = "pvmetadatacopies")]
    metadatacopies: Option<u32>,
    /// Size of each metadata area (default unit MiB).
    #[arg(long = "metadatasize")]
    metadatasize: Option<String>,
    /// Alignment of the data area (default unit KiB).
    #[arg(long = "dataalignment")]
    dataalignment: Option<String>,
}

#[derive(Args, Debug)]
struct PvcreateArgs {
    #[command(flatten)]
    opts: PvcreateOpts,
    /// The PV UUID to write (with --norestorefile).
    #[arg(short = 'u', long = "uuid")]
    uuid: Option<String>,
    /// Accepted with --uuid, as lvm2 requires.
    #[arg(long = "norestorefile")]
    norestorefile: bool,
    /// Accepted for lvm2 compatibility (lvmsim never prompts).
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    force: u8,
    /// The images.
    #[arg(required = true)]
    pvs: Vec<String>,
}

#[derive(Args, Debug)]
struct VgcreateArgs {
    #[command(flatten)]
    opts: PvcreateOpts,
    /// Extent size (default unit MiB; default 4 MiB).
    #[arg(short = 's', long = "physicalextentsize")]
    extent: Option<String>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// The new VG's name.
    vg: String,
    /// The PVs (or images to make PVs).
    #[arg(required = true)]
    pvs: Vec<String>,
}

#[derive(Args, Debug)]
struct VgextendArgs {
    #[command(flatten)]
    opts: PvcreateOpts,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// The VG.
    vg: String,
    /// The PVs to add.
    #[arg(required = true)]
    pvs: Vec<String>,
}

#[derive(Args, Debug)]
struct VgreduceArgs {
    /// The VG.
    vg: String,
    /// The PVs to remove.
    #[arg(required = true)]
    pvs: Vec<String>,
}

#[derive(Args, Debug)]
struct VgremoveArgs {
    /// Remove the VG's LVs too.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    force: u8,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// The VG.
    vg: String,
}

#[derive(Args, Debug)]
struct LvcreateArgs {
    /// The LV name (default lvolN).
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// Size (default unit MiB).
    #[arg(short = 'L', long = "size")]
    size: Option<String>,
    /// Extents, or N%FREE, N%VG, N%PVS.
    #[arg(short = 'l', long = "extents")]
    extents: Option<String>,
    /// Stripes.
    #[arg(short = 'i', long = "stripes")]
    stripes: Option<u32>,
    /// Stripe size (default unit KiB; default 64 KiB).
    #[arg(short = 'I', long = "stripesize")]
    stripesize: Option<String>,
    /// `n`: do not zero the LV's first 4 KiB.
    #[arg(short = 'Z', long = "zero", default_value = "y")]
    zero: String,
    /// `n`: leave the LV inactive (nothing is zeroed).
    #[arg(short = 'a', long = "activate", default_value = "y")]
    activate: String,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// Accepted for lvm2 compatibility (signatures are not wiped).
    #[arg(short = 'W', long = "wipesignatures")]
    wipesignatures: Option<String>,
    /// Create a snapshot of VG/ORIGIN (given instead of VG).
    #[arg(short = 's', long = "snapshot")]
    snapshot: bool,
    /// Snapshot chunk size (default unit KiB; 4k to 512k, default 4k).
    #[arg(short = 'c', long = "chunksize")]
    chunksize: Option<String>,
    /// VG (or VG/ORIGIN with -s), then the PVs (DEV or DEV:PE-PE) to
    /// allocate from.
    #[arg(required = true)]
    args: Vec<String>,
}

#[derive(Args, Debug)]
struct LvresizeArgs {
    /// New size or +/- change (default unit MiB).
    #[arg(short = 'L', long = "size", allow_hyphen_values = true)]
    size: Option<String>,
    /// New extents or +/- change, also N%FREE, N%VG, N%PVS.
    #[arg(short = 'l', long = "extents", allow_hyphen_values = true)]
    extents: Option<String>,
    /// Stripes for the new extents (default: the LV's).
    #[arg(short = 'i', long = "stripes")]
    stripes: Option<u32>,
    /// Stripe size for the new extents (default unit KiB).
    #[arg(short = 'I', long = "stripesize")]
    stripesize: Option<String>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    force: u8,
    /// VG/LV, then the PVs to allocate from.
    #[arg(required = true)]
    args: Vec<String>,
}

#[derive(Args, Debug)]
struct WriteArgs {
    /// VG/LV to write.
    lv: String,
    /// First byte of the LV to write.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Read the data from this file instead of stdin.
    #[arg(long)]
    input: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DmsetupArgs {
    #[command(subcommand)]
    cmd: DmCmd,
}

#[derive(Subcommand, Debug)]
enum DmCmd {
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
        /// Only these device-mapper devices.
        names: Vec<String>,
    },
}

#[derive(Args, Debug)]
struct LvremoveArgs {
    /// Accepted for lvm2 compatibility (inactive LVs need no prompt).
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Count)]
    force: u8,
    /// VG/LV to remove.
    #[arg(required = true)]
    lvs: Vec<String>,
}

#[derive(Args, Debug)]
struct LvconvertArgs {
    /// Merge the snapshot into its origin.
    #[arg(long, required = true)]
    merge: bool,
    /// Stop after N merge runs, as a power loss would (0: only mark the
    /// snapshot for merging, the merge starts at the next activation).
    #[arg(long = "interrupt-after", value_name = "N")]
    interrupt_after: Option<usize>,
    /// Accepted for lvm2 compatibility (the polling interval).
    #[arg(short = 'i', long = "interval")]
    interval: Option<u64>,
    /// Accepted for lvm2 compatibility.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// VG/SNAPSHOT.
    lv: String,
}

#[derive(Args, Debug)]
struct VgchangeArgs {
    /// `y` to activate, `n` to deactivate.
    #[arg(short = 'a', long = "activate", value_name = "y|n")]
    activate: String,
    /// `n`: leave a finished merge unrecorded (lvm2's --poll n).
    #[arg(long, default_value = "y")]
    poll: String,
    /// With -ay: stop each pending merge after N merge runs, as a power
    /// loss would (lvmsim's own option).
    #[arg(long = "interrupt-after", value_name = "N")]
    interrupt_after: Option<usize>,
    /// The VG.
    vg: String,
}

#[derive(Args, Debug)]
struct LvpollArgs {
    /// Only `merge` is simulated.
    #[arg(long = "polloperation")]
    polloperation: String,
    /// Accepted for lvm2 compatibility (lvmsim does not wait).
    #[arg(short = 'i', long = "interval")]
    interval: Option<u64>,
    /// VG/ORIGIN.
    lv: String,
}

#[derive(Args, Debug)]
struct LvrenameArgs {
    /// Accepted for lvm2 compatibility (lvmsim never prompts).
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// VG OLD NEW, or VG/OLD NEW.
    #[arg(num_args = 2..=3, required = true)]
    names: Vec<String>,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Also report hidden LVs (lvs) or all devices.
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// One row per LV segment.
    #[arg(long)]
    segments: bool,
    /// Fields to report; `+F` adds to the defaults, `-F` removes. Repeatable.
    #[arg(short = 'o', long = "options", allow_hyphen_values = true)]
    options: Vec<String>,
    /// Sort keys (`-F` for descending).
    #[arg(short = 'O', long = "sort", allow_hyphen_values = true)]
    sort: Option<String>,
    /// `basic` (columns) or `json`.
    #[arg(long = "reportformat", default_value = "basic")]
    reportformat: String,
    /// Size units: r h H R b s k m g t p e K M G T P E.
    #[arg(long)]
    units: Option<String>,
    /// Leave the unit letter off sizes.
    #[arg(long)]
    nosuffix: bool,
    /// Leave the heading line off.
    #[arg(long)]
    noheadings: bool,
    /// Separate columns with this string instead of aligning them.
    #[arg(long)]
    separator: Option<String>,
    /// Align columns even with --separator.
    #[arg(long)]
    aligned: bool,
    /// `n`: report as lvm2 does without device-mapper ('X' for unknown
    /// kernel state); the default reports the images as inactive.
    #[arg(long = "driverloaded")]
    driverloaded: Option<String>,
    /// Report LVs as after `vgchange -ay`: lv_attr state 'a' ('I' for an
    /// invalid snapshot) and Data%/Snap% of snapshots from their stores.
    #[arg(long)]
    active: bool,
    /// VG, VG/LV or PV names to report.
    names: Vec<String>,
}

#[derive(Args, Debug)]
struct CatArgs {
    /// VG/LV to read.
    lv: String,
    /// First byte to write.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// How many bytes (default: to the LV's end).
    #[arg(long)]
    length: Option<u64>,
    /// Read an invalid (or merging) snapshot from the records its store
    /// still holds, for forensics; the kernel fails such reads with EIO.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct PvckArgs {
    /// headers, metadata, metadata_all or metadata_search.
    #[arg(long)]
    dump: Option<String>,
    /// Sector that holds the label.
    #[arg(long, default_value_t = 1)]
    labelsector: u64,
    /// Which metadata area (1 or 2).
    #[arg(long = "pvmetadatacopies")]
    pvmetadatacopies: Option<u32>,
    /// `mda_num=N mda_offset=B mda_size=B`.
    #[arg(long)]
    settings: Option<String>,
    /// Write metadata text to this new file.
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Print description and creation time of each copy found.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// The PV image.
    pv: PathBuf,
}

#[derive(Args, Debug)]
struct BackupArgs {
    /// Write to this file (`%s` is replaced by the VG name); default stdout.
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// The VG (all VGs if omitted).
    vg: Vec<String>,
}

fn report_options(a: &ReportArgs) -> Result<report::Options> {
    let json = match a.reportformat.as_str() {
        "basic" => false,
        "json" => true,
        other => bail!("Unknown report format \"{other}\" (basic or json)"),
    };
    let units = match &a.units {
        Some(u) => units::Units::parse(u).map_err(|e| anyhow!(e))?,
        None => units::Units::default(),
    };
    let driver_unknown = match a.driverloaded.as_deref() {
        None | Some("y") | Some("yes") => false,
        Some("n") | Some("no") => true,
        Some(o) => bail!("Invalid argument for --driverloaded: {o}"),
    };
    Ok(report::Options {
        all: a.all,
        segments: a.segments,
        fields: a.options.clone(),
        sort: a.sort.clone(),
        json,
        units,
        nosuffix: a.nosuffix,
        noheadings: a.noheadings,
        separator: a.separator.clone(),
        aligned: a.aligned,
        driver_unknown,
        active: a.active,
        names: a.names.clone(),
    })
}

fn cat(sys: &System, a: &CatArgs, out: &mut dyn Write) -> Result<()> {
    let (vgn, lvn) =
        a.lv.split_once('/')
            .ok_or_else(|| anyhow!("\"{}\": name the LV as VG/LV", a.lv))?;
    let vi = sys
        .vg(vgn)
        .ok_or_else(|| anyhow!("Volume group \"{vgn}\" not found"))?;
    let li = vi
        .vg
        .lv_index(lvn)
        .ok_or_else(|| anyhow!("Failed to find logical volume \"{vgn}/{lvn}\""))?;
    let pvs: Vec<Option<&Image>> = vi
        .pv_devices
        .iter()
        .map(|d| d.map(|d| &sys.devices[d].image))
        .collect();
    let reader = cow_engine::view::open_with(&vi.vg, li, &pvs, a.force)?;
    let size = reader.size();
    if a.offset > size {
        bail!(
            "--offset {} is past the end of {vgn}/{lvn} ({size} bytes)",
            a.offset
        );
    }
    let end = match a.length {
        Some(l) => a
            .offset
            .checked_add(l)
            .filter(|e| *e <= size)
            .ok_or_else(|| {
                anyhow!(
                    "--offset {} --length {l} runs past the end of {vgn}/{lvn} ({size} bytes)",
                    a.offset
                )
            })?,
        None => size,
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut at = a.offset;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        reader.read_at(at, &mut buf[..n])?;
        out.write_all(&buf[..n])?;
        at += n as u64;
    }
    out.flush()?;
    Ok(())
}

fn pvck_options(a: &PvckArgs) -> Result<pvck::Options> {
    let dump = match a.dump.as_deref() {
        None => None,
        Some("headers") => Some(pvck::Dump::Headers),
        Some("metadata") => Some(pvck::Dump::Metadata),
        Some("metadata_all") => Some(pvck::Dump::MetadataAll),
        Some("metadata_search") => Some(pvck::Dump::MetadataSearch),
        Some(o) => {
            bail!("Unknown dump value \"{o}\" (headers, metadata, metadata_all, metadata_search)")
        }
    };
    let mut o = pvck::Options {
        dump,
        labelsector: a.labelsector,
        mda_num: a.pvmetadatacopies,
        file: a.file.clone(),
        verbose: a.verbose,
        ..Default::default()
    };
    if let Some(s) = &a.settings {
        for kv in s.split_whitespace() {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("Invalid setting \"{kv}\" (key=value)"))?;
            let n: u64 = v
                .parse()
                .map_err(|_| anyhow!("Invalid value in setting \"{kv}\""))?;
            match k {
                "mda_num" => {
                    o.mda_num = Some(u32::try_from(n).map_err(|_| anyhow!("Invalid mda_num {n}"))?)
                }
                "mda_offset" => o.mda_offset = Some(n),
                "mda_size" => o.mda_size = Some(n),
                _ => bail!("Unknown setting \"{k}\""),
            }
        }
    }
    Ok(o)
}

/// The writer of a command: this machine and now, unless overridden.
fn writer(cmd_line: &str) -> write::Writer {
    let deterministic = std::env::var("LVMSIM_DETERMINISTIC").is_ok_and(|v| v == "1");
    write::Writer::new(cmd_line, now(), deterministic)
}

fn now() -> i64 {
    if std::env::var("LVMSIM_DETERMINISTIC").is_ok_and(|v| v == "1") {
        return 1_700_000_000;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn vgcfgbackup(sys: &System, a: &BackupArgs, out: &mut dyn Write) -> Result<()> {
    let names: Vec<String> = if a.vg.is_empty() {
        sys.vgs.iter().map(|v| v.vg.name.clone()).collect()
    } else {
        a.vg.clone()
    };
    if names.is_empty() {
        bail!("No volume groups found");
    }
    let mut host = backup::Host::current();
    if std::env::var("LVMSIM_DETERMINISTIC").is_ok_and(|v| v == "1") {
        host = backup::Host {
            nodename: "lvmsim".into(),
            sysname: "Linux".into(),
            release: "0".into(),
            version: "#1".into(),
            machine: "x86_64".into(),
        };
    }
    if a.file.is_some() && names.len() > 1 && !a.file.as_deref().unwrap_or("").contains("%s") {
        bail!("VG name placeholder %s is needed in the file name to back up several VGs");
    }
    for name in &names {
        let v = sys
            .vg(name)
            .ok_or_else(|| anyhow!("Volume group \"{name}\" not found"))?;
        let desc = match &a.file {
            Some(f) => format!("vgcfgbackup -f {f} {name}"),
            None => format!("vgcfgbackup {name}"),
        };
        let text = backup::render(&v.text, &desc, &host, now())?;
        match &a.file {
            Some(f) => {
                let path = f.replace("%s", name);
                std::fs::write(&path, text).with_context(|| format!("{path}: cannot write"))?;
                writeln!(out, "  Volume group \"{name}\" successfully backed up.")?;
            }
            None => out.write_all(text.as_bytes())?,
        }
    }
    Ok(())
}

fn run(cli: Cli) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    SCAN_ALL.store(cli.scan_all, std::sync::atomic::Ordering::Relaxed);
    if cli.scan_all && cli.cmd.writes() {
        bail!("--scan-all is for reading damaged images; commands that write refuse it");
    }
    let code = match &cli.cmd {
        Cmd::Pvs(a) | Cmd::Vgs(a) | Cmd::Lvs(a) => {
            let kind = match &cli.cmd {
                Cmd::Pvs(_) => report::Kind::Pv,
                Cmd::Vgs(_) => report::Kind::Vg,
                _ => report::Kind::Lv,
            };
            let opts = report_options(a)?;
            let sys = scan(&cli.dev, &mut err)?;
            report::run(&sys, kind, &opts, &mut out)?;
            std::mem::forget(sys);
            0
        }
        Cmd::Cat(a) => {
            let sys = scan(&cli.dev, &mut err)?;
            // Data goes straight to the file descriptor: Rust's stdout is
            // line-buffered and would scan every megabyte for newlines.
            use std::os::fd::AsFd;
            let mut raw = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
            cat(&sys, a, &mut raw)?;
            // Freeing a large parsed VG costs time and changes nothing.
            std::mem::forget(sys);
            0
        }
        Cmd::Pvck(a) => {
            let opts = pvck_options(a)?;
            let path = a.pv.display().to_string();
            let img = Image::open(&path)?;
            if pvck::run(&img, &opts, &mut out, &mut err)? {
                0
            } else {
                5
            }
        }
        Cmd::Vgcfgbackup(a) => {
            let sys = scan(&cli.dev, &mut err)?;
            vgcfgbackup(&sys, a, &mut out)?;
            0
        }
        Cmd::Lvrename(a) => {
            let sys = scan(&cli.dev, &mut err)?;
            let w = writer(&format!("lvrename {}", a.names.join(" ")));
            write::lvrename(&sys, &a.names, &w, &mut out)?;
            0
        }
        Cmd::Lvconvert(a) => {
            let sys = scan(&cli.dev, &mut err)?;
            let interval = a.interval.map(|i| format!(" -i {i}")).unwrap_or_default();
            let w = writer(&format!("lvconvert --merge{interval} {}", a.lv));
            write::lvconvert_merge(&sys, &a.lv, a.interrupt_after, None, &w, &mut out)?;
            0
        }
        Cmd::Vgchange(a) => {
            let sys = scan(&cli.dev, &mut err)?;
            let activate = match a.activate.as_str() {
                "y" | "ay" => true,
                "n" | "an" => false,
                o => bail!("Invalid argument for --activate: {o}"),
            };
            let poll = !matches!(a.poll.as_str(), "n" | "no");
            let w = writer(&format!(
                "vgchange -a{} {}",
                if activate { "y" } else { "n" },
                a.vg
            ));
            write::vgchange(&sys, &a.vg, activate, poll, a.interrupt_after, &w, &mut out)?;
            0
        }
        Cmd::Lvremove(a) => {
            let sys = scan(&cli.dev, &mut err)?;
            let mut line = String::from("lvremove");
            if a.yes {
                line.push_str(" -y");
            }
            for _ in 0..a.force {
                line.push_str(" -f");
            }
            let w = writer(&format!("{line} {}", a.lvs.join(" ")));
            write::lvremove(&sys, &a.lvs, &w, &mut out)?;
            0
        }
        Cmd::Dmsetup(DmsetupArgs { cmd }) => {
            let (DmCmd::Status { devno, names } | DmCmd::Table { devno, names }) = cmd;
            let sys = scan(&cli.dev, &mut err)?;
            let mut map = std::collections::HashMap::new();
            for d in devno {
                let (n, v) = d
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--devno {d}: expected NAME=MAJ:MIN"))?;
                map.insert(n.to_owned(), v.to_owned());
            }
            let devno = |i: usize| {
                map.get(&sys.devices[i].image.path)
                    .cloned()
                    .unwrap_or_else(|| format!("7:{i}"))
            };
            let mut buf = Vec::new();
            match cmd {
                DmCmd::Status { .. } => dmsetup::status(&sys, &[], &devno, &mut buf)?,
                DmCmd::Table { .. } => dmsetup::table(&sys, &devno, &mut buf)?,
            }
            let text = String::from_utf8_lossy(&buf);
            let mut any = false;
            for line in text.lines() {
                let name = line.split(':').next().unwrap_or("");
                if names.is_empty() || names.iter().any(|n| n == name) {
                    writeln!(out, "{line}")?;
                    any = true;
                }
            }
            if !any && names.is_empty() {
                // dmsetup's line when there is nothing to list.
                writeln!(out, "No devices found")?;
            }
            0
        }
        Cmd::Write(a) => {
            let sys = scan(&cli.dev, &mut err)?;
            match &a.input {
                Some(p) => {
                    let mut f = std::fs::File::open(p)
                        .with_context(|| format!("{}: cannot open", p.display()))?;
                    data::write(&sys, &a.lv, a.offset, &mut f)?
                }
                None => data::write(&sys, &a.lv, a.offset, &mut std::io::stdin().lock())?,
            };
            0
        }
        Cmd::Lvpoll(a) => {
            if a.polloperation != "merge" {
                bail!(
                    "lvpoll --polloperation {}: only merge is simulated",
                    a.polloperation
                );
            }
            let sys = scan(&cli.dev, &mut err)?;
            let interval = a.interval.map(|i| format!(" -i {i}")).unwrap_or_default();
            let w = writer(&format!("lvpoll --polloperation merge{interval} {}", a.lv));
            write::lvpoll_merge(&sys, &a.lv, &w, &mut out)?;
            0
        }
        Cmd::History(a) => {
            history::run(&cli.dev, a, &mut out, &mut err)?;
            0
        }
        Cmd::Recover(a) => {
            recover::run(&cli.dev, a, &mut out, &mut err)?;
            0
        }
        // The commands that create, resize and restore (Cmd::creates).
        _ => {
            create_cmd(&cli, &mut out, &mut err)?;
            0
        }
    };
    out.flush()?;
    Ok(code)
}

/// The command line after the program name and `--dev` options, as lvm2
/// records it in the metadata's description.
fn raw_cmd_line() -> String {
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--dev" {
            args.next();
            continue;
        }
        if a.starts_with("--dev=") {
            continue;
        }
        out.push(a);
    }
    out.join(" ")
}

/// Size options in sectors.
fn size_sectors(v: &Option<String>, unit: char) -> Result<Option<u64>> {
    v.as_deref()
        .map(|s| match create::parse_size(s, unit, false)? {
            (create::Sign::None, create::SizeArg::Sectors(n)) => Ok(n),
            _ => bail!("Invalid size {s}"),
        })
        .transpose()
}

fn pv_opts(o: &PvcreateOpts) -> Result<create::PvcreateOpts> {
    Ok(create::PvcreateOpts {
        metadatacopies: o.metadatacopies,
        metadatasize: size_sectors(&o.metadatasize, 'm')?,
        data_alignment: size_sectors(&o.dataalignment, 'k')?,
        uuid: None,
    })
}

/// The commands that create and resize. Images named as PVs that are not
/// among the --dev images are scanned too.
fn create_cmd(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let named: Vec<&String> = match &cli.cmd {
        Cmd::Pvcreate(a) => a.pvs.iter().collect(),
        Cmd::Vgcreate(a) => a.pvs.iter().collect(),
        Cmd::Vgextend(a) => a.pvs.iter().collect(),
        _ => Vec::new(),
    };
    let mut devs = cli.dev.clone();
    if devs.is_empty() {
        if let Ok(env) = std::env::var("LVMSIM_DEVICES") {
            devs.extend(env.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
        }
    }
    let known: Vec<String> = device_paths(&devs)?.into_iter().map(|(n, _)| n).collect();
    for n in named {
        if !known.contains(n) && std::path::Path::new(n).is_file() {
            devs.push(PathBuf::from(n));
        }
    }
    let sys = scan(&devs, err)?;
    let line = raw_cmd_line();
    let w = writer(&line);
    let deterministic = std::env::var("LVMSIM_DETERMINISTIC").is_ok_and(|v| v == "1");
    // Reproducible identifiers depend on the command and on the state it
    // starts from, so repeating a command line gives new ones.
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
    let mut ids = create::Ids::new(deterministic, &format!("{line}|{}", state.join(",")));
    match &cli.cmd {
        Cmd::Pvcreate(a) => {
            let mut o = pv_opts(&a.opts)?;
            if let Some(u) = &a.uuid {
                if !a.norestorefile {
                    bail!("--uuid requires --restorefile or --norestorefile");
                }
                o.uuid = Some(
                    lvm_meta::uuid::parse_uuid(u)
                        .ok_or_else(|| anyhow!("Invalid UUID format: {u}"))?,
                );
            }
            create::pvcreate(&sys, &a.pvs, &o, &mut ids, out)
        }
        Cmd::Vgcreate(a) => {
            let extent = size_sectors(&a.extent, 'm')?;
            create::vgcreate(
                &sys,
                &a.vg,
                &a.pvs,
                extent,
                &pv_opts(&a.opts)?,
                &w,
                &mut ids,
                out,
            )
        }
        Cmd::Vgextend(a) => {
            create::vgextend(&sys, &a.vg, &a.pvs, &pv_opts(&a.opts)?, &w, &mut ids, out)
        }
        Cmd::Vgreduce(a) => create::vgreduce(&sys, &a.vg, &a.pvs, &w, out),
        Cmd::Vgrename(a) => create::vgrename(&sys, &a.old, &a.new, &w, out),
        Cmd::Vgcfgrestore(a) => create::vgcfgrestore(&sys, &a.file, &a.vg, &w, out),
        Cmd::Lvchange(a) => {
            let activate = match a.activate.as_deref() {
                None => None,
                Some("y" | "ay") => Some(true),
                Some("n" | "an") => Some(false),
                Some(o) => bail!("Invalid argument for --activate: {o}"),
            };
            let o = create::LvchangeOpts {
                activate,
                addtag: a.addtag.clone(),
                deltag: a.deltag.clone(),
            };
            if o.activate.is_none() && o.addtag.is_empty() && o.deltag.is_empty() {
                bail!("No change to the LVs was requested (-a, --addtag, --deltag).");
            }
            create::lvchange(&sys, &a.lvs, &o, &w, out)
        }
        Cmd::Vgremove(a) => create::vgremove(&sys, &a.vg, a.force > 0, &w, out),
        Cmd::Lvcreate(a) => {
            let o = create::LvcreateOpts {
                name: a.name.clone(),
                size: a.size.clone(),
                extents: a.extents.clone(),
                stripes: a.stripes,
                stripe_size: size_sectors(&a.stripesize, 'k')?,
                no_zero: matches!(a.zero.as_str(), "n" | "no"),
                inactive: matches!(a.activate.as_str(), "n" | "no"),
                origin: None,
                chunk: size_sectors(&a.chunksize, 'k')?,
            };
            if o.size.is_some() == o.extents.is_some() {
                bail!("Please specify either size or extents (not both).");
            }
            let (vg, pvs) = a
                .args
                .split_first()
                .ok_or_else(|| anyhow!("Please provide a volume group name"))?;
            let mut o = o;
            let vg = if a.snapshot {
                let (v, origin) = vg
                    .split_once('/')
                    .ok_or_else(|| anyhow!("Please specify the snapshot's origin as VG/ORIGIN"))?;
                o.origin = Some(origin.to_owned());
                v
            } else {
                vg.trim_end_matches('/')
            };
            create::lvcreate(&sys, vg, pvs, &o, &w, &mut ids, out, err)
        }
        Cmd::Lvextend(a) | Cmd::Lvreduce(a) => {
            let grow = matches!(cli.cmd, Cmd::Lvextend(_));
            if a.size.is_some() == a.extents.is_some() {
                bail!("Please specify either size or extents (not both).");
            }
            let (lv, pvs) = a
                .args
                .split_first()
                .ok_or_else(|| anyhow!("Please provide a logical volume path"))?;
            let o = create::LvresizeOpts {
                size: a.size.clone(),
                extents: a.extents.clone(),
                stripes: a.stripes,
                stripe_size: size_sectors(&a.stripesize, 'k')?,
            };
            create::lvresize(&sys, lv, pvs, &o, grow, &w, out)
        }
        _ => bail!("not a command that creates or resizes"),
    }
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // A closed pipe (`lvmsim cat ... | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                std::process::exit(0);
            }
            eprintln!("  {e:#}");
            let class = e
                .downcast_ref::<lvm_meta::Error>()
                .map(lvm_meta::Error::class)
                .or_else(|| {
                    e.downcast_ref::<cow_engine::Error>()
                        .map(cow_engine::Error::class)
                });
            let code = match class {
                Some(lvm_meta::ErrorClass::Usage) | None => 5,
                Some(_) => 5,
            };
            std::process::exit(code);
        }
    }
}
