//! `lvmsim._native`: the compiled part of the `lvmsim` Python package.
//!
//! It scans image files (or Python file objects) as lvm2 scans devices,
//! describes the VGs, PVs and LVs found, and reads an LV as `lvmsim cat`
//! reads it ([`lvmsim::data::open_view`]). The Python side (`lvmsim/`)
//! wraps the readers in `io.RawIOBase` objects and defines the exception
//! classes raised here.
//!
//! The GIL is released for every scan and read; a Python file object
//! given as a device is read with the GIL taken again for each read, one
//! read at a time.

use cow_engine::view::View;
use lvm_meta::io::{Image, ReadAt};
use lvm_meta::scan::System as Scanned;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::io;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------
// Errors.

/// The Python exception for a library error: the class from
/// `lvmsim.errors` that mirrors its kind, with the message lvmsim prints
/// and, where the error has them, the attributes naming what is wrong.
fn py_err(py: Python<'_>, e: &lvmsim::error::Error) -> PyErr {
    use cow_engine::Error as Cow;
    use lvm_meta::Error as Meta;
    use lvmsim::error::Error as E;
    let attrs = PyDict::new(py);
    let set = |k: &str, v: Option<Py<PyAny>>| {
        let _ = attrs.set_item(k, v);
    };
    let text = |s: &str| Some(s.into_pyobject(py).ok()?.into_any().unbind());
    let num = |n: u64| Some(n.into_pyobject(py).ok()?.into_any().unbind());
    let meta = |m: &Meta| -> &'static str {
        match m {
            Meta::Corrupt {
                path,
                structure,
                offset,
                ..
            } => {
                set("structure", text(&structure.to_string()));
                set("offset", num(*offset));
                set("path", path.as_deref().and_then(text));
                "CorruptError"
            }
            Meta::Io { path, .. } => {
                set("path", text(path));
                "IoError"
            }
            Meta::NotFound(_) => "NotFoundError",
            Meta::Unsupported(_) => "UnsupportedError",
            _ => "Error",
        }
    };
    let class = match e.root() {
        E::Meta(m) => meta(m),
        E::Cow(c) => match c {
            Cow::SnapshotInvalid { lv, .. } => {
                set("lv", text(lv));
                "SnapshotInvalidError"
            }
            Cow::SnapshotFull { lv, .. } => {
                set("lv", text(lv));
                "SnapshotFullError"
            }
            Cow::Merging { lv } => {
                set("lv", text(lv));
                "SnapshotMergingError"
            }
            Cow::Store {
                lv,
                offset,
                error: cow_engine::exception_store::StoreError::Io { .. },
                ..
            } => {
                set("lv", text(lv));
                set("offset", num(*offset));
                "IoError"
            }
            Cow::Store { lv, offset, .. } => {
                set("structure", text("exception store"));
                set("lv", text(lv));
                set("offset", num(*offset));
                "CorruptError"
            }
            Cow::Io { path, offset, .. } => {
                set("path", text(path));
                set("offset", offset.and_then(num));
                "IoError"
            }
            Cow::PvMissing { .. } | Cow::PvMissingAt { .. } => "MissingPvError",
            Cow::Meta(m) => meta(m),
            _ => "Error",
        },
        E::ThinMetadata { pool, .. } => {
            set("structure", text("thin pool metadata"));
            set("lv", text(pool));
            "CorruptError"
        }
        E::Io { .. } | E::Output(_) => "IoError",
        E::Usage(_) => "UsageError",
        E::Refused(_) => "RefusedError",
        _ => "Error",
    };
    let made = (|| -> PyResult<PyErr> {
        let cls = py.import("lvmsim.errors")?.getattr(class)?;
        let exc = cls.call1((e.to_string(),))?;
        for (k, v) in attrs.iter() {
            exc.setattr(k.extract::<String>()?.as_str(), v)?;
        }
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|err| err)
}

fn lib_err(py: Python<'_>, e: impl Into<lvmsim::error::Error>) -> PyErr {
    py_err(py, &e.into())
}

// ---------------------------------------------------------------------------
// Python file objects as devices.

