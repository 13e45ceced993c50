#!/usr/bin/env bash
# restore-check.sh LVMSIM DIR [SCENARIO...]
#
# The vgcfgbackup oracle: for every VG of every scenario in DIR (made by gen.sh, raw
# images), `lvmsim vgcfgbackup` writes a backup file from the images alone; real lvm2
# then recreates the PVs on fresh, empty loop devices (pvcreate --uuid --restorefile)
# and restores the VG with vgcfgrestore. lvm2's own lvs JSON of the restored VG must
# equal the scenario's lvs.json golden, and its vgs JSON must equal vgs.json apart from
# the fields that a restore changes by design (vg_seqno is bumped by the restore's own
# write; metadata-area geometry comes from pvcreate, not from the backup file).
#
# Needs root, losetup, lvm2 and jq. Every loop device attached is detached on exit.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 LVMSIM DIR [SCENARIO...]" >&2; exit 2; }
LVMSIM=$(realpath "$1"); DIR=$(realpath "$2"); shift 2
for t in losetup lvm jq; do command -v $t >/dev/null || { echo "restore-check.sh: $t is missing" >&2; exit 1; }; done

WORK=$(mktemp -d /tmp/l2restore.XXXXXX)
DEVDIR=$WORK/dev
ETC=$WORK/etc
# shellcheck source=oracle-env.sh
. "$(dirname "$0")/oracle-env.sh"
oracle_env "$ETC" "$DEVDIR"
LOOPS=()
cleanup() {
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT


fails=0
checked=0
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  for d in "$DIR"/*/; do [ -f "$d/vgs.json" ] && scenarios+=("$(basename "$d")"); done
fi
for sc in "${scenarios[@]}"; do
  S=$DIR/$sc
  vgs=$(jq -r '.report[0].vg[].vg_name' "$S/vgs.json")
  [ -n "$vgs" ] || continue
  devargs=()
  olddir=
  while read -r name file; do
    devargs+=(--dev "$name=$S/$file")
    olddir=$(dirname "$name")
  done < "$S/devmap.txt"
  for vg in $vgs; do
    W=$WORK/$sc-$vg
    mkdir -p "$W"
    # A partial VG (a PV missing, lvm2's vg_attr 'p'): restored onto complete fresh
    # PVs it is no longer partial, so its reports cannot equal the goldens.
    if [ "$(jq -r --arg vg "$vg" '.report[0].vg[] | select(.vg_name == $vg) | .vg_attr[3:4]' "$S/vgs.json")" = p ]; then
      echo "skip $sc/$vg: lvm2 reports it partial (a PV missing); a restore makes it whole"
      continue
    fi
    "$LVMSIM" "${devargs[@]}" vgcfgbackup -f "$W/backup.vg" "$vg" >/dev/null
    # Fresh, empty PVs of the same sizes, under the same names in our own folder.
    rm -f "$DEVDIR"/*
    for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    LOOPS=()
    jq -r --arg vg "$vg" '.report[0].pv[] | select(.vg_name == $vg) | "\(.pv_name) \(.pv_uuid) \(.dev_size)"' "$S/pvs.json" |
      while read -r pvname uuid size; do echo "$pvname $uuid $size"; done > "$W/pvlist"
    while read -r pvname uuid size; do
      base=$(basename "$pvname")
      truncate -s "$size" "$W/$base"
      loop=$(losetup -f --show "$W/$base")
      LOOPS+=("$loop")
      ln -s "$loop" "$DEVDIR/$base"
    done < "$W/pvlist"
    while read -r pvname uuid size; do
      lvm pvcreate -ff -y -q --uuid "$uuid" --restorefile "$W/backup.vg" "$DEVDIR/$(basename "$pvname")" >"$W/pvcreate.log" 2>&1 ||
        { echo "FAIL $sc/$vg: pvcreate --restorefile refused lvmsim's backup:"; cat "$W/pvcreate.log"; fails=$((fails+1)); continue 2; }
    done < "$W/pvlist"
    # lvm2 restores a VG with thin LVs only when forced (it cannot check the pool).
    force=()
    grep -q 'type = "thin' "$W/backup.vg" && force=(--force)
    if ! lvm vgcfgrestore "${force[@]}" -f "$W/backup.vg" "$vg" >"$W/restore.log" 2>&1; then
      echo "FAIL $sc/$vg: vgcfgrestore refused lvmsim's backup:"; cat "$W/restore.log"; fails=$((fails+1)); continue
    fi
    lvf=$(jq -r '.report[0].lv[0] | keys_unsorted | join(",")' "$S/lvs.json" 2>/dev/null || true)
    [ -n "$lvf" ] && [ "$lvf" != "null" ] || lvf=lv_name,vg_name,lv_uuid,lv_attr,lv_size,origin,chunk_size,seg_count,lv_layout,lv_role
    vgf=$(jq -r '.report[0].vg[0] | keys_unsorted | join(",")' "$S/vgs.json")
    # lvm2 lists no LV of an exported VG and refuses to name one (exit 5): the
    # comparison below then sees an empty list, as the scenario's lvs.json has.
    { lvm lvs --reportformat json --units b --nosuffix -a -o "$lvf" "$vg" 2>/dev/null || true; } |
      sed "s|$WORK/dev/|$olddir/|g" > "$W/lvs.json"
    [ -s "$W/lvs.json" ] || echo '{"report": [{"lv": []}]}' > "$W/lvs.json"
    lvm vgs --reportformat json --units b --nosuffix -a -o "$vgf" "$vg" 2>/dev/null > "$W/vgs.json"
    norm_vg='.report[0].vg[] | del(.vg_seqno, .vg_mda_count, .vg_mda_size, .vg_mda_free)'
    want_lv=$(jq -S --arg vg "$vg" '[.report[0].lv[] | select(.vg_name == $vg)]' "$S/lvs.json")
    got_lv=$(jq -S '[.report[0].lv[]]' "$W/lvs.json")
    want_vg=$(jq -S --arg vg "$vg" "$norm_vg | select(.vg_name == \$vg)" "$S/vgs.json")
    got_vg=$(jq -S "$norm_vg" "$W/vgs.json")
    checked=$((checked+1))
    if [ "$want_lv" != "$got_lv" ]; then
      echo "FAIL $sc/$vg: lvs after restoring lvmsim's backup differs:"; diff <(echo "$want_lv") <(echo "$got_lv") || true
      fails=$((fails+1))
    elif [ "$want_vg" != "$got_vg" ]; then
      echo "FAIL $sc/$vg: vgs after restoring lvmsim's backup differs:"; diff <(echo "$want_vg") <(echo "$got_vg") || true
      fails=$((fails+1))
    else
      echo "ok   $sc/$vg: lvm2 restored lvmsim's backup; lvs and vgs match"
    fi
  done
done
echo "restore-check: $checked VGs restored, $fails failed"
[ "$checked" -gt 0 ] || { echo "restore-check: nothing was checked" >&2; exit 1; }
[ "$fails" -eq 0 ]
