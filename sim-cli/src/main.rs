//! `lvmsim`: lvm2's commands on disk-image files, with no kernel, no root
//! and no device-mapper. Every command here only reads the images.

mod backup;
mod dmsetup;
mod pvck;
mod report;
mod timefmt;
mod units;
mod write;
mod write_log;

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

/// Devices to scan: (name to report, path to read).
fn device_paths(cli_devs: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut given: Vec<PathBuf> = cli_devs.to_vec();
    if given.is_empty() {
        if let Ok(v) = std::env::var("LVMSIM_DEVICES") {
            given = v
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
        }
    }
    if given.is_empty() {
        bail!("no devices: name image files with --dev PATH (repeatable) or set LVMSIM_DEVICES");
    }
    let mut out = Vec::new();
    for p in given {
        // NAME=PATH, unless the whole argument names an existing file.
        let text = p.display().to_string();
        if !p.exists() {
            if let Some((name, path)) = text.split_once('=') {
                let md =
                    std::fs::metadata(path).with_context(|| format!("{path}: cannot access"))?;
                if md.is_dir() {
                    bail!("{path}: NAME=PATH needs a file, not a directory");
                }
                out.push((name.to_owned(), path.to_owned()));
                continue;
            }
        }
        let md = std::fs::metadata(&p).with_context(|| format!("{text}: cannot access"))?;
        if md.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("{}: cannot list", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| std::fs::metadata(f).map(|m| m.is_file()).unwrap_or(false))
                .collect();
            files.sort();
            out.extend(
                files
                    .into_iter()
                    .map(|f| (f.display().to_string(), f.display().to_string())),
            );
        } else {
            out.push((text.clone(), text));
        }
    }
    Ok(out)
}

fn scan(cli_devs: &[PathBuf], err: &mut dyn Write) -> Result<System> {
    let mut images = Vec::new();
    for (name, path) in device_paths(cli_devs)? {
        let mut img = Image::open(&path)?;
        img.path = name;
        images.push(img);
    }
    let sys = System::scan(images)?;
    for p in &sys.problems {
        writeln!(err, "  WARNING: {}", p.error)?;
    }
    Ok(sys)
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
    let reader = cow_engine::view::open(&vi.vg, li, &pvs)?;
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
            let w = writer(&format!("lvconvert --merge {}", a.lv));
            write::lvconvert_merge(&sys, &a.lv, &w, &mut out)?;
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
            write::vgchange(&sys, &a.vg, activate, poll, &w, &mut out)?;
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
        Cmd::Dmsetup(DmsetupArgs {
            cmd: DmCmd::Status { devno, names },
        }) => {
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
            dmsetup::status(&sys, &[], &devno, &mut buf)?;
            let text = String::from_utf8_lossy(&buf);
            for line in text.lines() {
                let name = line.split(':').next().unwrap_or("");
                if names.is_empty() || names.iter().any(|n| n == name) {
                    writeln!(out, "{line}")?;
                }
            }
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
    };
    out.flush()?;
    Ok(code)
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
            let code = match e
                .downcast_ref::<lvm_meta::Error>()
                .map(lvm_meta::Error::class)
            {
                Some(lvm_meta::ErrorClass::Usage) | None => 5,
                Some(_) => 5,
            };
            std::process::exit(code);
        }
    }
}
