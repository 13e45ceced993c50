//! `lvmsim`: lvm2's commands on disk-image files, with no kernel, no root
//! and no device-mapper. This binary parses the command line ([`args`]),
//! builds the library's [`Context`] from the environment, calls one
//! function of the `lvmsim` library per command and renders its output and
//! errors as lvm2 does.
//!
//! Environment: `LVMSIM_DEVICES` (colon-separated images, used without
//! `--dev`), `LVMSIM_DETERMINISTIC=1` (fixed host, time and identifiers),
//! `LVMSIM_HOSTNAME`, `LVMSIM_UNAME`, `LVMSIM_TIME` (what metadata headers
//! record), `LVMSIM_CRASH_AFTER=N` and `LVMSIM_CRASH_TORN=1` (a simulated
//! power loss before write N+1), `LVMSIM_FAIL_AFTER=N` with
//! `LVMSIM_FAIL_ERRNO=ENOSPC` or `EIO` (the default) (write N+1 fails with
//! that error and is not made, as on a full or failing disk),
//! `LVMSIM_WRITE_LOG=FILE` (a record of every write, for the crash tests),
//! `TZ` (as for lvm2: the zone times are shown in, selection dates read in
//! and backup files written in; UTC under `LVMSIM_DETERMINISTIC=1`).

mod args;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use args::{Access, Cli, Cmd, DmCmd, DmsetupArgs, DumpKind, ReportFormat, Yn};
use clap::Parser;
use lvmsim::context::{Context, FailKind};
use lvmsim::error::{Error, Result};
use lvmsim::size::{self, Amount, Sign};
use lvmsim::{backup, data, display, dmsetup, history, pvck, recover, report, units};
use lvmsim::{ids, lv, pv, snapshot, vg};
use std::io::Write;
use std::path::PathBuf;

/// The local zone, as lvm2 takes it from `TZ` (unset: the system's).
fn local_zone() -> lvmsim::localtime::Zone {
    lvmsim::localtime::Zone::from_tz(std::env::var("TZ").ok().as_deref())
}

/// The surroundings the environment asks for.
fn context(scan_all: bool) -> Context {
    let var = |k: &str| std::env::var(k).ok();
    let mut ctx = if var("LVMSIM_DETERMINISTIC").as_deref() == Some("1") {
        Context::deterministic()
    } else {
        Context::new()
    };
    ctx.scan_all = scan_all;
    ctx.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Deterministic runs write the same bytes on any machine: UTC.
    if !ctx.deterministic {
        ctx.zone = local_zone();
    }
    ctx.hostname = var("LVMSIM_HOSTNAME");
    ctx.uname = var("LVMSIM_UNAME");
    ctx.header_time = var("LVMSIM_TIME").and_then(|t| t.parse().ok());
    ctx.hooks.crash_after = var("LVMSIM_CRASH_AFTER").and_then(|v| v.parse().ok());
    ctx.hooks.torn = var("LVMSIM_CRASH_TORN").as_deref() == Some("1");
    ctx.hooks.log = std::env::var_os("LVMSIM_WRITE_LOG").map(PathBuf::from);
    ctx.hooks.fail_after = var("LVMSIM_FAIL_AFTER")
        .and_then(|v| v.parse().ok())
        .map(|k| {
            let kind = var("LVMSIM_FAIL_ERRNO")
                .and_then(|e| FailKind::parse(&e))
                .unwrap_or(FailKind::Io);
            (k, kind)
        });
    ctx
}

/// The images named with --dev, or else in $LVMSIM_DEVICES.
fn devices(cli: &[PathBuf]) -> Vec<PathBuf> {
    if !cli.is_empty() {
        return cli.to_vec();
    }
    std::env::var("LVMSIM_DEVICES")
        .map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
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
        // lvm2 has no --explain: the recorded line is the one it would see.
        if a == "--explain" || a.starts_with("--explain=") {
            continue;
        }
        out.push(a);
    }
    out.join(" ")
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// A size option in sectors (`unit`: the default unit letter).
fn size_sectors(v: &Option<String>, unit: char) -> Result<Option<u64>> {
    v.as_deref()
        .map(|s| match size::parse_size(s, unit, false)? {
            (Sign::None, size::SizeArg::Sectors(n)) => Ok(n),
            _ => Err(usage(format!("Invalid size {s}"))),
        })
        .transpose()
}

/// `-L` or `-l`, exactly one of them; lvm2 refuses a zero one (with or
/// without a sign or percent) when it reads `cmd`'s options.
fn amount(
    size: &Option<String>,
    extents: &Option<String>,
    of: size::SizeOf,
) -> Result<(Sign, Amount)> {
    Amount::from_options(size.as_deref(), extents.as_deref(), of)
}

fn report_options(a: &args::ReportArgs) -> Result<report::Options> {
    let units = match &a.units {
        Some(u) => units::Units::parse(u).map_err(usage)?,
        None => units::Units::default(),
    };
    Ok(report::Options {
        all: a.all,
        segments: a.segments,
        fields: a.options.clone(),
        sort: a.sort.clone(),
        json: a.reportformat == ReportFormat::Json,
        units,
        nosuffix: a.nosuffix,
        noheadings: a.noheadings,
        separator: a.separator.clone(),
        aligned: a.aligned,
        driver_unknown: a.driverloaded == Some(Yn::N),
        active: a.active,
        names: a.names.clone(),
        select: a.select.clone(),
        open: Vec::new(),
        loaded: None,
        suspended: Vec::new(),
        zone: local_zone(),
        history: a.history,
    })
}

fn pvck_options(a: &args::PvckArgs, verbose: bool) -> Result<pvck::Options> {
    let dump = a.dump.map(|d| match d {
        DumpKind::Headers => pvck::Dump::Headers,
        DumpKind::Metadata => pvck::Dump::Metadata,
        DumpKind::MetadataAll => pvck::Dump::MetadataAll,
        DumpKind::MetadataSearch => pvck::Dump::MetadataSearch,
    });
    let mut o = pvck::Options {
        dump,
        labelsector: a.labelsector,
        mda_num: a.pvmetadatacopies,
        file: a.file.clone(),
        verbose,
        ..Default::default()
    };
    if let Some(s) = &a.settings {
        for kv in s.split_whitespace() {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| usage(format!("Invalid setting \"{kv}\" (key=value)")))?;
            let n: u64 = v
                .parse()
                .map_err(|_| usage(format!("Invalid value in setting \"{kv}\"")))?;
            match k {
                "mda_num" => {
                    o.mda_num =
                        Some(u32::try_from(n).map_err(|_| usage(format!("Invalid mda_num {n}")))?)
                }
                "mda_offset" => o.mda_offset = Some(n),
                "mda_size" => o.mda_size = Some(n),
                _ => return Err(usage(format!("Unknown setting \"{k}\""))),
            }
        }
    }
    Ok(o)
}

fn pv_opts(o: &args::PvcreateOpts) -> Result<pv::PvcreateOpts> {
    Ok(pv::PvcreateOpts {
        metadatacopies: o.metadatacopies,
        metadatasize: size_sectors(&o.metadatasize, 'm')?,
        data_alignment: size_sectors(&o.dataalignment, 'k')?,
        uuid: None,
    })
}

/// `NAME=MAJ:MIN` pairs.
fn devnos(v: &[String]) -> Result<Vec<(String, String)>> {
    v.iter()
        .map(|d| {
            d.split_once('=')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .ok_or_else(|| usage(format!("--devno {d}: expected NAME=MAJ:MIN")))
        })
        .collect()
}

/// The device list of `dmsetup info`, `ls`, `deps` with the numbers the
/// command line gives.
/// `--minor DMNAME=MINOR` arguments.
fn minors(args: &[String]) -> Result<Vec<(String, u32)>> {
    args.iter()
        .map(|m| {
            m.split_once('=')
                .and_then(|(n, v)| Some((n.to_owned(), v.parse().ok()?)))
                .ok_or_else(|| usage(format!("--minor {m}: expected DMNAME=MINOR")))
        })
        .collect()
}