/// A Python object with `read` and `seek` (or `readinto`) read as a
/// device: each read takes the GIL, seeks and reads; one read at a time.
struct PyFile {
    obj: Py<PyAny>,
    size: u64,
    lock: Mutex<()>,
}

impl PyFile {
    fn new(obj: &Bound<'_, PyAny>) -> PyResult<PyFile> {
        let size: u64 = if obj.hasattr("get_size")? {
            obj.call_method0("get_size")?.extract()?
        } else {
            obj.call_method1("seek", (0, 2))?;
            obj.call_method0("tell")?.extract()?
        };
        Ok(PyFile {
            obj: obj.clone().unbind(),
            size,
            lock: Mutex::new(()),
        })
    }

    fn fill(&self, py: Python<'_>, buf: &mut [u8], offset: u64) -> PyResult<usize> {
        let o = self.obj.bind(py);
        o.call_method1("seek", (offset,))?;
        let mut done = 0;
        while done < buf.len() {
            let want = buf.len() - done;
            let got = if o.hasattr("read")? {
                o.call_method1("read", (want,))?
            } else {
                let b = pyo3::types::PyByteArray::new(py, &vec![0u8; want]);
                let n: usize = o.call_method1("readinto", (&b,))?.extract()?;
                PyBytes::new(py, &b.to_vec()[..n.min(want)]).into_any()
            };
            let bytes = got.cast::<PyBytes>()?.as_bytes();
            if bytes.is_empty() {
                break;
            }
            let n = bytes.len().min(want);
            buf[done..done + n].copy_from_slice(&bytes[..n]);
            done += n;
        }
        Ok(done)
    }
}

impl ReadAt for PyFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        // The lock is taken before the GIL, never while holding it.
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let done = Python::attach(|py| {
            self.fill(py, buf, offset)
                .map_err(|e| io::Error::other(format!("Python file object: {e}")))
        })?;
        if done < buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "Python file object: {} bytes at {offset}: end of file after {done}",
                    buf.len()
                ),
            ));
        }
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }
}

// ---------------------------------------------------------------------------
// The scanned system and its objects.

/// A physical volume of a VG.
#[pyclass(frozen, get_all, module = "lvmsim")]
struct Pv {
    /// The device holding it (the path or name given), or None if missing.
    device: Option<String>,
    /// The PV's UUID (lvm2's dashed form).
    uuid: String,
    /// The device name the metadata last recorded, if any.
    recorded_device: Option<String>,
    /// The device size the metadata records, in bytes.
    size: Option<u64>,
    /// Where the first extent starts, in bytes from the device's start.
    pe_start: u64,
    /// Number of extents.
    pe_count: u32,
    /// True if no scanned device holds this PV.
    missing: bool,
}

#[pymethods]
impl Pv {
    fn __repr__(&self) -> String {
        format!(
            "<lvmsim.Pv {} {}>",
            self.uuid,
            self.device.as_deref().unwrap_or("[missing]")
        )
    }
}

/// A logical volume.
#[pyclass(frozen, module = "lvmsim")]
struct Lv {
    /// The LV's name.
    #[pyo3(get)]
    name: String,
    /// Its VG's name.
    #[pyo3(get)]
    vg_name: String,
    /// The LV's UUID.
    #[pyo3(get)]
    uuid: String,
    /// Its size in bytes as `lvs` reports it (LSize: for an old-style
    /// snapshot the size of its COW store; its view, `open()`, is as long
    /// as its origin).
    #[pyo3(get)]
    size: u64,
    /// Its segment types, in segment order, without repeats.
    #[pyo3(get)]
    segment_types: Vec<String>,
    /// The host that created it, if recorded.
    #[pyo3(get)]
    creation_host: Option<String>,
    /// When it was created (seconds since the epoch), if recorded.
    #[pyo3(get)]
    creation_time: Option<i64>,
    /// The origin's name, for a snapshot.
    #[pyo3(get)]
    origin: Option<String>,
    /// lvm2's Data% after activation (a snapshot's fill level), if any.
    #[pyo3(get)]
    data_percent: Option<f64>,
    /// lvm2's `lv_attr` as `lvs` shows it after activation of the images.
    #[pyo3(get)]
    attr: String,
    /// False for LVs `lvs` hides (pool internals, spare metadata).
    #[pyo3(get)]
    visible: bool,
    sys: Arc<Scanned>,
}

