#!/usr/bin/env bash
# bench/kernel.sh: the simulated kernel's devices (lvmsim kernel: FUSE files and NBD
# exports) measured side by side with plain files in one run.
#
#   bench/kernel.sh [--size MIB] [--runs N]
#
# An origin LV of MIB (default 1024) MiB filled with pseudo-random bytes, a snapshot of
# it with every eighth MiB of the origin rewritten after it was taken (so the snapshot's
# view reads one chunk in eight from its store), served by `lvmsim kernel start --nbd`.
# 1. Sequential 1 MiB reads (dd bs=1M to /dev/null): the origin's FUSE file and the
#    snapshot's, against references holding the same bytes. The issue's reference: the
#    plain file read through a FUSE passthrough of the same kind, bindfs (libfuse 3)
#    mounted read-only over the plain file's directory with -o direct_io, as lvmsim
#    opens its files (every read reaches the server; no FUSE page cache). Goals: origin
#    >= 0.7x, snapshot view >= 0.6x its throughput. Stated beside it: the ratios against
#    the plain file itself (page-cached; stricter: no FUSE round trips), and bindfs
#    without direct_io (reads through FUSE's page cache and readahead) as a row.
# 2. nbdcopy of the origin's export to null: against nbdcopy of the plain file exported
#    by qemu-nbd (raw, read-only). Goal >= 0.7x.
# 3. Writes: MIB/4 MiB of 1 MiB writes (dd conv=fsync) into a part of the origin never
#    written since the snapshot (each chunk is copied into the store first), against the
#    same writes into a plain file. The ratio is printed; no goal.
#
# A benchmark, not a test: it prints the figures and ratios and exits 0 whether or not a
# goal is met. It fails loudly (exit 1) when a tool is missing or a step fails. Needs root
# (FUSE). LVMSIM=/path/to/lvmsim measures that binary (default: cargo build --release).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DIR=${BENCH_DIR:-/tmp/lvmsim-bench}/kernel
SIZE=1024 RUNS=5

die() { echo "bench/kernel.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=${2:?--size needs a number}; shift ;;
	--runs) RUNS=${2:?--runs needs a number}; shift ;;
	-h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done
[[ $SIZE =~ ^[0-9]+$ ]] && ((SIZE >= 64 && SIZE % 8 == 0)) || die "--size: a multiple of 8, at least 64"
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || die "--runs: a positive number"
for t in hyperfine nbdcopy qemu-nbd dd jq bindfs; do
	command -v "$t" >/dev/null || die "$t is missing (apt-get install hyperfine libnbd-bin qemu-utils coreutils jq bindfs)"
done
[ -e /dev/fuse ] || die "/dev/fuse is missing"

if [ -z "${LVMSIM:-}" ]; then
	(cd "$ROOT" && cargo build --release -q -p sim-cli) || die "cargo build failed"
	LVMSIM=$ROOT/target/release/lvmsim
fi
[ -x "$LVMSIM" ] || die "$LVMSIM: not executable"

K=$DIR/k QEMU_PID= PASS=$DIR/pass PASSC=$DIR/pass-cached
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
	for m in "$PASS" "$PASSC"; do
		mountpoint -q "$m" 2>/dev/null && umount "$m" 2>/dev/null || true
	done
	[ -S "$K/control" ] && "$LVMSIM" kernel stop "$K" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
rm -rf "$DIR" && mkdir -p "$DIR"
PLAIN=$DIR/plain IMG=$DIR/disk.img RAW=$DIR/plain/plain.img BLK=$DIR/block
mkdir -p "$PLAIN" "$PASS" "$PASSC"
L() { "$LVMSIM" --dev "/dev/sdb=$IMG" "$@"; }

# The bytes: one random MiB repeated, the same in the LV and in the plain file.
head -c 1M /dev/urandom >"$BLK"
fill() { for ((i = 0; i < $1; i++)); do cat "$BLK"; done; }
truncate -s $((SIZE * 2 + 64))M "$IMG"
L vgcreate vg /dev/sdb >/dev/null
L lvcreate -L "${SIZE}m" -n origin vg >/dev/null
fill "$SIZE" | L write vg/origin --offset 0
fill "$SIZE" >"$RAW"
L lvcreate -s -n snap -c 64k -L "$((SIZE / 2))m" vg/origin >/dev/null
# Every eighth MiB of the first half rewritten: those chunks of the view come from the store.
for ((m = 0; m < SIZE / 2; m += 8)); do
	head -c 1M /dev/zero | L write vg/origin --offset $((m << 20)) >/dev/null
