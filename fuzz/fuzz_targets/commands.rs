//! The command layer as a program: blank image files, then a sequence of
//! lvm2 commands (pvcreate, vgcreate, vgextend, vgreduce, lvcreate, snapshots,
//! lvextend/lvreduce, renames, removals, tags, data writes, merges, vgchange
//! -ay, vgremove) run through the `lvmsim` library. A command may refuse
//! (a typed error); nothing may panic. After every command the images are
//! scanned again and must hold a consistent state:
//!
//! - the scan succeeds and finds no problem, and every metadata area of a
//!   VG's PVs holds the VG's latest commit;
//! - each VG's committed text parses, builds the model the scan built, and
//!   exporting that model gives the committed text back, byte for byte;
//! - `pvs`, `vgs`, `lvs` (also `-a --active`, `--segments`) and `pvs
//!   --segments` report; `pvdisplay -m`, `vgdisplay -v`, `lvdisplay -a -m`
//!   and their `-c` forms display;
//! - every LV can be `cat` (a refusal is fine, e.g. an invalid snapshot);
//! - the data every readable LV shows is what the command may change: a
//!   write changes only the LV written (and reads back; the origin's
//!   snapshots keep their bytes unless they became invalid), a new
//!   snapshot shows its origin's bytes, a merge leaves the origin showing
//!   the snapshot's bytes, activation (finishing merges), renames, tags, new
//!   and removed LVs change no other LV's bytes;
//! - a created LV exists with at least the extents asked for, a removed or
//!   renamed one is gone, a resized one changed size in the right direction.
//!
//! Input: byte 0 gives the number of images (1 to 3), one byte each their
//! size (4 to 16 MiB), then each command is an opcode byte and its
//! arguments (see `decode`); missing bytes read as 0. Set
//! `LVMSIM_FUZZ_TRACE=1` to print each command and its result.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::io::Image;
use lvm_meta::model::Vg;
use lvm_meta::scan::System;
// Every path into the library is named here (the commands are called by
// their bare names below).
use lvmsim::context::Context;
use lvmsim::context::WriteHooks;
use lvmsim::data::cat;
use lvmsim::error::Error;
use lvmsim::ids::ids_for;
use lvmsim::lv::{
    lvchange, lvcreate, lvremove, lvrename, lvresize, LvchangeOpts, LvcreateOpts, LvresizeOpts,
};
use lvmsim::pv::{pvcreate, PvcreateOpts};
use lvmsim::report::{self, Kind};
use lvmsim::size::{Amount, Pct, Sign};
use lvmsim::snapshot::{lvconvert_merge, MergeProgress, MergeStart};
use lvmsim::vg::{vgchange, vgcreate, vgextend, vgreduce, vgremove, vgrename};

/// `lvmsim write`, never asked to stop.
fn write_lv(
    sys: &lvm_meta::scan::System,
    arg: &str,
    offset: u64,
    input: &mut dyn std::io::Read,
) -> Result<u64, Error> {
    lvmsim::data::write(
        sys,
        arg,
        offset,
        input,
        &WriteHooks::default(),
        &mut std::io::sink(),
    )
}
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DEVS: [&str; 3] = ["/dev/vda", "/dev/vdb", "/dev/vdc"];
const VGS: [&str; 3] = ["vg0", "vg1", "vg0"];
const LVS: [&str; 7] = ["lv0", "lv1", "sn0", "sn1", "lv0", "snapshot0", "lvol0"];
const TAGS: [&str; 3] = ["t1", "db", "bad tag"];
const MAX_OPS: usize = 24;

