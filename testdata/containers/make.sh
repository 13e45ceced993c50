#!/bin/bash
# Remakes the container images of this folder from the same whole disk:
# testdata/partitions/gpt.img.zst with the two PVs of the kernel scenario
# snap-striped-origin copied into its partitions 1 and 3, then
#   disk.qcow2.zst     qemu-img convert -O qcow2 (version 3), zstd-compressed
#   disk-v2c.qcow2.zst qemu-img convert -c -O qcow2 -o compat=0.10 (version 2,
#                      deflated clusters), zstd-compressed
#   disk.E01           ewfacquire (deflate, MD5 and SHA-1 of the media stored)
#   disk.sha256        the raw disk's sha256, which the tests check against
# The tests rebuild the raw disk the same way and compare every report and
# LV view through each container with the raw disk's.
#
#   testdata/containers/make.sh [OUTDIR]     (default: this folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "${1:-$here}" && pwd)
for t in qemu-img ewfacquire zstd sfdisk; do
    command -v "$t" >/dev/null || { echo "make.sh: $t is missing (apt-get install qemu-utils ewf-tools zstd fdisk)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
k=$here/../kernel/snap-striped-origin
zstd -qdc "$here/../partitions/gpt.img.zst" >"$work/disk.img"
start() { sfdisk --json "$work/disk.img" | tr -d ' \n' | grep -o "\"node\":\"[^\"]*img$1\",\"start\":[0-9]*" | sed 's/.*://'; }
for p in "1 pv1" "3 pv2"; do
    set -- $p
    zstd -qdc "$k/$2.img.zst" | dd of="$work/disk.img" bs=512 seek="$(start "$1")" conv=notrunc,sparse status=none
done
sha256sum "$work/disk.img" | cut -d' ' -f1 >"$out/disk.sha256"
qemu-img convert -f raw -O qcow2 "$work/disk.img" "$work/disk.qcow2"
qemu-img convert -f raw -c -O qcow2 -o compat=0.10 "$work/disk.img" "$work/disk-v2c.qcow2"
for q in disk disk-v2c; do
    zstd -q -19 -f "$work/$q.qcow2" -o "$out/$q.qcow2.zst"
done
rm -f "$out/disk.E01"
ewfacquire -u -q -t "$work/disk" -c deflate:best -f encase6 -d sha1 \
    -C lvmsim -D "snap-striped-origin in a GPT disk" -e lvmsim -E 1 -N "test fixture" \
    "$work/disk.img" >/dev/null
cp "$work/disk.E01" "$out/disk.E01"
echo "made $out/{disk.qcow2.zst,disk-v2c.qcow2.zst,disk.E01,disk.sha256}"
