#!/usr/bin/env bash
# gen-check.sh LVMSIM [MUTANTS] [SEED...]
#
# The oracle for `lvmsim gen` and `lvmsim mutate`: real lvm2 judges their images.
#
# For every profile (small, snapshots, history, all) and every SEED (default 1 2 3),
# `lvmsim gen` makes a directory whose images are attached read-only to loop devices
# (`losetup -f -r`); lvm2 runs without device-mapper (`--driverloaded n` and a private
# lvm.conf with activation off, see oracle-env.sh) and must:
#   - accept every VG of the manifest: `vgck VG` exits 0 and warns of nothing;
#   - list the manifest's LVs with its sizes: `lvs --reportformat json --units b` gives
#     exactly the manifest's (VG, LV, lv_size) set;
#   - for every linear LV the manifest calls direct, give the LV's bytes at its own
#     mapping: the PE ranges of `lvs --segments -o seg_pe_ranges` read with dd from the
#     loop devices (at `pvs -o pe_start`, `vgs -o vg_extent_size`) hash to the manifest's
#     sha256.
# Then MUTANTS mutants (default 50; seeds 1..MUTANTS, every kind in turn, from the
# snapshots and all directories) are judged: vgck and lvs on the mutant's VG exit 0
# with no warning (accepts), exit 0 with a WARNING (warns) or fail (refuses); that must
# be the verdict the mutant's manifest predicts.
#
# Needs root, losetup, lvm2, jq and sha256sum. Every loop device attached here is
# detached on exit, also on failure.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 LVMSIM [MUTANTS] [SEED...]" >&2; exit 2; }
LVMSIM=$(realpath "$1"); shift
MUTANTS=${1:-50}; [ $# -ge 1 ] && shift
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2 3)
for t in losetup lvm jq sha256sum dd; do
  command -v $t >/dev/null || { echo "gen-check.sh: $t is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/lvmsim-gencheck.XXXXXX)
DEVDIR=$WORK/dev
# shellcheck source=oracle-env.sh
. "$(dirname "$0")/oracle-env.sh"
oracle_env "$WORK/etc" "$DEVDIR"
LOOPS=()
detach() {
  local l
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || echo "gen-check.sh: could not detach $l" >&2; done
  LOOPS=()
  rm -f "$DEVDIR"/*
}
cleanup() { detach; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# attach DIR: its images (from the manifest), read-only, as DEVDIR/<file>.
attach() {
  local dir=$1 f loop
  detach
  for f in $(jq -r '.images[].file' "$dir/manifest.json"); do
    loop=$(losetup -f -r --show "$dir/$f")
    LOOPS+=("$loop")
    ln -s "$loop" "$DEVDIR/$f"
  done
}

# lvm2 without device-mapper; its notes about that are not warnings about the VG.
l2() { lvm "$@" --driverloaded n; }
noise() {
  grep -v -e 'WARNING: Activation disabled' -e 'WARNING: This metadata update is NOT backed up' \
    -e '/dev/mapper/control' -e 'device-mapper driver' -e 'Check that device-mapper' \
    -e 'Incompatible libdevmapper' || true
}

fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# verdict VG: accepts, warns or refuses, from vgck and lvs.
verdict() {
  local vg=$1 rc=0 err
  err=$( { l2 vgck "$vg" >/dev/null; } 2>&1 ) || rc=1
  err+=$'\n'$( { l2 lvs "$vg" >/dev/null; } 2>&1 ) || rc=1
  if [ $rc -ne 0 ]; then echo refuses
  elif printf '%s\n' "$err" | noise | grep -q 'WARNING'; then echo warns
  else echo accepts; fi
}

check_gen() {
  local dir=$1 name=$2 vg lv want got
  attach "$dir"
  for vg in $(jq -r '.vgs[].name' "$dir/manifest.json"); do
    local err rc=0
    err=$( { l2 vgck "$vg" >/dev/null; } 2>&1 ) || rc=$?
    [ $rc -eq 0 ] || fail "$name: lvm2 vgck $vg exits $rc: $err"
    if printf '%s\n' "$err" | noise | grep -q .; then fail "$name: vgck $vg says: $err"; fi
  done
  want=$(jq -r '.vgs[] | .name as $v | .lvs[] | "\($v) \(.name) \(.lv_size)"' "$dir/manifest.json" | sort)
  got=$(l2 lvs --reportformat json --units b --nosuffix -o vg_name,lv_name,lv_size 2>/dev/null |
    jq -r '.report[0].lv[] | "\(.vg_name) \(.lv_name) \(.lv_size)"' | sort)
  [ "$want" = "$got" ] || fail "$name: lvm2's LVs differ from the manifest:"$'\n'"$(diff <(echo "$want") <(echo "$got") || true)"
  # Direct reads of linear LVs at lvm2's own mapping.
  while read -r vg lv want; do
    local ext
    ext=$(l2 vgs --noheadings --units b --nosuffix -o vg_extent_size "$vg" 2>/dev/null | tr -d ' ')
    got=$(
      l2 lvs --segments --reportformat json --units b --nosuffix -o seg_start,seg_pe_ranges "$vg/$lv" 2>/dev/null |
        jq -r '.report[0].seg[] | "\(.seg_start) \(.seg_pe_ranges)"' | sort -n |
        while read -r _ range; do
          local dev=${range%%:*} pes=${range##*:} a b start
          a=${pes%-*}; b=${pes#*-}
          start=$(l2 pvs --noheadings --units b --nosuffix -o pe_start "$dev" 2>/dev/null | tr -d ' ')
          dd if="$dev" iflag=skip_bytes,count_bytes bs=1M skip=$((start + a * ext)) \
            count=$(((b - a + 1) * ext)) status=none
        done | sha256sum | cut -d' ' -f1
    )
    [ "$got" = "$want" ] || fail "$name: $vg/$lv read by dd at lvm2's seg_pe_ranges: sha256 $got, manifest $want"
  done < <(jq -r '.vgs[] | .name as $v | .lvs[] | select(.direct) | "\($v) \(.name) \(.sha256)"' "$dir/manifest.json")
  detach
}

gens=()
for p in small snapshots history all; do
  for s in "${SEEDS[@]}"; do
    d=$WORK/gen-$p-$s
    "$LVMSIM" gen --seed "$s" --profile "$p" -o "$d" >/dev/null
    check_gen "$d" "gen --seed $s --profile $p"
    case $p in snapshots|all) gens+=("$d") ;; esac
  done
done
echo "gen-check: ${#SEEDS[@]} seeds x 4 profiles judged by lvm2"

# Every kind in turn; text (the most variants) twice as often.
KINDS=(text header label text ring cow data)
declare -A tally=()
for i in $(seq 1 "$MUTANTS"); do
  src=${gens[$((i % ${#gens[@]}))]}
  m=$WORK/mut-$i
  kind=${KINDS[$((i % ${#KINDS[@]}))]}
  "$LVMSIM" mutate --seed "$i" --kind "$kind" "$src" -o "$m" >/dev/null
  vg=$(jq -r '.mutation.lvm2.vg' "$m/manifest.json")
  want=$(jq -r '.mutation.lvm2.verdict' "$m/manifest.json")
  what=$(jq -r '"\(.mutation.kind)/\(.mutation.variant)"' "$m/manifest.json")
  attach "$m"
  got=$(verdict "$vg")
  detach
  tally[$what:$got]=$(( ${tally[$what:$got]:-0} + 1 ))
  [ "$got" = "$want" ] || fail "mutate --seed $i $(basename "$src") ($what): lvm2 $got, manifest predicts $want"
  rm -rf "$m"
done
for k in "${!tally[@]}"; do echo "  $k ${tally[$k]}"; done | sort
echo "gen-check: $MUTANTS mutants judged by lvm2"

if [ $fails -ne 0 ]; then echo "gen-check: $fails failures" >&2; exit 1; fi
echo "gen-check: all passed"