/// The decoded input, one cursor over the bytes.
struct Input<'a> {
    d: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.d.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.byte()) | (u16::from(self.byte()) << 8)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[usize::from(self.byte()) % xs.len()]
    }
    fn done(&self) -> bool {
        self.at >= self.d.len()
    }
    /// A non-empty set of device indices.
    fn devs(&mut self) -> Vec<usize> {
        let m = self.byte() % 7 + 1;
        (0..3).filter(|i| m & (1 << i) != 0).collect()
    }
    fn amount(&mut self) -> Amount {
        let v = self.byte();
        match self.byte() % 5 {
            0 | 1 => Amount::Size((u64::from(v) + 1) * 256),
            2 => Amount::Extents(u64::from(v % 40) + 1),
            3 => Amount::Percent(u32::from(v % 120) + 1, Pct::Free),
            _ => Amount::Percent(
                u32::from(v % 120) + 1,
                [Pct::Vg, Pct::Pvs, Pct::Origin][usize::from(v) % 3],
            ),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Pvcreate {
        dev: usize,
        copies: u32,
        mdasize: Option<u64>,
    },
    Vgcreate {
        vg: &'static str,
        devs: Vec<usize>,
        extent: u64,
        copies: u32,
    },
    Vgextend {
        vg: &'static str,
        devs: Vec<usize>,
    },
    Vgreduce {
        vg: &'static str,
        devs: Vec<usize>,
    },
    Lvcreate {
        vg: &'static str,
        lv: &'static str,
        amount: Amount,
        stripes: u32,
        stripe_size: Option<u64>,
        pvs: Vec<usize>,
        no_zero: bool,
    },
    Snapshot {
        vg: &'static str,
        origin: &'static str,
        lv: &'static str,
        amount: Amount,
        chunk: Option<u64>,
    },
    Resize {
        vg: &'static str,
        lv: &'static str,
        grow: bool,
        sign: Sign,
        amount: Amount,
    },
    Lvrename {
        vg: &'static str,
        old: &'static str,
        new: &'static str,
    },
    Lvremove {
        lvs: Vec<(&'static str, &'static str)>,
    },
    Lvchange {
        vg: &'static str,
        lv: &'static str,
        tag: &'static str,
        activate: bool,
    },
    Write {
        vg: &'static str,
        lv: &'static str,
        offset: u64,
        len: usize,
        seed: u8,
    },
    Merge {
        vg: &'static str,
        lv: &'static str,
        interrupt: Option<usize>,
    },
    Vgchange {
        vg: &'static str,
        poll: bool,
        interrupt: Option<usize>,
    },
    Vgrename {
        old: &'static str,
        new: &'static str,
    },
    Vgremove {
        vg: &'static str,
        force: bool,
    },
}

fn decode(inp: &mut Input) -> Op {
    match inp.byte() % 15 {
        0 => Op::Pvcreate {
            dev: usize::from(inp.byte() % 3),
            copies: u32::from(inp.byte() % 3),
            mdasize: inp.pick(&[None, None, Some(16), Some(128), Some(255), Some(2048)]),
        },
        1 => Op::Vgcreate {
            vg: inp.pick(&VGS),
            devs: inp.devs(),
            extent: inp.pick(&[8, 64, 128, 1024, 2048, 8192, 8192, 16384, 12]),
            copies: u32::from(inp.byte() % 3),
        },
        2 => Op::Vgextend {
            vg: inp.pick(&VGS),
            devs: inp.devs(),
        },
        3 => Op::Vgreduce {
            vg: inp.pick(&VGS),
            devs: inp.devs(),
        },
        4 => {
            let vg = inp.pick(&VGS);
            let lv = inp.pick(&LVS);
            let amount = inp.amount();
            let shape = inp.byte();
            let pvs = if shape & 0x80 != 0 {
                inp.devs()
            } else {
                Vec::new()
            };
            Op::Lvcreate {
                vg,
                lv,
                amount,
                stripes: if shape & 0x40 != 0 {
                    u32::from(shape % 3) + 1
                } else {
                    1
                },
                stripe_size: [None, Some(8), Some(128), Some(1024), Some(24)]
                    [usize::from(shape >> 2) % 5],
                pvs,
                no_zero: shape & 0x20 != 0,
            }
        }
        5 => Op::Snapshot {
            vg: inp.pick(&VGS),
            origin: inp.pick(&LVS),
            lv: inp.pick(&LVS),
            amount: inp.amount(),
            chunk: inp.pick(&[
                None,
                Some(8),
                Some(16),
                Some(32),
                Some(128),
                Some(1024),
                Some(2048),
            ]),
        },
        6 => {
            let vg = inp.pick(&VGS);
            let lv = inp.pick(&LVS);
            let b = inp.byte();
            Op::Resize {
                vg,
                lv,
                grow: b & 1 == 0,
                sign: [Sign::None, Sign::Plus, Sign::Minus][usize::from(b >> 1) % 3],
                amount: inp.amount(),
            }
        }
        7 => Op::Lvrename {
            vg: inp.pick(&VGS),
            old: inp.pick(&LVS),
            new: inp.pick(&LVS),
        },
        8 => {
            let n = 1 + usize::from(inp.byte() % 2);
            Op::Lvremove {
                lvs: (0..n).map(|_| (inp.pick(&VGS), inp.pick(&LVS))).collect(),
            }
        }
        9 => Op::Lvchange {
            vg: inp.pick(&VGS),
            lv: inp.pick(&LVS),
            tag: inp.pick(&TAGS),
            activate: inp.byte() & 1 != 0,
        },
        10 => Op::Write {
            vg: inp.pick(&VGS),
            lv: inp.pick(&LVS),
            offset: u64::from(inp.u16()) * 256 + u64::from(inp.byte() % 4) * 100,
            len: 1 + usize::from(inp.u16()) % 12288,
            seed: inp.byte(),
        },
        11 => Op::Merge {
            vg: inp.pick(&VGS),
            lv: inp.pick(&LVS),
            interrupt: inp.pick(&[None, None, Some(0), Some(1), Some(3)]),
        },
        12 => Op::Vgchange {
            vg: inp.pick(&VGS),
            poll: inp.byte() % 4 != 0,
            interrupt: inp.pick(&[None, None, None, Some(1)]),
        },
        13 => Op::Vgrename {
            old: inp.pick(&VGS),
            new: inp.pick(&["vg0", "vg1", "vg2", "bad/name"]),
        },
        _ => Op::Vgremove {
            vg: inp.pick(&VGS),
            force: inp.byte() & 1 != 0,
        },
    }
}

fn dev_names(devs: &[usize]) -> Vec<String> {
    devs.iter().map(|&d| DEVS[d].to_owned()).collect()
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

fn amount_arg(a: Amount) -> String {
    match a {
        Amount::Size(s) => format!("-L {s}s"),
        Amount::Extents(n) => format!("-l {n}"),
        Amount::Percent(p, of) => format!("-l {p}%{of:?}").to_uppercase(),
    }
}

/// The images, as the library scans them.
struct Images {
    paths: Vec<PathBuf>,
}

impl Images {
    fn scan(&self) -> System {
        let images = self
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut img = Image::open(&p.display().to_string()).expect("image opens");
                img.path = DEVS[i].to_owned();
                img
            })
            .collect();
        System::scan(images).expect("the images scan")
    }
}

