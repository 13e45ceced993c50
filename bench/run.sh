#!/usr/bin/env bash
# bench/run.sh: the performance comparison of issues 2 and 19, side by side in one run.
#
#   bench/run.sh [--reuse] [--count N] [--runs N] [--rounds N] [--cat-runs N]
#                [--big-count N] [--big-runs N] [--no-cow] [--strict]
#
# 1. `lvmsim lvs -a --reportformat json` on a VG of N (2000) LVs written by real lvm2's
#    vgcfgrestore (testdata/lvm2/make-2000.sh) against `vslvminfo` (libvslvm-utils) on
#    the same image file, and lvm2's own `lvs -a --reportformat json` on a read-only loop
#    device as a second reference. Goal: lvmsim <= 0.3x vslvminfo's median time.
#    Every comparison here runs its programs in up to --rounds (10) rounds, their order
#    reversed every other round, and pools the times: a slow spell of the machine falls
#    on all of them alike.
#    Also stated: /bin/true's time (starting and reaping a process, counted in both) and,
#    if perf works here, each program's CPU time from exec to exit (perf stat).
# 2. `lvmsim cat vg_big/big` (the 1 GiB linear LV) to /dev/null against `dd` of the same
#    byte range of the image file (bs=1M), both from the page cache (warmed first).
#    Goal: lvmsim's throughput >= 1.0x dd's. Measured twice: on the LV as lvm2 leaves it
#    (all zero; a sparse hole of the image, cached like data once read) and after filling
#    it with pseudo-random bytes (a 1 MiB random block, repeated).
# 3. lvmsim's peak RSS for 1 and 2 (/usr/bin/time).
# 4. Unless --big-count 0: 1 again on a second image of --big-count (20000) LVs (its own
#    metadata area, sized by make-2000.sh), against lvm2's `lvs` on a read-only loop
#    device and vslvminfo, --big-runs (5) runs each; no goal, the times are stated.
# 5. Unless --no-cow: the snapshot engine's figures (cow-engine's cow_bench example: store
#    loads of 1M and 16M exceptions with their peak RSS, snapshot views read against dd,
#    merge against cp), printed at the end.
#
# A benchmark, not a test: it prints a table and the ratios, and exits 0 whether or not
# a goal is met (exit 3 on a missed goal with --strict). It fails loudly (exit 1) when a
# tool is missing and cannot be installed with apt-get, or when a step fails.
# Needs root (losetup, and make-2000.sh). See bench/README.md.
set -euo pipefail
export LC_ALL=C TZ=UTC LVM_SUPPRESS_FD_WARNINGS=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/lvmsim-bench}
REUSE=0 COUNT=2000 RUNS=20 ROUNDS=10 CAT_RUNS=10 STRICT=0 COW=1 BIG_COUNT=20000 BIG_RUNS=5

die() { echo "bench/run.sh: $*" >&2; exit 1; }
note() { echo "bench/run.sh: $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--reuse) REUSE=1 ;;
	--count) COUNT=${2:?--count needs a number}; shift ;;
	--runs) RUNS=${2:?--runs needs a number}; shift ;;
	--rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
	--cat-runs) CAT_RUNS=${2:?--cat-runs needs a number}; shift ;;
	--strict) STRICT=1 ;;
	--big-count) BIG_COUNT=${2:?--big-count needs a number}; shift ;;
	--big-runs) BIG_RUNS=${2:?--big-runs needs a number}; shift ;;
	--no-cow) COW=0 ;;
	-h | --help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done
for n in "$COUNT" "$RUNS" "$ROUNDS" "$CAT_RUNS" "$BIG_RUNS"; do
	if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1)); then
		die "counts must be positive integers, got '$n'"
	fi
done
[[ $BIG_COUNT =~ ^[0-9]+$ ]] || die "--big-count must be a number (0: leave out), got '$BIG_COUNT'"

# ---- tools -------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "needs root (losetup, and testdata/lvm2/make-2000.sh)"

APT_UPDATED=0
# need CMD PACKAGE: CMD must be on PATH; otherwise install PACKAGE with apt-get, or fail.
need() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "'$cmd' is missing and there is no apt-get: install $pkg"
	note "'$cmd' missing, installing Debian package $pkg"
	if [ "$APT_UPDATED" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2 ||
		die "could not install $pkg (needed for '$cmd')"
	command -v "$cmd" >/dev/null 2>&1 || die "installed $pkg but '$cmd' is still missing"
}
need hyperfine hyperfine
need vslvminfo libvslvm-utils
need lvs lvm2
need losetup mount
need jq jq
need flock util-linux
need dd coreutils
need awk gawk
need cmp diffutils
need fallocate util-linux
[ -x /usr/bin/time ] || need time time
[ -n "${LVMSIM:-}" ] || need cargo cargo

