//! Shared by the golden tests: scenario directories made by real lvm2 (the
//! committed corpus, or a live run of testdata/lvm2/gen.sh), replayed
//! through lvmsim and compared with what lvm2 printed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One scenario made ready to run: images in a private temporary folder.
pub struct Scenario {
    pub name: String,
    pub golden: PathBuf,
    pub work: tempfile::TempDir,
    /// lvm2's device name -> the image's path in `work`.
    pub devs: Vec<(String, PathBuf)>,
}

/// Decompresses (or copies) every image of a scenario directory.
pub fn load(dir: &Path) -> Scenario {
    let work = tempfile::tempdir().unwrap();
    let devmap = std::fs::read_to_string(dir.join("devmap.txt"))
        .unwrap_or_else(|e| panic!("{}: devmap.txt: {e}", dir.display()));
    let mut devs = Vec::new();
    for line in devmap.lines().filter(|l| !l.trim().is_empty()) {
        let (name, file) = line.split_once(' ').expect("devmap line: NAME FILE");
        let out = work.path().join(file);
        let zst = dir.join(format!("{file}.zst"));
        if zst.exists() {
            let input = std::fs::File::open(&zst).unwrap();
            let mut dec = zstd::stream::read::Decoder::new(input).unwrap();
            let mut f = std::fs::File::create(&out).unwrap();
            std::io::copy(&mut dec, &mut f).unwrap();
        } else {
            std::fs::copy(dir.join(file), &out)
                .unwrap_or_else(|e| panic!("{}: {file}: {e}", dir.display()));
        }
        devs.push((name.to_owned(), out));
    }
    Scenario {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        golden: dir.to_path_buf(),
        work,
        devs,
    }
}

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn lvmsim(args: &[String], cwd: &Path) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_lvmsim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    Output {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// sha256 of every image, to prove a command left them untouched.
pub fn hashes(s: &Scenario) -> BTreeMap<PathBuf, Vec<u8>> {
    use sha2::Digest;
    s.devs
        .iter()
        .map(|(_, p)| {
            let mut h = sha2::Sha256::new();
            let mut f = std::fs::File::open(p).unwrap();
            std::io::copy(&mut f, &mut h).unwrap();
            (p.clone(), h.finalize().to_vec())
        })
        .collect()
}

/// Lines of a backup file that both tools must agree on: all but comment
/// lines and the header values that name the command, host and time.
pub fn backup_body(t: &str) -> Vec<String> {
    t.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| !l.starts_with("description = "))
        .filter(|l| !l.starts_with("creation_host = "))
        .filter(|l| {
            !(l.starts_with("creation_time = ") && l.contains('\t') && !l.starts_with('\t'))
        })
        .map(str::to_owned)
        .collect()
}

fn first_diff(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  lvm2:   {x:?}\n  lvmsim: {y:?}", i + 1);
        }
    }
    format!(
        "line counts differ: lvm2 {} lvmsim {}",
        a.lines().count(),
        b.lines().count()
    )
}

/// Replays every command in `commands.txt` through lvmsim; returns one
/// message per golden that differs, and how many were compared.
pub fn replay(s: &Scenario) -> (usize, Vec<String>) {
    let cmds = std::fs::read_to_string(s.golden.join("commands.txt")).unwrap();
    let before = hashes(s);
    let mut failures = Vec::new();
    let mut compared = 0;
    for line in cmds.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let (golden, status, cmd) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        let mut args: Vec<String> = Vec::new();
        match words[0].as_str() {
            "pvs" | "vgs" | "lvs" | "vgcfgbackup" => {
                for (name, path) in &s.devs {
                    args.push("--dev".into());
                    args.push(format!("{name}={}", path.display()));
                }
                args.push(words[0].clone());
                if words[0] != "vgcfgbackup" {
                    // lvm2 ran without device-mapper: 'X' in lv_attr.
                    args.push("--driverloaded".into());
                    args.push("n".into());
                }
                args.extend(words[1..].iter().cloned());
            }
            "pvck" => {
                for w in &words {
                    match s.devs.iter().find(|(n, _)| n == w) {
                        Some((_, p)) => args.push(p.display().to_string()),
                        None => args.push(w.clone()),
                    }
                }
            }
            other => {
                failures.push(format!("{golden}: no replay for command {other}"));
                continue;
            }
        }
        let out = lvmsim(&args, s.work.path());
        compared += 1;
        let want = std::fs::read_to_string(s.golden.join(golden)).unwrap();
        let want_err =
            std::fs::read_to_string(s.golden.join(format!("{golden}.err"))).unwrap_or_default();
        let tag = format!("{}/{golden} (`{cmd}`)", s.name);
        if out.status.to_string() != status {
            failures.push(format!(
                "{tag}: exit {} where lvm2 gave {status}; stderr: {}",
                out.status, out.stderr
            ));
            continue;
        }
        if out.stdout != want {
            failures.push(format!(
                "{tag}: stdout differs at {}",
                first_diff(&want, &out.stdout)
            ));
        }
        if out.stderr != want_err {
            failures.push(format!(
                "{tag}: stderr differs at {}",
                first_diff(&want_err, &out.stderr)
            ));
        }
        if words[0] == "vgcfgbackup" {
            if let Some(i) = words.iter().position(|w| w == "-f") {
                let f = &words[i + 1];
                let ours = std::fs::read_to_string(s.work.path().join(f)).unwrap_or_default();
                let theirs = std::fs::read_to_string(s.golden.join("vgcfgbackup.txt")).unwrap();
                if backup_body(&ours) != backup_body(&theirs) {
                    failures.push(format!(
                        "{}/vgcfgbackup.txt: backup text differs at {}",
                        s.name,
                        first_diff(
                            &backup_body(&theirs).join("\n"),
                            &backup_body(&ours).join("\n")
                        )
                    ));
                }
            }
        }
    }
    if hashes(s) != before {
        failures.push(format!(
            "{}: an image changed during read-only commands",
            s.name
        ));
    }
    (compared, failures)
}

