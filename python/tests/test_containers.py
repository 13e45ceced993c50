"""Containers and partitioned disks, given as paths and as Python file
objects, read as `lvmsim --dev` reads them: testdata/containers (the kernel
scenario snap-striped-origin's two PVs in partitions 1 and 3 of the GPT
disk of testdata/partitions, as qcow2 v3, qcow2 v2 with deflated clusters,
and E01) and an MBR disk with the same PVs in partitions 1 and 5. Every
LV hashes as the kernel recorded; partitions are named `NAME:pN`."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib

import pytest

import cli
import lvmsim
from conftest import CORPUS, decompress
from test_kernel_corpus import expected, sha256_of

TESTDATA = CORPUS.parent
SCENARIO = "snap-striped-origin"


def disk_with_pvs(images, table: str, parts: list, dest: pathlib.Path) -> pathlib.Path:
    """testdata/partitions/TABLE.img with the scenario's pv1 and pv2 written
    at the starts of partitions `parts` (as sfdisk --json recorded them)."""
    if dest.exists():
        return dest
    decompress(TESTDATA / "partitions" / f"{table}.img.zst", dest)
    layout = json.loads((TESTDATA / "partitions" / f"{table}.sfdisk.json").read_text())
    starts = {p["node"]: p["start"] * 512 for p in layout["partitiontable"]["partitions"]}
    with open(dest, "r+b") as f:
        for pv, n in zip(images.get(SCENARIO), parts):
            f.seek(starts[f"{table}.img{n}"])
            f.write(pv.read_bytes())
    return dest


@pytest.fixture(scope="module")
def disks(images, tmp_path_factory):
    d = tmp_path_factory.mktemp("disks")
    gpt = disk_with_pvs(images, "gpt", [1, 3], d / "gpt.img")
    mbr = disk_with_pvs(images, "mbr", [1, 5], d / "mbr.img")
    out = {"gpt": gpt, "mbr": mbr, "e01": TESTDATA / "containers" / "disk.E01"}
    for q in ("disk", "disk-v2c"):
        out[q] = d / f"{q}.qcow2"
        decompress(TESTDATA / "containers" / f"{q}.qcow2.zst", out[q])
    return out


def kernel_hashes(images):
    system = lvmsim.open(images.get(SCENARIO))
    names = {lv.full_name for vg in system.vgs for lv in vg.all_lvs}
    want = {lv: h for lv, (h, _) in expected(SCENARIO, names).items()}
    assert {"vg/origin", "vg/s1", "vg/s2"} <= set(want)
    return want


def check(system, want, name, parts):
    vg = system.vg("vg")
    assert [pv.device for pv in vg.pvs] == [f"{name}:p{n}" for n in parts]
    assert f"{name}:p{parts[0]}" in system.devices
    got = {lv.full_name: sha256_of(lv) for lv in vg.all_lvs if lv.full_name in want}
    assert got == want


def test_gpt_disk_is_the_recorded_disk(disks):
    rec = (TESTDATA / "containers" / "disk.sha256").read_text().split()[0]
    assert hashlib.sha256(disks["gpt"].read_bytes()).hexdigest() == rec


@pytest.mark.parametrize("kind,parts", [("gpt", [1, 3]), ("mbr", [1, 5]), ("e01", [1, 3]), ("disk", [1, 3]), ("disk-v2c", [1, 3])])
def test_paths_and_file_objects(kind, parts, disks, images):
    want = kernel_hashes(images)
    path = disks[kind]
    check(lvmsim.open(str(path)), want, str(path), parts)
    # A file object named as the path: the same devices.
    with open(path, "rb") as f:
        system = lvmsim.open(f)
        check(system, want, str(path), parts)
        # The command reports the same PVs for the path.
        pvs = cli.run_json([path], "pvs", "--reportformat", "json", "-o", "pv_name")
        names = sorted(r["pv_name"] for r in pvs["report"][0]["pv"])
        assert names == sorted(pv.device for pv in system.vg("vg").pvs)
        assert system.history().to_dict() == cli.run_json([path], "history", "--json")
    # Bytes in memory with a name of their own.
    mem = io.BytesIO(path.read_bytes())
    mem.name = "evidence"
    check(lvmsim.open(mem), want, "evidence", parts)


def test_damaged_container_in_a_file_object_raises(disks):
    data = bytearray(disks["e01"].read_bytes())
    data[13:] = bytes(len(data) - 13)  # the E01's section headers zeroed
    with pytest.raises(lvmsim.Error):
        lvmsim.open(io.BytesIO(bytes(data)))
    q = bytearray(disks["disk"].read_bytes())
    q[8:4096] = b"\xff" * (4096 - 8)  # a qcow2 header with impossible fields
    with pytest.raises(lvmsim.Error):
        lvmsim.open(io.BytesIO(bytes(q)))
