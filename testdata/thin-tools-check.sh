#!/usr/bin/env bash
# thin-provisioning-tools against lvmsim on the kernel's thin pool metadata:
# for each kernel scenario with a thin pool, the metadata LV read out with
# `lvmsim cat VG/POOL_tmeta` must pass `thin_check`, and `thin_dump` of it
# must equal `lvmsim thin_dump VG/POOL` line for line (superblock, devices,
# every range_mapping and single_mapping).
# Usage: testdata/thin-tools-check.sh LVMSIM
set -euo pipefail
lvmsim=$(realpath "$1")
cd "$(dirname "$0")"
for t in thin_dump thin_check zstd; do
  command -v "$t" >/dev/null || { echo "FATAL: $t is required and missing (apt-get install thin-provisioning-tools zstd)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/lvmsim-thin.XXXXXX)
trap 'rm -rf "$work"' EXIT
# scenario  VG/POOL
checked=0
for entry in "thin-pool vg/pool" "thin-recover vg/pool"; do
  set -- $entry
  scen=$1 pool=$2
  zstd -q -d --sparse "kernel/$scen/pv1.img.zst" -o "$work/pv1.img"
  "$lvmsim" --dev "$work/pv1.img" cat "${pool}_tmeta" > "$work/meta.bin"
  thin_check "$work/meta.bin" > "$work/check.out" 2>&1 || { cat "$work/check.out"; echo "FAIL: $scen: thin_check rejects the kernel's metadata" >&2; exit 1; }
  thin_dump "$work/meta.bin" > "$work/tools.xml"
  "$lvmsim" --dev "$work/pv1.img" thin_dump "$pool" > "$work/lvmsim.xml"
  if ! diff -u "$work/tools.xml" "$work/lvmsim.xml"; then
    echo "FAIL: $scen: lvmsim thin_dump differs from thin_dump" >&2
    exit 1
  fi
  n=$(grep -c "_mapping " "$work/tools.xml")
  [ "$n" -gt 0 ] || { echo "FAIL: $scen: thin_dump shows no mappings" >&2; exit 1; }
  echo "$scen: thin_check passed; thin_dump equals lvmsim thin_dump ($n mapping lines)"
  rm -f "$work"/*
  checked=$((checked + 1))
done
[ "$checked" -gt 0 ] || { echo "FATAL: no scenario checked" >&2; exit 1; }
