"""Every LV of the kernel corpus (images made by a real Linux kernel and
lvm2, testdata/kernel) read through the package must hash to what the
kernel recorded for `/dev/VG/LV` (`check` steps, NNN.sha256), and a snapshot
the kernel could not read (`! check`) must raise SnapshotInvalidError."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

import lvmsim
from conftest import CORPUS, scenarios

# The LVs each scenario's final images must show with the kernel's
# recorded contents (the same list the Rust corpus test reads with `lvmsim
# cat`), and the invalid snapshots whose reads the kernel failed. Anything
# else comparable found in the steps is compared too.
CONTENTS = {
    "linear-fragmented": ["vg/a", "vg/c", "vg/e"],
    "striped-mdacopies": ["vg/s3", "vg/s2", "vg/rest"],
    "ring-wrap": ["vg/lv1"],
    "snap-chunks": ["vg/origin", "vg/s4k", "vg/s64k", "vg/s512k"],
    "snap-overflow": ["vg/origin"],
    "snap-write-overflow": ["vg/origin"],
    "snap-full-edges": ["vg/origin", "vg/c259"],
    "two-snaps-one-overflows": ["vg/origin", "vg/big"],
    "plan-threshold": ["vg/origin", "vg/s4k303", "vg/s16k608"],
    "snap-areas": ["vg/origin", "vg/snap"],
    "snap-extend": ["vg/origin", "vg/snap"],
    "snap-striped-origin": ["vg/origin", "vg/s1", "vg/s2"],
    "thin-pool": ["vg/thin1", "vg/thin2", "vg/snap"],
    "snap-lvremove": ["vg/origin"],
    "merge-complete": ["vg/origin"],
    "merge-interrupted": ["vg/origin"],
    "merge-with-sibling": ["vg/origin", "vg/keep"],
    "snap-partial-chunk": ["vg/origin"],
    "snap-drop-reuse": ["vg/origin"],
    "snap-overflow-blocks": ["vg/origin"],
}
UNREADABLE = {
    "snap-overflow": ["vg/snap"],
    "snap-write-overflow": ["vg/snap"],
    "two-snaps-one-overflows": ["vg/small"],
    "snap-overflow-blocks": ["vg/snap"],
}
# Final images lvm2 itself could no longer read (damaged after the last
# report): read in test_damaged.py.
DAMAGED = {"damaged-label", "damaged-mda"}


@dataclass
class Step:
    n: int
    rc: int
    words: list[str]


def steps(scenario: str) -> list[Step]:
    out = []
    for line in (CORPUS / scenario / "steps.tsv").read_text().splitlines():
        f = line.split("\t")
        words = f[5].split()
        if words and words[0] == "!":
            words = words[1:]
        out.append(Step(int(f[0]), int(f[2]), words))
    return out


def lv_path(word: str) -> str:
    return word[len("/dev/"):] if word.startswith("/dev/") else word


def origins(all_steps: list[Step]) -> dict[str, str]:
    """snapshot VG/LV -> origin VG/LV, from the `lvcreate -s` steps."""
    out = {}
    for s in all_steps:
        w = s.words
        if w and w[0] == "lvcreate" and ("-s" in w or "--snapshot" in w) and "-n" in w:
            origin = lv_path(w[-1])
            out[f"{origin.split('/')[0]}/{w[w.index('-n') + 1]}"] = origin
    return out


def expected(scenario: str, present: set[str]) -> dict[str, tuple[str, int]]:
    """VG/LV -> ("sha256 hex" or "unreadable", step) for every LV of the
    final images whose last `check` still describes it: no later write to
    it, resize of it, or merge into it."""
    all_steps = steps(scenario)
    origin_of = origins(all_steps)
    out = {}
    for lv in present:
        checks = [s for s in all_steps if s.words[:1] in (["check"], ["checkblocks"]) and s.words[1] == lv]
        if not checks:
            continue
        last = checks[-1]

        def changes(s: Step) -> bool:
            w = s.words
            if not w:
                return False
            if w[0] == "write" and lv_path(w[1]) == lv and s.rc == 0:
                return True
            if w[0] in ("lvextend", "lvreduce", "lvresize") and lv_path(w[-1]) == lv:
                return True
            if "merge" in " ".join(w) and (origin_of.get(lv_path(w[-1])) == lv or lv_path(w[-1]) == lv):
                return True
            return False

        if any(changes(s) for s in all_steps if s.n > last.n):
            continue
        if last.rc != 0:
            out[lv] = ("unreadable", last.n)
        else:
            rec = (CORPUS / scenario / f"{last.n:03d}.sha256").read_text().split()
            assert lv_path(rec[1]) == lv, rec
            out[lv] = (rec[0], last.n)
    return out


def sha256_of(lv: "lvmsim.Lv") -> str:
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    with lv.open() as f:
        while True:
            n = f.readinto(buf)
            if n == 0:
                break
            h.update(memoryview(buf)[:n])
    return h.hexdigest()


@pytest.mark.parametrize("scenario", [s for s in scenarios() if s not in DAMAGED])
def test_every_lv_hashes_as_the_kernel_recorded(scenario, images):
    system = lvmsim.open(images.get(scenario))
    lvs = {lv.full_name: lv for vg in system.vgs for lv in vg.all_lvs}
    want = expected(scenario, set(lvs))
    for lv in CONTENTS.get(scenario, []):
        assert want.get(lv, ("",))[0] not in ("", "unreadable"), f"{lv}: no usable check"
    for lv in UNREADABLE.get(scenario, []):
        assert want.get(lv, ("",))[0] == "unreadable", f"{lv}: no failed check"
    failures = []
    for name, (hexdigest, step) in sorted(want.items()):
        lv = lvs[name]
        if hexdigest == "unreadable":
            with pytest.raises(lvmsim.SnapshotInvalidError) as e:
                sha256_of(lv)
            assert e.value.lv == name
            assert isinstance(e.value, lvmsim.Error)
            # The records the store still holds stay readable on request.
            with lv.open(force=True) as f:
                assert len(f.read()) == f.size
            continue
        got = sha256_of(lv)
        if got != hexdigest:
            failures.append(f"{name}: kernel {hexdigest} (step {step:03d}), lvmsim {got}")
    assert not failures, "\n".join(failures)


def test_merge_interrupted_origin_shows_the_merging_snapshot(images):
    # Boot 1 stopped in the middle of the merge: the origin's view is the
    # snapshot's content as the kernel recorded it before `lvconvert
    # --merge` (step 011), unmerged chunks read from the COW.
    system = lvmsim.open(images.get("merge-interrupted", "after-boot1"))
    origin = system.vg("vg").lv("origin")
    rec = (CORPUS / "merge-interrupted" / "011.sha256").read_text().split()
    assert rec[1] == "/dev/vg/snap"
    assert sha256_of(origin) == rec[0]
    assert origin.attr[0] == "O"  # lvm2's attr of an origin under merge
    with pytest.raises(lvmsim.SnapshotMergingError):
        system.vg("vg").lv("snap").open()


def test_metadata_fields(images):
    system = lvmsim.open(images.get("snap-chunks"))
    vg = system.vg("vg")
    assert vg.extent_size == 1 << 20
    assert [pv.device for pv in vg.pvs] == [str(images.get("snap-chunks")[0])]
    names = [lv.name for lv in vg.lvs]
    assert names == ["origin", "s4k", "s64k", "s512k"]
    origin = vg.lv("origin")
    assert origin.attr.startswith("owi-a-s")
    assert origin.origin is None and origin.data_percent is None
    s4k = vg.lv("s4k")
    assert s4k.origin == "origin"
    assert s4k.attr.startswith("swi-a-s")
    assert s4k.data_percent is not None and 0 < s4k.data_percent < 100
    assert s4k.creation_host == "kgen" and s4k.creation_time > 1_600_000_000
    assert s4k.segment_types == ["striped"]
    with s4k.open() as f:
        assert f.size == origin.size  # a snapshot's view is as long as its origin
    thin = lvmsim.open(images.get("thin-pool")).vg("vg")
    assert thin.lv("thin1").segment_types == ["thin"]
    assert thin.lv("snap").origin == "thin1"