#[pymethods]
impl Lv {
    /// `VG/LV`.
    #[getter]
    fn full_name(&self) -> String {
        format!("{}/{}", self.vg_name, self.name)
    }

    /// A native reader of the LV's bytes as `lvmsim cat` shows them; with
    /// `force`, an invalid or merging snapshot's view is read from what its
    /// store still holds.
    #[pyo3(signature = (force = false))]
    fn reader(&self, py: Python<'_>, force: bool) -> PyResult<Reader> {
        let (vg, lv) = (self.vg_name.clone(), self.name.clone());
        let sys = self.sys.clone();
        let made = py.detach(move || {
            ViewCell::try_new(sys, |s| lvmsim::data::open_view(s, &vg, &lv, force))
        });
        let cell = made.map_err(|e| py_err(py, &e))?;
        let size = cell.borrow_dependent().size();
        Ok(Reader {
            cell: Arc::new(Cell::Lv(cell)),
            size,
            name: self.full_name(),
        })
    }

    /// The LV's bytes as a read-only, seekable binary file
    /// (`lvmsim.LvFile`, an `io.RawIOBase`): exactly what `lvmsim cat`
    /// shows. With `force`, an invalid or merging snapshot's view is read
    /// from what its store still holds (the kernel fails such reads).
    #[pyo3(signature = (force = false))]
    fn open<'py>(&self, py: Python<'py>, force: bool) -> PyResult<Bound<'py, PyAny>> {
        let reader = Py::new(py, self.reader(py, force)?)?;
        py.import("lvmsim")?.getattr("LvFile")?.call1((reader,))
    }

    fn __repr__(&self) -> String {
        format!("<lvmsim.Lv {}/{} {}>", self.vg_name, self.name, self.attr)
    }
}

/// A volume group.
#[pyclass(frozen, module = "lvmsim")]
struct Vg {
    /// The VG's name.
    #[pyo3(get)]
    name: String,
    /// The VG's UUID.
    #[pyo3(get)]
    uuid: String,
    /// The metadata's sequence number.
    #[pyo3(get)]
    seqno: u32,
    /// The extent size in bytes.
    #[pyo3(get)]
    extent_size: u64,
    /// The LVs `lvs` lists (glue and hidden LVs left out).
    #[pyo3(get)]
    lvs: Vec<Py<Lv>>,
    /// Every LV, hidden ones included (snapshot glue left out).
    #[pyo3(get)]
    all_lvs: Vec<Py<Lv>>,
    /// The PVs, in metadata order.
    #[pyo3(get)]
    pvs: Vec<Py<Pv>>,
    /// True if a PV is missing.
    #[pyo3(get)]
    partial: bool,
    sys: Arc<Scanned>,
}

#[pymethods]
impl Vg {
    /// `System.history(vg=this VG's name)`: this VG's metadata copies,
    /// those under older names included.
    #[pyo3(signature = (scan_all = false))]
    fn history(&self, py: Python<'_>, scan_all: bool) -> PyResult<Py<PyAny>> {
        history_py(py, &self.sys, Some(self.name.clone()), scan_all)
    }

    /// `System.recover(vg=this VG's name)`: the snapshots this VG's
    /// metadata copies knew.
    #[pyo3(signature = (scan_all = false))]
    fn recover(&self, py: Python<'_>, scan_all: bool) -> PyResult<Py<PyAny>> {
        recover_py(py, &self.sys, Some(self.name.clone()), scan_all)
    }

    /// The LV named `name` (hidden ones included); `lvmsim.NotFoundError`
    /// if none.
    fn lv(&self, py: Python<'_>, name: &str) -> PyResult<Py<Lv>> {
        self.all_lvs
            .iter()
            .find(|l| l.get().name == name)
            .map(|l| l.clone_ref(py))
            .ok_or_else(|| {
                let e = lvm_meta::NotFound::Lv {
                    vg: self.name.clone(),
                    name: name.to_owned(),
                };
                lib_err(py, e)
            })
    }

    fn __repr__(&self) -> String {
        format!("<lvmsim.Vg {} seqno {}>", self.name, self.seqno)
    }
}

