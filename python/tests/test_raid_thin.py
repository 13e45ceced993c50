"""RAID, mirror and thin LVs through the package, against the kernel's
records (testdata/kernel/raid-levels and thin-pool): healthy, degraded as
the kernel read them with two PVs wiped, and with PVs left out, where an LV
without enough redundancy raises MissingPvError as `lvmsim cat` refuses."""

from __future__ import annotations

import itertools

import pytest

import cli
import lvmsim
from conftest import CORPUS
from test_kernel_corpus import expected, sha256_of, steps

RAID = "raid-levels"


def kernel_sums(boot_checks: range) -> dict:
    """VG/LV -> sha256 the kernel read, from the `check` steps in
    `boot_checks` and (boot 2) the mirrors' `sha256sum` steps."""
    out = {}
    for s in steps(RAID):
        if s.n not in boot_checks:
            continue
        if s.words[:1] == ["check"]:
            f = CORPUS / RAID / f"{s.n:03d}.sha256"
        elif "sha256sum" in s.words:
            f = CORPUS / RAID / f"{s.n:03d}.stdout"
        else:
            continue
        line = next(x for x in f.read_text().splitlines() if "/dev/vg/" in x)
        hexdigest, dev = line.split()[:2]
        out[dev[len("/dev/"):]] = hexdigest
    return out


def layouts() -> dict:
    """VG/LV -> (type, [pvN...]) from the scenario's lvcreate steps."""
    out = {}
    for s in steps(RAID):
        w = s.words
        if w[:1] == ["lvcreate"] and "--type" in w:
            out["vg/" + w[w.index("-n") + 1]] = (w[w.index("--type") + 1], [x[1:] for x in w if x.startswith("@")])
    return out


def redundancy(kind: str, n: int) -> int:
    if kind in ("raid0", "raid0_meta"):
        return 0
    if kind in ("raid1", "mirror"):
        return n - 1
    return 2 if kind.startswith("raid6") else 1


def hashes(system, names) -> dict:
    vg = system.vg("vg")
    return {n: sha256_of(vg.lv(n.split("/")[1])) for n in names}


def test_healthy_raid_and_mirrors(images):
    want = kernel_sums(range(50, 65))
    assert len(want) == 15
    system = lvmsim.open(images.get(RAID, "after-boot1"))
    assert system.warnings == []
    assert hashes(system, want) == want
    types = {lv.full_name: lv.segment_types for lv in system.vg("vg").lvs}
    assert types["vg/r6zr"] == ["raid6_zr"] and types["vg/mdisk"] == ["mirror"]


def test_degraded_reads_are_the_kernels(images):
    # Boot 2 wiped pv2 and pv3's labels: every LV read one image short
    # (raid6 two), as the kernel read them with --activationmode degraded.
    want = kernel_sums(range(91, 106))
    assert want == kernel_sums(range(50, 65))
    paths = images.get(RAID)
    for given in (paths, [p for p in paths if p.name not in ("pv2.img", "pv3.img")]):
        system = lvmsim.open(given)
        assert system.vg("vg").partial
        assert any("missing PV" in w for w in system.warnings), system.warnings
        assert hashes(system, want) == want


def test_pvs_left_out_rebuild_or_raise_as_the_command(images):
    want = kernel_sums(range(50, 65))
    paths = images.get(RAID, "after-boot1")
    by_name = {p.name.split(".")[0]: p for p in paths}
    lay = layouts()
    cases = 0
    for gone in [(p,) for p in by_name] + [("pv2", "pv3"), ("pv1", "pv4")]:
        system = lvmsim.open([by_name[p] for p in by_name if p not in gone])
        given = [by_name[p] for p in by_name if p not in gone]
        for lv, (kind, pvs) in lay.items():
            lost = sum(p in gone for p in pvs)
            if len(gone) == 1:
                readable = lost <= redundancy(kind, len(pvs))
            else:
                # Two PVs: whether a raid10 survives depends on which
                # copies they held; the command decides.
                readable = cli.run(given, "cat", lv).returncode == 0
            if readable:
                assert sha256_of(system.vg("vg").lv(lv[3:])) == want[lv], (lv, gone)
            else:
                with pytest.raises(lvmsim.MissingPvError) as e:
                    sha256_of(system.vg("vg").lv(lv[3:]))
                o = cli.run(given, "cat", lv)
                assert o.returncode != 0 and str(e.value) in o.stderr, (lv, gone, o.stderr)
                assert "which is missing" in str(e.value)
            cases += 1
    assert cases == 8 * 15


def test_thin_lvs(images):
    system = lvmsim.open(images.get("thin-pool"))
    vg = system.vg("vg")
    thin = [lv.full_name for lv in vg.lvs if lv.segment_types == ["thin"]]
    want = {lv: h for lv, (h, _) in expected("thin-pool", set(thin)).items()}
    assert set(want) == {"vg/thin1", "vg/thin2", "vg/snap"}
    assert hashes(system, want) == want
    pool = next(lv for lv in vg.lvs if lv.segment_types == ["thin-pool"])
    assert pool.attr.startswith("twi-a") and pool.data_percent is not None