/// Runs one command on `sys` as the `lvmsim` binary would.
fn run(sys: &System, ctx: &Context, op: &Op) -> Result<(), Error> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    match op {
        Op::Pvcreate {
            dev,
            copies,
            mdasize,
        } => {
            let line = format!("pvcreate --metadatacopies {copies} {}", DEVS[*dev]);
            let o = PvcreateOpts {
                metadatacopies: Some(*copies),
                metadatasize: *mdasize,
                ..PvcreateOpts::default()
            };
            let mut ids = ids_for(ctx, sys, &line);
            pvcreate(sys, &dev_names(&[*dev]), &o, &mut ids, &ctx.hooks, &mut out)
        }
        Op::Vgcreate {
            vg,
            devs,
            extent,
            copies,
        } => {
            let names = dev_names(devs);
            let line = format!("vgcreate -s {extent}s {vg} {}", names.join(" "));
            let o = PvcreateOpts {
                metadatacopies: Some(*copies),
                ..PvcreateOpts::default()
            };
            let mut ids = ids_for(ctx, sys, &line);
            let w = ctx.writer(&line);
            vgcreate(sys, vg, &names, Some(*extent), &o, &w, &mut ids, &mut out)
        }
        Op::Vgextend { vg, devs } => {
            let names = dev_names(devs);
            let line = format!("vgextend {vg} {}", names.join(" "));
            let mut ids = ids_for(ctx, sys, &line);
            let w = ctx.writer(&line);
            vgextend(
                sys,
                vg,
                &names,
                &PvcreateOpts::default(),
                &w,
                &mut ids,
                &mut out,
            )
        }
        Op::Vgreduce { vg, devs } => {
            let names = dev_names(devs);
            let line = format!("vgreduce {vg} {}", names.join(" "));
            vgreduce(sys, vg, &names, &ctx.writer(&line), &mut out)
        }
        Op::Lvcreate {
            vg,
            lv,
            amount,
            stripes,
            stripe_size,
            pvs,
            no_zero,
        } => {
            let names = dev_names(pvs);
            let line = format!(
                "lvcreate -n {lv} {} -i {stripes} {vg} {}",
                amount_arg(*amount),
                names.join(" ")
            );
            let o = LvcreateOpts {
                name: Some((*lv).to_owned()),
                amount: Some(*amount),
                stripes: Some(*stripes),
                stripe_size: *stripe_size,
                no_zero: *no_zero,
                ..LvcreateOpts::default()
            };
            let mut ids = ids_for(ctx, sys, &line);
            let w = ctx.writer(&line);
            lvcreate(sys, vg, &names, &o, &w, &mut ids, &mut out, &mut err)
        }
        Op::Snapshot {
            vg,
            origin,
            lv,
            amount,
            chunk,
        } => {
            let line = format!("lvcreate -s -n {lv} {} {vg}/{origin}", amount_arg(*amount));
            let o = LvcreateOpts {
                name: Some((*lv).to_owned()),
                amount: Some(*amount),
                origin: Some((*origin).to_owned()),
                chunk: *chunk,
                ..LvcreateOpts::default()
            };
            let mut ids = ids_for(ctx, sys, &line);
            let w = ctx.writer(&line);
            lvcreate(sys, vg, &[], &o, &w, &mut ids, &mut out, &mut err)
        }
        Op::Resize {
            vg,
            lv,
            grow,
            sign,
            amount,
        } => {
            let cmd = if *grow { "lvextend" } else { "lvreduce" };
            let line = format!("{cmd} {} {vg}/{lv}", amount_arg(*amount));
            let o = LvresizeOpts {
                sign: *sign,
                amount: Some(*amount),
                ..LvresizeOpts::default()
            };
            let w = ctx.writer(&line);
            lvresize(sys, &format!("{vg}/{lv}"), &[], &o, *grow, &w, &mut out)
        }
        Op::Lvrename { vg, old, new } => {
            let args = [(*vg).to_owned(), (*old).to_owned(), (*new).to_owned()];
            let w = ctx.writer(&format!("lvrename {}", args.join(" ")));
            lvrename(sys, &args, &w, &mut out)
        }
        Op::Lvremove { lvs } => {
            let args: Vec<String> = lvs.iter().map(|(v, l)| format!("{v}/{l}")).collect();
            let w = ctx.writer(&format!("lvremove {}", args.join(" ")));
            lvremove(sys, &args, &w, &mut out)
        }
        Op::Lvchange {
            vg,
            lv,
            tag,
            activate,
        } => {
            let o = LvchangeOpts {
                activate: activate.then_some(true),
                addtag: vec![(*tag).to_owned()],
                ..LvchangeOpts::default()
            };
            let line = format!("lvchange --addtag {tag} {vg}/{lv}");
            lvchange(
                sys,
                &[format!("{vg}/{lv}")],
                &o,
                &ctx.writer(&line),
                &mut out,
            )
        }
        Op::Write {
            vg,
            lv,
            offset,
            len,
            seed,
        } => {
            let bytes = pattern(*seed, *len);
            let n = write_lv(sys, &format!("{vg}/{lv}"), *offset, &mut &bytes[..])?;
            assert_eq!(n, *len as u64, "a successful write wrote every byte");
            Ok(())
        }
        Op::Merge { vg, lv, interrupt } => {
            let w = ctx.writer(&format!("lvconvert --merge {vg}/{lv}"));
            let mut seen = 0usize;
            let mut progress = |p: MergeProgress| {
                assert!(p.runs > seen, "merge runs are counted up");
                assert!(p.sectors_left <= p.sectors_total.max(1), "merge progress");
                seen = p.runs;
            };
            lvconvert_merge(
                sys,
                &format!("{vg}/{lv}"),
                match interrupt {
                    Some(0) => MergeStart::NextActivation,
                    stop_after => MergeStart::Now {
                        stop_after: *stop_after,
                    },
                },
                Some(&mut progress),
                &w,
                &mut out,
            )
        }
        Op::Vgchange {
            vg,
            poll,
            interrupt,
        } => {
            let w = ctx.writer(&format!("vgchange -ay {vg}"));
            vgchange(sys, vg, true, *poll, *interrupt, &w, &mut out)
        }
        Op::Vgrename { old, new } => {
            let w = ctx.writer(&format!("vgrename {old} {new}"));
            vgrename(sys, old, new, &w, &mut out)
        }
        Op::Vgremove { vg, force } => {
            let line = format!("vgremove{} {vg}", if *force { " -f" } else { "" });
            vgremove(sys, vg, *force, &ctx.writer(&line), &mut out)
        }
    }
}

