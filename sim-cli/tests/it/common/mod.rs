//! Shared by the integration tests: where the test data lives, a builder
//! for runs of the lvmsim binary, sha256, and the lvm2 scenario loader and
//! replay (scenario directories made by real lvm2: the committed corpus, or
//! a live run of testdata/lvm2/gen.sh, replayed through lvmsim and compared
//! with what lvm2 printed).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A scenario folder of `testdata/kernel`.
pub fn kernel(name: &str) -> PathBuf {
    repo().join("testdata/kernel").join(name)
}

/// The contents of a zstd-compressed file.
pub fn unzst(p: &Path) -> Vec<u8> {
    let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    zstd::stream::decode_all(f).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Decompresses the zstd file `src` into a new file `dst`.
pub fn unzst_to(src: &Path, dst: &Path) {
    let f = std::fs::File::open(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let dec = zstd::stream::read::Decoder::new(f).unwrap();
    write_sparse(dec, dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
}

/// Writes what `src` reads to the new file `dst`, leaving its all-zero
/// 64 KiB blocks as holes: test images are mostly zeros, and writing them
/// allocates a page for each on tmpfs.
pub fn write_sparse(mut src: impl std::io::Read, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let o = std::fs::File::create(dst)?;
    let mut buf = vec![0u8; 64 << 10];
    let zero = vec![0u8; 64 << 10];
    let mut at = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match src.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            break;
        }
        // a slice comparison is a memcmp, many times faster than a byte loop
        if buf[..n] != zero[..n] {
            o.write_all_at(&buf[..n], at)?;
        }
        at += n as u64;
    }
    o.set_len(at)
}

/// A private temporary folder for images, in memory (`/dev/shm`) where the
/// machine has it: the crash tests write whole images for every cut they
/// resume, and a disk-backed /tmp makes that most of their time.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(t) = tempfile::Builder::new()
            .prefix("lvmsim-test")
            .tempdir_in(shm)
        {
            return t;
        }
    }
    tempfile::tempdir().unwrap()
}