/// The device list of the images; `live`: a running kernel's, which
/// loads thin pools and thin LVs with numbers of its own.
fn dm_devices(
    a: &args::DmListArgs,
    sys: &lvm_meta::scan::System,
    live: bool,
) -> Result<Vec<dmsetup::DmDevice>> {
    let minors = minors(&a.minor)?;
    let opts = dmsetup::DmOpts {
        devno: devnos(&a.devno)?,
        minors,
    };
    if live {
        return dmsetup::devices_with_thin(sys, &opts);
    }
    dmsetup::devices(sys, &opts)
}

/// The image files a command reads or writes: the devices (none if they
/// cannot be listed: the command then says why), the image pvck reads.
fn lock_paths(cmd: &Cmd, devs: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = lvmsim::device_paths(devs)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, p)| p.into())
        .collect();
    if let Cmd::Pvck(a) = cmd {
        paths.push(a.pv.clone());
    }
    paths.retain(|p| p.is_file());
    paths
}

/// Runs the command; returns the exit code.
fn run(cli: &Cli) -> Result<i32> {
    if let Cmd::Kernel(k) = &cli.cmd {
        return kernel(cli, &k.cmd);
    }
    let stdout = std::io::stdout();
    let access = cli.cmd.access();
    // lvm2's -qq silences what its commands that change VGs print on
    // stdout (warnings and errors stay on stderr).
    let silent = cli.quiet >= 2 && access != Access::Read && lvm2_name(&cli.cmd).is_some();
    let mut out: Box<dyn Write> = if silent {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::BufWriter::new(stdout.lock()))
    };
    let mut err = std::io::stderr();
    if cli.scan_all && access != Access::Read {
        return Err(usage(
            "--scan-all is for reading damaged images; commands that write refuse it",
        ));
    }
    let mut ctx = context(cli.scan_all);
    ctx.hooks.readonly = cli.readonly;
    // Long work that changes images (merges, LV writes) and exports stop
    // at a safe point on SIGINT or SIGTERM instead of dying in the middle;
    // commands that only read keep the default (they leave nothing behind).
    if access != Access::Read || matches!(&cli.cmd, Cmd::Recover(a) if a.export.is_some()) {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, flag.clone()).map_err(|e| Error::Io {
                context: "installing the signal handler".into(),
                source: e,
            })?;
        }
        ctx.hooks.stop = lvmsim::context::Stop::new(flag);
    }
    let mut devs = devices(&cli.dev);
    let named: &[String] = match &cli.cmd {
        Cmd::Pvcreate(a) => &a.pvs,
        Cmd::Vgcreate(a) => &a.pvs,
        Cmd::Vgextend(a) => &a.pvs,
        Cmd::Pvs(a) => &a.names,
        Cmd::Pvdisplay(a) => &a.report.names,
        _ => &[],
    };
    // Images named as PV arguments are scanned as lvm2 scans the devices
    // it is given, with or without --dev.
    devs = pv::with_named_images(&devs, named)?;
    if cli.readonly && access != Access::Read {
        return refuse_readonly(&cli.cmd, &devs, &mut out);
    }
    // Containers are read only: a writing command refuses them before it
    // opens anything (partitions and PVs at an offset are written in place).
    if access != Access::Read {
        lvmsim::check_writable(&devs)?;
    }
    // Every image the command reads or writes is locked before it is read
    // (shared for readers, exclusive for writers) and stays locked to the end.
    let mut policy = lvmsim::lock::Policy::from_flags(cli.nolocking, cli.lock_opt.is_some());
    let live = live_kernel(cli)?;
    // A command that changes the images a kernel holds runs while the
    // kernel's devices are suspended, and the kernel reloads them after.
    if let Some(s) = &live {
        kernel_refuse_open(&cli.cmd, s)?;
    }
    let mut transaction = match (&live, access) {
        (Some(_), a) if a != Access::Read => Some(kernel_transaction(cli)?),
        _ => None,
    };
    if live.is_some() {
        // The kernel holds the images: reports read beside it, and a
        // command that writes does so while the kernel is suspended.
        policy.locking = false;
    }
    let notify = &mut |m: &str| eprintln!("  {m}");
    let _locks = if access == Access::Read {
        lvmsim::lock::acquire(
            &lock_paths(&cli.cmd, &devs),
            lvmsim::lock::Mode::Shared,
            policy,
            notify,
        )?
    } else {
        // Writers lock the images of the VGs they change (and the images
        // they make PVs), so commands on other VGs run beside them.
        let named: Vec<PathBuf> = named.iter().map(PathBuf::from).collect();
        lvmsim::lock::acquire_for_vgs(
            &devs,
            cli.cmd.changes_vgs().as_deref(),
            &named,
            policy,
            notify,
        )?
    };
    // lvm2 warns about missing and shrunken PVs of the VGs a command
    // reads: a report naming VGs reads only those.
    let only: Option<Vec<String>> = match &cli.cmd {
        Cmd::Vgs(a) | Cmd::Lvs(a) if !a.names.is_empty() => Some(
            a.names
                .iter()
                .map(|n| n.split('/').next().unwrap_or(n).to_owned())
                .collect(),
        ),
        _ => None,
    };
    let scan = |err: &mut dyn Write| -> Result<lvm_meta::scan::System> {
        let sys = lvmsim::scan_with(&devs, ctx.scan_all, ctx.progress, err)?;
        for w in lvmsim::pv_warnings(&sys, only.as_deref()) {
            writeln!(err, "  {w}")?;
        }
        Ok(sys)
    };
    let line = raw_cmd_line();
    let mut code = 0;
    // A merge the running kernel runs, which this lvconvert polls: the
    // origin (`VG/LV`), the snapshot (`LV`) and the interval in seconds.
    let mut kernel_merge: Option<(String, String, u64)> = None;
    match &cli.cmd {
        Cmd::Pvs(a) | Cmd::Vgs(a) | Cmd::Lvs(a) => {
            let kind = match &cli.cmd {
                Cmd::Pvs(_) => report::Kind::Pv,
                Cmd::Vgs(_) => report::Kind::Vg,
                _ => report::Kind::Lv,
            };
            if a.history && kind != report::Kind::Lv {
                let name = if kind == report::Kind::Pv {
                    "pvs"
                } else {
                    "vgs"
                };
                return refuse_history(name, &mut err);
            }
            let mut opts = report_options(a)?;
            if let Some(s) = &live {
                opts.loaded = Some(lvmsim::kernel::loaded_lvs(s));
                opts.suspended = lvmsim::kernel::suspended_lvs(s);
                opts.open = lvmsim::kernel::open_lvs(s);
            }
            let sys = scan(&mut err)?;
            let r = report::report(&sys, kind, &opts)?;
            if let Some(h) = r.stderr_text() {
                err.write_all(h.as_bytes())?;
            }
            for m in r.messages() {
                writeln!(err, "  {m}")?;
            }
            r.write(&mut out)?;
            if r.failed() {
                code = 5;
            }
            // Freeing a large parsed VG, or its report, costs time and
            // changes nothing.
            std::mem::forget(r);
            std::mem::forget(sys);
        }
        Cmd::Pvdisplay(a) | Cmd::Vgdisplay(a) | Cmd::Lvdisplay(a) => {
            let cmd = match &cli.cmd {
                Cmd::Pvdisplay(_) => display::Command::Pv,
                Cmd::Vgdisplay(_) => display::Command::Vg,
                _ => display::Command::Lv,
            };
            if a.report.history && cmd != display::Command::Lv {
                return refuse_history(cmd.name(), &mut err);
            }
            // lvm2's words for a unit it does not know, here.
            if let Some(u) = &a.report.units {
                if units::Units::parse(u).is_err() {
                    return Err(usage("Invalid units specification".to_owned()));
                }
            }
            let opts = display::Options {
                columns: a.columns,
                colon: a.colon,
                maps: a.maps,
                short: a.short,
                active_vgs: a.activevolumegroups,
                verbose: cli.verbose > 0,
                report: report_options(&a.report)?,
            };
            let sys = scan(&mut err)?;
            if !display::run(&sys, cmd, &opts, &mut out, &mut err)? {
                code = 5;
            }
        }
        Cmd::Cat(a) => {
            let sys = scan(&mut err)?;
            for w in lvmsim::rmeta::cat_warnings(&sys, &a.lv, a.offset, a.length) {
                writeln!(err, "  {w}")?;
            }
            // Data goes straight to the file descriptor: Rust's stdout is
            // line-buffered and would scan every megabyte for newlines.
            use std::os::fd::AsFd;
            let mut raw = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
            data::cat_uncached(
                &sys, &a.lv, a.offset, a.length, a.force, a.uncached, &mut raw,
            )?;
            std::mem::forget(sys);
        }
        Cmd::Pvck(a) => {
            let opts = pvck_options(a, cli.verbose > 0)?;
            let img = lvmsim::open_one_device(&a.pv.display().to_string())?;
            if !pvck::run(&img, &opts, &mut out, &mut err)? {
                code = 5;
            }
        }
        Cmd::Vgcfgbackup(a) => {
            let sys = scan(&mut err)?;
            backup::vgcfgbackup(&sys, &a.vg, a.file.as_deref(), &ctx, &mut out)?;
        }
        Cmd::Dmsetup(DmsetupArgs {
            cmd: DmCmd::Targets,
        }) => dmsetup::targets(&mut out)?,
        Cmd::Dmsetup(DmsetupArgs {
            cmd: DmCmd::Version,
        }) => dmsetup::version(&mut out)?,
        Cmd::Dmsetup(DmsetupArgs {
            cmd:
                DmCmd::Info {
                    columns,
                    options,
                    noheadings,
                    list,
                    name,
                },
        }) => {
            let mut devs = dm_devices(list, &scan(&mut err)?, live.is_some())?;
            if let Some(s) = &live {
                devs = lvmsim::kernel::live_devices(s, devs);
            }
            let name = name.as_deref();
            code = if *columns {
                let fields = options.as_deref().unwrap_or(dmsetup::INFO_DEFAULT_FIELDS);
                dmsetup::info_columns(&devs, fields, *noheadings, name, &mut out, &mut err)?
            } else {
                dmsetup::info(&devs, name, &mut out, &mut err)?
            };
        }
        Cmd::Dmsetup(DmsetupArgs {
            cmd: DmCmd::Ls { tree, list },
        }) => {
            let mut devs = dm_devices(list, &scan(&mut err)?, live.is_some())?;
            if let Some(s) = &live {
                devs = lvmsim::kernel::live_devices(s, devs);
            }
            dmsetup::ls(&devs, *tree, &mut out)?;
        }
        Cmd::Dmsetup(DmsetupArgs {
            cmd: DmCmd::Deps { list, name },
        }) => {
            let mut devs = dm_devices(list, &scan(&mut err)?, live.is_some())?;
            if let Some(s) = &live {
                devs = lvmsim::kernel::live_devices(s, devs);
            }
            code = dmsetup::deps(&devs, name.as_deref(), &mut out, &mut err)?;
        }
        Cmd::Dmsetup(DmsetupArgs {
            cmd: cmd @ (DmCmd::Suspend { name } | DmCmd::Resume { name } | DmCmd::Remove { name }),
        }) => {
            use lvmsim::kernel::DmOp;
            let op = match cmd {
                DmCmd::Suspend { .. } => DmOp::Suspend,
                DmCmd::Resume { .. } => DmOp::Resume,
                _ => DmOp::Remove,
            };
            let Some(dir) = kernel_dir(cli) else {
                return Err(usage(format!(
                    "dmsetup {}: the images have no devices: name a running kernel \
                     (--kernel DIR)",
                    op.ioctl()
                )));
            };
            if let Err(line) = lvmsim::kernel::dm(&dir, op, name)? {
                writeln!(err, "{line}")?;
                writeln!(err, "Command failed.")?;
                code = 1;
            }
        }
        Cmd::Dmsetup(DmsetupArgs { cmd }) => {
            let (show, devno, names, minor) = match cmd {
                DmCmd::Status { devno, names } => (dmsetup::Show::Status, devno, names, &[][..]),
                DmCmd::Table {
                    devno,
                    names,
                    minor,
                } => (dmsetup::Show::Table, devno, names, &minor[..]),
                _ => unreachable!("the device-list commands are handled above"),
            };
            let devno = devnos(devno)?;
            let sys = scan(&mut err)?;
            let mut minors = minors(minor)?;
            // A running kernel's tables are its own.
            if let (Some(s), dmsetup::Show::Table) = (&live, show) {
                let disks: Vec<(String, String)> = sys
                    .devices
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| {
                        let (_, v) = devno.iter().find(|(n, _)| *n == d.image.path)?;
                        Some((format!("7:{i}"), v.clone()))
                    })
                    .collect();
                if !lvmsim::kernel::write_tables(s, names, &disks, &mut out, &mut err)? {
                    code = 1;
                }
                out.flush()?;
                return Ok(code);
            }
            let only: Option<Vec<String>> = live
                .as_ref()
                .map(|s| s.devices.iter().map(|d| d.name.clone()).collect());
            if let Some(s) = &live {
                minors = lvmsim::kernel::live_minors(s);
            }
            if !dmsetup::run_only(
                &sys,
                show,
                &devno,
                &minors,
                names,
                only.as_deref(),
                &mut out,
                &mut err,
            )? {
                code = 1;
            }
        }
        Cmd::History(a) => {
            let o = history::HistoryOpts {
                json: a.json,
                show: a.show.clone(),
                diff: a.diff.clone(),
                vg: a.vg.clone(),
            };
            history::run(&devs, &o, &ctx, &mut out, &mut err)?;
        }
        Cmd::Recover(a) => {
            let o = recover::RecoverOpts {
                json: a.json,
                export: a.export.clone(),
                seqno: a.seqno,
                output: a.output.clone(),
                vg: a.vg.clone(),
            };
            recover::run(&devs, &o, &ctx, &mut out, &mut err)?;
        }
        Cmd::Lvrename(a) => {
            let sys = scan(&mut err)?;
            let w = ctx.writer(&format!("lvrename {}", a.names.join(" ")));
            lv::lvrename(&sys, &a.names, &w, &mut out)?;
        }
        Cmd::Lvconvert(a) => {
            let sys = scan(&mut err)?;
            let interval = a.interval.map(|i| format!(" -i {i}")).unwrap_or_default();
            let mut w = ctx.writer(&format!("lvconvert --merge{interval} {}", a.lv));
            if lvmsim::thin_lv::is_thin_arg(&sys, &a.lv) {
                if a.explain.is_some() || a.now || a.interrupt_after.is_some() {
                    return Err(usage(
                        "a thin snapshot merges at once: --now, --interrupt-after and --explain are for COW snapshots",
                    ));
                }
                lvmsim::thin_lv::lvconvert_merge(&sys, &a.lv, &w, &mut out)?;
            } else {
                w.explain = a.explain.as_ref().map(|_| Default::default());
                let mut start = match (a.now, a.interrupt_after) {
                    (_, Some(0)) | (false, None) => snapshot::MergeStart::NextActivation,
                    (_, stop_after) => snapshot::MergeStart::Now { stop_after },
                };
                // An active origin under a running kernel: the kernel merges.
                if let (Some(s), false) = (&live, a.now) {
                    let outcome = lvmsim::kernel::merge_outcome(s, &sys, &a.lv);
                    if let Some(m) = outcome.message() {
                        writeln!(out, "  {m}")?;
                    }
                    if let lvmsim::kernel::MergeOutcome::Kernel { origin, snapshot } = outcome {
                        start = snapshot::MergeStart::Kernel;
                        kernel_merge = Some((origin, snapshot, a.interval.unwrap_or(15)));
                    }
                }
                let done = snapshot::lvconvert_merge(&sys, &a.lv, start, None, &w, &mut out);
                explain(&w, &a.explain, &mut out)?;
                done?;
            }
        }
        Cmd::Vgchange(a) => {
            let sys = scan(&mut err)?;
            let activate = a.activate == Yn::Y;
            let w = ctx.writer(&format!(
                "vgchange -a{} {}",
                if activate { "y" } else { "n" },
                a.vg
            ));
            let mut w = w;
            w.explain = a.explain.as_ref().map(|_| Default::default());
            let poll = a.poll == Yn::Y;
            // Under a running kernel the kernel runs the merges.
            let interrupt_after = if live.is_some() {
                Some(0)
            } else {
                a.interrupt_after
            };
            let done = vg::vgchange(&sys, &a.vg, activate, poll, interrupt_after, &w, &mut out);
            explain(&w, &a.explain, &mut out)?;
            done?;
        }
        Cmd::Lvremove(a) => {
            let sys = scan(&mut err)?;
            let mut l = String::from("lvremove");
            for c in &cli.config {
                l.push_str(" --config ");
                l.push_str(c);
            }
            if a.yes {
                l.push_str(" -y");
            }
            for _ in 0..a.force {
                l.push_str(" -f");
            }
            let w = ctx.writer(&format!("{l} {}", a.lvs.join(" ")));
            lv::lvremove(&sys, &a.lvs, &w, &mut out)?;
        }
        Cmd::ThinDump(a) => {
            let sys = scan(&mut err)?;
            lvmsim::thin::thin_dump(&sys, &a.pool, &mut out)?;
        }
        Cmd::Write(a) => {
            let sys = scan(&mut err)?;
            let log = a.explain.as_ref().map(|_| lvmsim::explain::log());
            let written = match &a.input {
                Some(p) => {
                    let mut f = std::fs::File::open(p).map_err(|e| Error::Io {
                        context: format!("{}: cannot open", p.display()),
                        source: e,
                    })?;
                    data::write_with_events(
                        &sys,
                        &a.lv,
                        a.offset,
                        &mut f,
                        &ctx.hooks,
                        &mut err,
                        log.as_ref(),
                    )
                }
                None => data::write_with_events(
                    &sys,
                    &a.lv,
                    a.offset,
                    &mut std::io::stdin().lock(),
                    &ctx.hooks,
                    &mut err,
                    log.as_ref(),
                ),
            };
            if let (Some(log), Some(format)) = (&log, &a.explain) {
                lvmsim::explain::print(&sys, &a.lv, log, format == "json", &mut out)?;
            }
            written?;
        }
        Cmd::Lvpoll(a) => {
            if a.polloperation != "merge" && a.polloperation != "merge_thin" {
                return Err(usage(format!(
                    "lvpoll --polloperation {}: only merge and merge_thin are simulated",
                    a.polloperation
                )));
            }
            let sys = scan(&mut err)?;
            let interval = a.interval.map(|i| format!(" -i {i}")).unwrap_or_default();
            if a.polloperation == "merge_thin" {
                let w = ctx.writer(&format!(
                    "lvpoll --polloperation merge_thin{interval} {}",
                    a.lv
                ));
                lvmsim::thin_lv::lvpoll_merge_thin(&sys, &a.lv, &w, &mut out)?;
            } else {
                let mut w = ctx.writer(&format!("lvpoll --polloperation merge{interval} {}", a.lv));
                w.explain = a.explain.as_ref().map(|_| Default::default());
                let done = snapshot::lvpoll_merge(&sys, &a.lv, &w, &mut out);
                explain(&w, &a.explain, &mut out)?;
                done?;
            }
        }
        Cmd::Pvcreate(a) => {
            let mut o = pv_opts(&a.opts)?;
            if let Some(u) = &a.uuid {
                if !a.norestorefile {
                    return Err(usage("--uuid requires --restorefile or --norestorefile"));
                }
                o.uuid = Some(
                    lvm_meta::uuid::parse_uuid(u)
                        .ok_or_else(|| usage(format!("Invalid UUID format: {u}")))?,
                );
            }
            let sys = scan(&mut err)?;
            let mut ids = ids::ids_for(&ctx, &sys, &line);
            pv::pvcreate(&sys, &a.pvs, &o, &mut ids, &ctx.hooks, &mut out)?;
        }
        Cmd::Vgcreate(a) => {
            let extent = size_sectors(&a.extent, 'm')?;
            let o = pv_opts(&a.opts)?;
            let sys = scan(&mut err)?;
            let mut ids = ids::ids_for(&ctx, &sys, &line);
            let w = ctx.writer(&line);
            vg::vgcreate(&sys, &a.vg, &a.pvs, extent, &o, &w, &mut ids, &mut out)?;
        }
        Cmd::Vgextend(a) => {
            let o = pv_opts(&a.opts)?;
            let sys = scan(&mut err)?;
            let mut ids = ids::ids_for(&ctx, &sys, &line);
            let w = ctx.writer(&line);
            vg::vgextend(&sys, &a.vg, &a.pvs, &o, &w, &mut ids, &mut out)?;
        }
        Cmd::Vgreduce(a) => {
            let sys = scan(&mut err)?;
            vg::vgreduce(&sys, &a.vg, &a.pvs, &ctx.writer(&line), &mut out)?;
        }
        Cmd::Vgrename(a) => {
            let sys = scan(&mut err)?;
            vg::vgrename(&sys, &a.old, &a.new, &ctx.writer(&line), &mut out)?;
        }
        Cmd::Vgcfgrestore(a) => {
            let sys = scan(&mut err)?;
            vg::vgcfgrestore(&sys, &a.file, &a.vg, &ctx.writer(&line), &mut out)?;
        }
        Cmd::Vgremove(a) => {
            let sys = scan(&mut err)?;
            vg::vgremove(&sys, &a.vg, a.force > 0, &ctx.writer(&line), &mut out)?;
        }
        Cmd::Lvchange(a) => {
            let o = lv::LvchangeOpts {
                activate: a.activate.map(|v| v == Yn::Y),
                addtag: a.addtag.clone(),
                deltag: a.deltag.clone(),
            };
            if o.activate.is_none() && o.addtag.is_empty() && o.deltag.is_empty() {
                return Err(Error::Refused(
                    "No change to the LVs was requested (-a, --addtag, --deltag).".into(),
                ));
            }
            let sys = scan(&mut err)?;
            let mut w = ctx.writer(&line);
            w.explain = a.explain.as_ref().map(|_| Default::default());
            let done = if live.is_some()
                && o.activate == Some(true)
                && o.addtag.is_empty()
                && o.deltag.is_empty()
            {
                // The kernel activates, and runs the merges.
                lvmsim::kernel::activation_targets(&sys, &a.lvs)
            } else if a.poll == Some(Yn::N) && o.activate == Some(true) {
                lvmsim::snapshot::lvchange_activate_nopoll(&sys, &a.lvs, &w)
            } else {
                lv::lvchange(&sys, &a.lvs, &o, &w, &mut out)
            };
            explain(&w, &a.explain, &mut out)?;
            done?;
        }
        Cmd::Lvcreate(a)
            if a.segtype.as_deref() == Some("thin-pool")
                || (a.thin && (a.size.is_some() || a.extents.is_some())) =>
        {
            lvcreate_pool(&ctx, a, &line, scan(&mut err)?, &mut out, &mut err)?;
        }
        Cmd::Lvcreate(a)
            if a.thin
                || a.virtualsize.is_some()
                || (a.snapshot && a.size.is_none() && a.extents.is_none()) =>
        {
            let (first, _) = a
                .args
                .split_first()
                .ok_or_else(|| usage("Please provide a volume group name"))?;
            let (vg, lvn) = lvmsim::names::vg_lv(first)?;
            let what = match &a.virtualsize {
                Some(_) => {
                    let (_, amt) = amount(&a.virtualsize, &None, size::SizeOf::Lvcreate)?;
                    let lvmsim::size::Amount::Size(sectors) = amt else {
                        return Err(usage("-V takes a size"));
                    };
                    lvmsim::thin_lv::ThinCreate::Thin { pool: lvn, sectors }
                }
                None => {
                    let sys = scan(&mut err)?;
                    if !lvmsim::thin_lv::is_thin(&sys, &vg, &lvn) {
                        // Not a thin origin: a COW snapshot needs a size.
                        amount(&a.size, &a.extents, size::SizeOf::Lvcreate)?;
                    }
                    if a.setactivationskip != Some(Yn::N) {
                        return Err(Error::Refused(
                            "lvmsim makes thin snapshots with -kn only (the activation skip flag is not written)".into(),
                        ));
                    }
                    lvmsim::thin_lv::ThinCreate::Snapshot { origin: lvn }
                }
            };
            let sys = scan(&mut err)?;
            let mut ids = ids::ids_for(&ctx, &sys, &line);
            let w = ctx.writer(&line);
            lvmsim::thin_lv::lvcreate(
                &sys,
                &vg,
                &what,
                a.name.as_deref(),
                &w,
                &mut ids,
                &mut out,
                &mut err,
            )?;
        }
        Cmd::Lvcreate(a) => {
            let (_, amount) = amount(&a.size, &a.extents, size::SizeOf::Lvcreate)?;
            let mut o = lv::LvcreateOpts {
                name: a.name.clone(),
                amount: Some(amount),
                stripes: a.stripes,
                stripe_size: size_sectors(&a.stripesize, 'k')?,
                no_zero: a.zero == Yn::N,
                inactive: a.activate == Yn::N,
                origin: None,
                chunk: size_sectors(&a.chunksize, 'k')?,
            };
            let (first, pvs) = a
                .args
                .split_first()
                .ok_or_else(|| usage("Please provide a volume group name"))?;
            let names = lvmsim::names::lvcreate_names(first, a.snapshot, a.name.as_deref())?;
            o.origin = names.origin;
            o.name = names.name;
            let vg = names.vg.as_str();
            let sys = scan(&mut err)?;
            let mut ids = ids::ids_for(&ctx, &sys, &line);
            let mut w = ctx.writer(&line);
            w.explain = a.explain.as_ref().map(|_| Default::default());
            let done = lv::lvcreate(&sys, vg, pvs, &o, &w, &mut ids, &mut out, &mut err);
            explain(&w, &a.explain, &mut out)?;
            done?;
        }
        Cmd::Lvextend(a)
            if a.poolmetadatasize.is_some()
                || a.args.first().is_some_and(|l| {
                    lvmsim::names::vg_lv(l).is_ok_and(|(v, p)| {
                        scan(&mut std::io::sink())
                            .is_ok_and(|s| lvmsim::thin_pool::is_pool(&s, &v, &p))
                    })
                }) =>
        {
            let first = a
                .args
                .first()
                .ok_or_else(|| usage("Please provide a logical volume path"))?;
            let (vg, pool) = lvmsim::names::vg_lv(first)?;
            let grow = match &a.poolmetadatasize {
                Some(m) => {
                    if a.size.is_some() || a.extents.is_some() {
                        return Err(Error::Refused(
                            "lvmsim grows a pool's data and metadata in separate commands".into(),
                        ));
                    }
                    match size::parse_size(m, 'm', false)? {
                        (sign, size::SizeArg::Sectors(n)) => {
                            lvmsim::thin_pool::PoolGrow::Metadata(sign, n)
                        }
                        _ => return Err(usage(format!("Invalid size {m}"))),
                    }
                }
                None => {
                    let (sign, amount) = amount(&a.size, &a.extents, size::SizeOf::Lvresize)?;
                    lvmsim::thin_pool::PoolGrow::Data(sign, amount)
                }
            };
            let sys = scan(&mut err)?;
            lvmsim::thin_pool::lvextend(&sys, &vg, &pool, grow, &ctx.writer(&line), &mut out)?;
        }
        Cmd::Lvextend(a) | Cmd::Lvreduce(a) => {
            let grow = matches!(cli.cmd, Cmd::Lvextend(_));
            let (sign, amount) = amount(&a.size, &a.extents, size::SizeOf::Lvresize)?;
            let (lv, pvs) = a
                .args
                .split_first()
                .ok_or_else(|| usage("Please provide a logical volume path"))?;
            let o = lv::LvresizeOpts {
                sign,
                amount: Some(amount),
                stripes: a.stripes,
                stripe_size: size_sectors(&a.stripesize, 'k')?,
            };
            let sys = scan(&mut err)?;
            lv::lvresize(&sys, lv, pvs, &o, grow, &ctx.writer(&line), &mut out)?;
        }
        Cmd::Cow(args::CowArgs {
            cmd: args::CowCmd::Dump { lv, json, seqno },
        }) => {
            let sys = scan(&mut err)?;
            let o = lvmsim::cowdump::CowDumpOpts {
                json: *json,
                seqno: *seqno,
            };
            lvmsim::cowdump::run(&sys, lv, &o, ctx.scan_all, ctx.progress, &mut out)?;
        }
        Cmd::Map(a) => {
            let sys = scan(&mut err)?;
            let svg = lvmsim::map::draw(&sys, &a.target, a.seqno, ctx.scan_all, ctx.progress)?;
            if a.output == std::path::Path::new("-") {
                out.write_all(svg.as_bytes())?;
            } else {
                std::fs::write(&a.output, svg).map_err(|e| Error::Io {
                    context: format!("{}: cannot write", a.output.display()),
                    source: e,
                })?;
            }
        }
        Cmd::Plan(a) => {
            let o = lvmsim::plan::PlanOpts {
                origin_size: a.origin_size.clone(),
                chunks: a.chunk.clone(),
                trace: a.trace.clone(),
                diff: a.diff.clone(),
                blkparse: a.blkparse.clone(),
                extent_size: a.extent_size.clone(),
                size: a.size.clone(),
                autoextend_threshold: a.autoextend_threshold,
                autoextend_percent: a.autoextend_percent,
                json: a.json,
            };
            lvmsim::plan::run(&o, &mut out)?;
        }
        Cmd::Verify => {
            if !lvmsim::verify::verify(&devs, &mut out)? {
                code = 5;
            }
        }
        Cmd::Gen(a) => {
            let profile = lvmsim::gen::Profile::parse(&a.profile)
                .ok_or_else(|| usage(format!("--profile {}: unknown", a.profile)))?;
            let o = lvmsim::gen::GenOptions {
                seed: a.seed,
                profile,
                pvs: a.pvs,
            };
            let m = lvmsim::gen::generate(&o, &a.output)?;
            lvmsim::gen::summary(&m, &mut out)?;
        }
        Cmd::Mutate(a) => {
            let kind = match &a.kind {
                Some(k) => Some(
                    lvmsim::mutate::Kind::parse(k)
                        .ok_or_else(|| usage(format!("--kind {k}: unknown")))?,
                ),
                None => None,
            };
            let o = lvmsim::mutate::MutateOptions { seed: a.seed, kind };
            let m = lvmsim::mutate::mutate(&o, &a.input, &a.output)?;
            writeln!(out, "{}: {}", m.mutation.kind.name(), m.mutation.what)?;
        }
        // Handled before the images are locked.
        Cmd::Kernel(k) => code = kernel(cli, &k.cmd)?,
        Cmd::Plot(a) => {
            let o = lvmsim::plot::PlotOpts {
                origin_size: a.origin_size.clone(),
                chunks: a.chunk.clone(),
                trace: a.trace.clone(),
                diff: a.diff.clone(),
                extent_size: a.extent_size.clone(),
                size: a.size.clone(),
                csv: a.csv,
            };
            let text = lvmsim::plot::render(&o)?;
            match &a.output {
                Some(f) if f != std::path::Path::new("-") => {
                    std::fs::write(f, text).map_err(|e| Error::Io {
                        context: format!("{}: cannot write", f.display()),
                        source: e,
                    })?
                }
                _ => out.write_all(text.as_bytes())?,
            }
        }
        Cmd::ThinLs(a) => {
            let sys = scan(&mut err)?;
            lvmsim::thin::thin_ls(&sys, &a.pool, a.format.as_deref(), !a.no_headers, &mut out)?;
        }
        Cmd::Raid(args::RaidArgs {
            cmd: args::RaidCmd::Dump { lv, json },
        }) => {
            let sys = scan(&mut err)?;
            lvmsim::rmeta::dump(&sys, lv, *json, &mut out)?;
        }
    }
    out.flush()?;
    if let Some(t) = transaction.take() {
        let (changes, activate_new) = kernel_changes(&cli.cmd);
        let poll = !matches!(&cli.cmd, Cmd::Lvchange(a) if a.poll == Some(Yn::N))
            && !matches!(&cli.cmd, Cmd::Vgchange(a) if a.poll == Yn::N);
        let lines = t.commit(changes, activate_new, poll)?;
        if cli.verbose > 0 {
            kernel_verbose(&cli.cmd, &lines);
        }
    }
    if let (Some((origin, snap, interval)), Some(dir)) = (&kernel_merge, kernel_dir(cli)) {
        poll_kernel_merge(&dir, origin, snap, *interval, &mut out)?;
    }
    out.flush()?;
    Ok(code)
}