/// The devices given to `open`, scanned as lvm2 scans devices.
#[pyclass(frozen, module = "lvmsim")]
struct System {
    /// The VGs found.
    #[pyo3(get)]
    vgs: Vec<Py<Vg>>,
    /// lvm2's warnings about the devices (damaged labels or metadata,
    /// missing PVs), one line each.
    #[pyo3(get)]
    warnings: Vec<String>,
    /// The devices scanned, by the names given.
    #[pyo3(get)]
    devices: Vec<String>,
    sys: Arc<Scanned>,
}

/// `history --json [VG]` of `sys` as an `lvmsim.History`.
fn history_py(
    py: Python<'_>,
    sys: &Arc<Scanned>,
    vg: Option<String>,
    scan_all: bool,
) -> PyResult<Py<PyAny>> {
    let sys = sys.clone();
    let text = py
        .detach(move || -> lvmsim::error::Result<String> {
            let h = lvmsim::history::of_system(&sys, scan_all, false);
            let doc = lvmsim::history::history_json(&h, vg.as_deref())?;
            Ok(serde_json::to_string(&doc)?)
        })
        .map_err(|e| py_err(py, &e))?;
    let cls = py.import("lvmsim.records")?.getattr("History")?;
    Ok(cls.call_method1("from_json", (text,))?.unbind())
}

/// `recover --json [VG]` of `sys` as an `lvmsim.Recovery`.
fn recover_py(
    py: Python<'_>,
    sys: &Arc<Scanned>,
    vg: Option<String>,
    scan_all: bool,
) -> PyResult<Py<PyAny>> {
    let sys = sys.clone();
    let text = py
        .detach(move || -> lvmsim::error::Result<String> {
            let h = lvmsim::history::of_system(&sys, scan_all, false);
            let doc = lvmsim::recover::recover_json(&sys, &h, vg.as_deref())?;
            Ok(serde_json::to_string(&doc)?)
        })
        .map_err(|e| py_err(py, &e))?;
    let cls = py.import("lvmsim.records")?.getattr("Recovery")?;
    Ok(cls.call_method1("from_json", (text,))?.unbind())
}

#[pymethods]
impl System {
    /// Every metadata copy on the devices, oldest first within each VG,
    /// and what changed from one to the next: what `lvmsim history --json
    /// [VG]` prints, as an `lvmsim.History` (only VG `vg`'s copies, its
    /// older names included, if given). With `scan_all`, the whole devices
    /// are scanned for copies (`--scan-all`). `lvmsim.RefusedError` if
    /// there is no copy (of that VG).
    #[pyo3(signature = (vg = None, scan_all = false))]
    fn history(&self, py: Python<'_>, vg: Option<String>, scan_all: bool) -> PyResult<Py<PyAny>> {
        history_py(py, &self.sys, vg, scan_all)
    }

    /// The rebuilt view of snapshot `snapshot` (`VG/SNAP`) as `lvmsim
    /// recover --export` writes it, as a read-only `lvmsim.LvFile`: from
    /// the metadata copy with `seqno`, or the last copy that held it when
    /// one snapshot of that name is in the history (several are refused
    /// with their seqnos). `recover()` tells what each byte range is
    /// worth.
    #[pyo3(signature = (snapshot, seqno = None, scan_all = false))]
    fn open_recovered<'py>(
        &self,
        py: Python<'py>,
        snapshot: &str,
        seqno: Option<u32>,
        scan_all: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (vg, snap) = lvmsim::names::vg_lv(snapshot).map_err(|e| py_err(py, &e))?;
        let sys = self.sys.clone();
        let made = py.detach(move || {
            let history = lvmsim::history::of_system(&sys, scan_all, false);
            RecoveredCell::try_new(Recovering { sys, history }, |r| {
                lvmsim::recover::recovered_view(&r.sys, &r.history, &vg, &snap, seqno)
                    .map(|v| Box::new(v) as BoxedView<'_>)
            })
        });
        let cell = made.map_err(|e| py_err(py, &e))?;
        let size = cell.borrow_dependent().size();
        let reader = Reader {
            cell: Arc::new(Cell::Recovered(cell)),
            size,
            name: snapshot.to_owned(),
        };
        py.import("lvmsim")?
            .getattr("LvFile")?
            .call1((Py::new(py, reader)?,))
    }

