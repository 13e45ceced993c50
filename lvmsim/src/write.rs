//! How a command's changes reach the images: the [`Writer`] (who writes
//! and when), the commit of a changed VG to every metadata area in lvm2's
//! order, planned writes applied through the write hooks, and the rescan
//! after a commit. Only the images that hold what changes are opened for
//! writing.

use crate::context::{Context, WriteHooks};
use crate::error::{bail, refused, Result, ResultExt};
use lvm_meta::commit;
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::model::{SegmentKind, Vg};
use lvm_meta::scan::System;

/// Who writes and when: the values of every header block a command writes,
/// and the hooks its writes go through, from the command's [`Context`].
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The command line as lvm2 records it (`lvrename vg a b`).
    pub cmd_line: String,
    /// `creation_host`.
    pub host: String,
    /// The uname comment.
    pub uname: String,
    /// Seconds since the epoch.
    pub time: u64,
    /// Every write goes through these.
    pub hooks: &'a WriteHooks,
    /// `--explain`: where the command tells what it does in the snapshot
    /// stores (`None`: it does not).
    pub explain: Option<crate::explain::Explain>,
    /// The local zone the header's date is written in.
    pub zone: &'a crate::localtime::Zone,
    /// Draw progress lines on stderr ([`Context::progress`]).
    pub progress: bool,
}

impl<'a> Writer<'a> {
    /// The writer of `cmd_line` in the surroundings `ctx`.
    pub fn new(cmd_line: &str, ctx: &'a Context) -> Writer<'a> {
        let h = &ctx.host;
        Writer {
            cmd_line: cmd_line.to_owned(),
            uname: ctx.uname.clone().unwrap_or_else(|| {
                format!(
                    "{} {} {} {} {}",
                    h.sysname, h.nodename, h.release, h.version, h.machine
                )
            }),
            host: ctx.hostname.clone().unwrap_or_else(|| h.nodename.clone()),
            time: ctx
                .header_time
                .unwrap_or(u64::try_from(ctx.now).unwrap_or(0)),
            hooks: &ctx.hooks,
            explain: None,
            zone: &ctx.zone,
            progress: ctx.progress,
        }
    }

    /// The header of the command's `n`-th write (1-based): lvm2 describes
    /// the first as `Write from CMD.` and later ones as `Write[n] from CMD.`.
    pub fn header(&self, n: u32) -> ExportHeader {
        let d = if n <= 1 {
            format!("Write from {}.", self.cmd_line)
        } else {
            format!("Write[{n}] from {}.", self.cmd_line)
        };
        let mut h = ExportHeader::new(&d, &self.host, &self.uname, self.time);
        // lvm2 writes the date in its local zone.
        h.ctime = self
            .zone
            .ctime(i64::try_from(self.time).unwrap_or(i64::MAX));
        h
    }
}

/// Commits `vg` (its seqno bumped) as the command's `n`-th write.
pub(crate) fn commit_vg(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    vg: &mut Vg,
    w: &Writer,
    n: u32,
) -> Result<()> {
    vg.seqno = vg
        .seqno
        .checked_add(1)
        .ok_or_else(|| refused!("VG {}: seqno would overflow", vg.name))?;
    let text = export(vg, &w.header(n));
    let writes = commit::plan(sys, inst, &text)?;
    apply(sys, &writes, w.hooks)
}

/// Refuses VGs lvm2 would not change, and VGs on images that cannot be
/// opened for writing.
pub(crate) fn writable<'a>(
    sys: &'a System,
    vgname: &str,
) -> Result<&'a lvm_meta::scan::VgInstance> {
    let inst = changeable(sys, vgname)?;
    openable_rw(sys, inst.pv_devices.iter().flatten().copied())?;
    Ok(inst)
}

/// Refuses VGs lvm2 would not change (the images are not opened: for a
/// command that may not write, such as an activation with nothing to
/// merge).
pub(crate) fn changeable<'a>(
    sys: &'a System,
    vgname: &str,
) -> Result<&'a lvm_meta::scan::VgInstance> {
    changeable_with(sys, vgname, |_| false)
}