/// lvm2's refusal of a writing command under `--readonly`, before
/// anything is opened for writing. Activation (`vgchange -a`, `lvchange
/// -a`), which lvm2 refuses per VG, first names each merge it would have
/// run.
fn refuse_readonly(cmd: &Cmd, devs: &[PathBuf], out: &mut dyn Write) -> Result<i32> {
    let prohibited = "Operation prohibited while --readonly is set.";
    // (refused per VG, whether it runs merges)
    let (activation, merges) = match cmd {
        Cmd::Vgchange(a) => (true, a.activate == Yn::Y),
        Cmd::Lvchange(a) => (a.activate.is_some(), a.activate == Some(Yn::Y)),
        _ => (false, false),
    };
    let vgs = cmd.changes_vgs().unwrap_or_default();
    if !activation || vgs.is_empty() {
        return Err(Error::Refused(prohibited.into()));
    }
    let sys = lvmsim::scan(devs, false, &mut std::io::stderr())?;
    for vg in &vgs {
        for m in lvmsim::pending_merges(&sys, vg).iter().filter(|_| merges) {
            writeln!(
                out,
                "  Merging of snapshot {m} is pending: not started (--readonly)."
            )?;
        }
        eprintln!("  {prohibited}");
        eprintln!("  Can't get lock for {vg}.");
        eprintln!("  Cannot process volume group {vg}");
    }
    out.flush()?;
    Ok(5)
}