/// What `cat` shows of each LV: its size and a hash of its bytes, or None
/// when the LV cannot be read.
type Contents = BTreeMap<(String, String), Option<(u64, u64)>>;

/// A CRC and the length of what is written (a cheap fingerprint: the
/// fuzzer spends its time in the commands, not in hashing).
struct HashWriter(crc32fast::Hasher, u64);

impl std::io::Write for HashWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        self.1 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn read_range(sys: &System, vg: &str, lv: &str, offset: u64, len: u64) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    cat(sys, &format!("{vg}/{lv}"), offset, Some(len), false, &mut v).ok()?;
    Some(v)
}

/// The checks that hold after any command; returns what every LV shows.
fn check(sys: &System, ctx: &Context) -> Contents {
    assert!(
        sys.problems.is_empty(),
        "the commands left a problem on the images: {:?}",
        sys.problems
    );
    let uname = ctx.writer("").uname;
    for inst in &sys.vgs {
        let text = inst.text.strip_suffix(&[0]).unwrap_or(&inst.text);
        let tree = lvm_meta::text::parse(text).expect("committed text parses");
        let vg = Vg::from_tree(&tree).expect("committed text builds a VG");
        assert_eq!(&vg, &*inst.vg, "the text builds the model the scan built");
        let h = &vg.header;
        let header = ExportHeader::new(
            h.description.as_deref().unwrap_or(""),
            h.creation_host.as_deref().unwrap_or(""),
            &uname,
            h.creation_time.unwrap_or(0) as u64,
        );
        let again = export(&vg, &header);
        assert_eq!(
            again.as_bytes(),
            text,
            "exporting the model of VG {} gives its text back",
            vg.name
        );
        // Every metadata area of the VG holds its latest commit.
        for d in inst.pv_devices.iter().flatten() {
            for m in &sys.devices[*d].mdas {
                if m.ignored {
                    continue;
                }
                let c = m.committed.as_ref().expect("a PV's area holds its VG");
                assert_eq!(
                    (&c.vg.id, c.vg.seqno),
                    (&inst.vg.id, inst.vg.seqno),
                    "an area of {} is behind",
                    sys.devices[*d].image.path
                );
            }
        }
    }
    let plain = report::Options::default();
    let all = report::Options {
        all: true,
        active: true,
        ..report::Options::default()
    };
    for (kind, o) in [
        (Kind::Pv, &plain),
        (Kind::Vg, &plain),
        (Kind::Lv, &plain),
        (Kind::Lv, &all),
        (Kind::Seg, &all),
        (Kind::PvSeg, &all),
    ] {
        if let Err(e) = report::report(sys, kind, o) {
            panic!("{kind:?} report fails: {e}");
        }
    }
    // pvdisplay -m, vgdisplay -v, lvdisplay -a -m and their -c forms.
    for cmd in [
        lvmsim::display::Command::Pv,
        lvmsim::display::Command::Vg,
        lvmsim::display::Command::Lv,
    ] {
        for colon in [false, true] {
            let o = lvmsim::display::Options {
                colon,
                maps: !colon && cmd != lvmsim::display::Command::Vg,
                verbose: cmd == lvmsim::display::Command::Vg,
                report: report::Options {
                    all: cmd == lvmsim::display::Command::Lv,
                    ..report::Options::default()
                },
                ..lvmsim::display::Options::default()
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            if let Err(e) = lvmsim::display::run(sys, cmd, &o, &mut out, &mut err) {
                panic!("{cmd:?} display fails: {e}");
            }
        }
    }
    let mut contents = Contents::new();
    for inst in &sys.vgs {
        for lv in &inst.vg.lvs {
            let arg = format!("{}/{}", inst.vg.name, lv.name);
            let mut h = HashWriter(crc32fast::Hasher::new(), 0);
            let seen = cat(sys, &arg, 0, None, false, &mut h)
                .ok()
                .map(|()| (h.1, u64::from(h.0.finalize())));
            if seen.is_none() {
                // What lvmsim cat --force reads of an invalid snapshot.
                let _ = cat(sys, &arg, 0, None, true, &mut std::io::sink());
            }
            contents.insert((inst.vg.name.clone(), lv.name.clone()), seen);
        }
    }
    contents
}

fn key(vg: &str, lv: &str) -> (String, String) {
    (vg.to_owned(), lv.to_owned())
}

fn extents(sys: &System, vg: &str, lv: &str) -> Option<u64> {
    let v = sys.vg(vg)?;
    Some(v.vg.lv_extents(&v.vg.lvs[v.vg.lv_index(lv)?]))
}

/// The LVs whose bytes `op` may change (by their names before it), and how
/// names move.
fn changes(
    before_sys: &System,
    op: &Op,
    ok: bool,
) -> (Vec<(String, String)>, Vec<(String, String, String, String)>) {
    let mut may = Vec::new();
    let mut moves = Vec::new();
    let related = |vg: &str, lv: &str| -> Vec<(String, String)> {
        let mut v = vec![key(vg, lv)];
        if let Some(inst) = before_sys.vg(vg) {
            if let Some(li) = inst.vg.lv_index(lv) {
                let r = &inst.vg.roles[li];
                for &g in &r.origin_of {
                    for (j, rj) in inst.vg.roles.iter().enumerate() {
                        if rj.cow_of.is_some_and(|c| c.glue == g) {
                            v.push(key(vg, &inst.vg.lvs[j].name));
                        }
                    }
                }
                if let Some(c) = r.cow_of {
                    v.push(key(vg, &inst.vg.lvs[c.origin].name));
                }
            }
        }
        v
    };
    match op {
        Op::Write { vg, lv, .. } => may.push(key(vg, lv)),
        Op::Resize { vg, lv, .. } => may.extend(related(vg, lv)),
        Op::Merge { vg, lv, .. } => may.extend(related(vg, lv)),
        // A merging snapshot removed from an inactive origin takes its
        // pending merge with it: the origin shows its own bytes again.
        Op::Lvremove { lvs } => {
            for (vg, lv) in lvs {
                let Some(inst) = before_sys.vg(vg) else {
                    continue;
                };
                let merging = inst
                    .vg
                    .lv_index(lv)
                    .and_then(|li| inst.vg.roles[li].cow_of)
                    .filter(|c| c.merging);
                if let Some(c) = merging {
                    may.push(key(vg, &inst.vg.lvs[c.origin].name));
                }
            }
        }
        Op::Lvrename { vg, old, new } if ok => {
            moves.push(((*vg).into(), (*old).into(), (*vg).into(), (*new).into()))
        }
        Op::Vgrename { old, new } if ok => {
            if let Some(inst) = before_sys.vg(old) {
                for l in &inst.vg.lvs {
                    moves.push(((*old).into(), l.name.clone(), (*new).into(), l.name.clone()));
                }
            }
        }
        _ => {}
    }
    (may, moves)
}

fn trace() -> bool {
    std::env::var_os("LVMSIM_FUZZ_TRACE").is_some()
}

fuzz_target!(|bytes: &[u8]| {
    let mut inp = Input { d: bytes, at: 0 };
    let n = 1 + usize::from(inp.byte() % 3);
    // In memory where possible: the commands sync every write.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let paths: Vec<PathBuf> = (0..n)
        .map(|i| {
            let p: PathBuf = Path::new(dir.path()).join(format!("d{i}.img"));
            let mib = 4 + u64::from(inp.byte() % 13);
            let f = std::fs::File::create(&p).expect("an image file");
            f.set_len(mib << 20).expect("a sparse image");
            p
        })
        .collect();
    let images = Images { paths };
    let ctx = Context::deterministic();
    let mut ops = Vec::new();
    while !inp.done() && ops.len() < MAX_OPS {
        ops.push(decode(&mut inp));
    }
    let mut sys = images.scan();
    let mut before = check(&sys, &ctx);
    for (i, op) in ops.iter().enumerate() {
        // What the op's own checks need from before it.
        let pre_write = match op {
            Op::Write {
                vg,
                lv,
                offset,
                len,
                ..
            } => {
                // The bytes the origin's snapshots show there (by name).
                let mut snaps = Vec::new();
                if let Some(inst) = sys.vg(vg) {
                    if let Some(li) = inst.vg.lv_index(lv) {
                        for &g in &inst.vg.roles[li].origin_of {
                            for (j, r) in inst.vg.roles.iter().enumerate() {
                                if r.cow_of.is_some_and(|c| c.glue == g) {
                                    let name = inst.vg.lvs[j].name.clone();
                                    let old = read_range(&sys, vg, &name, *offset, *len as u64);
                                    snaps.push((name, old));
                                }
                            }
                        }
                    }
                }
                snaps
            }
            _ => Vec::new(),
        };
        let merge_origin = match op {
            Op::Merge { vg, lv, .. } => sys.vg(vg).and_then(|inst| {
                let c = inst.vg.roles.get(inst.vg.lv_index(lv)?)?.cow_of?;
                Some(inst.vg.lvs[c.origin].name.clone())
            }),
            _ => None,
        };
        let old_extents = match op {
            Op::Resize { vg, lv, .. } => extents(&sys, vg, lv),
            _ => None,
        };
        let result = run(&sys, &ctx, op);
        if trace() {
            eprintln!(
                "{i}: {op:?} -> {:?}",
                result.as_ref().map_err(|e| e.to_string())
            );
        }
        let ok = result.is_ok();
        let after_sys = images.scan();
        let after = check(&after_sys, &ctx);
        let ctxt = format!("after command {i} {op:?} ({:?})", result.as_ref().err());

        // Bytes: every LV readable before and after shows the same bytes,
        // unless the command may change it.
        let (may, moves) = changes(&sys, op, ok);
        for (k, seen) in &before {
            let Some(seen) = seen else { continue };
            if may.contains(k) {
                continue;
            }
            let now_key = moves
                .iter()
                .find(|m| (&m.0, &m.1) == (&k.0, &k.1))
                .map(|m| (m.2.clone(), m.3.clone()))
                .unwrap_or_else(|| k.clone());
            if let Some(Some(now)) = after.get(&now_key) {
                assert_eq!(now, seen, "{ctxt}: {}/{} changed", k.0, k.1);
            }
        }

        match op {
            Op::Lvcreate {
                vg,
                lv,
                amount,
                stripes,
                no_zero,
                ..
            } if ok => {
                let got =
                    extents(&after_sys, vg, lv).unwrap_or_else(|| panic!("{ctxt}: not created"));
                let asked = match amount {
                    Amount::Size(s) => s.div_ceil(after_sys.vg(vg).unwrap().vg.extent_size.0),
                    Amount::Extents(n) => *n,
                    Amount::Percent(..) => 1,
                };
                assert!(got >= asked, "{ctxt}: {got} extents for {asked}");
                assert_eq!(got % u64::from(*stripes), 0, "{ctxt}: whole stripes");
                // A new LV starts zeroed unless -Z n (extents are 4 KiB
                // or more).
                if !no_zero {
                    let head = read_range(&after_sys, vg, lv, 0, 4096);
                    assert_eq!(head, Some(vec![0; 4096]), "{ctxt}: not zeroed");
                }
            }
            Op::Snapshot {
                vg,
                origin,
                lv,
                chunk,
                ..
            } if ok => {
                let inst = after_sys.vg(vg).expect("the VG stays");
                let li = inst
                    .vg
                    .lv_index(lv)
                    .unwrap_or_else(|| panic!("{ctxt}: no snapshot"));
                let c = inst.vg.roles[li]
                    .cow_of
                    .unwrap_or_else(|| panic!("{ctxt}: not a snapshot"));
                assert_eq!(inst.vg.lvs[c.origin].name, *origin, "{ctxt}: origin");
                assert_eq!(c.chunk_size.0, chunk.unwrap_or(8), "{ctxt}: chunk size");
                let o = before.get(&key(vg, origin)).copied().flatten();
                let s = after.get(&key(vg, lv)).copied().flatten();
                if let (Some(o), Some(s)) = (o, s) {
                    assert_eq!(s, o, "{ctxt}: the snapshot does not show its origin");
                }
            }
            Op::Resize { vg, lv, grow, .. } if ok => {
                let old = old_extents.expect("it existed");
                let new = extents(&after_sys, vg, lv).unwrap_or_else(|| panic!("{ctxt}: gone"));
                // lvm2 grows a snapshot's COW no further than it can be used;
                // a request past that which changes nothing succeeds.
                let capped_cow = after_sys.vg(vg).is_some_and(|i| {
                    i.vg.lv_index(lv)
                        .is_some_and(|li| i.vg.roles[li].cow_of.is_some())
                });
                assert!(
                    if *grow {
                        new > old || (new == old && capped_cow)
                    } else {
                        new < old
                    },
                    "{ctxt}: {old} -> {new}"
                );
            }
            Op::Lvremove { lvs } if ok => {
                for (vg, lv) in lvs {
                    assert!(
                        extents(&after_sys, vg, lv).is_none(),
                        "{ctxt}: {vg}/{lv} stays"
                    );
                }
            }
            Op::Lvrename { vg, old, new } if ok => {
                assert!(
                    extents(&after_sys, vg, old).is_none(),
                    "{ctxt}: old name stays"
                );
                assert!(
                    extents(&after_sys, vg, new).is_some(),
                    "{ctxt}: new name missing"
                );
            }
            Op::Vgrename { old, new } if ok => {
                assert!(
                    after_sys.vg(old).is_none() && after_sys.vg(new).is_some(),
                    "{ctxt}"
                );
            }
            Op::Vgremove { vg, .. } if ok => {
                assert!(after_sys.vg(vg).is_none(), "{ctxt}: the VG stays");
            }
            Op::Vgcreate { vg, extent, .. } if ok => {
                let inst = after_sys.vg(vg).unwrap_or_else(|| panic!("{ctxt}: no VG"));
                assert_eq!(inst.vg.extent_size.0, *extent, "{ctxt}: extent size");
            }
            Op::Write {
                vg,
                lv,
                offset,
                len,
                seed,
            } if ok => {
                let back = read_range(&after_sys, vg, lv, *offset, *len as u64);
                assert_eq!(
                    back.as_deref(),
                    Some(&pattern(*seed, *len)[..]),
                    "{ctxt}: the write does not read back"
                );
                for (name, old) in &pre_write {
                    let now = read_range(&after_sys, vg, name, *offset, *len as u64);
                    if let (Some(old), Some(now)) = (old, now) {
                        assert_eq!(&now, old, "{ctxt}: snapshot {name} changed");
                    }
                }
            }
            Op::Merge { vg, lv, .. } if ok => {
                // The origin shows what the snapshot showed, merged or not.
                let origin = merge_origin.expect("a merge needs an origin");
                let s = before.get(&key(vg, lv)).copied().flatten();
                let o = after.get(&key(vg, &origin)).copied().flatten();
                if let (Some(s), Some(o)) = (s, o) {
                    if o.0 == s.0 {
                        assert_eq!(o, s, "{ctxt}: {origin} does not show the merged bytes");
                    } else {
                        // An origin extended after the snapshot was taken:
                        // the snapshot (and so the merge) covers only the
                        // origin's first bytes; the rest stays as it was.
                        assert!(o.0 > s.0, "{ctxt}: {origin} is shorter than its snapshot");
                        let head = read_range(&after_sys, vg, &origin, 0, s.0)
                            .unwrap_or_else(|| panic!("{ctxt}: {origin} cannot be read"));
                        let crc = u64::from(crc32fast::hash(&head));
                        assert_eq!(
                            (head.len() as u64, crc),
                            s,
                            "{ctxt}: {origin} does not show the merged bytes"
                        );
                        let tail_before = read_range(&sys, vg, &origin, s.0, o.0 - s.0);
                        let tail_after = read_range(&after_sys, vg, &origin, s.0, o.0 - s.0);
                        assert_eq!(
                            tail_after, tail_before,
                            "{ctxt}: {origin} changed past its snapshot's end"
                        );
                    }
                }
            }
            _ => {}
        }
        sys = after_sys;
        before = after;
    }
});
