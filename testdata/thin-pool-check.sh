#!/usr/bin/env bash
# Thin pools made and grown by lvmsim against thin-provisioning-tools: on a
# blank sparse image, pools made with lvm2's defaults (`--type thin-pool`),
# with `-T VG/POOL -L` and `-c`/`--poolmetadatasize`/`-Zn`, and with a thin
# LV in the same command (`-V`), written to, then grown (data and
# metadata, past a space-map bitmap's 16320 blocks). After each step the
# metadata LV read out with `lvmsim cat` must pass `thin_check`,
# `thin_dump` of it must equal `lvmsim thin_dump`, and its nr_data_blocks
# must be the data LV's size in chunks.
# Usage: testdata/thin-pool-check.sh LVMSIM
set -euo pipefail
lvmsim=$(realpath "$1")
for t in thin_dump thin_check; do
  command -v "$t" >/dev/null || { echo "FATAL: $t is required and missing (apt-get install thin-provisioning-tools)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/lvmsim-thinp.XXXXXX)
trap 'rm -rf "$work"' EXIT
truncate -s 2G "$work/pv1.img"
L() { "$lvmsim" --dev "$work/pv1.img" "$@"; }
L pvcreate "$work/pv1.img" >/dev/null
L vgcreate vg "$work/pv1.img" >/dev/null
checks=0
check() { # STEP POOL
  L cat "vg/$2_tmeta" > "$work/meta.bin"
  thin_check "$work/meta.bin" > "$work/check.out" 2>&1 || { cat "$work/check.out"; echo "FAIL: $1: thin_check rejects $2's metadata" >&2; exit 1; }
  thin_dump "$work/meta.bin" > "$work/tools.xml"
  L thin_dump "vg/$2" > "$work/lvmsim.xml"
  diff -u "$work/tools.xml" "$work/lvmsim.xml" || { echo "FAIL: $1: lvmsim thin_dump of $2 differs from thin_dump" >&2; exit 1; }
  bytes=$(L lvs -a --noheadings --units b --nosuffix -o lv_size "vg/$2_tdata" | tr -d ' ')
  chunk=$(L lvs --noheadings --units b --nosuffix -o chunk_size "vg/$2" | tr -d ' ')
  grep -q "nr_data_blocks=\"$((bytes / chunk))\"" "$work/tools.xml" || { head -1 "$work/tools.xml"; echo "FAIL: $1: $2 does not have $((bytes / chunk)) data blocks" >&2; exit 1; }
  checks=$((checks + 1))
}
L lvcreate -y --type thin-pool -L 20M -n p1 vg >/dev/null
check "create defaults" p1
L lvcreate -y -T vg/p2 -L 1020M -c 64k --poolmetadatasize 8M -Zn >/dev/null
check "create -c --poolmetadatasize -Zn" p2
L lvcreate -y -L 40M -T vg/p3 -V 64M -n t3 >/dev/null 2>&1
check "create with a thin LV" p3
head -c $((3 << 20)) /dev/urandom > "$work/piece"
L write vg/t3 --offset 1000000 --input "$work/piece"
check "write" p3
L lvextend -y -L+8M vg/p1 >/dev/null
L lvextend -y --poolmetadatasize +4M vg/p1 >/dev/null
check "extend data and metadata" p1
# 1020M = 16320 blocks of 64 KiB: one more extent needs a second bitmap;
# 68M of metadata = 17408 blocks, past the first metadata bitmap.
L lvextend -y -L+4M vg/p2 >/dev/null
L lvextend -y --poolmetadatasize 68M vg/p2 >/dev/null
check "extend past a bitmap" p2
L lvextend -y -L+100M vg/p3 >/dev/null
L lvextend -y --poolmetadatasize +4M vg/p3 >/dev/null
check "extend with a thin LV" p3
L cat vg/t3 | cmp -s - <(head -c 1000000 /dev/zero; cat "$work/piece"; head -c $(( (64 << 20) - 1000000 - (3 << 20) )) /dev/zero) || { echo "FAIL: vg/t3 does not read back as written" >&2; exit 1; }
echo "thin pools: $checks checks after lvcreate (defaults, -c/--poolmetadatasize/-Zn, with -V), write and lvextend (data, metadata, past a bitmap): thin_check passed, thin_dump equals lvmsim's"
