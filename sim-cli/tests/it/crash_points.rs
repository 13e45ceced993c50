//! Crash consistency of the commands that write metadata: each command is
//! cut at every one of its writes (`LVMSIM_CRASH_AFTER=k`, also with the
//! cut write torn after 512 bytes), and the images must then read back,
//! without error, as exactly the state before the command or the state
//! after it.

use crate::common::{self, Lvmsim, Output};
use std::path::{Path, PathBuf};

const IMAGES: [(&str, u64); 3] = [("a", 12 << 20), ("b", 10 << 20), ("c", 16 << 20)];

struct Set {
    dir: tempfile::TempDir,
}

impl Set {
    fn blank() -> Set {
        let dir = common::scratch();
        for (n, size) in IMAGES {
            let f = std::fs::File::create(dir.path().join(format!("{n}.img"))).unwrap();
            f.set_len(size).unwrap();
        }
        Set { dir }
    }

    fn copy(&self) -> Set {
        let dir = common::scratch();
        for (n, _) in IMAGES {
            let name = format!("{n}.img");
            common::copy_sparse(&self.dir.path().join(&name), &dir.path().join(&name));
        }
        Set { dir }
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(format!("{n}.img"))
    }

    fn run(&self, args: &str, crash: Option<(u64, bool)>) -> Output {
        let mut c = IMAGES
            .iter()
            .fold(Lvmsim::new(), |l, (n, _)| {
                l.dev(&format!("/dev/{n}"), &self.path(n))
            })
            .args(args.split_whitespace())
            .env("LVMSIM_DETERMINISTIC", "1")
            .env_remove("LVMSIM_CRASH_AFTER")
            .env_remove("LVMSIM_CRASH_TORN");
        if let Some((k, torn)) = crash {
            c = c.env("LVMSIM_CRASH_AFTER", k.to_string());
            if torn {
                c = c.env("LVMSIM_CRASH_TORN", "1");
            }
        }
        c.run()
    }

    fn ok(&self, args: &str) {
        let o = self.run(args, None);
        assert!(o.ok(), "{args}: {}", o.stderr);
    }

    /// Everything the tools report about the state, or why it cannot: the
    /// library's `pvs`, `vgs` and `lvs` (what the binary prints), called in
    /// this process; only the cut command itself is run as lvmsim.
    fn state(&self) -> Result<String, String> {
        use lvmsim::report::{Kind, Options};
        let images: Vec<(String, PathBuf)> = IMAGES
            .iter()
            .map(|(n, _)| (format!("/dev/{n}"), self.path(n)))
            .collect();
        let named: Vec<(&str, &PathBuf)> = images.iter().map(|(n, p)| (n.as_str(), p)).collect();
        let s = lvmsim::api::Session::open(&named, lvmsim::context::Context::deterministic())
            .map_err(|e| format!("scan: {e}"))?;
        let mut out = Vec::new();
        for (kind, fields, all) in [
            (
                Kind::Pv,
                "pv_name,vg_name,pv_pe_count,pv_pe_alloc_count,pv_mda_count",
                false,
            ),
            (Kind::Vg, "vg_name,vg_seqno,lv_count,vg_free_count", false),
            (
                Kind::Seg,
                "lv_name,seg_start_pe,seg_pe_ranges,lv_attr",
                true,
            ),
        ] {
            let opts = Options {
                all,
                segments: kind == Kind::Seg,
                fields: vec![fields.to_owned()],
                json: true,
                ..Options::default()
            };
            let r = match kind {
                Kind::Pv => s.pvs(&opts),
                Kind::Vg => s.vgs(&opts),
                _ => s.lvs(&opts),
            };
            r.and_then(|r| r.write(&mut out))
                .map_err(|e| format!("{kind:?} report: {e}"))?;
        }
        Ok(String::from_utf8(out).unwrap())
    }
}