# ---- lvmsim binary -----------------------------------------------------------------
if [ -n "${LVMSIM:-}" ]; then
	[ -x "$LVMSIM" ] || die "LVMSIM=$LVMSIM is not an executable"
else
	note "building lvmsim: cargo build --release -p sim-cli"
	(cd "$ROOT" && cargo build --release -q -p sim-cli) || die "cargo build failed"
	LVMSIM=$ROOT/target/release/lvmsim
fi
COW_BENCH=
if [ "$COW" = 1 ]; then
	need cargo cargo
	note "building cow_bench: cargo build --release -p cow-engine --example cow_bench"
	(cd "$ROOT" && cargo build --release -q -p cow-engine --example cow_bench) ||
		die "cargo build of cow_bench failed"
	COW_BENCH=$ROOT/target/release/examples/cow_bench
fi
[ -x "$LVMSIM" ] || die "no lvmsim binary at $LVMSIM"

# ---- the image ---------------------------------------------------------------------
# Private lvm2 directories, so that a concurrent testdata/lvm2/gen.sh (which uses
# /tmp/l2dev, /tmp/l2etc, /tmp/l2work) is not disturbed and does not disturb us.
OUT=$BENCH_DIR/out
DEVDIR=$BENCH_DIR/dev
ETCDIR=$BENCH_DIR/etc
WORKDIR=$BENCH_DIR/work
IMG=$OUT/big.img
mkdir -p "$OUT" "$DEVDIR" "$ETCDIR" "$WORKDIR"

