#!/usr/bin/env bash
# Benchmark (not a test): `lvmsim cat` of a 1 GiB raid5_ls LV (3 images,
# 64 KiB chunks) healthy and degraded (one PV left out: its chunks rebuilt
# from parity) against `dd` of the same 1 GiB from the image files, measured
# side by side in one run with hyperfine; prints the ratios (dd's median time
# / lvmsim's) and the goals (healthy >= 0.8x, degraded >= 0.4x). Exit 0 either
# way; --strict exits 3 if a goal is missed. See bench/README.md.
#
# The images are sparse files given a VG by lvmsim (pvcreate, vgcreate) and
# the RAID LV by `lvmsim vgcfgrestore` of metadata text written here, in the
# form lvm2 writes (rmeta + rimage sub-LVs). Each image is filled with its own
# 1 MiB block repeated (A, B and A xor B): every stripe row XORs to zero, so
# the parity is right wherever the layout puts it, and the degraded read must
# give the healthy bytes (checked before timing).
#
# Env: LVMSIM (a built binary; default: cargo build --release -p sim-cli),
# BENCH_DIR (default /tmp/lvmsim-bench-raid5, ~1.6 GB of disk), RUNS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
strict=0
[ "${1:-}" = "--strict" ] && strict=1
dir=${BENCH_DIR:-/tmp/lvmsim-bench-raid5}
runs=${RUNS:-10}
die() { echo "raid5.sh: $*" >&2; exit 1; }
command -v hyperfine >/dev/null || die "hyperfine is needed (apt-get install hyperfine)"
command -v python3 >/dev/null || die "python3 is needed"
if [ -z "${LVMSIM:-}" ]; then
	cargo build -q --release -p sim-cli
	LVMSIM=$PWD/target/release/lvmsim
fi
mkdir -p "$dir"
cd "$dir"
rm -f d0.img d1.img d2.img vg.txt vg-raid.txt
mib=530
python3 - "$mib" <<'EOF'
import os, sys
mib = int(sys.argv[1])
a, b = os.urandom(1 << 20), os.urandom(1 << 20)
c = (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(1 << 20, "little")
for name, block in (("d0.img", a), ("d1.img", b), ("d2.img", c)):
    with open(name, "wb") as f:
        for _ in range(mib):
            f.write(block)
EOF
l() { "$LVMSIM" --nolocking --dev d0.img --dev d1.img --dev d2.img "$@"; }
l pvcreate d0.img d1.img d2.img >/dev/null
l vgcreate -s 4m vgr d0.img d1.img d2.img >/dev/null
l vgcfgbackup -f vg.txt vgr >/dev/null
# The LV: 256 extents of 4 MiB over two data images of 128 extents each,
# a metadata LV of one extent before each image.
python3 - <<'EOF'
import hashlib
t = open("vg.txt").read()
def uid(name):
    h = hashlib.sha256(name.encode()).hexdigest()[:32]
    return "-".join(h[a:b] for a, b in ((0, 6), (6, 10), (10, 14), (14, 18), (18, 22), (22, 26), (26, 32)))
def sub(name, pv, pe, n):
    return f'''
		{name} {{
			id = "{uid(name)}"
			status = ["READ", "WRITE"]
			flags = []
			segment_count = 1

			segment1 {{
				start_extent = 0
				extent_count = {n}

				type = "striped"
				stripe_count = 1

				stripes = [
					"{pv}", {pe}
				]
			}}
		}}'''
lvs = '''
	logical_volumes {

		r5 {
			id = "%s"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 256

				type = "raid5_ls"
				device_count = 3
				region_size = 4096
				stripe_size = 128

				raids = [
					"r5_rmeta_0", "r5_rimage_0",
					"r5_rmeta_1", "r5_rimage_1",
					"r5_rmeta_2", "r5_rimage_2"
				]
			}
		}''' % uid("r5")
for i in range(3):
    lvs += sub(f"r5_rmeta_{i}", f"pv{i}", 0, 1) + sub(f"r5_rimage_{i}", f"pv{i}", 1, 128)
lvs += "\n\t}\n"
# Before the VG's closing brace.
i = t.rindex("\n}")
open("vg-raid.txt", "w").write(t[:i] + "\n" + lvs + t[i:])
EOF
l vgcfgrestore -f vg-raid.txt vgr >/dev/null
size=$(l lvs --noheadings --units b --nosuffix -o lv_size vgr/r5 | tr -d ' ')
[ "$size" = 1073741824 ] || die "vgr/r5 is $size bytes, not 1 GiB"
# Where the images' data lie: the rimages start at PE 1 of each PV.
start=$(l pvs --noheadings --units b --nosuffix -o pe_start d0.img | tr -d ' ')
start=$((start + 4194304))
healthy=("$LVMSIM" --nolocking --dev d0.img --dev d1.img --dev d2.img cat vgr/r5)
degraded=("$LVMSIM" --nolocking --dev d0.img --dev d2.img cat vgr/r5)
# Same bytes healthy and degraded (not timed); warms the page cache.
h=$("${healthy[@]}" | sha256sum)
d=$("${degraded[@]}" 2>/dev/null | sha256sum)
[ "$h" = "$d" ] || die "the degraded read differs from the healthy one"
echo "cat healthy = cat degraded: $h" >&2
# dd of the same amount: 512 MiB of data from each of two images.
cat > dd.sh <<EOF
dd if=d0.img of=/dev/null bs=1M iflag=skip_bytes skip=$start count=512 status=none
dd if=d1.img of=/dev/null bs=1M iflag=skip_bytes skip=$start count=512 status=none
EOF
hyperfine --style basic --warmup 2 --runs "$runs" --export-json times.json \
	-n dd "bash dd.sh" \
	-n healthy "$(printf '%q ' "${healthy[@]}") >/dev/null" \
	-n degraded "$(printf '%q ' "${degraded[@]}") 2>/dev/null >/dev/null" >&2
python3 - "$strict" <<'EOF'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open("times.json"))["results"]}
ok = True
print(f"{'':10} {'median s':>9} {'x dd':>6}  goal")
print(f"{'dd':10} {r['dd']:9.3f}")
for name, goal in (("healthy", 0.8), ("degraded", 0.4)):
    ratio = r["dd"] / r[name]
    met = ratio >= goal
    ok &= met
    print(f"{name:10} {r[name]:9.3f} {ratio:6.2f}  >= {goal} {'met' if met else 'MISSED'}")
sys.exit(3 if (not ok and sys.argv[1] == "1") else 0)
EOF
