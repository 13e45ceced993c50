#!/usr/bin/env bash
# soak-check.sh LVMSIM [SECONDS|STEPS]
#
# The soak test (sim-cli/examples/soak.rs) judged by real lvm2: workers
# (SOAK_WORKERS, default 4) change one VG at once through LVMSIM, each with a
# random sequence of lvcreate/lvextend/lvreduce/lvremove/lvrename, snapshots,
# writes, merges and tags, against a model of what its LVs must contain;
# every 25 steps they all pause and lvm2's vgck and lvs on loop devices over
# the images must accept the VG and list the models' LVs.
#
# `600s` (default) is a time budget: runs of 100 steps with the seeds SEED,
# SEED+1, ... until it is spent (the last run may end a little later). A plain
# number is the steps of one run. SEED is $SOAK_SEED, or else the time; each
# run prints its seed, and a failure prints the command line that replays it
# and keeps the images. Needs root, losetup and lvm2; the loop devices are
# detached even when a run fails, panics or is killed.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 LVMSIM [SECONDS|STEPS]" >&2; exit 2; }
LVMSIM=$(realpath "$1"); LIMIT=${2:-600s}
WORKERS=${SOAK_WORKERS:-4}
SEED=${SOAK_SEED:-$(date +%s)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/l2soak.XXXXXX)
PID=
cleanup() {
  local img dev
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  for img in "$WORK"/run*/d*.img; do
    [ -e "$img" ] || continue
    for dev in $(losetup -j "$img" | cut -d: -f1); do losetup -d "$dev" 2>/dev/null || true; done
  done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

case $LIMIT in
  *s) budget=${LIMIT%s}; steps=100 ;;
  *) budget=0; steps=$LIMIT ;;
esac
[[ $budget =~ ^[0-9]+$ && $steps =~ ^[0-9]+$ ]] || { echo "usage: $0 LVMSIM [SECONDS|STEPS]" >&2; exit 2; }

# The example is run directly (not under cargo run), so that killing it
# kills the soak itself.
cargo build -q --manifest-path "$ROOT/Cargo.toml" -p sim-cli --example soak
TARGET=$(cargo metadata -q --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
SOAK=$TARGET/debug/examples/soak
[ -x "$SOAK" ] || { echo "FATAL: the soak example was not built at $SOAK" >&2; exit 1; }
echo "soak-check: seed $SEED, $WORKERS workers, $LIMIT"

# run N: one soak run with seed SEED+N in WORK/runN.
run() {
  local dir=$WORK/run$1 rc=0
  "$SOAK" --lvmsim "$LVMSIM" --seed $((SEED + $1)) --workers "$WORKERS" --steps "$steps" \
    --dir "$dir" --vgck &
  PID=$!
  wait "$PID" || rc=$?
  PID=
  if [ "$rc" -ne 0 ]; then
    KEEP=1
    echo "soak-check: FAILED (seed $((SEED + $1))); the images are kept in $dir"
  fi
  return "$rc"
}

start=$SECONDS
n=0
while :; do
  run "$n"
  n=$((n + 1))
  if [ "$budget" -eq 0 ] || [ $((SECONDS - start)) -ge "$budget" ]; then break; fi
done
echo "soak-check: $n runs (seeds $SEED to $((SEED + n - 1))) passed in $((SECONDS - start)) s"
