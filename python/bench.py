#!/usr/bin/env python3
"""Reading an LV through lvmsim vs reading the same bytes of the raw image.

Makes an image (random bytes, then a PV, a VG and a linear LV written by the
`lvmsim` command; by default 1 GiB, plus a snapshot of it), then reads the
LV's bytes in 1 MiB pieces two ways, each from the page cache (best of
--rounds):

  raw:  open(image).readinto(buf) from the LV's first byte on the image;
  lvmsim: lv.open().readinto(buf) (an LV read through the library).

and prints the ratio of their speeds (lvmsim / raw; 1.0 = as fast). The
same is done for the snapshot's view (a snapshot with no exceptions reads
the origin's extents through its exception store).

    python bench.py [--lvmsim target/release/lvmsim] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

# The source tree's lvmsim/ (next to this script) has no compiled module:
# import the installed package.
_here = pathlib.Path(__file__).resolve().parent
sys.path = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _here]
import lvmsim  # noqa: E402

PIECE = 1 << 20


def default_cli() -> str:
    root = pathlib.Path(__file__).resolve().parents[1]
    for p in (root / "target/release/lvmsim", root / "target/debug/lvmsim"):
        if p.exists():
            return str(p)
    return shutil.which("lvmsim") or "lvmsim"


def make_image(cli: str, path: pathlib.Path, size_mib: int) -> None:
    # Random contents first: the LV's bytes are whatever the image holds.
    with open(path, "wb") as f:
        for _ in range(size_mib + 80):
            f.write(os.urandom(PIECE))
    def run(*args: str) -> None:
        subprocess.run([cli, "--dev", str(path), *args], check=True, stdout=subprocess.DEVNULL)
    run("pvcreate", str(path))
    run("vgcreate", "bench", str(path))
    run("lvcreate", "-Zn", "-n", "lv", "-L", f"{size_mib}m", "bench")
    run("lvcreate", "-s", "-n", "snap", "-L", "32m", "bench/lv")


def timed(read_into, total: int) -> float:
    buf = bytearray(PIECE)
    done = 0
    start = time.perf_counter()
    while done < total:
        n = read_into(buf)
        if n == 0:
            raise RuntimeError(f"short read at {done} of {total}")
        done += n
    return time.perf_counter() - start


def best(rounds: int, fn) -> float:
    return min(fn() for _ in range(rounds))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lvmsim", default=default_cli(), help="the lvmsim command (makes the image)")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to make the image (default: a temporary dir)")
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(dir=a.dir, prefix="lvmsim-bench-"))
    try:
        img = work / "pv.img"
        make_image(a.lvmsim, img, a.size_mib)
        vg = lvmsim.open([str(img)]).vg("bench")
        lv, snap = vg.lv("lv"), vg.lv("snap")
        start = vg.pvs[0].pe_start  # the LV is the VG's first: extent 0 on
        total = lv.size
        with open(img, "rb") as raw, lv.open() as f:
            raw.seek(start)
            assert raw.read(PIECE) == f.read(PIECE), "the LV does not start at pe_start"

        def raw_read() -> float:
            with open(img, "rb", buffering=0) as raw:
                raw.seek(start)
                return timed(raw.readinto, total)

        def lv_read(which) -> float:
            with which.open() as f:
                return timed(f.readinto, total)

        raw_read()  # into the page cache
        t_raw = best(a.rounds, raw_read)
        t_lv = best(a.rounds, lambda: lv_read(lv))
        t_snap = best(a.rounds, lambda: lv_read(snap))
        mib = total / PIECE
        print(f"LV of {mib:.0f} MiB in 1 MiB pieces, page cache, best of {a.rounds}:")
        print(f"  raw image  open().readinto : {mib / t_raw:8.0f} MiB/s")
        print(f"  lvmsim     lv.open().readinto: {mib / t_lv:8.0f} MiB/s  ratio {t_raw / t_lv:.2f}x")
        print(f"  lvmsim     snapshot view     : {mib / t_snap:8.0f} MiB/s  ratio {t_raw / t_snap:.2f}x")
        with lv.open() as f, open(img, "rb") as raw:
            raw.seek(start)
            h1, h2 = hashlib.sha256(), hashlib.sha256()
            for _ in range(8):
                h1.update(f.read(PIECE))
                h2.update(raw.read(PIECE))
            assert h1.digest() == h2.digest()
        return 0 if t_raw / t_lv >= 0.8 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
