#!/usr/bin/env python3
"""Prints the persistent exception store (dm-snapshot COW) found in a corpus
image: header, then every metadata area with its records.

Usage: cowdump.py IMAGE[.zst] COW_START_SECTOR COW_SECTORS [--all]

COW_START_SECTOR and COW_SECTORS are the offset and length of the "-cow"
linear device on the image, as the recorded dmsetup table shows them
(single-segment COW LVs only).  The chunk size is read from the header.
--all prints every record instead of the first and last three per area.
"""

import struct
import subprocess
import sys


def load(path):
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True,
                              capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    data = load(argv[1])
    start, length = int(argv[2]), int(argv[3])
    every = "--all" in argv[4:]
    cow = data[start * 512:(start + length) * 512]
    magic, valid, version, cs = struct.unpack_from("<4I", cow, 0)
    print("header magic=%#010x valid=%d version=%d chunk_sectors=%d"
          % (magic, valid, version, cs))
    if magic != 0x70416E53 or cs == 0:
        return 1
    chunk = cs * 512
    per_area = chunk // 16
    chunks = len(cow) // chunk
    print("cow_chunks=%d exceptions_per_area=%d" % (chunks, per_area))
    total, area = 0, 0
    while True:
        loc = 1 + (per_area + 1) * area
        if loc >= chunks:
            print("area %d at chunk %d: past the end of the COW" % (area, loc))
            break
        base = loc * chunk
        recs = []
        for j in range(per_area):
            old, new = struct.unpack_from("<QQ", cow, base + 16 * j)
            if new == 0:
                break
            recs.append((old, new))
        tail = cow[base + 16 * len(recs):base + chunk]
        print("area %d at chunk %d: %d records%s" % (
            area, loc, len(recs),
            "" if tail.count(0) == len(tail) else " (nonzero bytes follow)"))
        shown = recs if every or len(recs) <= 6 else recs[:3] + [None] + recs[-3:]
        for r in shown:
            print("   ..." if r is None else "   old %d -> new %d" % r)
        total += len(recs)
        if len(recs) < per_area:
            break
        area += 1
    print("records=%d" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