/// The kernel scenarios' step language (testdata/README.md): steps.tsv,
/// the write pattern, running lvmsim with data on stdin.
pub mod kgen {
    use std::io::Write;
    use std::path::Path;
    use std::process::{Command, Stdio};

    pub struct Step {
        pub n: u32,
        pub rc: i32,
        pub words: Vec<String>,
    }

    pub fn steps(dir: &Path) -> Vec<Step> {
        std::fs::read_to_string(dir.join("steps.tsv"))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.splitn(6, '\t').collect();
                Step {
                    n: f[0].parse().unwrap(),
                    rc: f[2].parse().unwrap(),
                    words: f[5]
                        .trim_start_matches("! ")
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                }
            })
            .collect()
    }

    /// The kgen pattern for sectors `[s0, s0 + count)` of `lv` (README,
    /// "The write pattern").
    pub fn pattern(tag: &str, lv: &str, s0: u64, count: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity((count * 512) as usize);
        for s in s0..s0 + count {
            let line = format!("{tag} {lv} {s}\n");
            out.extend(line.bytes().cycle().take(512));
        }
        out
    }

    /// Each piece a `write` step wrote: (LV, first sector, data).
    pub fn write_pieces(w: &[String]) -> Vec<(String, u64, Vec<u8>)> {
        let (lv, s0, count, tag) = (
            &w[1],
            w[2].parse::<u64>().unwrap(),
            w[3].parse().unwrap(),
            &w[4],
        );
        let (stride, times) = if w.len() >= 7 {
            (w[5].parse::<u64>().unwrap(), w[6].parse::<u64>().unwrap())
        } else {
            (0, 1)
        };
        (0..times)
            .map(|k| {
                let s = s0 + k * stride;
                (lv.clone(), s, pattern(tag, lv, s, count))
            })
            .collect()
    }

    pub fn run(args: &[String], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lvmsim"));
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(data) = stdin {
            let mut i = child.stdin.take().unwrap();
            // lvmsim may stop reading once the write failed.
            let _ = i.write_all(data);
        }
        let o = child.wait_with_output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            o.stdout,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `32M`, `1G` (a scenario's disk size) in bytes.
    pub fn size_bytes(s: &str) -> u64 {
        let (n, u) = s.split_at(s.len() - 1);
        let n: u64 = n.parse().unwrap();
        match u {
            "M" | "m" => n << 20,
            "G" | "g" => n << 30,
            other => panic!("size unit {other}"),
        }
    }

    /// The `disk NAME SIZE` lines of a scenario: (name, device the guest
    /// gave it: /dev/vda, /dev/vdb... in order, size in bytes).
    pub fn disks(script: &str) -> Vec<(String, String, u64)> {
        script
            .lines()
            .filter_map(|l| l.strip_prefix("disk "))
            .enumerate()
            .map(|(i, rest)| {
                let mut it = rest.split_whitespace();
                let (pv, size) = (it.next().unwrap(), it.next().unwrap());
                let dev = format!("/dev/vd{}", (b'a' + i as u8) as char);
                (pv.to_owned(), dev, size_bytes(size))
            })
            .collect()
    }
}