    /// Every snapshot any metadata copy knew (of VG `vg`, if given), its
    /// state now and what can be rebuilt of it: what `lvmsim recover
    /// --json [VG]` prints, as an `lvmsim.Recovery`.
    #[pyo3(signature = (vg = None, scan_all = false))]
    fn recover(&self, py: Python<'_>, vg: Option<String>, scan_all: bool) -> PyResult<Py<PyAny>> {
        recover_py(py, &self.sys, vg, scan_all)
    }

    /// The VG named `name`; `lvmsim.NotFoundError` if none.
    fn vg(&self, py: Python<'_>, name: &str) -> PyResult<Py<Vg>> {
        self.vgs
            .iter()
            .find(|v| v.get().name == name)
            .map(|v| v.clone_ref(py))
            .ok_or_else(|| {
                let e = lvm_meta::NotFound::Vg {
                    name: name.to_owned(),
                };
                lib_err(py, e)
            })
    }

    fn __repr__(&self) -> String {
        let names: Vec<&str> = self.vgs.iter().map(|v| v.get().name.as_str()).collect();
        format!("<lvmsim.System vgs=[{}]>", names.join(", "))
    }
}

/// What the report gives per LV: attr, size, origin, Data%.
struct Reported {
    attr: String,
    size: u64,
    origin: Option<String>,
    data_percent: Option<f64>,
}