/// Copies the image `src` to `dst` writing only its non-zero 64 KiB blocks
/// (the rest stays a hole): the crash tests copy mostly empty images for
/// every cut, and a plain copy on tmpfs allocates every zero page.
pub fn copy_sparse(src: &Path, dst: &Path) {
    let i = std::fs::File::open(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    write_sparse(i, dst).unwrap_or_else(|e| panic!("{} -> {}: {e}", src.display(), dst.display()));
}

/// The sha256 of `data` in lowercase hex, as `sha256sum` prints it.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sha256 of a file's contents (see [`sha256`]).
pub fn sha256_file(p: &Path) -> String {
    sha256(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// What a run of lvmsim gave back.
pub struct Output {
    /// The exit code (-1 if a signal ended it).
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    /// Standard output as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// It exited with 0.
    pub fn ok(&self) -> bool {
        self.status == 0
    }
}

/// One run of the lvmsim binary: arguments, working folder, environment and
/// standard input (none unless given), then [`Lvmsim::run`].
pub struct Lvmsim {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Lvmsim {
    pub fn new() -> Lvmsim {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lvmsim"));
        // The goldens were recorded in UTC; lvmsim, like lvm2, prints times
        // in the zone TZ names.
        cmd.env("TZ", "UTC");
        Lvmsim { cmd, stdin: None }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Lvmsim {
        self.cmd.arg(a);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, a: impl IntoIterator<Item = S>) -> Lvmsim {
        self.cmd.args(a);
        self
    }

    /// `--dev NAME=PATH`.
    pub fn dev(self, name: &str, path: &Path) -> Lvmsim {
        self.arg("--dev").arg(format!("{name}={}", path.display()))
    }

    pub fn cwd(mut self, dir: &Path) -> Lvmsim {
        self.cmd.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Lvmsim {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Lvmsim {
        self.cmd.env_remove(key);
        self
    }

    pub fn stdin(mut self, data: &[u8]) -> Lvmsim {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn run(mut self) -> Output {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().unwrap();
        if let Some(data) = &self.stdin {
            let mut i = child.stdin.take().unwrap();
            // lvmsim may stop reading once a write failed.
            let _ = i.write_all(data);
        }
        let o = child.wait_with_output().unwrap();
        Output {
            status: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs lvmsim with `args` in `cwd`.
pub fn lvmsim<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>, cwd: &Path) -> Output {
    Lvmsim::new().args(args).cwd(cwd).run()
}

/// The folders of `testdata/CORPUS` that hold a file `marker`, by name.
pub fn scenario_names(corpus: &str, marker: &str) -> Vec<String> {
    let root = repo().join("testdata").join(corpus);
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(marker).is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One `#[test]` per scenario: `scenario_tests!(CORPUS, MARKER, CHECK; a_b, c_d)`
/// makes tests `a_b` and `c_d` calling `CHECK("a-b")` and `CHECK("c-d")`,
/// and a test `every_scenario_has_a_test` that fails unless the list names
/// exactly the folders of `testdata/CORPUS` holding a file `MARKER`, so a new
/// scenario cannot be left out unnoticed.
macro_rules! scenario_tests {
    ($corpus:literal, $marker:literal, $check:path; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $check(&stringify!($name).replace('_', "-"));
            }
        )+

        /// The scenarios above, by folder name.
        #[allow(dead_code)]
        const SCENARIOS: &[&str] = &[$(stringify!($name)),+];

        #[test]
        fn every_scenario_has_a_test() {
            let mut listed: Vec<String> =
                SCENARIOS.iter().map(|n| n.replace('_', "-")).collect();
            listed.sort();
            assert_eq!(
                listed,
                $crate::common::scenario_names($corpus, $marker),
                "the scenarios listed against the folders of testdata/{} holding {}",
                $corpus,
                $marker
            );
        }
    };
}
pub(crate) use scenario_tests;

/// One scenario made ready to run: images in a private temporary folder.
pub struct Scenario {
    pub name: String,
    pub golden: PathBuf,
    pub work: tempfile::TempDir,
    /// lvm2's device name -> the image's path in `work`.
    pub devs: Vec<(String, PathBuf)>,
}

impl Scenario {
    /// A run of lvmsim on the scenario's images (`--dev NAME=PATH` each), in
    /// its folder.
    pub fn lvmsim(&self) -> Lvmsim {
        self.devs
            .iter()
            .fold(Lvmsim::new(), |l, (n, p)| l.dev(n, p))
            .cwd(self.work.path())
    }
}

/// A kernel scenario (`testdata/kernel/NAME`) made ready to run: its final
/// images, one per `disk` line of its `scenario`, named by the device the
/// guest gave them (`/dev/vda`, `/dev/vdb`...).
pub fn load_kernel(name: &str) -> Scenario {
    let golden = kernel(name);
    let work = scratch();
    let script = std::fs::read_to_string(golden.join("scenario")).unwrap();
    let devs: Vec<(String, PathBuf)> = kgen::disks(&script)
        .into_iter()
        .map(|(disk, dev, _)| {
            let img = work.path().join(format!("{disk}.img"));
            unzst_to(&golden.join(format!("{disk}.img.zst")), &img);
            (dev, img)
        })
        .collect();
    assert!(!devs.is_empty(), "{name}: no disk");
    Scenario {
        name: name.to_owned(),
        golden,
        work,
        devs,
    }
}

/// The entry for snapshot `snap` in the output of `recover --json`.
pub fn recover_entry(json: &str, snap: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["snapshot"] == snap)
        .unwrap_or_else(|| panic!("no {snap} in {v}"))
        .clone()
}

/// The record files of the kernel scenario in `dir` whose names end with
/// `suffix` (`.dmsetup-status`, `.pvck-mdasearch.pv1`...), in step order.
pub fn records(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// `lvmsim dmsetup WHAT` (`status`, `table`) on the images `DISK.SUFFIX` of
/// the kernel scenario in `dir`, each named as the guest named it (its
/// `boot1.versions`) and numbered as virtio-blk numbers it (major 254, 16
/// minors per disk: vda, vdb...).
pub fn kernel_dmsetup(dir: &Path, suffix: &str, what: &str) -> Output {
    kernel_dmsetup_named(dir, suffix, what, &[])
}

/// [`kernel_dmsetup`] of the devices `names` only.
pub fn kernel_dmsetup_named(dir: &Path, suffix: &str, what: &str, names: &[&str]) -> Output {
    // The guest named its disks: "disks 3 pv1 /dev/vda;3 pv2 /dev/vdb;".
    let versions = std::fs::read_to_string(dir.join("boot1.versions")).unwrap();
    let disks = versions
        .lines()
        .find_map(|l| l.strip_prefix("disks "))
        .unwrap();
    let work = scratch();
    let mut l = Lvmsim::new();
    let mut devno: Vec<String> = Vec::new();
    for d in disks.split(';').filter(|d| !d.trim().is_empty()) {
        let w: Vec<&str> = d.split_whitespace().collect();
        let (disk, dev) = (w[1], w[2]);
        let img = work.path().join(format!("{disk}.img"));
        unzst_to(&dir.join(format!("{disk}.{suffix}")), &img);
        l = l.dev(dev, &img);
        let letter = dev.bytes().last().unwrap() - b'a';
        devno.extend([
            "--devno".to_owned(),
            format!("{dev}=254:{}", u32::from(letter) * 16),
        ]);
    }
    l.args(["dmsetup", what])
        .args(names)
        .args(devno)
        .cwd(work.path())
        .run()
}

/// Decompresses (or copies) every image of an lvm2 scenario directory.
pub fn load(dir: &Path) -> Scenario {
    let work = scratch();
    let devmap = std::fs::read_to_string(dir.join("devmap.txt"))
        .unwrap_or_else(|e| panic!("{}: devmap.txt: {e}", dir.display()));
    let mut devs = Vec::new();
    for line in devmap.lines().filter(|l| !l.trim().is_empty()) {
        let (name, file) = line.split_once(' ').expect("devmap line: NAME FILE");
        let out = work.path().join(file);
        let zst = dir.join(format!("{file}.zst"));
        if zst.exists() {
            unzst_to(&zst, &out);
        } else {
            copy_sparse(&dir.join(file), &out);
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

/// A file's bytes, compared byte for byte (a memcmp: several times faster
/// than hashing them); shown by length and sha256 when an assertion fails.
#[derive(PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, sha256 {}", self.0.len(), sha256(&self.0))
    }
}

/// Every image's bytes, to prove a command left them untouched.
pub fn contents(s: &Scenario) -> BTreeMap<PathBuf, Bytes> {
    s.devs
        .iter()
        .map(|(_, p)| {
            let b = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.clone(), Bytes(b))
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

/// lvm2 commands a corpus may record that change the images (replayed in
/// order on the scenario's images, which they leave as they found them).
const WRITERS: [&str; 3] = ["lvrename", "lvremove", "lvcreate"];

/// Replays every command in `commands.txt` through lvmsim; returns one
/// message per golden that differs, and how many were compared.
pub fn replay(s: &Scenario) -> (usize, Vec<String>) {
    let cmds = std::fs::read_to_string(s.golden.join("commands.txt")).unwrap();
    let before = contents(s);
    let mut writes = false;
    let mut failures = Vec::new();
    let mut compared = 0;
    for line in cmds.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let (golden, status, cmd) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let mut words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        // `env TZ=ZONE CMD...`: lvm2 ran in that time zone.
        let mut tz = None;
        if words.len() > 2 && words[0] == "env" && words[1].starts_with("TZ=") {
            tz = Some(words[1]["TZ=".len()..].to_owned());
            words.drain(..2);
        }
        let mut args: Vec<String> = Vec::new();
        match words[0].as_str() {
            "pvs" | "vgs" | "lvs" | "pvdisplay" | "vgdisplay" | "lvdisplay" | "vgcfgbackup"
            | "lvrename" | "lvremove" | "lvcreate" => {
                for (name, path) in &s.devs {
                    args.push("--dev".into());
                    args.push(format!("{name}={}", path.display()));
                }
                args.push(words[0].clone());
                writes |= WRITERS.contains(&words[0].as_str());
                // `--config global/activation=1`: lvm2 ran with activation on,
                // as on a host with device-mapper and nothing active, which is
                // lvmsim's default.
                let act = ["--config", "global/activation=1"];
                let activation_on = words[1..].windows(2).any(|w| w == act);
                let reads = ["pvs", "vgs", "lvs", "pvdisplay", "vgdisplay", "lvdisplay"];
                if reads.contains(&words[0].as_str()) && !activation_on {
                    // lvm2 ran without device-mapper: 'X' in lv_attr.
                    args.push("--driverloaded".into());
                    args.push("n".into());
                }
                let mut rest = words[1..].iter();
                while let Some(w) = rest.next() {
                    if activation_on && w == act[0] {
                        rest.next();
                        continue;
                    }
                    args.push(w.clone());
                }
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
        let run = Lvmsim::new().args(&args).cwd(s.work.path());
        let out = match &tz {
            Some(tz) => run.env("TZ", tz),
            None => run,
        }
        .run();
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
        if out.text() != want {
            failures.push(format!(
                "{tag}: stdout differs at {}",
                first_diff(&want, &out.text())
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
                // `X-cmd.txt` holds the command's output, `X.txt` the file.
                let file = golden.replace("-cmd.txt", ".txt");
                let theirs = std::fs::read_to_string(s.golden.join(&file)).unwrap();
                if backup_body(&ours) != backup_body(&theirs) {
                    failures.push(format!(
                        "{}/{file}: backup text differs at {}",
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
    if !writes && contents(s) != before {
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
    use std::path::Path;

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
                    words: lv_paths(f[5])
                        .trim_start_matches("! ")
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                }
            })
            .collect()
    }

    /// A scenario step as lvmsim takes it: `/dev/VG/LV` written as `VG/LV`
    /// (the walkthrough names its origin `/dev/testvg/testvol`; lvmsim
    /// names LVs as VG/LV).
    pub fn lv_paths(step: &str) -> String {
        step.split(' ')
            .map(|w| match w.strip_prefix("/dev/") {
                Some(rest) if rest.split('/').count() == 2 && !rest.starts_with("mapper/") => {
                    rest.to_owned()
                }
                _ => w.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A recorded `lvchange` step as lvmsim takes it: without `-v` (lvmsim's
    /// lvchange prints nothing more with it), and `lvchange -ay --poll n
    /// VG/ORIGIN` as `vgchange -ay --poll n VG` (lvmsim's lvchange has no
    /// --poll; the scenarios' VGs hold only that origin and its snapshot).
    /// True when it became another command.
    pub fn lvchange_for_lvmsim(args: &mut Vec<String>) -> bool {
        args.retain(|a| a != "-v");
        let Some(i) = args.iter().position(|a| a == "--poll") else {
            return false;
        };
        let vg = args.last().unwrap().split('/').next().unwrap().to_owned();
        *args = vec![
            "vgchange".into(),
            "-ay".into(),
            "--poll".into(),
            args[i + 1].clone(),
            vg,
        ];
        true
    }

    /// Waits (up to 10 s) until the running kernel in `dir` has no merge
    /// with work left.
    pub fn wait_merges(dir: &std::path::Path) {
        for _ in 0..500 {
            let o = super::Lvmsim::new()
                .args(["kernel", "status", "--json"])
                .arg(dir)
                .run();
            assert!(o.ok(), "kernel status: {}", o.stderr);
            let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let busy = s["merges"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["done"] != true));
            if !busy {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{}: a merge did not end", dir.display());
    }

    /// Steps that only look: lvm2's reports and displays and dmsetup's
    /// listings (they change no image).
    pub fn is_query(words: &[String]) -> bool {
        matches!(
            words.first().map(String::as_str),
            Some("pvs" | "vgs" | "lvs" | "pvdisplay" | "vgdisplay" | "lvdisplay" | "dmsetup")
        )
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

    /// Runs lvmsim with `args` and, if given, `stdin`: (exit status,
    /// stdout, stderr).
    pub fn run(args: &[String], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
        let mut l = super::Lvmsim::new().args(args);
        if let Some(data) = stdin {
            l = l.stdin(data);
        }
        let o = l.run();
        (o.status, o.stdout, o.stderr)
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
