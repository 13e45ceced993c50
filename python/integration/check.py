"""Checks what the README says of dfVFS and dissect with the real
packages (run by check.sh in a scratch venv; not part of CI):

1. dfVFS: the E01 of testdata/containers opened by dfVFS's EWF back-end
   (pyewf), given whole to the LVMSIM back-end (dfvfs_lvmsim.py): every LV
   of the kernel scenario snap-striped-origin hashes as the kernel recorded;
   TSK reads a file of an ext4 filesystem in a snapshot's view.
2. dissect: dissect.extfs.ExtFS(lv.open()) and
   dissect.target.filesystem.open(lv.open()) read the same file; and
   dissect.volume's own LVM2 reader does not read the snapshot.

    python check.py DISK.E01 KERNEL_SCENARIO_DIR PV_WITH_EXT4.img
"""

import hashlib
import pathlib
import sys

import lvmsim

e01, scenario, fs_img = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
BEFORE = b"written before the snapshot\n"
AFTER = b"overwritten after the snapshot\n"
recorded = {}
for p in scenario.glob("*.sha256"):
    h, dev = p.read_text().split()[:2]
    recorded.setdefault(dev[len("/dev/"):], set()).add(h)

import dfvfs_lvmsim  # noqa: E402,F401  (registers LVMSIM)
from dfvfs.lib import definitions  # noqa: E402
from dfvfs.path import factory  # noqa: E402
from dfvfs.resolver import resolver  # noqa: E402

os_spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_OS, location=e01)
ewf_spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_EWF, parent=os_spec)
for lv in ("origin", "s1", "s2"):
    f = resolver.Resolver.OpenFileObject(factory.Factory.NewPathSpec("LVMSIM", location=f"/vg/{lv}", parent=ewf_spec))
    h = hashlib.sha256()
    for piece in iter(lambda: f.read(1 << 20), b""):
        h.update(piece)
    assert h.hexdigest() in recorded[f"vg/{lv}"], lv
    print(f"dfVFS EWF -> LVMSIM vg/{lv}: sha256 {h.hexdigest()} (the kernel's)")
os_spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_OS, location=fs_img)
for lv, want in (("snap", BEFORE), ("data", AFTER)):
    spec = factory.Factory.NewPathSpec("LVMSIM", location=f"/vg/{lv}", parent=os_spec)
    tsk = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_TSK, location="/evidence.txt", parent=spec)
    got = resolver.Resolver.OpenFileObject(tsk).read()
    assert got == want, (lv, got)
    print(f"dfVFS OS -> LVMSIM vg/{lv} -> TSK /evidence.txt: {got!r}")

import dissect.target.filesystem  # noqa: E402
from dissect.extfs import ExtFS  # noqa: E402
from dissect.volume import lvm  # noqa: E402

vg = lvmsim.open([fs_img]).vg("vg")
got = ExtFS(vg.lv("snap").open()).get("/evidence.txt").open().read()
assert got == BEFORE, got
print(f"dissect.extfs.ExtFS(vg.lv('snap').open()): {got!r}")
fs = dissect.target.filesystem.open(vg.lv("snap").open())
got = fs.get("/evidence.txt").open().read()
assert got == BEFORE, got
print(f"dissect.target.filesystem.open(...) -> {type(fs).__name__}: {got!r}")
with open(fs_img, "rb") as pv:
    theirs = {lv.name: lv for lv in lvm.LVM2([pv]).vg.lv}
    try:
        ExtFS(theirs["snap"].open()).get("/evidence.txt").open().read()
        print("dissect.volume read the snapshot")
        sys.exit(1)
    except Exception as e:  # what dissect.volume gives for a snapshot
        print(f"dissect.volume LVM2 snapshot 'snap': {type(e).__name__}: {e}")
print("ok")
