#!/bin/bash
# Remakes the whole-disk images of this folder with the real partitioning
# tools: an MBR disk made by sfdisk (primary, extended and logical
# partitions) and a GPT disk made by sgdisk, both 64 MiB and empty apart
# from their tables, and each table as sfdisk reads it back (--json), which
# the tests take the partitions' places from. Identifiers are fixed, so a
# remake gives the same bytes.
#
#   testdata/partitions/make.sh [OUTDIR]     (default: this folder)
set -euo pipefail
out=${1:-$(dirname "$0")}
for t in sfdisk sgdisk zstd; do
    command -v "$t" >/dev/null || { echo "make.sh: $t is missing (apt-get install fdisk gdisk zstd)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# MBR: p1 primary LVM (24 MiB), p2 extended holding p5 LVM (24 MiB) and p6
# Linux (8 MiB), so that a PV sits behind a chain of extended boot records.
truncate -s 64M "$work/mbr.img"
sfdisk --quiet --no-reread --no-tell-kernel "$work/mbr.img" <<'TABLE'
label: dos
label-id: 0x4c564d53
unit: sectors
start=2048, size=49152, type=8e
start=51200, size=79872, type=5
start=53248, size=49152, type=8e
start=104448, size=16384, type=83
TABLE

# GPT: p1 LVM (24 MiB), p2 Linux (4 MiB), p3 LVM (24 MiB).
truncate -s 64M "$work/gpt.img"
sgdisk --clear --disk-guid=4C564D53-0000-4000-8000-000000000000 \
    --new=1:2048:+24M --typecode=1:8E00 --partition-guid=1:4C564D53-0000-4000-8000-000000000001 \
    --new=2:0:+4M --typecode=2:8300 --partition-guid=2:4C564D53-0000-4000-8000-000000000002 \
    --new=3:0:+24M --typecode=3:8E00 --partition-guid=3:4C564D53-0000-4000-8000-000000000003 \
    "$work/gpt.img" >/dev/null

for d in mbr gpt; do
    sfdisk --json "$work/$d.img" | sed "s#$work/##" >"$out/$d.sfdisk.json"
    zstd -q -19 -f "$work/$d.img" -o "$out/$d.img.zst"
done
echo "made $out/{mbr,gpt}.img.zst and their sfdisk --json"