/// The command line with every `--dev` taken out, and the `--dev` values
/// in order: given before and after the command, they all count (clap
/// would keep only the last level's). A `--` ends the options.
fn split_devs(args: Vec<std::ffi::OsString>) -> (Vec<std::ffi::OsString>, Vec<PathBuf>) {
    let mut rest = Vec::new();
    let mut devs = Vec::new();
    let mut it = args.into_iter();
    if let Some(prog) = it.next() {
        rest.push(prog);
    }
    while let Some(a) = it.next() {
        if a == "--" {
            rest.push(a);
            rest.extend(it.by_ref());
            break;
        }
        if a == "--dev" {
            match it.next() {
                Some(v) => devs.push(PathBuf::from(v)),
                // Left to clap, which says a value is missing.
                None => rest.push(a),
            }
            continue;
        }
        if let Some(v) = a.to_str().and_then(|t| t.strip_prefix("--dev=")) {
            devs.push(PathBuf::from(v));
            continue;
        }
        rest.push(a);
    }
    (rest, devs)
}

/// The lvm2 command lvmsim's command is (for lvm2's `Run `CMD --help'`
/// line), if it is one.
fn lvm2_name(cmd: &Cmd) -> Option<&'static str> {
    Some(match cmd {
        Cmd::Pvs(_) => "pvs",
        Cmd::Vgs(_) => "vgs",
        Cmd::Lvs(_) => "lvs",
        Cmd::Pvck(_) => "pvck",
        Cmd::Vgcfgbackup(_) => "vgcfgbackup",
        Cmd::Lvrename(_) => "lvrename",
        Cmd::Lvconvert(_) => "lvconvert",
        Cmd::Vgchange(_) => "vgchange",
        Cmd::Lvpoll(_) => "lvpoll",
        Cmd::Lvremove(_) => "lvremove",
        Cmd::Pvcreate(_) => "pvcreate",
        Cmd::Vgcreate(_) => "vgcreate",
        Cmd::Vgextend(_) => "vgextend",
        Cmd::Vgreduce(_) => "vgreduce",
        Cmd::Vgremove(_) => "vgremove",
        Cmd::Lvcreate(_) => "lvcreate",
        Cmd::Lvextend(_) => "lvextend",
        Cmd::Lvreduce(_) => "lvreduce",
        Cmd::Vgrename(_) => "vgrename",
        Cmd::Vgcfgrestore(_) => "vgcfgrestore",
        Cmd::Lvchange(_) => "lvchange",
        Cmd::Pvdisplay(_) => "pvdisplay",
        Cmd::Vgdisplay(_) => "vgdisplay",
        Cmd::Lvdisplay(_) => "lvdisplay",
        Cmd::Cat(_) | Cmd::Dmsetup(_) | Cmd::History(_) | Cmd::Recover(_) | Cmd::Write(_) => {
            return None
        }
        Cmd::Cow(_) | Cmd::Map(_) | Cmd::Plan(_) => return None,
        Cmd::ThinDump(_) => return None,
        Cmd::Gen(_) | Cmd::Mutate(_) => return None,
        Cmd::Verify => return None,
        Cmd::Kernel(_) => return None,
        Cmd::Plot(_) => return None,
        Cmd::ThinLs(_) => return None,
        Cmd::Raid(_) => return None,
    })
}