done
"$LVMSIM" --dev "/dev/sdb=$IMG" kernel start --nbd "unix:$DIR/nbd.sock" "$K" >/dev/null
qemu-nbd -f raw -r -t -e 4 -x raw --socket="$DIR/raw.sock" "$RAW" &
QEMU_PID=$!
for _ in $(seq 100); do [ -S "$DIR/raw.sock" ] && break; sleep 0.05; done
[ -S "$DIR/raw.sock" ] || die "qemu-nbd did not start"
# The passthroughs: bindfs (libfuse 3) shows the plain file's directory read-only,
# with and without direct I/O.
bindfs -r -o direct_io "$PLAIN" "$PASS" || die "bindfs could not mount $PLAIN on $PASS"
bindfs -r "$PLAIN" "$PASSC" || die "bindfs could not mount $PLAIN on $PASSC"

# Median seconds of a command, hyperfine with one warm-up run.
median() {
	hyperfine -N -w 1 -r "$RUNS" --export-json "$DIR/h.json" "$1" >/dev/null 2>&1 || die "failed: $1"
	jq '.results[0].median' "$DIR/h.json"
}
rate() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.0f", m / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

echo "bench/kernel.sh: $SIZE MiB LV, $RUNS runs each, lvmsim $("$LVMSIM" --version 2>/dev/null | head -1)"
printf '%-44s %8s %13s %7s %6s %s\n' what median min-max MiB/s ratio goal
# A row; the min-max column is read from the last hyperfine run when $6 is h (the rows
# of the reads each follow their median), a dash otherwise.
row() {
	local span=-
	[ "${6:-}" = h ] && span=$(jq -r '.results[0] | "\(.min) \(.max)"' "$DIR/h.json" |
		awk '{ printf "%.3f-%.3f", $1, $2 }')
	printf '%-44s %8.3f %13s %7s %6s %s\n' "$1" "$2" "$span" "$(rate "$3" "$2")" "$4" "$5"
}

pass=$(median "dd if=$PASS/plain.img of=/dev/null bs=1M")
row "read plain file via bindfs -o direct_io" "$pass" "$SIZE" 1.00 reference h
plain=$(median "dd if=$RAW of=/dev/null bs=1M")
row "read plain file (dd bs=1M)" "$plain" "$SIZE" 1.00 "reference (stricter)" h
passc=$(median "dd if=$PASSC/plain.img of=/dev/null bs=1M")
row "read plain file via bindfs (page cache)" "$passc" "$SIZE" "$(ratio "$passc" "$pass")" "(stated)" h
o=$(median "dd if=$K/dev/vg/origin of=/dev/null bs=1M")
row "read origin through FUSE, vs bindfs" "$o" "$SIZE" "$(ratio "$o" "$pass")" ">= 0.7" h
row "  the same, vs plain file" "$o" "$SIZE" "$(ratio "$o" "$plain")" "(>= 0.7)" h
s=$(median "dd if=$K/dev/vg/snap of=/dev/null bs=1M")
row "read snapshot view through FUSE, vs bindfs" "$s" "$SIZE" "$(ratio "$s" "$pass")" ">= 0.6" h
row "  the same, vs plain file" "$s" "$SIZE" "$(ratio "$s" "$plain")" "(>= 0.6)" h
nraw=$(median "nbdcopy nbd+unix:///raw?socket=$DIR/raw.sock null:")
row "nbdcopy plain file (qemu-nbd)" "$nraw" "$SIZE" 1.00 reference h
norigin=$(median "nbdcopy nbd+unix:///vg/origin?socket=$DIR/nbd.sock null:")
row "nbdcopy origin export (lvmsim)" "$norigin" "$SIZE" "$(ratio "$norigin" "$nraw")" ">= 0.7" h

# Writes, once each, into the second half of the origin (never written since the
# snapshot: every chunk is copied into the store first) and into a plain file.
W=$((SIZE / 4))
t0=$(date +%s.%N)
dd if="$RAW" of="$DIR/plain-w.img" bs=1M count="$W" conv=fsync status=none
t1=$(date +%s.%N)
dd if="$RAW" of="$K/dev/vg/origin" bs=1M count="$W" seek=$((SIZE / 2)) conv=notrunc,fsync status=none
t2=$(date +%s.%N)
pw=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
ow=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
row "write plain file (dd bs=1M, fsync)" "$pw" "$W" 1.00 reference
row "write origin with a snapshot through FUSE" "$ow" "$W" "$(ratio "$ow" "$pw")" "(stated)"