LOOPS=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local l
	for l in "${LOOPS[@]}"; do
		losetup -d "$l" 2>/dev/null || echo "bench/run.sh: could not detach $l" >&2
	done
	LOOPS=()
	rm -f "$DEVDIR"/*.img 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STAMP=$OUT/bench-image.ok # written once the image is complete
want_stamp="count=$COUNT"
if [ "$REUSE" = 1 ] && [ -f "$IMG" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want_stamp" ]; then
	note "reusing $IMG ($want_stamp)"
else
	rm -f "$STAMP"
	note "making the image: testdata/lvm2/make-2000.sh $OUT $COUNT (about 15 s)"
	LVM2GEN_DEVDIR=$DEVDIR LVM2GEN_ETCDIR=$ETCDIR LVM2GEN_WORKDIR=$WORKDIR \
		bash "$ROOT/testdata/lvm2/make-2000.sh" "$OUT" "$COUNT" >&2 ||
		die "make-2000.sh failed"
fi

# Our own lvm.conf for the reference `lvs` (same approach as testdata/lvm2/gen.sh:
# no device-mapper, no udev, only our symlink scanned, nothing written to /etc/lvm).
write_conf() {
	cat >"$ETCDIR/lvm.conf" <<EOF
# lvm.conf written by bench/run.sh
devices {
	scan = [ "$DEVDIR" ]
	obtain_device_list_from_udev = 0
	use_devicesfile = 0
	filter = [ "a|^$DEVDIR/[^/]*[.]img\$|", "r|.*|" ]
	global_filter = [ "a|^$DEVDIR/[^/]*[.]img\$|", "r|.*|" ]
	hints = "none"
}
global {
	activation = 0
	use_lvmpolld = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
backup {
	backup = 0
	archive = 0
}
EOF
}
write_conf
export LVM_SYSTEM_DIR=$ETCDIR

LOOP=$(losetup -r -f --show "$IMG") || die "losetup -r -f $IMG failed (no free loop device?)"
LOOPS+=("$LOOP")
LDEV=$DEVDIR/big.img
ln -sfn "$LOOP" "$LDEV"

# Where `big` lives, as lvm2 reports it (independent of lvmsim).
lvm_json() { (cd "$WORKDIR" && "$@" --reportformat json --units b --nosuffix 2>/dev/null); }
PE_START=$(lvm_json pvs -o pe_start "$LDEV" | jq -r '.report[0].pv[0].pe_start')
EXT=$(lvm_json vgs -o vg_extent_size vg_big | jq -r '.report[0].vg[0].vg_extent_size')
read -r RANGE LEN < <(lvm_json lvs --segments -o seg_pe_ranges,seg_size vg_big/big |
	jq -r '.report[0].seg | if length == 1 then "\(.[0].seg_pe_ranges) \(.[0].seg_size)" else error("big has \(length) segments") end')
[[ $PE_START =~ ^[0-9]+$ && $EXT =~ ^[0-9]+$ && $LEN =~ ^[0-9]+$ ]] ||
	die "could not read pe_start/extent size/size of vg_big/big from lvm2"
FIRST_PE=${RANGE##*:}
FIRST_PE=${FIRST_PE%-*}
OFF=$((PE_START + FIRST_PE * EXT))
((OFF % 1048576 == 0 && LEN % 1048576 == 0)) || die "big is not MiB-aligned (offset $OFF, length $LEN)"
note "vg_big/big: $LEN bytes at image offset $OFF ($RANGE)"

printf '%s\n' "$want_stamp" >"$STAMP"

# ---- sanity: every contender reads the same thing ----------------------------------
(cd "$WORKDIR" && lvs -a --reportformat json 2>/dev/null) >"$BENCH_DIR/lvm2-lvs.json" ||
	die "lvm2 lvs failed"
"$LVMSIM" --dev "$IMG" lvs -a --reportformat json >"$BENCH_DIR/lvmsim-lvs.json" ||
	die "lvmsim lvs failed"
vslvminfo "$IMG" >"$BENCH_DIR/vslvminfo.txt" || die "vslvminfo failed"
n_lvm2=$(jq '.report[0].lv | length' "$BENCH_DIR/lvm2-lvs.json")
n_sim=$(jq '.report[0].lv | length' "$BENCH_DIR/lvmsim-lvs.json")
n_vs=$(awk '/^Logical Volume \(LV\):/ { n++ } END { print n + 0 }' "$BENCH_DIR/vslvminfo.txt")
if [ "$n_lvm2" != $((COUNT + 1)) ] || [ "$n_sim" != "$n_lvm2" ] || [ "$n_vs" != "$n_lvm2" ]; then
	die "LV counts differ: lvm2 $n_lvm2, lvmsim $n_sim, vslvminfo $n_vs (expected $((COUNT + 1)))"
fi
# Same bytes as lvm2, given lvm2's device name and its 'X' columns (not timed).
if "$LVMSIM" --dev "$LDEV=$IMG" lvs --driverloaded n -a --reportformat json |
	cmp -s - "$BENCH_DIR/lvm2-lvs.json"; then
	same_json="identical to lvm2's (given --driverloaded n and lvm2's device name)"
else
	same_json="DIFFERS from lvm2's (see $BENCH_DIR/*-lvs.json)"
fi

BYTE_FLAGS=skip_bytes,count_bytes # skip= and count= in bytes
dd_cmd=(dd if="$IMG" of=/dev/null bs=1M iflag="$BYTE_FLAGS" skip="$OFF" count="$LEN" status=none)

# set_data zero|random: what vg_big/big holds, then warm the page cache with it and
# check that lvmsim cat and dd of the image range give the same bytes (not timed).
set_data() {
	case $1 in
	zero)
		fallocate -p -o "$OFF" -l "$LEN" "$IMG" || die "fallocate --punch-hole failed"
		;;
	random)
		local blk=$BENCH_DIR/random-64m.bin i
		if [ "$(stat -c %s "$blk" 2>/dev/null)" != 67108864 ]; then
			head -c 1048576 /dev/urandom >"$blk.1"
			for i in 1 2 3 4 5 6; do cat "$blk.1" "$blk.1" >"$blk.2" && mv "$blk.2" "$blk.1"; done
			mv "$blk.1" "$blk"
		fi
		for ((i = 0; i * 67108864 < LEN; i++)); do cat "$blk" || true; done |
			dd of="$IMG" bs=1M seek="$OFF" oflag=seek_bytes conv=notrunc \
				iflag=fullblock,count_bytes count="$LEN" status=none ||
			die "filling vg_big/big failed"
		;;
	esac
	"${dd_cmd[@]}"
	cmp -s <("$LVMSIM" --dev "$IMG" cat vg_big/big) \
		<(dd if="$IMG" bs=1M iflag="$BYTE_FLAGS" skip="$OFF" count="$LEN" status=none) ||
		die "lvmsim cat vg_big/big and dd of image bytes $OFF+$LEN differ ($1 data)"
}

# ---- measure -----------------------------------------------------------------------
# hyperfine without a shell (-N): a shell's startup is not measured; each command's
# output goes to /dev/null; a non-zero exit status aborts the run.
hf() { # hf JSON RUNS WARMUP CMD...
	local json=$1 runs=$2 warm=$3
	shift 3
	hyperfine -N --style basic --warmup "$warm" --runs "$runs" --export-json "$json" "$@" >&2 ||
		die "hyperfine failed: $*"
}
# hf_rounds JSON RUNS WARMUP -n NAME CMD [-n NAME CMD]...: hf in ROUNDS rounds (at most
# RUNS) of RUNS/ROUNDS runs of each command, in the order given and reversed every other
# round, pooled into one JSON of hyperfine's form (times, their median, mean, min and
# max; user and system the mean of the rounds'). This VM has slow spells of a fraction
# of a second (a run of slower times in hyperfine's per-run list); a program measured
# in one block takes a whole spell where interleaved rounds share it.
hf_rounds() {
	local json=$1 runs=$2 warm=$3
	shift 3
	local names=() cmds=()
	while [ $# -gt 0 ]; do
		[ "$1" = -n ] && [ $# -ge 3 ] || die "hf_rounds: -n NAME CMD expected, got: $*"
		names+=("$2") cmds+=("$3")
		shift 3
	done
	local rounds=$ROUNDS
	((rounds <= runs)) || rounds=$runs
	local per=$((runs / rounds)) r i args parts=()
	for ((r = 0; r < rounds; r++)); do
		args=()
		for i in "${!names[@]}"; do
			((r % 2 == 0)) || i=$((${#names[@]} - 1 - i))
			args+=(-n "${names[$i]}" "${cmds[$i]}")
		done
		hf "$json.round$r" "$per" "$( ((r == 0)) && echo "$warm" || echo 1)" "${args[@]}"
		parts+=("$json.round$r")
	done
	jq -s '
		def median: sort | if length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		.[0].results as $first
		| [.[].results[]] as $all
		| {results: [$first[].command as $c
			| [$all[] | select(.command == $c)] as $rs
			| ([$rs[].times[]]) as $t
			| {command: $c, times: $t, median: ($t | median), mean: ($t | add / length),
				min: ($t | min), max: ($t | max),
				user: ([$rs[].user] | add / length), system: ([$rs[].system] | add / length)}]}
	' "${parts[@]}" >"$json" || die "could not pool ${parts[*]}"
	rm -f "${parts[@]}"
}
cd "$WORKDIR" # lvm2 runs here, away from the repository
note "measuring lvs ($RUNS runs each, in $ROUNDS interleaved rounds)"
hf_rounds "$BENCH_DIR/lvs.json" "$RUNS" 3 \
	-n lvmsim "$LVMSIM --dev $IMG lvs -a --reportformat json" \
	-n vslvminfo "vslvminfo $IMG" \
	-n lvm2-lvs "lvs -a --reportformat json" \
	-n true "/bin/true"
# The CPU time of each program from its exec to its exit (perf stat's task-clock,
# which starts counting at exec), without the fork and wait that hyperfine's
# times include for both: rounds of RUNS runs each, interleaved.
PERF_SIM=() PERF_VS=()
if command -v perf >/dev/null 2>&1 &&
	perf stat -x, -e task-clock /bin/true >/dev/null 2>&1; then
	note "measuring lvs CPU from exec to exit (perf stat, 3 rounds of $RUNS runs)"
	tc() { perf stat -r "$RUNS" -x, -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ { print $1 }'; }
	for _ in 1 2 3; do
		PERF_SIM+=("$(tc "$LVMSIM" --dev "$IMG" lvs -a --reportformat json)")
		PERF_VS+=("$(tc vslvminfo "$IMG")")
	done
fi
for pat in zero random; do
	note "measuring cat, $pat data ($CAT_RUNS runs each)"
	set_data "$pat"
	extra=()
	[ "$pat" = zero ] && extra=(-n lvmsim-cat-len0 "$LVMSIM --dev $IMG cat vg_big/big --length 0")
	hf_rounds "$BENCH_DIR/cat-$pat.json" "$CAT_RUNS" 2 \
		-n lvmsim-cat "$LVMSIM --dev $IMG cat vg_big/big" \
		-n dd "${dd_cmd[*]}" \
		"${extra[@]}"
done

# Peak RSS (KiB) of one run of each lvmsim command, not timed.
rss() { /usr/bin/time -f %M -o "$BENCH_DIR/rss.txt" "$@" >/dev/null || die "failed: $*"; cat "$BENCH_DIR/rss.txt"; }
RSS_LVS=$(rss "$LVMSIM" --dev "$IMG" lvs -a --reportformat json)
RSS_CAT=$(rss "$LVMSIM" --dev "$IMG" cat vg_big/big)

# ---- the same report on a VG of BIG_COUNT LVs --------------------------------------
# Its own image (BENCH_DIR/out-big), made like the first; both VGs are named vg_big, so
# the first image's loop device is detached before this one is attached for lvm2.
BJ=$BENCH_DIR/lvs-big.json
if ((BIG_COUNT > 0)); then
	BOUT=$BENCH_DIR/out-big
	BIMG=$BOUT/big.img
	big_stamp="count=$BIG_COUNT"
	cleanup
	if [ "$REUSE" = 1 ] && [ -f "$BIMG" ] && [ "$(cat "$BOUT/bench-image.ok" 2>/dev/null)" = "$big_stamp" ]; then
		note "reusing $BIMG ($big_stamp)"
	else
		rm -f "$BOUT/bench-image.ok"
		note "making the image of $BIG_COUNT LVs: testdata/lvm2/make-2000.sh $BOUT $BIG_COUNT (minutes: lvm2 writes it)"
		LVM2GEN_DEVDIR=$DEVDIR LVM2GEN_ETCDIR=$ETCDIR LVM2GEN_WORKDIR=$WORKDIR \
			bash "$ROOT/testdata/lvm2/make-2000.sh" "$BOUT" "$BIG_COUNT" >&2 ||
			die "make-2000.sh $BIG_COUNT failed"
		printf '%s\n' "$big_stamp" >"$BOUT/bench-image.ok"
		# make-2000.sh wrote its own lvm.conf over ours: write ours again.
		write_conf
	fi
	LOOP=$(losetup -r -f --show "$BIMG") || die "losetup -r -f $BIMG failed (no free loop device?)"
	LOOPS+=("$LOOP")
	ln -sfn "$LOOP" "$LDEV"
	(cd "$WORKDIR" && lvs -a --reportformat json 2>/dev/null) >"$BENCH_DIR/lvm2-lvs-big.json" ||
		die "lvm2 lvs failed (big VG)"
	"$LVMSIM" --dev "$BIMG" lvs -a --reportformat json >"$BENCH_DIR/lvmsim-lvs-big.json" ||
		die "lvmsim lvs failed (big VG)"
	n_lvm2=$(jq '.report[0].lv | length' "$BENCH_DIR/lvm2-lvs-big.json")
	n_sim=$(jq '.report[0].lv | length' "$BENCH_DIR/lvmsim-lvs-big.json")
	if [ "$n_lvm2" != $((BIG_COUNT + 1)) ] || [ "$n_sim" != "$n_lvm2" ]; then
		die "LV counts differ (big VG): lvm2 $n_lvm2, lvmsim $n_sim (expected $((BIG_COUNT + 1)))"
	fi
	if "$LVMSIM" --dev "$LDEV=$BIMG" lvs --driverloaded n -a --reportformat json |
		cmp -s - "$BENCH_DIR/lvm2-lvs-big.json"; then
		same_big="identical to lvm2's"
	else
		same_big="DIFFERS from lvm2's (see $BENCH_DIR/*-lvs-big.json)"
	fi
	# vslvminfo is measured only if it lists every LV.
	big_vs=()
	if vslvminfo "$BIMG" >"$BENCH_DIR/vslvminfo-big.txt" 2>/dev/null &&
		[ "$(awk '/^Logical Volume \(LV\):/ { n++ } END { print n + 0 }' "$BENCH_DIR/vslvminfo-big.txt")" = $((BIG_COUNT + 1)) ]; then
		big_vs=(-n vslvminfo "vslvminfo $BIMG")
	else
		note "vslvminfo does not list the $((BIG_COUNT + 1)) LVs of $BIMG: not measured"
	fi
	note "measuring lvs of $BIG_COUNT LVs ($BIG_RUNS runs each)"
	hf_rounds "$BJ" "$BIG_RUNS" 1 \
		-n lvmsim "$LVMSIM --dev $BIMG lvs -a --reportformat json" \
		"${big_vs[@]}" \
		-n lvm2-lvs "lvs -a --reportformat json"
	RSS_BIG=$(rss "$LVMSIM" --dev "$BIMG" lvs -a --reportformat json)
fi

COW_OUT=
if [ -n "$COW_BENCH" ]; then
	note "running cow_bench (about a minute)"
	COW_OUT=$(BENCH_DIR=$BENCH_DIR/cow nice "$COW_BENCH" --runs 5) || die "cow_bench failed"
fi

# ---- report ------------------------------------------------------------------------
# get JSON NAME FIELD: a field of one hyperfine result (times in seconds)
get() { jq -r --arg n "$2" ".results[] | select(.command == \$n) | .$3" "$1"; }
# cpu JSON NAME: mean CPU time (user + system) of one hyperfine result, in seconds
cpu() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .user + .system' "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# div3 A B: A / B to three places, for the ratios a goal judges (judged unrounded).
div3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
mibs() { awk -v l="$LEN" -v t="$1" 'BEGIN { printf "%.0f", l / t / 1048576 }'; }
LJ=$BENCH_DIR/lvs.json ZJ=$BENCH_DIR/cat-zero.json RJ=$BENCH_DIR/cat-random.json

echo
echo "lvmsim bench: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes'), $(nproc) CPUs, $(uname -r), $(date -u '+%F %T') UTC"
echo "image: $IMG: vg_big, $COUNT one-extent LVs + big ($((LEN / 1048576)) MiB at byte $OFF)"
echo "lvmsim's lvs JSON is $same_json"
echo
printf '%-46s %4s %9s %9s %9s %9s\n' "command (output to /dev/null)" "runs" "median" "mean" "min" "max"
row() { # row JSON NAME LABEL
	printf '%-46s %4s %7sms %7sms %7sms %7sms\n' "$3" \
		"$(jq -r --arg n "$2" '.results[] | select(.command == $n) | .times | length' "$1")" \
		"$(ms "$(get "$1" "$2" median)")" "$(ms "$(get "$1" "$2" mean)")" \
		"$(ms "$(get "$1" "$2" min)")" "$(ms "$(get "$1" "$2" max)")"
}
row "$LJ" lvmsim "lvmsim lvs -a --reportformat json"
row "$LJ" vslvminfo "vslvminfo IMAGE"
row "$LJ" lvm2-lvs "lvm2 lvs -a --reportformat json (loop dev)"
row "$LJ" true "/bin/true"
row "$ZJ" lvmsim-cat "lvmsim cat vg_big/big     (zero data)"
row "$ZJ" dd "dd bs=1M, same bytes      (zero data)"
row "$RJ" lvmsim-cat "lvmsim cat vg_big/big     (random data)"
row "$RJ" dd "dd bs=1M, same bytes      (random data)"
row "$ZJ" lvmsim-cat-len0 "lvmsim cat --length 0 (startup: scan)"
echo

L_SIM=$(get "$LJ" lvmsim median)
L_VS=$(get "$LJ" vslvminfo median)
R_LVS=$(div3 "$L_SIM" "$L_VS")
R_LVM=$(div "$L_SIM" "$(get "$LJ" lvm2-lvs median)")
C_LEN0=$(get "$ZJ" lvmsim-cat-len0 median)
# met A B GOAL le|ge: whether A / B is at most (le) or at least (ge) GOAL, unrounded.
met() { awk -v a="$1" -v b="$2" -v g="$3" -v dir="$4" 'BEGIN { r = a / b; ok = dir == "le" ? r <= g : r >= g; print ok ? "met" : "MISSED" }'; }
met_lvs=$(met "$L_SIM" "$L_VS" 0.3 le)
echo "ratios (of medians)"
printf '  lvs  lvmsim time / vslvminfo time      %5sx   goal <= 0.30x  %s\n' "$R_LVS" "$met_lvs"
printf '       lvmsim time / lvm2 lvs time       %5sx   (reference)\n' "$R_LVM"
printf '       lvmsim CPU / vslvminfo CPU        %5sx   (user+system, means)\n' \
	"$(div "$(cpu "$LJ" lvmsim)" "$(cpu "$LJ" vslvminfo)")"
T_TRUE=$(get "$LJ" true median)
printf '       time, each less /bin/true'"'"'s %.1f ms %5sx   (stated: starting and reaping a process, in both)\n' \
	"$(ms "$T_TRUE")" \
	"$(awk -v a="$L_SIM" -v b="$(get "$LJ" vslvminfo median)" -v t="$T_TRUE" 'BEGIN { printf "%.2f", (a - t) / (b - t) }')"
if ((${#PERF_SIM[@]} > 0)); then
	for i in "${!PERF_SIM[@]}"; do
		printf '       lvmsim CPU / vslvminfo CPU        %5sx   (stated: exec to exit, perf stat round %d: %s ms / %s ms)\n' \
			"$(div "${PERF_SIM[$i]}" "${PERF_VS[$i]}")" $((i + 1)) "${PERF_SIM[$i]}" "${PERF_VS[$i]}"
	done
fi
all_met=$([ "$met_lvs" = met ] && echo 1 || echo 0)
for pat in zero random; do
	j=$BENCH_DIR/cat-$pat.json
	c_sim=$(get "$j" lvmsim-cat median)
	c_dd=$(get "$j" dd median)
	r=$(div3 "$c_dd" "$c_sim")
	m=$(met "$c_dd" "$c_sim" 1.0 ge)
	[ "$m" = met ] || all_met=0
	net=$(awk -v d="$c_dd" -v s="$c_sim" -v z="$C_LEN0" 'BEGIN { if (s > z) printf "%.2f", d / (s - z); else print "n/a" }')
	printf '  cat  lvmsim / dd throughput, %-6s    %5sx   goal >= 1.00x  %s  (%s vs %s MiB/s; %sx without startup)\n' \
		"$pat" "$r" "$m" "$(mibs "$c_sim")" "$(mibs "$c_dd")" "$net"
done
echo "  (startup = lvmsim cat --length 0, median $(ms "$C_LEN0") ms: scan and parse of the $((COUNT + 1))-LV metadata)"
echo "peak RSS: lvmsim lvs $((RSS_LVS / 1024)) MiB, lvmsim cat $((RSS_CAT / 1024)) MiB"
echo "raw hyperfine results: $LJ $ZJ $RJ"
if ((BIG_COUNT > 0)); then
	echo
	echo "lvs -a --reportformat json of $BIG_COUNT LVs + big ($BIMG); lvmsim's JSON is $same_big"
	printf '%-46s %4s %9s %9s %9s %9s\n' "command (output to /dev/null)" "runs" "median" "mean" "min" "max"
	row "$BJ" lvmsim "lvmsim lvs -a --reportformat json"
	[ ${#big_vs[@]} = 0 ] || row "$BJ" vslvminfo "vslvminfo IMAGE"
	row "$BJ" lvm2-lvs "lvm2 lvs -a --reportformat json (loop dev)"
	B_SIM=$(get "$BJ" lvmsim median)
	[ ${#big_vs[@]} = 0 ] ||
		printf '  lvs  lvmsim time / vslvminfo time      %5sx   (stated)\n' "$(div "$B_SIM" "$(get "$BJ" vslvminfo median)")"
	printf '       lvmsim time / lvm2 lvs time       %5sx   (stated)\n' "$(div "$B_SIM" "$(get "$BJ" lvm2-lvs median)")"
	[ ${#big_vs[@]} = 0 ] ||
		printf '       lvmsim CPU / vslvminfo CPU        %5sx   (user+system, means)\n' \
			"$(div "$(cpu "$BJ" lvmsim)" "$(cpu "$BJ" vslvminfo)")"
	printf '       lvmsim CPU / lvm2 lvs CPU         %5sx   (user+system, means)\n' \
		"$(div "$(cpu "$BJ" lvmsim)" "$(cpu "$BJ" lvm2-lvs)")"
	echo "peak RSS: lvmsim lvs $((RSS_BIG / 1024)) MiB; raw hyperfine results: $BJ"
fi
if [ -n "$COW_OUT" ]; then
	echo
	echo "snapshot engine (cow-engine/examples/cow_bench.rs):"
	printf '%s\n' "$COW_OUT" | sed 's/^/  /'
	if grep -q MISSED <<<"$COW_OUT"; then all_met=0; fi
fi

if [ "$STRICT" = 1 ] && [ "$all_met" = 0 ]; then
	exit 3
fi
exit 0