/// [`changeable`] for a command that only activates or deactivates:
/// cache, cache-pool and writecache segments (lvm2 activates them; lvmsim
/// keeps them as segments of no kind of its own, and the simulated
/// kernel serves them) do not refuse the VG; other unknown segments do.
pub(crate) fn activatable<'a>(
    sys: &'a System,
    vgname: &str,
) -> Result<&'a lvm_meta::scan::VgInstance> {
    changeable_with(sys, vgname, |t| {
        matches!(
            t.split('+').next().unwrap_or(t),
            "cache" | "cache-pool" | "writecache"
        )
    })
}

/// The one rule behind [`changeable`] and its variants: a VG with a PV
/// missing is refused, and so is one with a segment lvmsim keeps as text
/// (`SegmentKind::Unknown`) unless `handled` takes its type.
pub(crate) fn changeable_with<'a>(
    sys: &'a System,
    vgname: &str,
    handled: impl Fn(&str) -> bool,
) -> Result<&'a lvm_meta::scan::VgInstance> {
    let inst = sys.vg_or_err(vgname)?;
    if inst.partial() {
        bail!("Cannot change VG {vgname} while PVs are missing.");
    }
    if inst
        .vg
        .lvs
        .iter()
        .flat_map(|l| &l.segments)
        .any(|s| matches!(s.kind, SegmentKind::Unknown { .. }) && !handled(&s.type_name))
    {
        bail!("Cannot change VG {vgname} with unknown segments in it!");
    }
    Ok(inst)
}

/// Refuses the command before its first write when one of the images
/// `devs` cannot be opened for writing (a read-only file or mount), so that
/// a command with several writes never stops between them for that.
pub(crate) fn openable_rw(sys: &System, devs: impl IntoIterator<Item = usize>) -> Result<()> {
    for d in devs {
        sys.devices[d].image.check_writable()?;
        let path = &sys.devices[d].image.source;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("{path}: cannot open for writing"))?;
    }
    Ok(())
}

/// Opens each image that a write touches read-write (no other) and applies
/// the writes in order through `hooks`, syncing after each group so the
/// order holds on disk.
pub fn apply(sys: &System, writes: &[commit::PlannedWrite], hooks: &WriteHooks) -> Result<()> {
    let mut files: std::collections::BTreeMap<usize, std::fs::File> =
        std::collections::BTreeMap::new();
    for w in writes {
        if let std::collections::btree_map::Entry::Vacant(slot) = files.entry(w.device) {
            sys.devices[w.device].image.check_writable()?;
            let path = &sys.devices[w.device].image.source;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("{path}: cannot open for writing"))?;
            slot.insert(f);
        }
    }
    let mut last: Option<&str> = None;
    for w in writes {
        if last.is_some_and(|l| l != w.what) {
            for f in files.values() {
                f.sync_data()?;
            }
        }
        let f = &files[&w.device];
        let img = &sys.devices[w.device].image;
        // A PV inside a partition: the partition's byte in the file, the
        // write kept inside the partition.
        let at = img
            .file_offset(w.offset, w.data.len() as u64)
            .with_context(|| format!("{}: {} at {}", img.path, w.what, w.offset))?;
        hooks.write_at(
            f,
            &img.source,
            &w.data,
            at,
            &format!("{}: {}", img.path, w.what),
        )?;
        last = Some(w.what);
    }
    for f in files.values() {
        f.sync_data()?;
    }
    Ok(())
}

/// The images of a VG opened read-write (for data changes).
pub(crate) fn open_rw(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    hooks: &WriteHooks,
) -> Result<cow_engine::blocks::Images<crate::write_log::Logged>> {
    let mut pvs = Vec::new();
    for d in &inst.pv_devices {
        pvs.push(match d {
            Some(d) => {
                let img = &sys.devices[*d].image;
                img.check_writable()?;
                let path = &img.source;
                let base = img
                    .file_offset(0, img.size)
                    .with_context(|| format!("{}: cannot place it in {path}", img.path))?;
                Some(crate::write_log::Logged {
                    file: std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(path)
                        .with_context(|| format!("{path}: cannot open for writing"))?,
                    path: path.clone(),
                    base,
                    len: img.size,
                    log: hooks.log.clone(),
                    hooks: hooks.data_hooks(),
                })
            }
            None => None,
        });
    }
    Ok(cow_engine::blocks::Images { pvs })
}

/// The same images scanned again (after a commit).
pub(crate) fn rescan(sys: &System) -> Result<System> {
    let mut images = Vec::new();
    for d in &sys.devices {
        images.push(d.image.reopen()?);
    }
    Ok(System::scan(images)?)
}