/// lvm2 commands that walk the VGs they are given (its `process_each_*`):
/// a VG they cannot find is also a VG they `Cannot process`.
fn processes_vgs(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Pvs(_)
            | Cmd::Vgs(_)
            | Cmd::Lvs(_)
            | Cmd::Vgcfgbackup(_)
            | Cmd::Lvrename(_)
            | Cmd::Lvconvert(_)
            | Cmd::Vgchange(_)
            | Cmd::Lvremove(_)
            | Cmd::Vgreduce(_)
            | Cmd::Vgremove(_)
            | Cmd::Vgextend(_)
            | Cmd::Lvcreate(_)
            | Cmd::Lvextend(_)
            | Cmd::Lvreduce(_)
            | Cmd::Vgrename(_)
            | Cmd::Lvchange(_)
    )
}

/// lvm2's option parser on `-H`/`--history`, which only lvs and lvdisplay
/// take: its line naming the option as written, then the usage error.
fn refuse_history(name: &str, err: &mut dyn Write) -> Result<i32> {
    let what = if std::env::args().any(|a| a == "--history") {
        "unrecognized option '--history'"
    } else {
        "invalid option -- 'H'"
    };
    writeln!(err, "{name}: {what}")?;
    Err(usage("Error during parsing of command line."))
}

