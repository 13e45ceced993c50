#!/usr/bin/env bash
# make-2000.sh OUTDIR [COUNT]: a benchmark image, NOT committed.
#
# Makes OUTDIR/big.img (sparse, about 3.1 GiB) holding VG vg_big with COUNT (default 2000)
# one-extent linear LVs lv0000.. plus one 1 GiB linear LV `big` (for the `cat` benchmark).
# Above 9999 LVs the names have five digits (lv00000..) and the metadata area grows with
# COUNT (8 MiB up to about 14,000 LVs, then 600 bytes an LV), so that lvm2 can write
# the text (about 290 bytes an LV) beside the previous copy.
# The LVs are written in one go by real lvm2's vgcfgrestore from a backup file this
# script generates. Also records, with the PV still attached:
#   lvs-default.json   lvs -a --reportformat json   (what lvmsim must print, pv path aside)
#   lvm2-lvs-time.txt  wall time of that lvm2 command, three runs (a reference point)
#   devmap.txt, setup.log, restore-input.vg
# Needs root, losetup, lvm2 and jq, like gen.sh (whose helpers it uses).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=gen.sh
source "$HERE/gen.sh"

[ $# -ge 1 ] || die "usage: make-2000.sh OUTDIR [COUNT]"
[ "$(id -u)" = 0 ] || die "needs root (losetup)"
OUT=$(realpath -m "$1")
COUNT=${2:-2000}
if ! [[ $COUNT =~ ^[0-9]+$ ]] || ((COUNT < 1 || COUNT > 99999)); then
	die "COUNT must be 1..99999"
fi
NAME_DIGITS=4
((COUNT <= 10000)) || NAME_DIGITS=5
MDA_MIB=$(((COUNT * 600 + 1048575) / 1048576))
((MDA_MIB >= 8)) || MDA_MIB=8

write_lvm_conf
exec 9>"$ETCDIR/lock"
flock 9
mkdir -p "$OUT"
rm -f "$DEVDIR"/*.img "$WORKDIR"/* "$OUT/big.img"
: >"$OUT/devmap.txt"
printf '# make-2000, %s LVs\n' "$COUNT" >"$OUT/setup.log"

# 1 MiB extents: COUNT + 1024 (big) + slack, plus the metadata area and pe_start
mkpv big $((COUNT + 1024 + 56 + MDA_MIB))
run pvcreate --metadatasize "${MDA_MIB}m" "$(dev big)"
run vgcreate -s 1M vg_big "$(dev big)"
run vgcfgbackup -f base.vg vg_big

# The backup of the empty VG ends with the VG's closing brace; put a logical_volumes
# section in front of it. Layout as lvm2 writes backups: TAB indentation, blank lines.
gen_lvs() {
	local now host i pe=0
	now=$(date +%s)
	host=$(uname -n)
	printf '\n\tlogical_volumes {\n'
	lv() { # lv NAME EXTENTS
		printf '\n\t\t%s {\n' "$1"
		printf '\t\t\tid = "%s"\n' "$(new_uuid)"
		printf '\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]\n'
		printf '\t\t\tflags = []\n'
		printf '\t\t\tcreation_time = %s\n' "$now"
		printf '\t\t\tcreation_host = "%s"\n' "$host"
		printf '\t\t\tsegment_count = 1\n\n'
		printf '\t\t\tsegment1 {\n'
		printf '\t\t\t\tstart_extent = 0\n'
		printf '\t\t\t\textent_count = %s\n\n' "$2"
		printf '\t\t\t\ttype = "striped"\n'
		printf '\t\t\t\tstripe_count = 1\n\n'
		printf '\t\t\t\tstripes = [\n'
		printf '\t\t\t\t\t"pv0", %s\n' "$pe"
		printf '\t\t\t\t]\n'
		printf '\t\t\t}\n'
		printf '\t\t}\n'
		pe=$((pe + $2))
	}
	lv big 1024
	for ((i = 0; i < COUNT; i++)); do
		lv "$(printf 'lv%0*d' "$NAME_DIGITS" "$i")" 1
	done
	printf '\t}\n'
}
awk '$0 == "\tlogical_volumes {" { bad = 1 } END { exit bad }' "$WORKDIR/base.vg" ||
	die "base.vg already has logical volumes"
{
	# everything but the last line, which is the VG's closing brace
	sed '$d' "$WORKDIR/base.vg"
	gen_lvs
	printf '\n}\n'
} >"$WORKDIR/restore.vg"
tail -n 1 "$WORKDIR/base.vg" | grep -qx '}' || die "base.vg does not end with }"
cp "$WORKDIR/restore.vg" "$OUT/restore-input.vg"
run vgcfgrestore -f restore.vg vg_big

(cd "$WORKDIR" && lvs -a --reportformat json) >"$OUT/lvs-default.json" 2>/dev/null
n=$(jq '.report[0].lv | length' "$OUT/lvs-default.json")
[ "$n" = $((COUNT + 1)) ] || die "expected $((COUNT + 1)) LVs, lvs shows $n"
{
	echo "# lvs -a --reportformat json on $(dev big) (loop device), seconds, 3 runs"
	for i in 1 2 3; do
		s=$(date +%s.%N)
		lvs -a --reportformat json >/dev/null 2>&1
		e=$(date +%s.%N)
		awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
	done
} >"$OUT/lvm2-lvs-time.txt"
cleanup
echo "make-2000.sh: $OUT/big.img has vg_big with $COUNT LVs + big"
