#!/usr/bin/env bash
# lock-check.sh LVMSIM [N]
#
# Concurrent writers under lvmsim's image locks, judged by real lvm2. Two
# lvmsim processes each run N (default 40) `lvcreate` on the same image at the
# same time, beside a loop of `lvs`. Afterwards lvmsim's lvs must list exactly
# the LVs whose lvcreate said "created" (all 2N of them), every lvs must have
# run without a warning, and real lvm2 on a loop device over the image must
# accept it: vgck without a complaint, and its lvs listing the same LVs.
# Without the locks (lvmsim --nolocking) the writers interleave their ring
# writes and lvm2 no longer finds the VG.
#
# lvm2 sees the image as WORK/dev/d.img (a private device directory, so this
# can run beside the other oracle scripts); lvmsim is given the same name with
# --dev NAME=FILE. Needs root, losetup and lvm2. The loop device is always
# detached.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 LVMSIM [N]" >&2; exit 2; }
LVMSIM=$(realpath "$1"); N=${2:-40}
WORK=$(mktemp -d /tmp/l2lock.XXXXXX)
DEVDIR=$WORK/dev
ETC=$WORK/etc
# shellcheck source=oracle-env.sh source-path=SCRIPTDIR
. "$(dirname "$0")/oracle-env.sh"
oracle_env "$ETC" "$DEVDIR"
LOOP=
cleanup() {
  local j
  for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$LOOP" ]; then losetup -d "$LOOP" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

IMG=$WORK/d.img
NAME=$DEVDIR/d.img
truncate -s 400M "$IMG"
sim() { "$LVMSIM" --dev "$NAME=$IMG" "$@"; }
sim vgcreate vg "$NAME" > /dev/null

# writer PREFIX: N lvcreate, each LV 4 MiB, named PREFIX0..PREFIX(N-1).
writer() {
  local i
  for ((i = 0; i < N; i++)); do
    sim lvcreate -an -Zn -n "$1$i" -L 4m vg >> "$WORK/$1.out" 2>&1 || true
  done
}
# reader: lvs until the writers are done; anything on stderr but the line
# of a command waiting for its lock is a failure.
reader() {
  local runs=0
  while [ ! -e "$WORK/done" ]; do
    runs=$((runs+1))
    sim lvs > /dev/null 2> "$WORK/lvs.err" || echo "  lvs exited $?" >> "$WORK/lvs.err"
    if grep -v 'lvmsim: waiting for the lock on' "$WORK/lvs.err" >> "$WORK/reader.bad"; then :; fi
  done
  echo "$runs" > "$WORK/reader.runs"
}

reader & rpid=$!
writer a & apid=$!
writer b & bpid=$!
wait "$apid" "$bpid"
touch "$WORK/done"
wait "$rpid"

created=$(sed -n 's/^  Logical volume "\(.*\)" created\.$/\1/p' "$WORK/a.out" "$WORK/b.out" | sort)
ncreated=$(echo "$created" | grep -c . || true)
[ "$ncreated" -eq $((2 * N)) ] || fail "$ncreated of $((2 * N)) lvcreate runs said created"
waits=$(cat "$WORK/a.out" "$WORK/b.out" | grep -c 'lvmsim: waiting for the lock' || true)
if [ -s "$WORK/reader.bad" ]; then fail "lvs complained while the writers ran:"; head -n 5 "$WORK/reader.bad"; fi

listed=$(sim lvs --noheadings -o lv_name 2>&1 | tr -d ' ' | sort)
[ "$listed" == "$created" ] || { fail "lvmsim's lvs does not list the created LVs:"; diff <(echo "$created") <(echo "$listed") || true; }

# Real lvm2 on the image.
LOOP=$(losetup -f --show "$IMG")
ln -sf "$LOOP" "$NAME"
rc=0; out=$(lvm vgck vg 2>&1) || rc=$?
errs=$(echo "$out" | grep -v 'Activation disabled' | grep -i -e warning -e error -e fail -e 'not found' -e checksum || true)
if [ "$rc" -ne 0 ] || [ -n "$errs" ]; then fail "lvm2 vgck (exit $rc):"; echo "$out"; fi
rc=0; real=$(lvm lvs --driverloaded n --noheadings -o lv_name vg 2>"$WORK/lvm-lvs.err") || rc=$?
real=$(echo "$real" | tr -d ' ' | sort)
if [ "$rc" -ne 0 ]; then fail "lvm2 lvs (exit $rc):"; cat "$WORK/lvm-lvs.err"; fi
[ "$real" == "$created" ] || { fail "lvm2's lvs does not list the created LVs:"; diff <(echo "$created") <(echo "$real") || true; }

echo "lock-check: $ncreated LVs from 2 concurrent writers ($waits waits for a lock)," \
  "$(cat "$WORK/reader.runs") lvs runs beside them, $fails failures"
[ "$fails" -eq 0 ]