/// An error as lvm2 prints it for this command.
fn print_error(cmd: &Cmd, e: &Error) {
    if let (Error::Usage(m), Some(name)) = (e.root(), lvm2_name(cmd)) {
        if m == size::NO_MATCHING_SYNTAX {
            return print_no_matching_syntax(name);
        }
    }
    eprintln!("  {e}");
    if let Some(lvm_meta::NotFound::Vg { name }) = e.not_found() {
        if processes_vgs(cmd) {
            eprintln!("  Cannot process volume group {name}");
        }
    }
    // lvm2 adds this to a usage error, but not to its option parser's.
    if let (Error::Usage(m), Some(name)) = (e.root(), lvm2_name(cmd)) {
        if m != "Error during parsing of command line." {
            eprintln!("  Run `{name} --help' for more information.");
        }
    }
}

/// lvm2's words for a command line that fits none of the command's
/// definitions; for a command with a single definition (lvreduce) lvm2 also
/// shows it.
fn print_no_matching_syntax(name: &str) {
    eprintln!(
        "  {}  Run '{name} --help' for more information.",
        size::NO_MATCHING_SYNTAX
    );
    if name == "lvreduce" {
        eprintln!("  Correct command syntax is:\n  lvreduce -L|--size [-]Size[m|UNIT] LV\n");
    }
}

