#!/usr/bin/env bash
# lvmsim's writes into thin LVs against thin-provisioning-tools: on the
# kernel's thin pool (testdata/kernel/thin-pool), random `lvmsim write`s
# into the thin LVs and the thin snapshots, each mirrored into a model file
# per LV, with a thin LV created (`lvcreate -V -T`), a thin snapshot taken
# (`lvcreate -s`) and one removed (`lvremove`) between rounds. After every
# round the metadata LV read out with `lvmsim cat` must pass `thin_check`,
# `thin_dump` and `thin_ls` of it must equal `lvmsim thin_dump` and
# `lvmsim thin_ls`, and `lvmsim cat` of every LV must equal its model.
# Usage: testdata/thin-write-check.sh LVMSIM [SEED]
set -euo pipefail
lvmsim=$(realpath "$1")
seed=${2:-$(( $(date +%s) % 32768 ))}
echo "seed $seed"
RANDOM=$seed
cd "$(dirname "$0")"
for t in thin_dump thin_check zstd; do
  command -v "$t" >/dev/null || { echo "FATAL: $t is required and missing (apt-get install thin-provisioning-tools zstd)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/lvmsim-thinw.XXXXXX)
trap 'rm -rf "$work"' EXIT
zstd -q -d --sparse kernel/thin-pool/pv1.img.zst -o "$work/pv1.img"
L() { "$lvmsim" --dev "$work/pv1.img" "$@"; }
lvs="thin1 thin2 snap"
for lv in $lvs; do L cat "vg/$lv" > "$work/$lv.model"; done

check() {
  L cat vg/pool_tmeta > "$work/meta.bin"
  thin_check "$work/meta.bin" > "$work/check.out" 2>&1 || { cat "$work/check.out"; echo "FAIL: $1: thin_check rejects lvmsim's metadata" >&2; exit 1; }
  thin_dump "$work/meta.bin" > "$work/tools.xml"
  L thin_dump vg/pool > "$work/lvmsim.xml"
  diff -u "$work/tools.xml" "$work/lvmsim.xml" || { echo "FAIL: $1: lvmsim thin_dump differs from thin_dump" >&2; exit 1; }
  fields=DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_SECTORS,EXCLUSIVE_SECTORS,SHARED_SECTORS,MAPPED_BYTES,EXCLUSIVE_BYTES,SHARED_BYTES,MAPPED,EXCLUSIVE,SHARED,TRANSACTION,CREATE_TIME,SNAP_TIME
  diff -u <(thin_ls -o "$fields" "$work/meta.bin") <(L thin_ls -o "$fields" vg/pool) || { echo "FAIL: $1: lvmsim thin_ls differs from thin_ls" >&2; exit 1; }
  for lv in $lvs; do
    L cat "vg/$lv" | cmp - "$work/$lv.model" || { echo "FAIL: $1: vg/$lv differs from its model" >&2; exit 1; }
  done
}

writes=0
for round in 1 2 3 4 5 6; do
  # Between the rounds: a new thin LV, a thin snapshot, a removal.
  case $round in
    3) L lvcreate -y -V 6M -T vg/pool -n t9 >/dev/null 2>&1
       head -c $((6 << 20)) /dev/zero > "$work/t9.model"
       lvs="$lvs t9" ;;
    4) L lvcreate -y -s -kn -n s9 vg/thin1 >/dev/null 2>&1
       cp "$work/thin1.model" "$work/s9.model"
       lvs="$lvs s9" ;;
    5) L lvremove -y vg/snap >/dev/null
       lvs=${lvs/snap /} ;;
  esac
  for i in 1 2 3 4 5 6 7 8; do
    set -- $lvs
    n=$(( RANDOM % $# + 1 ))
    lv=${!n}
    size=$(stat -c %s "$work/$lv.model")
    off=$(( (RANDOM * 32768 + RANDOM) % size ))
    len=$(( RANDOM % 70000 + 1 ))
    [ $((off + len)) -le "$size" ] || len=$((size - off))
    head -c "$len" /dev/urandom > "$work/piece"
    L write "vg/$lv" --offset "$off" --input "$work/piece"
    dd if="$work/piece" of="$work/$lv.model" bs=64k oflag=seek_bytes seek="$off" conv=notrunc status=none
    writes=$((writes + 1))
  done
  check "round $round"
done
echo "thin-pool: $writes writes in 6 rounds, lvcreate -V -T, lvcreate -s, lvremove: thin_check passed, thin_dump and thin_ls equal lvmsim's, every LV equals its model"
