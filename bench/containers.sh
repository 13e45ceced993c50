#!/usr/bin/env bash
# Benchmark (not a test): `lvmsim lvs` and `lvmsim cat` of a 256 MiB LV on a
# PV inside partition 1 of a GPT disk, read from the raw disk, from a qcow2
# of it (plain and deflated clusters) and from an E01 of it (deflate), side
# by side in one hyperfine run; prints each container's ratio (the raw
# disk's median time / the container's: 1.00x is as fast as raw).
#
# The disk: a 320 MiB sparse file with a GPT (sfdisk) whose partition 1
# starts at 1 MiB; the PV, VG and LV are made by lvmsim on a bare image and
# copied into the partition; the LV holds random bytes (incompressible, the
# case where a container costs most). qemu-img and ewfacquire then make the
# containers. Every view is checked equal to the raw disk's before timing.
#
# Env: LVMSIM (a built binary; default: cargo build --release -p sim-cli),
# BENCH_DIR (default /tmp/lvmsim-bench-containers, about 1.2 GB), RUNS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/lvmsim-bench-containers}
runs=${RUNS:-10}
die() { echo "containers.sh: $*" >&2; exit 1; }
for t in hyperfine sfdisk qemu-img ewfacquire python3; do
	command -v "$t" >/dev/null || die "$t is needed (apt-get install hyperfine fdisk qemu-utils ewf-tools python3)"
done
if [ -z "${LVMSIM:-}" ]; then
	cargo build -q --release -p sim-cli
	LVMSIM=$PWD/target/release/lvmsim
fi
L=$LVMSIM
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"

# The PV on a bare image, then into the disk's first partition.
truncate -s 300M pv.img
"$L" pvcreate -q pv.img >/dev/null
"$L" --dev pv.img vgcreate -q vg pv.img >/dev/null
"$L" --dev pv.img lvcreate -an -Zn -L 256m -n lv vg >/dev/null 2>&1
head -c 256M /dev/urandom >data.bin
"$L" --dev pv.img write vg/lv --input data.bin
truncate -s 320M disk.img
printf 'label: gpt\nstart=2048, size=614400, type=E6D6D379-F507-44C2-A23C-238F2A3DF928\n' |
	sfdisk -q disk.img
dd if=pv.img of=disk.img bs=1M seek=1 conv=notrunc,sparse status=none
rm -f pv.img

qemu-img convert -f raw -O qcow2 disk.img disk.qcow2
qemu-img convert -f raw -c -O qcow2 disk.img disk-c.qcow2
ewfacquire -u -q -t disk -c deflate:fast -f encase6 -d sha1 \
	-C bench -D bench -e bench -E 1 -N bench disk.img >/dev/null

want=$(sha256sum <data.bin | cut -d' ' -f1)
for d in disk.img disk.qcow2 disk-c.qcow2 disk.E01; do
	got=$("$L" --dev "$d" cat vg/lv | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || die "$d: cat vg/lv differs from the bytes written"
done

cmds=()
for d in disk.img disk.qcow2 disk-c.qcow2 disk.E01; do
	cmds+=(-n "lvs $d" "$L --dev $d lvs -a --reportformat json")
done
for d in disk.img disk.qcow2 disk-c.qcow2 disk.E01; do
	cmds+=(-n "cat $d" "$L --dev $d cat vg/lv")
done
hyperfine -N -w 2 -r "$runs" --output null --export-json times.json "${cmds[@]}" >hyperfine.txt

python3 - times.json <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
for what in ("lvs", "cat"):
    raw = r[f"{what} disk.img"]["median"]
    print(f"{what}: raw disk {raw * 1000:.1f} ms (median)")
    for d in ("disk.qcow2", "disk-c.qcow2", "disk.E01"):
        m = r[f"{what} {d}"]["median"]
        print(f"  {d:13} {m * 1000:8.1f} ms  {raw / m:5.2f}x raw")
EOF