fn main() {
    let (argv, devs) = split_devs(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(argv) {
        Ok(mut c) => {
            c.dev = devs;
            c
        }
        Err(e) => {
            // Help and version go to stdout with status 0; a bad command
            // line is lvm2's EINVALID_CMD_LINE.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 3 } else { 0 });
        }
    };
    match run(&cli) {
        Ok(code) => std::process::exit(code),
        // A closed pipe (`lvmsim cat ... | head`) is not an error.
        Err(e) if e.is_broken_pipe() => std::process::exit(0),
        Err(e) => {
            print_error(&cli.cmd, &e);
            std::process::exit(e.exit_code());
        }
    }
}

/// `lvmsim kernel ...`: the kernel takes its own locks; `start` runs it in
/// a background process of this binary (`start --foreground`) and returns
/// once that process says it serves.
fn kernel(cli: &Cli, cmd: &args::KernelCmd) -> Result<i32> {
    use args::KernelCmd;
    use lvmsim::kernel;
    use std::io::BufRead;
    let mut out = std::io::stdout().lock();
    match cmd {
        KernelCmd::Start {
            dir,
            foreground: true,
            nbd,
            explain,
            merge_rate,
        } => {
            let opts = kernel::Options {
                dir: dir.clone(),
                devices: devices(&cli.dev),
                policy: lvmsim::lock::Policy::from_flags(cli.nolocking, cli.lock_opt.is_some()),
                nbd: nbd.as_deref().map(kernel::NbdAddr::parse).transpose()?,
                explain: *explain,
                merge_rate: *merge_rate,
            };
            let k = match kernel::Kernel::start(&opts, Box::new(std::io::stderr())) {
                Ok(k) => k,
                Err(e) => {
                    // The waiting `kernel start` shows this line.
                    let _ = writeln!(out, "error: {e}");
                    return Err(e);
                }
            };
            // SIGTERM and SIGINT ask the kernel to stop as `kernel stop`
            // does (refused, and logged, while a device is open).
            let mut signals = signal_hook::iterator::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
            ])
            .map_err(|e| Error::Io {
                context: "installing the signal handler".into(),
                source: e,
            })?;
            let control_dir = dir.clone();
            std::thread::spawn(move || {
                for _ in signals.forever() {
                    match kernel::control::ask(&control_dir, &kernel::control::Request::Stop) {
                        Ok(kernel::control::Reply::Refused(m)) => eprintln!("{m}"),
                        Err(e) => eprintln!("{e}"),
                        Ok(_) => {}
                    }
                }
            });
            writeln!(out, "ready")?;
            out.flush()?;
            drop(out);
            k.serve()?;
            Ok(0)
        }
        KernelCmd::Start {
            dir,
            nbd,
            explain,
            merge_rate,
            ..
        } => {
            // A bad address is refused here, before any process starts.
            if let Some(n) = nbd {
                kernel::NbdAddr::parse(n)?;
            }
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                context: format!("{}: cannot create", dir.display()),
                source: e,
            })?;
            let log_path = dir.join("kernel.log");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| Error::Io {
                    context: format!("{}: cannot open", log_path.display()),
                    source: e,
                })?;
            let exe = std::env::current_exe().map_err(|e| Error::Io {
                context: "finding lvmsim's own executable".into(),
                source: e,
            })?;
            let mut c = std::process::Command::new(exe);
            for d in devices(&cli.dev) {
                c.arg("--dev").arg(d);
            }
            if cli.nolocking {
                c.arg("--nolocking");
            }
            if let Some(o) = &cli.lock_opt {
                c.arg("--lock-opt").arg(o);
            }
            c.args(["kernel", "start", "--foreground"]);
            if let Some(n) = nbd {
                c.arg("--nbd").arg(n);
            }
            if *explain {
                c.arg("--explain");
            }
            if let Some(r) = merge_rate {
                c.arg("--merge-rate").arg(r.to_string());
            }
            c.arg(dir);
            // Its own process group: a terminal's ^C for this command does
            // not reach the kernel.
            std::os::unix::process::CommandExt::process_group(&mut c, 0);
            c.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(log);
            let mut child = c.spawn().map_err(|e| Error::Io {
                context: "starting the kernel process".into(),
                source: e,
            })?;
            let mut line = String::new();
            if let Some(s) = child.stdout.take() {
                let _ = std::io::BufReader::new(s).read_line(&mut line);
            }
            match line.trim_end() {
                "ready" => Ok(0),
                other => {
                    let _ = child.wait();
                    let msg = other.strip_prefix("error: ").map_or_else(
                        || {
                            format!(
                                "the kernel ended before serving; see {}",
                                log_path.display()
                            )
                        },
                        str::to_owned,
                    );
                    Err(Error::Refused(msg))
                }
            }
        }
        KernelCmd::Stop { dir } => {
            kernel::stop(dir)?;
            Ok(0)
        }
        KernelCmd::Status { dir, json } => {
            kernel::write_status(&kernel::status(dir)?, *json, &mut out)?;
            Ok(0)
        }
    }
}

/// The directory of the running kernel named by --kernel or
/// $LVMSIM_KERNEL.
fn kernel_dir(cli: &Cli) -> Option<PathBuf> {
    cli.kernel
        .clone()
        .or_else(|| std::env::var_os("LVMSIM_KERNEL").map(PathBuf::from))
}

/// The running kernel named by --kernel or $LVMSIM_KERNEL, if any: its
/// state for the reports and for the commands that change what it has
/// loaded.
fn live_kernel(cli: &Cli) -> Result<Option<lvmsim::kernel::Status>> {
    let Some(dir) = kernel_dir(cli) else {
        return Ok(None);
    };
    Ok(Some(lvmsim::kernel::status(&dir)?))
}

/// Suspends the running kernel's devices for a command that changes the
/// images (see [`lvmsim::kernel::Transaction`]).
fn kernel_transaction(cli: &Cli) -> Result<lvmsim::kernel::Transaction> {
    let dir = kernel_dir(cli).ok_or_else(|| Error::Refused("no kernel named".into()))?;
    lvmsim::kernel::Transaction::begin(&dir)
}

/// lvm2's polling of a merge the running kernel in `dir` runs into
/// `origin` (`VG/LV`): `Merged:` at once and every `interval` seconds,
/// until the kernel has ended it (removing snapshot `snap`); then lvm2's
/// end lines.
fn poll_kernel_merge(
    dir: &std::path::Path,
    origin: &str,
    snap: &str,
    interval: u64,
    out: &mut dyn Write,
) -> Result<()> {
    // On a terminal a bar on stderr follows the merge; otherwise lvm2's
    // lines, one per poll, go to stdout as lvm2 prints them.
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr());
    lvmsim::kernel::poll_merge(dir, origin, interval, &mut |percent| {
        if bar {
            eprint!("\r{}\x1b[K", merge_bar(origin, percent, 30));
            return std::io::stderr().flush();
        }
        writeln!(out, "  {origin}: Merged: {percent:.2}%")?;
        out.flush()
    })?;
    if bar {
        eprintln!("\r{}\x1b[K", merge_bar(origin, 100.0, 30));
    }
    writeln!(out, "  {origin}: Merged: 100.00%")?;
    writeln!(
        out,
        "  Merge of snapshot into logical volume {origin} has finished."
    )?;
    writeln!(out, "  Logical volume \"{snap}\" successfully removed.")?;
    Ok(())
}

