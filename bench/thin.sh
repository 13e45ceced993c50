#!/usr/bin/env bash
# Benchmark (not a test): `lvmsim cat` of a fully mapped 1 GiB thin LV
# against `dd` of the same 1 GiB from the pool's data LV in the image file
# (goal >= 0.8x, dd's median time / lvmsim's), measured side by side in one
# run with hyperfine; then the loading of a thin device's mapping tree of
# 1M mappings (goal < 200 ms), by the dm-pdata example thin_bench. Prints
# the ratio and the figures; exit 0 either way, --strict exits 3 if the
# cat goal is missed. See bench/README.md.
#
# The pool and the thin LV are made by lvmsim on a sparse image (`lvcreate
# -L 1G -T vg/pool -V 1G -n thin`, 64 KiB blocks) and the thin LV is
# written whole with `lvmsim write` (every block mapped, in order), then
# checked to read back as written (not timed).
#
# Env: LVMSIM (a built binary; default: cargo build --release -p sim-cli),
# BENCH_DIR (default /tmp/lvmsim-bench-thin, ~2.3 GB of disk), RUNS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
strict=0
[ "${1:-}" = "--strict" ] && strict=1
dir=${BENCH_DIR:-/tmp/lvmsim-bench-thin}
runs=${RUNS:-10}
die() { echo "thin.sh: $*" >&2; exit 1; }
command -v hyperfine >/dev/null || die "hyperfine is needed (apt-get install hyperfine)"
command -v python3 >/dev/null || die "python3 is needed"
if [ -z "${LVMSIM:-}" ]; then
	cargo build -q --release -p sim-cli
	LVMSIM=$PWD/target/release/lvmsim
fi
cargo build -q --release -p dm-pdata --example thin_bench
example=$PWD/target/release/examples/thin_bench
mkdir -p "$dir"
cd "$dir"
rm -f pv.img data.bin times.json
truncate -s 1100M pv.img
l() { "$LVMSIM" --nolocking --dev pv.img "$@"; }
l pvcreate pv.img >/dev/null
l vgcreate -s 4m vgt pv.img >/dev/null
l lvcreate -y -L 1G -T vgt/pool -V 1G -n thin >/dev/null 2>&1
head -c 1G /dev/urandom > data.bin
l write vgt/thin --input data.bin
cmp <(l cat vgt/thin) data.bin || die "vgt/thin does not read back as written"
rm -f data.bin
# Where the data LV lies: one segment (lvmsim allocated it in one piece).
ranges=$(l lvs -a --noheadings -o seg_pe_ranges vgt/pool_tdata | tr -d ' ')
case $ranges in *:*-*) ;; *) die "pool_tdata is not one PE range: $ranges" ;; esac
pe=${ranges#*:}
pe=${pe%-*}
start=$(l pvs --noheadings --units b --nosuffix -o pe_start pv.img | tr -d ' ')
start=$((start + pe * 4194304))
cat_cmd=("$LVMSIM" --nolocking --dev pv.img cat vgt/thin)
hyperfine --style basic --warmup 2 --runs "$runs" --export-json times.json \
	-n dd "dd if=pv.img of=/dev/null bs=1M iflag=skip_bytes skip=$start count=1024 status=none" \
	-n cat "$(printf '%q ' "${cat_cmd[@]}") >/dev/null" >&2
cat_ok=0
python3 - <<'PY' || cat_ok=1
import json, sys
r = {x["command"]: x["median"] for x in json.load(open("times.json"))["results"]}
ratio = r["dd"] / r["cat"]
met = ratio >= 0.8
print(f"{'':6} {'median s':>9} {'x dd':>6}  goal")
print(f"{'dd':6} {r['dd']:9.3f}")
print(f"{'cat':6} {r['cat']:9.3f} {ratio:6.2f}  >= 0.8 {'met' if met else 'MISSED'}")
sys.exit(0 if met else 1)
PY
RUNS=$runs "$example" "$dir/meta.bin"
rm -f "$dir/meta.bin"
[ "$strict" = 1 ] && [ "$cat_ok" = 1 ] && exit 3
exit 0