/// Cuts `cmd` at every write (whole and torn); returns the cut points tried.
/// `first` is a command whose completed state is also acceptable: vgcreate
/// and vgextend make non-PV images PVs first, as lvm2 does, and that
/// pvcreate is finished before the VG is written; vgremove -f commits the
/// removal of the LVs before it removes the VG.
fn cut_everywhere(before: &Set, cmd: &str, first: Option<&str>) -> u64 {
    let old = before.state().expect("state before");
    let mid = first.map(|f| {
        let m = before.copy();
        m.ok(f);
        m.state().expect("state after the implicit pvcreate")
    });
    let after = before.copy();
    after.ok(cmd);
    let new = after.state().expect("state after");
    assert_ne!(old, new, "{cmd} changed nothing");
    let mut tried = 0;
    for k in 0.. {
        let mut finished = false;
        for torn in [false, true] {
            let s = before.copy();
            let o = s.run(cmd, Some((k, torn)));
            if o.ok() {
                finished = true;
                break;
            }
            tried += 1;
            let err = &o.stderr;
            assert!(err.contains("simulated crash"), "{cmd} cut at {k}: {err}");
            match s.state() {
                // lvm2's vg_write marks new PVs as used before it writes
                // the metadata, so a cut between them shows those PVs in VG
                // "[unknown]" (as lvm2 would): otherwise the old state.
                Ok(st) => assert!({
                    let st = st.replace("\"vg_name\":\"[unknown]\"", "\"vg_name\":\"\"");
                    st == old || st == new || mid.as_ref() == Some(&st)
                },
                    "{cmd} cut at write {k} (torn {torn}) left a state that is neither old nor new:\n{st}\nold:\n{old}\nnew:\n{new}"
                ),
                Err(e) => panic!("{cmd} cut at write {k} (torn {torn}): images unreadable: {e}"),
            }
        }
        if finished {
            break;
        }
        assert!(k < 64, "{cmd}: more than 64 writes?");
    }
    tried
}

#[test]
fn every_write_of_every_metadata_command_is_a_safe_cut() {
    let mut total = 0;
    let mut report = Vec::new();
    let mut s = Set::blank();
    let steps = [
        "pvcreate --metadatacopies 2 /dev/c",
        "vgcreate -s 1M vg1 /dev/a /dev/c",
        "lvcreate -n l1 -L 3M vg1",
        "lvcreate -an -Zn -n s2 -i2 -l 4 vg1",
        "lvextend -l +5 vg1/l1",
        "vgextend vg1 /dev/b",
        "lvcreate -Zn -n l3 -l 12 vg1",
        "lvrename vg1 l3 big",
        "lvreduce -y -l -3 vg1/big",
        "lvremove -y vg1/s2",
        "vgcfgbackup -f BACKUP vg1",
        "lvremove -y vg1/l1",
        "vgcfgrestore -f BACKUP vg1",
        "lvremove -y vg1/big",
        "vgreduce vg1 /dev/b",
        "vgrename vg1 vg2",
        "vgremove -f vg2",
    ];
    let backup = s
        .dir
        .path()
        .parent()
        .unwrap()
        .join(format!("lvmsim-crash-{}.vg", std::process::id()));
    for step in steps {
        let cmd = step.replace("BACKUP", &backup.display().to_string());
        if cmd.starts_with("vgcfgbackup") {
            s.ok(&cmd);
            continue;
        }
        let first = match step {
            "vgcreate -s 1M vg1 /dev/a /dev/c" => Some("pvcreate /dev/a"),
            "vgextend vg1 /dev/b" => Some("pvcreate /dev/b"),
            // vgremove -f removes the LVs in one commit before the VG.
            "vgremove -f vg2" => Some("lvremove -y vg2/l1"),
            _ => None,
        };
        let n = cut_everywhere(&s, &cmd, first);
        report.push(format!("{step}: {n}"));
        total += n;
        s.ok(&cmd);
        s = s.copy();
    }
    let _ = std::fs::remove_file(&backup);
    eprintln!("crash cut points tried: {total} ({})", report.join(", "));
    assert!(total > 50, "only {total} cut points");
    let _ = Path::new("");
}