fn reported(sys: &Scanned) -> lvmsim::error::Result<Vec<(String, String, Reported)>> {
    use lvmsim::report::{self, Kind, Options, Value};
    let opts = Options {
        all: true,
        active: true,
        fields: [
            "vg_name",
            "lv_uuid",
            "lv_attr",
            "lv_size",
            "origin",
            "data_percent",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..Options::default()
    };
    let r = report::report(sys, Kind::Lv, &opts)?;
    let text = |row, f| r.text(row, f).unwrap_or_default().to_owned();
    Ok((0..r.len())
        .map(|row| {
            let size = match r.value(row, "lv_size") {
                Some(Value::Size(s)) => s * 512,
                _ => 0,
            };
            let origin = Some(text(row, "origin")).filter(|o| !o.is_empty());
            let data_percent = text(row, "data_percent").trim().parse().ok();
            (
                text(row, "vg_name"),
                text(row, "lv_uuid"),
                Reported {
                    attr: text(row, "lv_attr"),
                    size,
                    origin,
                    data_percent,
                },
            )
        })
        .collect())
}

fn describe(py: Python<'_>, sys: Arc<Scanned>, warnings: Vec<String>) -> PyResult<System> {
    let rows = reported(&sys).map_err(|e| py_err(py, &e))?;
    let mut vgs = Vec::new();
    for inst in &sys.vgs {
        let vg = &inst.vg;
        let pvs = vg
            .pvs
            .iter()
            .zip(&inst.pv_devices)
            .map(|(p, d)| {
                Py::new(
                    py,
                    Pv {
                        device: d.map(|d| sys.devices[d].image.path.clone()),
                        uuid: p.id.clone(),
                        recorded_device: p.device.clone(),
                        size: p.dev_size.map(|s| s.0 * 512),
                        pe_start: p.pe_start.0 * 512,
                        pe_count: p.pe_count,
                        missing: d.is_none(),
                    },
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        let (mut lvs, mut all_lvs) = (Vec::new(), Vec::new());
        for (li, l) in vg.lvs.iter().enumerate() {
            if l.is_snapshot_glue() {
                continue;
            }
            let rep = rows.iter().find(|(v, u, _)| *v == vg.name && *u == l.id);
            let mut types: Vec<String> = Vec::new();
            for s in &l.segments {
                if !types.contains(&s.type_name) {
                    types.push(s.type_name.clone());
                }
            }
            let visible = vg.lv_visible(li);
            let lv = Py::new(
                py,
                Lv {
                    name: l.name.clone(),
                    vg_name: vg.name.clone(),
                    uuid: l.id.clone(),
                    size: rep
                        .map(|r| r.2.size)
                        .unwrap_or_else(|| vg.lv_extents(l) * vg.extent_bytes()),
                    segment_types: types,
                    creation_host: l.creation_host.clone(),
                    creation_time: l.creation_time,
                    origin: rep.and_then(|r| r.2.origin.clone()),
                    data_percent: rep.and_then(|r| r.2.data_percent),
                    attr: rep.map(|r| r.2.attr.clone()).unwrap_or_default(),
                    visible,
                    sys: sys.clone(),
                },
            )?;
            if visible {
                lvs.push(lv.clone_ref(py));
            }
            all_lvs.push(lv);
        }
        vgs.push(Py::new(
            py,
            Vg {
                name: vg.name.clone(),
                uuid: vg.id.clone(),
                seqno: vg.seqno,
                extent_size: vg.extent_bytes(),
                lvs,
                all_lvs,
                pvs,
                partial: inst.partial(),
                sys: sys.clone(),
            },
        )?);
    }
    let devices = sys.devices.iter().map(|d| d.image.path.clone()).collect();
    Ok(System {
        vgs,
        warnings,
        devices,
        sys,
    })
}

/// What `open` was given: a path (with lvmsim's `--dev` forms) or a
/// Python file object with its name.
enum Source {
    Path(PathBuf),
    File(String, PyFile),
}

/// Scans `sources`: each a path (str or os.PathLike: an image, a whole
/// disk with a partition table, a qcow2 or E01 container, a directory of
/// images, `NAME=PATH` or `PATH@OFFSET` as `lvmsim --dev` takes them) or
/// a Python file object holding a PV, a whole disk with a partition table
/// (its partitions named `NAME:p1`...) or a qcow2 or single-segment E01
/// container of either (with `read` and `seek`, or `readinto`; its
/// `name`, if a str, is NAME).
#[pyfunction]
fn open(py: Python<'_>, sources: Vec<Bound<'_, PyAny>>) -> PyResult<System> {
    let os = py.import("os")?;
    let pathlike = os.getattr("PathLike")?;
    let mut given = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        if s.is_instance_of::<pyo3::types::PyString>() || s.is_instance(&pathlike)? {
            let p: PathBuf = os.call_method1("fspath", (s,))?.extract()?;
            given.push(Source::Path(p));
        } else if s.hasattr("read")? || s.hasattr("readinto")? {
            let name = s
                .getattr("name")
                .ok()
                .and_then(|n| n.extract::<String>().ok())
                .unwrap_or_else(|| format!("/dev/pyfile{i}"));
            given.push(Source::File(name, PyFile::new(s)?));
        } else {
            return Err(PyValueError::new_err(format!(
                "open(): item {i} is neither a path nor a file object with read and seek"
            )));
        }
    }
    if given.is_empty() {
        return Err(PyValueError::new_err("open(): no devices given"));
    }
    let scanned = py.detach(move || -> lvmsim::error::Result<(Scanned, Vec<String>)> {
        let mut err = Vec::new();
        let mut images = Vec::new();
        let mut paths = Vec::new();
        let flush = |paths: &mut Vec<PathBuf>,
                     images: &mut Vec<Image>,
                     err: &mut Vec<u8>|
         -> lvmsim::error::Result<()> {
            if !paths.is_empty() {
                images.extend(lvmsim::open_devices(paths, err)?);
                paths.clear();
            }
            Ok(())
        };
        for s in given {
            match s {
                Source::Path(p) => paths.push(p),
                Source::File(name, f) => {
                    flush(&mut paths, &mut images, &mut err)?;
                    let spec = lvm_meta::disk::DeviceSpec {
                        name: name.clone(),
                        path: name,
                        offset: None,
                        named: false,
                    };
                    let size = f.size;
                    let o = lvm_meta::disk::open_source(&spec, Box::new(f), size)?;
                    for n in &o.notes {
                        writeln!(err, "  WARNING: {n}")?;
                    }
                    images.extend(o.images);
                }
            }
        }
        flush(&mut paths, &mut images, &mut err)?;
        let sys = Scanned::scan(images)?;
        let mut warnings: Vec<String> = String::from_utf8_lossy(&err)
            .lines()
            .map(|l| l.trim().to_owned())
            .collect();
        warnings.extend(sys.problems.iter().map(|p| format!("WARNING: {}", p.error)));
        warnings.extend(lvmsim::pv_warnings(&sys, None));
        Ok((sys, warnings))
    });
    let (sys, warnings) = scanned.map_err(|e| py_err(py, &e))?;
    describe(py, Arc::new(sys), warnings)
}

// ---------------------------------------------------------------------------
// Reading an LV.

type BoxedView<'a> = Box<dyn View + Send + Sync + 'a>;

self_cell::self_cell!(
    /// An LV's view with the scanned system it reads from.
    struct ViewCell {
        owner: Arc<Scanned>,
        #[covariant]
        dependent: BoxedView,
    }
);

/// What the scanned system and its metadata history hold together.
struct Recovering {
    sys: Arc<Scanned>,
    history: lvm_meta::history::History,
}

self_cell::self_cell!(
    /// A snapshot's rebuilt view with what it reads from.
    struct RecoveredCell {
        owner: Recovering,
        #[covariant]
        dependent: BoxedView,
    }
);

/// The view a reader reads.
enum Cell {
    Lv(ViewCell),
    Recovered(RecoveredCell),
}

impl Cell {
    fn view(&self) -> &(dyn View + Send + Sync + '_) {
        match self {
            Cell::Lv(c) => c.borrow_dependent().as_ref(),
            Cell::Recovered(c) => c.borrow_dependent().as_ref(),
        }
    }
}

/// An LV's bytes as `lvmsim cat` shows them (or a snapshot's rebuilt
/// view), read at offsets. The `lvmsim.LvFile` file object reads through
/// it.
#[pyclass(frozen, module = "lvmsim")]
struct Reader {
    cell: Arc<Cell>,
    /// The LV's size in bytes.
    #[pyo3(get)]
    size: u64,
    /// `VG/LV`.
    #[pyo3(get)]
    name: String,
}

impl Reader {
    /// `n` bytes from `offset`, cut at the LV's end.
    fn span(&self, offset: u64, n: usize) -> usize {
        usize::try_from(self.size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(n)
    }
}

#[pymethods]
impl Reader {
    /// Up to `n` bytes from `offset` (fewer at the LV's end), read with
    /// the GIL released.
    fn read_at<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        n: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.span(offset, n);
        let cell = self.cell.clone();
        let mut failed = None;
        let bytes = PyBytes::new_with(py, n, |buf| {
            // The bytes object is not yet visible to other threads.
            if let Err(e) = py.detach(|| cell.view().read_at(offset, buf)) {
                failed = Some(e);
            }
            Ok(())
        })?;
        match failed {
            Some(e) => Err(lib_err(py, e)),
            None => Ok(bytes),
        }
    }

    /// Reads up to `n` bytes from `offset` into the writable memory at
    /// address `addr` (held by the caller for the call, e.g. a ctypes
    /// array made with `from_buffer`), with the GIL released; returns the
    /// bytes read (fewer at the LV's end).
    fn read_into_address(
        &self,
        py: Python<'_>,
        offset: u64,
        addr: usize,
        n: usize,
    ) -> PyResult<usize> {
        let n = self.span(offset, n);
        if n == 0 {
            return Ok(0);
        }
        if addr == 0 {
            return Err(PyValueError::new_err("read_into_address: null address"));
        }
        let cell = self.cell.clone();
        py.detach(move || {
            // SAFETY: the caller holds a buffer export of at least `n`
            // writable bytes at `addr` for the whole call (the Python
            // wrapper keeps the ctypes array made with `from_buffer`
            // alive), so the memory stays valid and cannot be resized;
            // nothing else in this call touches it.
            #[allow(unsafe_code)]
            let buf = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, n) };
            cell.view().read_at(offset, buf)
        })
        .map_err(|e| lib_err(py, e))?;
        Ok(n)
    }

    fn __repr__(&self) -> String {
        format!("<lvmsim.Reader {} {} bytes>", self.name, self.size)
    }
}

/// The compiled part of the `lvmsim` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_class::<System>()?;
    m.add_class::<Vg>()?;
    m.add_class::<Lv>()?;
    m.add_class::<Pv>()?;
    m.add_class::<Reader>()?;
    Ok(())
}