/// A terminal's progress bar of a merge into `origin` at `percent`
/// (clamped to 0-100), `width` cells wide: `  vg/origin: Merged [=====>    ]  45.20%`.
fn merge_bar(origin: &str, percent: f64, width: usize) -> String {
    let p = if percent.is_nan() {
        0.0
    } else {
        percent.clamp(0.0, 100.0)
    };
    // Whole cells done, rounded down so that a full bar means 100%.
    let done = ((p / 100.0) * width as f64).floor() as usize;
    let mut cells = "=".repeat(done.min(width));
    if done < width {
        cells.push('>');
        cells.push_str(&" ".repeat(width - done - 1));
    }
    format!("  {origin}: Merged [{cells}] {p:6.2}%")
}

/// lvm2's refusal of a deactivation or removal of an LV open in the
/// running kernel, before anything changes.
fn kernel_refuse_open(cmd: &Cmd, s: &lvmsim::kernel::Status) -> Result<()> {
    use lvmsim::kernel::{refuse_open, Taking};
    let (args, taking): (Vec<&String>, Taking) = match cmd {
        Cmd::Lvchange(a) if a.activate == Some(Yn::N) => {
            (a.lvs.iter().collect(), Taking::Deactivate)
        }
        Cmd::Vgchange(a) if a.activate == Yn::N => (vec![&a.vg], Taking::Deactivate),
        Cmd::Lvremove(a) => (a.lvs.iter().collect(), Taking::Remove),
        _ => return Ok(()),
    };
    for a in args {
        let c = lvmsim::kernel::Change::of_arg(a, false);
        if c.lv.is_none() && taking == Taking::Remove {
            continue;
        }
        refuse_open(s, &c.vg, c.lv.as_deref(), taking)?;
    }
    Ok(())
}

/// What a command asks of the running kernel's activation: the LVs (or
/// VGs) it activates or deactivates, and whether the LVs it creates are
/// active (`lvcreate` without `-an`; a snapshot follows its origin).
fn kernel_changes(cmd: &Cmd) -> (Vec<lvmsim::kernel::Change>, bool) {
    use lvmsim::kernel::Change;
    match cmd {
        Cmd::Lvchange(a) => match a.activate {
            Some(y) => (
                a.lvs
                    .iter()
                    .map(|l| Change::of_arg(l, y == Yn::Y))
                    .collect(),
                false,
            ),
            None => (Vec::new(), false),
        },
        Cmd::Vgchange(a) => {
            let mut c = Change::of_arg(&a.vg, a.activate == Yn::Y);
            c.lv = None;
            (vec![c], false)
        }
        // A new LV is active, and so is a thin snapshot (made with -kn; a
        // COW snapshot's devices follow its active origin).
        Cmd::Lvcreate(a) => {
            let thin_snapshot = a.snapshot && a.size.is_none() && a.extents.is_none();
            (
                Vec::new(),
                a.activate != Yn::N && (!a.snapshot || thin_snapshot),
            )
        }
        _ => (Vec::new(), false),
    }
}

/// lvm2's `-v` lines of an activation change: lvchange names each LV it
/// activates or deactivates, then the kernel's steps follow.
fn kernel_verbose(cmd: &Cmd, steps: &[String]) {
    if let Cmd::Lvchange(a) = cmd {
        for l in &a.lvs {
            let l = l.strip_prefix("/dev/").unwrap_or(l);
            match a.activate {
                Some(Yn::Y) => {
                    eprintln!("  Activating logical volume {l}.");
                    eprintln!(
                        "  activation/volume_list configuration setting not defined: \
                         Checking only host tags for {l}."
                    );
                }
                Some(Yn::N) => eprintln!("  Deactivating logical volume {l}."),
                None => {}
            }
        }
    }
    for s in steps {
        eprintln!("  {s}");
    }
}

/// Prints what the command did in the snapshot stores when `--explain`
/// was given (`format`: `text` or `json`).
fn explain(
    w: &lvmsim::write::Writer,
    format: &Option<String>,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    if let (Some(x), Some(f)) = (&w.explain, format) {
        x.print(f == "json", out)?;
    }
    Ok(())
}

/// `lvcreate --type thin-pool -L SIZE -n POOL VG`, `lvcreate -T VG/POOL -L
/// SIZE` and, with `-V SIZE -n THIN`, a thin LV in the new pool.
fn lvcreate_pool(
    ctx: &lvmsim::context::Context,
    a: &args::LvcreateArgs,
    line: &str,
    sys: lvm_meta::scan::System,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Result<()> {
    let first = a
        .args
        .first()
        .ok_or_else(|| usage("Please provide a volume group name"))?;
    let (vg, pool_name) = match first.split_once('/') {
        Some(_) => {
            let (v, l) = lvmsim::names::vg_lv(first)?;
            (v, Some(l))
        }
        None => (first.clone(), None),
    };
    if a.args.len() > 1 {
        return Err(Error::Refused(
            "lvmsim allocates thin pools from all PVs of the VG (no PV list)".into(),
        ));
    }
    let (_, data) = amount(&a.size, &a.extents, size::SizeOf::Lvcreate)?;
    let thin = match &a.virtualsize {
        Some(_) => {
            let (_, v) = amount(&a.virtualsize, &None, size::SizeOf::Lvcreate)?;
            let lvmsim::size::Amount::Size(sectors) = v else {
                return Err(usage("-V takes a size"));
            };
            Some((a.name.clone(), sectors))
        }
        None => None,
    };
    // Without -V, -n names the pool (`--type thin-pool -n POOL VG`).
    let name = match (&pool_name, &thin) {
        (Some(p), _) => Some(p.clone()),
        (None, None) => a.name.clone(),
        (None, Some(_)) => None,
    };
    let o = lvmsim::thin_pool::PoolCreate {
        name,
        amount: data,
        chunk: size_sectors(&a.chunksize, 'k')?,
        metadata: size_sectors(&a.poolmetadatasize, 'm')?,
        zero: a.zero == Yn::Y,
        discards: a.discards.clone().unwrap_or_else(|| "passdown".into()),
        thin,
    };
    let mut ids = ids::ids_for(ctx, &sys, line);
    let w = ctx.writer(line);
    lvmsim::thin_pool::lvcreate(&sys, &vg, &o, &w, &mut ids, out, err)
}

#[cfg(test)]
mod tests {
    use super::merge_bar;

    #[test]
    fn the_merge_bar_fills_with_the_percent() {
        assert_eq!(
            merge_bar("vg/o", 0.0, 10),
            "  vg/o: Merged [>         ]   0.00%"
        );
        assert_eq!(
            merge_bar("vg/o", 45.2, 10),
            "  vg/o: Merged [====>     ]  45.20%"
        );
        assert_eq!(
            merge_bar("vg/o", 99.99, 10),
            "  vg/o: Merged [=========>]  99.99%"
        );
        assert_eq!(
            merge_bar("vg/o", 100.0, 10),
            "  vg/o: Merged [==========] 100.00%"
        );
        // Out of range or not a number: clamped, never a panic.
        assert_eq!(merge_bar("vg/o", 250.0, 4), "  vg/o: Merged [====] 100.00%");
        assert_eq!(
            merge_bar("vg/o", f64::NAN, 4),
            "  vg/o: Merged [>   ]   0.00%"
        );
    }
}
