#!/usr/bin/env bash
# gen.sh: build the lvm2 golden corpus with REAL lvm2 on loop devices.
#
#   gen.sh OUTDIR [SCENARIO...]     run scenarios (default: all) into OUTDIR/<scenario>/
#   gen.sh --pack OUTDIR DEST       copy goldens to DEST/<scenario>/, images as .img.zst
#   gen.sh --list                   list scenario names
#   gen.sh --verify DIR [SCENARIO...]  re-run every golden's command on DIR's images
#                                   (raw or packed) and compare (the oracle check)
#
# Needs root, losetup, lvm2 (2.03.x), jq and zstd. No device-mapper is needed: lvm2 runs
# with global/activation=0 from a private lvm.conf (see write_lvm_conf). Every loop device
# attached here is detached again on exit, also on failure. See README.md for the layout
# of OUTDIR and the formatting facts observed.
set -euo pipefail
export LC_ALL=C TZ=UTC
export LVM_SUPPRESS_FD_WARNINGS=1

# Private places. They are fixed paths on purpose: lvm2 prints the device path in
# pv_name, pvck output and the metadata `device` hint, so a fixed directory keeps the
# goldens stable from one run to the next (loop device numbers are not).
DEVDIR=${LVM2GEN_DEVDIR:-/tmp/l2dev}      # symlinks <pvname>.img -> /dev/loopN
ETCDIR=${LVM2GEN_ETCDIR:-/tmp/l2etc}      # LVM_SYSTEM_DIR with our lvm.conf
WORKDIR=${LVM2GEN_WORKDIR:-/tmp/l2work}   # cwd for lvm2 commands (relative -f paths)
export LVM_SYSTEM_DIR=$ETCDIR

# The one stderr line we drop from every .err golden: it only says that activation is
# off, which is how this generator runs lvm2 (lvmsim never activates anything).
ACT_WARN='  WARNING: Activation disabled. No device-mapper interaction will be attempted.'
# Commands that change a VG also say this, because this generator turns lvm2's
# metadata backups off; dropped from the goldens of the `names` scenario (the
# only one that records commands that write) and by --verify.
BACKUP_WARN='  WARNING: This metadata update is NOT backed up.'
# The lines lvm2 adds on stderr when activation is switched on for one command
# (`--config global/activation=1`, see rec_act) on a kernel without device-mapper: they
# describe the machine, not lvm2's answer, and are dropped like ACT_WARN.
DM_ABSENT_1='  /dev/mapper/control: open failed: No such device'
DM_ABSENT_2='  Failure to communicate with kernel device-mapper driver.'
DM_ABSENT_3='  Check that device-mapper is available in the kernel.'
DM_ABSENT_RE='^  Incompatible libdevmapper .* and kernel driver \(unknown version\)\.$'

# drop_noise FILE: FILE's lines without ACT_WARN, BACKUP_WARN and the DM_ABSENT lines.
drop_noise() {
	grep -vxF -e "$ACT_WARN" -e "$BACKUP_WARN" -e "$DM_ABSENT_1" -e "$DM_ABSENT_2" \
		-e "$DM_ABSENT_3" "$1" | grep -vE -- "$DM_ABSENT_RE" || true
}

SCENARIOS=(single twopv-striped mdacopies fragmented ring-wrap snapshot-meta
	snapshot-merging empty-pv units names display display-attrs display-novg fields
	thin-restore evidence-missing evid-times evid2-hist
	cache-restore vdo-restore)

LOOPS=()   # loop devices attached by this process
OUT=       # OUTDIR/<scenario> of the running scenario
PVS=()     # pv names (image basenames without .img) of the running scenario

die() { echo "gen.sh: $*" >&2; exit 1; }

cleanup() {
	local l
	for l in "${LOOPS[@]}"; do
		losetup -d "$l" 2>/dev/null || echo "gen.sh: could not detach $l" >&2
	done
	LOOPS=()
	rm -f "$DEVDIR"/*.img 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_lvm_conf() {
	mkdir -p "$ETCDIR" "$DEVDIR" "$WORKDIR"
	cat >"$ETCDIR/lvm.conf" <<EOF
# lvm.conf used by testdata/lvm2/gen.sh (no device-mapper, no udev, no backups)
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

# dev NAME: the device path lvm2 knows the PV NAME by.
dev() { echo "$DEVDIR/$1.img"; }

# mkpv NAME SIZE: create a sparse image OUT/NAME.img and attach it. SIZE is in MiB, or
# a truncate(1) size with its unit (32764K).
mkpv() {
	local name=$1 size=$2 img loop
	img=$OUT/$name.img
	rm -f "$img"
	[[ $size =~ ^[0-9]+$ ]] && size=${size}M
	truncate -s "$size" "$img"
	loop=$(losetup -f --show "$img")
	LOOPS+=("$loop")
	ln -sfn "$loop" "$(dev "$name")"
	PVS+=("$name")
	printf '%s %s\n' "$(dev "$name")" "$name.img" >>"$OUT/devmap.txt"
	printf '# %s: %s image on %s\n' "$name.img" "$size" "$loop" >>"$OUT/setup.log"
}

# run CMD...: one scenario step; logged in setup.log, fails the scenario on error.
run() {
	printf '$ %s\n' "$*" >>"$OUT/setup.log"
	local rc=0
	(cd "$WORKDIR" && "$@") >"$WORKDIR/step" 2>&1 || rc=$?
	grep -vxF -- "$ACT_WARN" "$WORKDIR/step" >>"$OUT/setup.log" || true
	if [ "$rc" != 0 ]; then
		tail -n 20 "$OUT/setup.log" >&2
		die "step failed (exit $rc): $*"
	fi
}

# rec FILE CMD...: a golden. stdout -> OUT/FILE, stderr (minus drop_noise's lines) -> OUT/FILE.err,
# exit status and command line -> OUT/commands.txt. Never fails.
rec() {
	local file=$1 rc=0
	shift
	(cd "$WORKDIR" && "$@") >"$OUT/$file" 2>"$WORKDIR/stderr" || rc=$?
	# The same lines --verify drops (lvm2's lvdisplay of a VDO pool asks
	# device-mapper for its target, and says it is absent).
	drop_noise "$WORKDIR/stderr" >"$OUT/$file.err"
	printf '%s\t%s\t%s\n' "$file" "$rc" "$*" >>"$OUT/commands.txt"
	return 0
}

# rec_act FILE CMD ARG...: rec with activation on for this one command: lvm2 then shows
# an LV as the inactive LV of a host with device-mapper (`LV Status NOT available`)
# rather than as with activation off. Its stderr loses the DM_ABSENT lines too.
rec_act() {
	local file=$1 cmd=$2 rc=0
	shift 2
	(cd "$WORKDIR" && "$cmd" --config global/activation=1 "$@") >"$OUT/$file" 2>"$WORKDIR/stderr" || rc=$?
	drop_noise "$WORKDIR/stderr" >"$OUT/$file.err"
	printf '%s\t%s\t%s\n' "$file" "$rc" "$cmd --config global/activation=1${*:+ $*}" >>"$OUT/commands.txt"
	return 0
}

PVS_FIELDS=pv_name,pv_uuid,pv_size,pv_free,pe_start,pv_attr,dev_size,vg_name,pv_fmt,pv_pe_count,pv_pe_alloc_count,pv_mda_count,pv_mda_size,pv_mda_free
VGS_FIELDS=vg_name,vg_uuid,vg_attr,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,vg_seqno,pv_count,lv_count,snap_count,vg_mda_count,vg_mda_size,vg_mda_free,max_lv,max_pv
LVS_FIELDS=lv_name,vg_name,lv_uuid,lv_attr,lv_size,origin,chunk_size,seg_count,lv_layout,lv_role
SEG_FIELDS=lv_name,segtype,seg_start_pe,seg_start,seg_size,seg_pe_ranges,devices,stripes,stripe_size,seg_size_pe

# record [VG...]: every golden of the running scenario (the PVs still attached).
record() {
	local j='--reportformat json --units b --nosuffix -a' u p vg
	# shellcheck disable=SC2086
	{
		rec pvs.json pvs $j -o $PVS_FIELDS
		rec vgs.json vgs $j -o $VGS_FIELDS
		rec lvs.json lvs $j -o $LVS_FIELDS
		rec lvs-segments.json lvs $j --segments -o $SEG_FIELDS
	}
	rec pvs-default.json pvs --reportformat json
	rec vgs-default.json vgs --reportformat json
	rec lvs-default.json lvs -a --reportformat json

	rec pvs.txt pvs
	rec pvs-a.txt pvs -a
	rec vgs.txt vgs
	rec lvs.txt lvs
	rec lvs-a.txt lvs -a
	rec lvs-segments.txt lvs -a --segments
	rec lvs-units-h.txt lvs -a --units h
	rec pvs-units-b-nosuffix.txt pvs --units b --nosuffix
	rec vgs-units-b-nosuffix.txt vgs --units b --nosuffix
	rec lvs-units-b-nosuffix.txt lvs -a --units b --nosuffix
	rec pvs-noheadings-sep.txt pvs --noheadings --separator :
	rec vgs-noheadings-sep.txt vgs --noheadings --separator :
	rec lvs-noheadings-sep.txt lvs -a --noheadings --separator :
	rec lvs-devices.txt lvs -a -o +devices
	rec lvs-segments-devices.txt lvs -a --segments -o +devices
	for u in b k s m g t; do
		rec "pvs-units-$u.txt" pvs --units "$u"
		rec "vgs-units-$u.txt" vgs --units "$u"
		rec "lvs-units-$u.txt" lvs -a --units "$u"
	done
	rec lvs-units-upper-m.txt lvs -a --units M
	rec lvs-units-upper-h.txt lvs -a --units H

	for p in "${PVS[@]}"; do
		rec "$p.pvck-headers.txt" pvck --dump headers "$(dev "$p")"
		rec "$p.pvck-metadata.txt" pvck --dump metadata "$(dev "$p")"
		rec "$p.pvck-metadata_all.txt" pvck --dump metadata_all "$(dev "$p")"
		rec "$p.pvck-metadata_all-v.txt" pvck --dump metadata_all -v "$(dev "$p")"
		rec "$p.pvck-metadata_search.txt" pvck --dump metadata_search "$(dev "$p")"
		# pvck reads the first mda unless told otherwise; a second mda gets its own goldens
		if grep -q '^  mda_header_2 ' "$OUT/$p.pvck-headers.txt"; then
			rec "$p.pvck-metadata-mda2.txt" pvck --dump metadata --settings mda_num=2 "$(dev "$p")"
			rec "$p.pvck-metadata_all-mda2.txt" pvck --dump metadata_all --settings mda_num=2 "$(dev "$p")"
			rec "$p.pvck-metadata_search-mda2.txt" pvck --dump metadata_search --settings mda_num=2 "$(dev "$p")"
		fi
	done

	for vg in "$@"; do
		local f=vgcfgbackup.txt
		[ $# -gt 1 ] && f=vgcfgbackup-$vg.txt
		rm -f "$WORKDIR/$f"
		rec "${f%.txt}-cmd.txt" vgcfgbackup -f "$f" "$vg"
		cp "$WORKDIR/$f" "$OUT/$f"
	done
}

# rec_thin: the thin goldens of the running scenario: lvs with the thin fields, every
# LV and segment field as JSON.
rec_thin() {
	rec lvs-thin.txt lvs -a -o +thin_id,transaction_id,pool_lv,data_lv,metadata_lv,data_percent,metadata_percent
	rec lvs-thin-segs.txt lvs -a --segments -o lv_name,lv_attr,thin_id,transaction_id,thin_count,discards,zero,chunk_size,lv_size,seg_size,segtype,devices,seg_pe_ranges
	rec lvs-thin-all.json lvs -a -o lv_all --reportformat json --units b --nosuffix
	rec lvs-thin-seg-all.json lvs -a --segments -o seg_all,lv_name --reportformat json --units b --nosuffix
}

# jqget FILE FILTER: one value from a JSON golden.
jqget() { jq -r "$2" "$OUT/$1"; }

check() { # check DESCRIPTION TEST...
	local what=$1
	shift
	if "$@"; then
		printf 'check ok: %s\n' "$what" >>"$OUT/setup.log"
	else
		die "$(basename "$OUT"): property not met: $what"
	fi
}

# lv_attr of LV from lvs.json
# (lvs.json has one row per segment: chunk_size is a segment field, see README)
lvattr() { jqget lvs.json "first(.report[0].lv[] | select(.lv_name == \"$1\")) | .lv_attr"; }

# Fill in a random LVM-style UUID (6-4-4-4-4-4-6 from [A-Za-z0-9]).
new_uuid() {
	local s
	s=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
	echo "${s:0:6}-${s:6:4}-${s:10:4}-${s:14:4}-${s:18:4}-${s:22:4}-${s:26:6}"
}

# mda_field PV FIELD: a value from PV's recorded pvck headers, e.g. mda_header_1.size
mda_field() { awk -v k="$2" '$1 == k { print $2; exit }' "$OUT/$1.pvck-headers.txt"; }

# stamp_pvs: after the PVs are detached, write a short ASCII stamp at the start of every
# 64 KiB block of every PV's extents (pe_start up to the end of the last PE; never the
# label or an mda): "LVMSIM <image> @<byte offset in the image>\n", rest of the block
# untouched (zero). `lvmsim cat` of an LV then shows which image bytes it mapped.
STAMP_STEP=65536
stamp_pvs() {
	local p pv ext pe_start count end o
	ext=$(jqget vgs.json '.report[0].vg[0].vg_extent_size')
	for p in "${PVS[@]}"; do
		pv="first(.report[0].pv[] | select(.pv_name == \"$(dev "$p")\"))"
		pe_start=$(jqget pvs.json "$pv | .pe_start")
		count=$(jqget pvs.json "$pv | .pv_pe_count")
		end=$((pe_start + count * ext))
		for ((o = pe_start; o < end; o += STAMP_STEP)); do
			printf 'LVMSIM %s @%d\n' "$p.img" "$o" |
				dd of="$OUT/$p.img" bs=1 seek="$o" conv=notrunc status=none
		done
		printf '# stamped %s: %d..%d every %d\n' "$p.img" "$pe_start" "$end" "$STAMP_STEP" \
			>>"$OUT/setup.log"
	done
}

# recheck: attach the saved images again (fresh loop devices) and check that lvm2 reads
# back exactly the recorded JSON goldens: the images alone carry the state.
recheck() {
	local p f loop
	for p in "${PVS[@]}"; do
		loop=$(losetup -f --show "$OUT/$p.img")
		LOOPS+=("$loop")
		ln -sfn "$loop" "$(dev "$p")"
	done
	for f in pvs.json vgs.json lvs.json lvs-segments.json; do
		# the command line as recorded in commands.txt (no argument has spaces)
		read -r -a cmd <<<"$(awk -F '\t' -v f="$f" '$1 == f { print $3 }' "$OUT/commands.txt")"
		(cd "$WORKDIR" && "${cmd[@]}") >"$WORKDIR/recheck" 2>/dev/null || true
		cmp -s "$WORKDIR/recheck" "$OUT/$f" || die "$(basename "$OUT"): $f differs after re-attach"
	done
	printf 'check ok: images re-attached give the same JSON goldens\n' >>"$OUT/setup.log"
	cleanup
}

# ---------------------------------------------------------------------------------------
# Scenarios. Each sets up PVs/VGs, calls record, then checks the property it is for.

scenario_single() {
	STAMP=1
	mkpv a 64
	run pvcreate "$(dev a)"
	run vgcreate vg_single "$(dev a)"
	run lvcreate -an -Zn -n lv0 -L 12M vg_single
	record vg_single
	check "one linear LV of 3 extents" test \
		"$(jqget lvs-segments.json '[.report[0].seg[] | .segtype + ":" + .seg_size_pe] | join(",")')" = linear:3
}

scenario_twopv_striped() {
	STAMP=1
	mkpv a 64
	mkpv b 96
	run pvcreate "$(dev a)" "$(dev b)"
	run vgcreate vg_striped "$(dev a)" "$(dev b)"
	run lvcreate -an -Zn -n lin -L 20M vg_striped "$(dev a)"
	run lvcreate -an -Zn -n str -i2 -I64k -L 24M vg_striped
	# more than either PV has free in one piece (a 7, b 20): one LV, two segments, two PVs
	run lvcreate -an -Zn -n span -l 24 vg_striped "$(dev a)" "$(dev b)"
	record vg_striped
	check "str is striped over 2 PVs, stripe 64 KiB" test \
		"$(jqget lvs-segments.json '.report[0].seg[] | select(.lv_name == "str") | .stripes + "/" + .stripe_size')" = "2/65536"
	check "span has 2 segments" test \
		"$(jqget lvs.json 'first(.report[0].lv[] | select(.lv_name == "span")) | .seg_count')" = 2
}

scenario_mdacopies() {
	STAMP=1
	mkpv a 32
	mkpv b 48
	mkpv c 64
	run pvcreate --metadatacopies 0 "$(dev a)"
	run pvcreate --metadatacopies 1 --metadatasize 512k --dataalignment 128k "$(dev b)"
	run pvcreate --metadatacopies 2 "$(dev c)"
	run vgcreate vg_mda "$(dev a)" "$(dev b)" "$(dev c)"
	run lvcreate -an -Zn -n lv0 -L 56M vg_mda "$(dev a)" "$(dev b)"
	run lvcreate -an -Zn -n lv1 -L 8M vg_mda "$(dev c)"
	record vg_mda
	check "mda counts 0/1/2" test "$(jqget pvs.json '[.report[0].pv[] | .pv_mda_count] | join(",")')" = 0,1,2
	check "b: pe_start 128 KiB aligned" test \
		$(($(jqget pvs.json '.report[0].pv[] | select(.pv_name | endswith("/b.img")) | .pe_start') % 131072)) = 0
}

scenario_fragmented() {
	STAMP=1
	mkpv a 96
	run pvcreate "$(dev a)"
	run vgcreate vg_frag "$(dev a)"
	local i
	for i in 1 2 3 4 5 6; do
		run lvcreate -an -Zn -n "lv$i" -l 2 vg_frag
	done
	run lvremove -f vg_frag/lv2
	run lvremove -f vg_frag/lv4
	# into the holes left by lv2 and lv4, then past lv6: 3 segments
	run lvextend -l +6 vg_frag/lv1 "$(dev a):2-3" "$(dev a):6-7" "$(dev a):12-13"
	run lvrename vg_frag lv3 renamed3
	run lvextend -L +4M vg_frag/lv5
	record vg_frag
	check "lv1 has 3+ segments" test \
		"$(jqget lvs.json 'first(.report[0].lv[] | select(.lv_name == "lv1")) | .seg_count')" -ge 3
	check "renamed3 exists" test "$(lvattr renamed3)" != ""
}

scenario_ring_wrap() {
	mkpv a 32
	run pvcreate --metadatasize 64k --dataalignment 64k "$(dev a)"
	run vgcreate -s 1M vg_ring "$(dev a)"
	run lvcreate -an -Zn -n keep -l 1 vg_ring
	local i
	for ((i = 0; i < 60; i++)); do
		run lvcreate -an -Zn -n "t$i" -l 1 vg_ring
		run lvrename vg_ring "t$i" "r$i"
		# keep every 10th, remove the others
		if ((i % 10 != 9)); then
			run lvremove -f "vg_ring/r$i"
		fi
	done
	# go on changing the VG until the committed copy itself wraps past the ring's end,
	# so the corpus holds a split committed copy
	local off size mdasize n=0
	while :; do
		pvck --dump headers "$(dev a)" >"$WORKDIR/hdr" 2>/dev/null
		off=$(awk '$1 == "mda_header_1.raw_locn[0].offset" { print $2 }' "$WORKDIR/hdr")
		size=$(awk '$1 == "mda_header_1.raw_locn[0].size" { print $2 }' "$WORKDIR/hdr")
		mdasize=$(awk '$1 == "mda_header_1.size" { print $2 }' "$WORKDIR/hdr")
		((off + size > mdasize)) && break
		((n++ < 100)) || die "ring-wrap: committed copy never wrapped"
		run lvcreate -an -Zn -n "w$n" -l 1 vg_ring
		run lvremove -f "vg_ring/w$n"
	done
	record vg_ring
	check "committed copy wraps" test \
		$(($(mda_field a mda_header_1.raw_locn[0].offset) + $(mda_field a mda_header_1.raw_locn[0].size))) \
		-gt "$(mda_field a mda_header_1.size)"
	check "vg_seqno > 120 (60+ changes)" test "$(jqget vgs.json '.report[0].vg[0].vg_seqno')" -gt 120
}

# add_snapshots IN OUT SPEC...: edit a vgcfgbackup file. SPEC is
# glue:origin:cow:chunk_sectors:kind with kind cow_store or merging_store. The COW LVs
# lose VISIBLE; a merging glue LV loses VISIBLE too (spec section 9).
add_snapshots() {
	local in=$1 out=$2
	shift 2
	local now host spec glue origin cow chunk kind extents status cows=" "
	now=$(date +%s)
	host=$(uname -n)
	: >"$WORKDIR/glue.txt"
	for spec in "$@"; do
		IFS=: read -r glue origin cow chunk kind <<<"$spec"
		cows+="$cow "
		extents=$(awk -v lv="$origin" '
			$0 == "\t\t" lv " {" { inlv = 1 }
			inlv && $1 == "extent_count" { n += $3 }
			inlv && $0 == "\t\t}" { inlv = 0 }
			END { print n }' "$in")
		status='["READ", "WRITE", "VISIBLE"]'
		[ "$kind" = merging_store ] && status='["READ", "WRITE"]'
		printf '\n\t\t%s {\n' "$glue"
		printf '\t\t\tid = "%s"\n' "$(new_uuid)"
		printf '\t\t\tstatus = %s\n' "$status"
		printf '\t\t\tflags = []\n'
		printf '\t\t\tcreation_time = %s\n' "$now"
		printf '\t\t\tcreation_host = "%s"\n' "$host"
		printf '\t\t\tsegment_count = 1\n\n'
		printf '\t\t\tsegment1 {\n'
		printf '\t\t\t\tstart_extent = 0\n'
		printf '\t\t\t\textent_count = %s\n\n' "$extents"
		printf '\t\t\t\ttype = "snapshot"\n'
		printf '\t\t\t\tchunk_size = %s\n' "$chunk"
		printf '\t\t\t\torigin = "%s"\n' "$origin"
		printf '\t\t\t\t%s = "%s"\n' "$kind" "$cow"
		printf '\t\t\t}\n'
		printf '\t\t}\n'
	done >>"$WORKDIR/glue.txt"
	awk -v cows="$cows" -v gluefile="$WORKDIR/glue.txt" '
		$0 == "\tlogical_volumes {" { inlvs = 1 }
		inlvs && /^\t\t[^\t].* {$/ { lv = $1; iscow = index(cows, " " lv " ") > 0 }
		inlvs && iscow && $0 ~ /^\t\t\tstatus = / {
			sub(/, "VISIBLE"/, "")
		}
		inlvs && $0 == "\t}" {
			while ((getline l < gluefile) > 0) print l
			inlvs = 0
		}
		{ print }' "$in" >"$out"
}

scenario_snapshot_meta() {
	mkpv a 64
	run pvcreate "$(dev a)"
	run vgcreate vg_snap "$(dev a)"
	run lvcreate -an -Zn -n data -l 5 vg_snap
	run lvcreate -an -Zn -n snap -l 2 vg_snap
	run lvcreate -an -Zn -n snap2 -l 3 vg_snap
	run lvcreate -an -Zn -n other -l 1 vg_snap
	run vgcfgbackup -f plain.vg vg_snap
	add_snapshots "$WORKDIR/plain.vg" "$WORKDIR/restore.vg" \
		snapshot0:data:snap:8:cow_store snapshot1:data:snap2:32:cow_store
	cp "$WORKDIR/restore.vg" "$OUT/restore-input.vg"
	run vgcfgrestore -f restore.vg vg_snap
	record vg_snap
	check "data is an origin with 2 snapshots" test "$(lvattr data | cut -c1)" = o
	check "snap is a snapshot of data" test \
		"$(jqget lvs.json 'first(.report[0].lv[] | select(.lv_name == "snap")) | .origin')" = data
	check "snap_count 2" test "$(jqget vgs.json '.report[0].vg[0].snap_count')" = 2
}

scenario_snapshot_merging() {
	mkpv a 64
	run pvcreate "$(dev a)"
	run vgcreate vg_merge "$(dev a)"
	run lvcreate -an -Zn -n data -l 4 vg_merge
	run lvcreate -an -Zn -n snap -l 2 vg_merge
	run vgcfgbackup -f plain.vg vg_merge
	add_snapshots "$WORKDIR/plain.vg" "$WORKDIR/restore.vg" \
		snapshot0:data:snap:16:merging_store
	cp "$WORKDIR/restore.vg" "$OUT/restore-input.vg"
	run vgcfgrestore -f restore.vg vg_merge
	record vg_merge
	check "data is a merging origin (O)" test "$(lvattr data | cut -c1)" = O
	# the merging COW is hidden: lvm2 prints its name in brackets
	check "snap is a hidden merging snapshot (S)" test "$(lvattr '[snap]' | cut -c1)" = S
}

scenario_empty_pv() {
	mkpv a 16
	mkpv b 32
	run pvcreate "$(dev a)"
	run pvcreate "$(dev b)"
	run vgcreate vg_gone "$(dev b)"
	run lvcreate -an -Zn -n lv0 -l 2 vg_gone
	run lvrename vg_gone lv0 lv1
	run vgremove -f vg_gone
	record
	check "2 orphan PVs" test "$(jqget pvs.json '[.report[0].pv[] | select(.vg_name == "")] | length')" = 2
	check "b keeps old copies in its ring" grep -q 'vg vg_gone' "$OUT/b.pvck-metadata_search.txt"
}

# Sizes that `--units h` has to round, kept small (test harnesses decompress images in
# full): 4 KiB extents on a 32 MiB - 4 KiB image. 1028 KiB = 1.0039 MiB rounds down,
# 1032 KiB = 1.0078 MiB rounds up; lvm2 marks a value rounded up in h units with '<'
# (README). The PV (31740 KiB = 30.996 MiB) shows '<31.00m'.
scenario_units() {
	mkpv a 32764K
	run pvcreate "$(dev a)"
	run vgcreate -s 4k vg_units "$(dev a)"
	run lvcreate -an -Zn -n l1028k -L 1028k vg_units
	run lvcreate -an -Zn -n l1032k -L 1032k vg_units
	run lvcreate -an -Zn -n l4k -L 4k vg_units
	run lvcreate -an -Zn -n l1020k -L 1020k vg_units
	run lvcreate -an -Zn -n l20m -L 20m vg_units
	record vg_units
	check "l1032k prints as <1.01m" grep -q '^  l1032k *vg_units -wi-XX---- *<1[.]01m' "$OUT/lvs-a.txt"
}

# rec_names FILE CMD...: a golden of the `names` scenario, as rec, with stderr also
# without BACKUP_WARN (the commands here may write).
rec_names() {
	local file=$1 rc=0
	shift
	(cd "$WORKDIR" && "$@") >"$OUT/$file" 2>"$WORKDIR/stderr" || rc=$?
	grep -vxF -e "$ACT_WARN" -e "$BACKUP_WARN" "$WORKDIR/stderr" >"$OUT/$file.err" || true
	printf '%s\t%s\t%s\n' "$file" "$rc" "$*" >>"$OUT/commands.txt"
	return 0
}

# record_names: how lvm2 reads VG and LV names on its command line (VG/LV, /dev/VG/LV,
# /dev/mapper/VG-LV with hyphens doubled, /dev/VG), and what it says for names that name
# nothing. In commands.txt order, so a replay runs them in the same order; the renames
# and removals leave the VG's LVs as they found them (only the seqno moves on), so the
# commands can be replayed on the saved images.
record_names() {
	local a
	a=$(dev a)
	rec_names lvs-vglv.txt lvs vg-names/lv-one
	rec_names lvs-dev.txt lvs /dev/vg-names/lv-one
	rec_names lvs-mapper.txt lvs /dev/mapper/vg--names-lv--one
	rec_names lvs-slashes.txt lvs //dev//vg-names//lv-one
	rec_names lvs-vg-slashes.txt lvs vg-names//lv-one
	rec_names lvs-dev-vg.txt lvs /dev/vg-names
	rec_names lvs-mapper-vg.txt lvs /dev/mapper/vg--names
	rec_names lvs-two-forms.txt lvs vg-names/lv-one /dev/mapper/vg--names-plain
	rec_names lvs-same-twice.txt lvs vg-names/lv-one /dev/vg-names/lv-one
	rec_names lvs-q.txt lvs -q vg-names
	rec_names lvs-qq.txt lvs -qq /dev/vg-names
	rec_names lvs-nosuch-vg.txt lvs NOSUCH
	rec_names lvs-nosuch-lv.txt lvs vg-names/nosuch
	rec_names lvs-nosuch-mapper.txt lvs /dev/mapper/vg--names-nosuch
	rec_names lvs-layer.txt lvs /dev/mapper/vg--names-lv--one-real
	rec_names lvs-unsplit.txt lvs /dev/mapper/vg-names-lv-one
	rec_names lvs-extra.txt lvs vg-names/lv-one/extra
	rec_names lvs-not-dev.txt lvs /vg-names/lv-one
	rec_names lvs-empty-lv.txt lvs /dev/vg-names/
	rec_names lvs-mixed.txt lvs zz/x vg-names/zz vg-names/lv-one aa
	rec_names lvs-nosuch.json lvs --reportformat json NOSUCH
	rec_names vgs-vg.txt vgs vg-names
	rec_names vgs-dev.txt vgs /dev/vg-names
	rec_names vgs-mapper.txt vgs /dev/mapper/vg--names
	rec_names vgs-q.txt vgs -q vg-names
	rec_names vgs-nosuch.txt vgs NOSUCH
	rec_names vgs-mixed.txt vgs NOSUCH vg-names aa NOSUCH
	rec_names vgs-lv.txt vgs vg-names/lv-one
	rec_names vgs-mapper-lv.txt vgs /dev/mapper/vg--names-lv--one
	rec_names vgs-nosuch.json vgs --reportformat json NOSUCH vg-names
	rec_names pvs-pv.txt pvs "$a"
	rec_names pvs-nosuch.txt pvs "$DEVDIR/nosuch.img"
	rec_names pvs-mixed.txt pvs "$DEVDIR/nosuch.img" "$a"
	rec_names lvrename-dev.txt lvrename /dev/vg-names/lv-one lv-two
	rec_names lvrename-dev-vg.txt lvrename /dev/vg-names lv-two /dev/vg-names/lv-one
	# lvm2 takes the VG of a /dev/mapper name but the LV name after its last slash
	rec_names lvrename-mapper-new.txt lvrename vg-names/lv-one /dev/mapper/vg--names-lv--x
	rec_names lvrename-back.txt lvrename vg-names vg--names-lv--x lv-one
	rec_names lvrename-mapper-old.txt lvrename /dev/mapper/vg--names-lv--one lv-three
	rec_names lvrename-nosuch-lv.txt lvrename vg-names/nosuch x
	rec_names lvrename-nosuch-vg.txt lvrename nosuch/a b
	rec_names lvrename-two-vgs.txt lvrename vg-names /dev/other/lv-one x
	rec_names lvrename-new-vg.txt lvrename vg-names/lv-one other/x
	rec_names lvrename-no-vg.txt lvrename lv-one x
	rec_names lvcreate-gone1.txt lvcreate -an -Zn -n gone -l 1 /dev/vg-names
	rec_names lvremove-dev.txt lvremove -y /dev/vg-names/gone
	rec_names lvcreate-gone2.txt lvcreate -an -Zn -n vg-names/gone -l 1 vg-names
	rec_names lvremove-mapper.txt lvremove -y /dev/mapper/vg--names-gone
	rec_names lvremove-nosuch-lv.txt lvremove -y vg-names/nosuch
	rec_names lvremove-nosuch-vg.txt lvremove -y nosuch/lv
	rec_names lvremove-nosuch-mapper.txt lvremove -y /dev/mapper/vg--names-nosuch
	rec_names lvremove-extra.txt lvremove -y vg-names/lv-one/extra
	# -q changes nothing here; -qq silences what these commands print on stdout
	rec_names lvcreate-q.txt lvcreate -q -an -Zn -n quiet -l 1 vg-names
	rec_names lvrename-q.txt lvrename -q vg-names quiet quiet2
	rec_names lvrename-v.txt lvrename -v /dev/vg-names/quiet2 quiet
	rec_names lvremove-q.txt lvremove -q -y /dev/vg-names/quiet
	rec_names lvcreate-qq.txt lvcreate -qq -an -Zn -n quiet -l 1 vg-names
	rec_names lvrename-qq.txt lvrename -qq vg-names quiet quiet2
	rec_names lvremove-qq.txt lvremove -qq -y vg-names/quiet2
	# the state after all of it (gen.sh re-checks these four on the saved images); no
	# seqno in them, which a replay moves on (restore-check.sh reads pv_uuid and dev_size)
	rec_names pvs.json pvs --reportformat json --units b --nosuffix -o pv_name,vg_name,pv_uuid,dev_size,pv_size,pv_free
	rec_names vgs.json vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free,lv_count
	rec_names lvs.json lvs --reportformat json --units b --nosuffix -a -o lv_name,vg_name,lv_size
	rec_names lvs-segments.json lvs --reportformat json --units b --nosuffix -a --segments -o lv_name,seg_pe_ranges
}

scenario_names() {
	mkpv a 64
	run pvcreate "$(dev a)"
	run vgcreate vg-names "$(dev a)"
	run lvcreate -an -Zn -n lv-one -l 2 vg-names
	run lvcreate -an -Zn -n plain -l 1 vg-names
	record_names
	check "lv-one and plain, nothing else" test \
		"$(jqget lvs.json '[.report[0].lv[] | .lv_name] | join(",")')" = lv-one,plain
	check "the mapper name was read" grep -q '^  lv-one ' "$OUT/lvs-mapper.txt"
	check "lvs NOSUCH exits 5" grep -qxF "lvs-nosuch-vg.txt	5	lvs NOSUCH" "$OUT/commands.txt"
}

# record_display: the goldens of the display scenario: pvdisplay, vgdisplay and lvdisplay
# in each of their forms, plus the JSON goldens the re-attach check compares.
record_display() {
	local j='--reportformat json --units b --nosuffix -a' u c
	# shellcheck disable=SC2086
	{
		rec pvs.json pvs $j -o $PVS_FIELDS
		rec vgs.json vgs $j -o $VGS_FIELDS
		rec lvs.json lvs $j -o $LVS_FIELDS
		rec lvs-segments.json lvs $j --segments -o $SEG_FIELDS
	}
	for c in pvdisplay vgdisplay lvdisplay; do
		rec "$c.txt" "$c"
		rec "$c-c.txt" "$c" -c
		rec "$c-C.txt" "$c" -C
		rec "$c-v.txt" "$c" -v
		for u in b s k m g t h H; do
			rec "$c-units-$u.txt" "$c" --units "$u"
		done
	done
	rec pvdisplay-m.txt pvdisplay -m
	rec pvdisplay-s.txt pvdisplay -s
	rec pvdisplay-a.txt pvdisplay -a
	rec pvdisplay-C-a.txt pvdisplay -C -a
	rec pvdisplay-c-m.txt pvdisplay -c -m
	rec pvdisplay-m-units-k.txt pvdisplay -m --units k
	rec pvdisplay-a-img.txt pvdisplay "$(dev a)"
	rec pvdisplay-m-a-img.txt pvdisplay -m "$(dev a)"
	rec pvdisplay-e-img.txt pvdisplay "$(dev e)"
	rec pvdisplay-m-e-img.txt pvdisplay -m "$(dev e)"
	rec pvdisplay-c-b-img.txt pvdisplay -c "$(dev b)"
	rec pvdisplay-two-img.txt pvdisplay "$(dev d)" "$(dev b)"
	rec pvdisplay-missing.txt pvdisplay "$DEVDIR/nosuch.img"
	rec pvdisplay-vg.txt pvdisplay vg_dsnap
	rec vgdisplay-s.txt vgdisplay -s
	rec vgdisplay-A.txt vgdisplay -A
	rec vgdisplay-vg_disp.txt vgdisplay vg_disp
	rec vgdisplay-vg_dsnap.txt vgdisplay vg_dsnap
	rec vgdisplay-v-vg_dsnap.txt vgdisplay -v vg_dsnap
	rec vgdisplay-c-vg_dempty.txt vgdisplay -c vg_dempty
	rec vgdisplay-two.txt vgdisplay vg_dempty vg_disp
	rec vgdisplay-v-vg_dempty.txt vgdisplay -v vg_dempty
	rec vgdisplay-C-vg_dsnap.txt vgdisplay -C vg_dsnap
	rec vgdisplay-missing.txt vgdisplay nosuch
	rec vgdisplay-missing-and-vg.txt vgdisplay nosuch vg_dempty
	rec lvdisplay-m.txt lvdisplay -m
	rec lvdisplay-a.txt lvdisplay -a
	rec lvdisplay-a-m.txt lvdisplay -a -m
	rec lvdisplay-a-c.txt lvdisplay -a -c
	rec lvdisplay-m-units-s.txt lvdisplay -m --units s
	rec lvdisplay-vg_dsnap.txt lvdisplay vg_dsnap
	rec lvdisplay-vg_dempty.txt lvdisplay vg_dempty
	rec lvdisplay-str.txt lvdisplay vg_disp/str
	rec lvdisplay-m-str.txt lvdisplay -m vg_disp/str
	rec lvdisplay-m-frag.txt lvdisplay -m vg_disp/frag
	rec lvdisplay-snap.txt lvdisplay vg_dsnap/snap
	rec lvdisplay-m-snap.txt lvdisplay -m vg_dsnap/snap
	rec lvdisplay-msnap.txt lvdisplay vg_dsnap/msnap
	rec lvdisplay-m-data2.txt lvdisplay -m vg_dsnap/data2
	rec lvdisplay-c-snap.txt lvdisplay -c vg_dsnap/snap
	rec lvdisplay-C-a.txt lvdisplay -C -a
	rec lvdisplay-C-snap.txt lvdisplay -C vg_dsnap/snap
	rec lvdisplay-m-units-b-data.txt lvdisplay -m --units b vg_dsnap/data vg_disp/str
	rec lvdisplay-c-m.txt lvdisplay -c -m
	rec lvdisplay-missing-vg.txt lvdisplay nosuch
	rec lvdisplay-missing-vg-lv.txt lvdisplay nosuch/lv
	rec lvdisplay-missing-lv.txt lvdisplay vg_disp/nosuch
	rec lvdisplay-missing-and-lv.txt lvdisplay vg_disp/nosuch vg_disp/lin
	rec_act lvdisplay-act.txt lvdisplay
	rec_act lvdisplay-act-a-m.txt lvdisplay -a -m
	rec_act lvdisplay-act-c.txt lvdisplay -c
	rec_act lvdisplay-act-snap.txt lvdisplay vg_dsnap/snap
	rec_act vgdisplay-act-A.txt vgdisplay -A
}

# Three VGs and an orphan for pvdisplay/vgdisplay/lvdisplay: vg_disp holds a linear, a
# 2-PV striped and a 2-segment LV with a free hole between; vg_dsnap an origin with a
# snapshot and one with a merging snapshot; vg_dempty no LV; e is in no VG.
scenario_display() {
	mkpv a 64
	mkpv b 96
	mkpv c 64
	mkpv d 32
	mkpv e 16
	run pvcreate "$(dev a)" "$(dev b)" "$(dev c)" "$(dev d)" "$(dev e)"
	run vgcreate vg_disp "$(dev a)" "$(dev b)"
	run lvcreate -an -Zn -n lin -L 20M vg_disp "$(dev a)"
	run lvcreate -an -Zn -n str -i2 -I64k -L 24M vg_disp
	run lvcreate -an -Zn -n frag -l 2 vg_disp "$(dev a)"
	run lvcreate -an -Zn -n gap -l 2 vg_disp "$(dev a)"
	run lvextend -l +3 vg_disp/frag "$(dev a)"
	run lvremove -f vg_disp/gap
	run vgcreate vg_dsnap "$(dev c)"
	run lvcreate -an -Zn -n data -l 5 vg_dsnap
	run lvcreate -an -Zn -n snap -l 2 vg_dsnap
	run lvcreate -an -Zn -n data2 -l 3 vg_dsnap
	run lvcreate -an -Zn -n msnap -l 2 vg_dsnap
	run vgcfgbackup -f plain.vg vg_dsnap
	add_snapshots "$WORKDIR/plain.vg" "$WORKDIR/restore.vg" \
		snapshot0:data:snap:8:cow_store snapshot1:data2:msnap:16:merging_store
	cp "$WORKDIR/restore.vg" "$OUT/restore-input.vg"
	run vgcfgrestore -f restore.vg vg_dsnap
	run vgcreate vg_dempty "$(dev d)"
	record_display
	check "frag has 2 segments" test \
		"$(jqget lvs.json 'first(.report[0].lv[] | select(.lv_name == "frag")) | .seg_count')" = 2
	check "data2 is a merging origin (O)" test "$(lvattr data2 | cut -c1)" = O
	check "e is an orphan" test \
		"$(jqget pvs.json '.report[0].pv[] | select(.pv_name | endswith("/e.img")) | .vg_name')" = ""
}

# record_display_attrs: the display goldens of display-attrs, plus the JSON goldens
# the re-attach check compares.
record_display_attrs() {
	local j='--reportformat json --units b --nosuffix -a' u c
	# shellcheck disable=SC2086
	{
		rec pvs.json pvs $j -o $PVS_FIELDS
		rec vgs.json vgs $j -o $VGS_FIELDS
		# lvs prints an internal warning for lv_layout and lv_role of error and zero LVs
		rec lvs.json lvs $j -o ${LVS_FIELDS%,lv_layout,lv_role}
		rec lvs-segments.json lvs $j --segments -o $SEG_FIELDS
	}
	for c in pvdisplay vgdisplay lvdisplay; do
		rec "$c.txt" "$c"
		rec "$c-c.txt" "$c" -c
		rec "$c-C.txt" "$c" -C
		for u in b h k; do
			rec "$c-units-$u.txt" "$c" --units "$u"
		done
	done
	rec pvdisplay-m.txt pvdisplay -m
	rec pvdisplay-s.txt pvdisplay -s
	rec vgdisplay-s.txt vgdisplay -s
	rec vgdisplay-v.txt vgdisplay -v
	rec lvdisplay-a.txt lvdisplay -a
	rec lvdisplay-a-m.txt lvdisplay -a -m
	rec lvdisplay-a-c.txt lvdisplay -a -c
	rec lvdisplay-a-m-units-b.txt lvdisplay -a -m --units b
	rec lvdisplay-vg_exp.txt lvdisplay vg_exp
	rec vgdisplay-vg_exp.txt vgdisplay vg_exp
	rec pvdisplay-d-img.txt pvdisplay "$(dev d)"
	rec pvdisplay-m-f-img.txt pvdisplay -m "$(dev f)" "$(dev e)"
	rec vgdisplay-s-named.txt vgdisplay -s vg_small vg_exp vg_attr vg_small
	rec lvdisplay-c-named.txt lvdisplay -c vg_small/l1028k vg_attr/ra vg_small/l1032k vg_attr/ro
	rec lvdisplay-c-named-missing.txt lvdisplay -c vg_attr/x1 nosuch vg_small/x2 vg_attr/ra vg_attr/x0
	rec lvdisplay-v-named-missing.txt lvdisplay -v nosuch2 vg_small/l1028k nosuch1/lv
	rec vgdisplay-c-v-missing.txt vgdisplay -c -v nosuch2 vg_small nosuch1
	rec pvdisplay-s-named.txt pvdisplay -s "$(dev f)" "$(dev a)" "$(dev d)" "$DEVDIR/x.img"
	rec vgdisplay-nosuffix-k.txt vgdisplay --nosuffix --units k vg_small
	rec vgdisplay-s-nosuffix.txt vgdisplay -s --nosuffix
	rec pvdisplay-nosuffix.txt pvdisplay --nosuffix
	rec pvdisplay-c-nosuffix-b.txt pvdisplay -c --nosuffix --units b
	rec lvdisplay-m-nosuffix-b.txt lvdisplay -m --nosuffix --units b vg_attr/orig vg_attr/s2
	rec lvdisplay-segments.txt lvdisplay --segments vg_small
	rec lvdisplay-reportformat-json.txt lvdisplay --reportformat json vg_small
	rec lvdisplay-C-segments.txt lvdisplay -C --segments vg_attr
	for c in "lvdisplay -s" "lvdisplay -A" "pvdisplay --segments" "pvdisplay -A" "vgdisplay -m" \
		"vgdisplay -a" "vgdisplay --segments" "lvdisplay -c -C" "vgdisplay -C -s" "vgdisplay -C -A" \
		"pvdisplay -C -s" "pvdisplay -m -C" "lvdisplay -o lv_name" "vgdisplay -O vg_name" \
		"pvdisplay --noheadings" "vgdisplay --separator :" "lvdisplay --aligned" \
		"vgdisplay -A vg_small" "pvdisplay -c -s" "vgdisplay -c -s"; do
		# shellcheck disable=SC2086
		rec "usage-${c//[ :]/}.txt" $c
	done
}

# Properties the display commands show that `display` does not have: 4 KiB extents and
# sizes lvm2 rounds ('<'), a PV without mda, a full PV, a PV not allocatable, a VG not
# resizable with max_lv/max_pv set, an exported VG, LVs read-only, contiguous, with a
# read-ahead, with a persistent minor, error and zero LVs, an origin with two
# snapshots, two orphan PVs.
scenario_display_attrs() {
	mkpv a 32764K
	mkpv b 64
	mkpv c 16
	mkpv d 32
	mkpv e 8
	mkpv f 12
	run pvcreate "$(dev a)" "$(dev b)" "$(dev d)" "$(dev e)" "$(dev f)"
	run pvcreate --metadatacopies 0 "$(dev c)"
	run vgcreate -s 4k vg_small "$(dev a)"
	run lvcreate -an -Zn -n l1032k -L 1032k vg_small
	run lvcreate -an -Zn -n l1028k -L 1028k vg_small
	run vgcreate -l 10 -p 5 vg_attr "$(dev b)" "$(dev c)"
	# c (no mda) is filled by one LV
	run lvcreate -an -Zn -n fill -l 3 vg_attr "$(dev c)"
	run lvcreate -an -Zn -n ro -l 1 vg_attr "$(dev b)"
	run lvchange -pr vg_attr/ro
	run lvcreate -an -Zn --alloc contiguous -n cont -l 2 vg_attr "$(dev b)"
	run lvcreate -an -Zn -n ra -l 1 vg_attr "$(dev b)"
	run lvchange -r 256 vg_attr/ra
	run lvcreate -an -Zn -n pm -l 1 vg_attr "$(dev b)"
	run lvchange -My --major 253 --minor 7 vg_attr/pm
	run lvcreate -an --type error -n err -L 8M vg_attr
	run lvcreate -an --type zero -n zer -L 8M vg_attr
	run lvcreate -an -Zn -n orig -l 3 vg_attr "$(dev b)"
	run lvcreate -an -Zn -n s1 -l 1 vg_attr "$(dev b)"
	run lvcreate -an -Zn -n s2 -l 2 vg_attr "$(dev b)"
	run pvchange -xn "$(dev b)"
	run vgchange -xn vg_attr
	run vgcfgbackup -f plain.vg vg_attr
	add_snapshots "$WORKDIR/plain.vg" "$WORKDIR/restore.vg" \
		snapshot0:orig:s1:8:cow_store snapshot1:orig:s2:128:cow_store
	cp "$WORKDIR/restore.vg" "$OUT/restore-input.vg"
	run vgcfgrestore -f restore.vg vg_attr
	run vgcreate vg_exp "$(dev d)"
	run lvcreate -an -Zn -n inexp -l 2 vg_exp
	run vgexport vg_exp
	record_display_attrs
	check "c is full" test \
		"$(jqget pvs.json '.report[0].pv[] | select(.pv_name | endswith("/c.img")) | .pv_free')" = 0
	check "orig has 2 snapshots" test \
		"$(jqget lvs.json '[.report[0].lv[] | select(.origin == "orig")] | length')" = 2
}

# No VG at all: one orphan PV (once in vg_gone, removed) and an image that is no PV (n).
# pvs.json without -a: with -a, pvs lists n as well.
scenario_display_novg() {
	local j='--reportformat json --units b --nosuffix' c
	mkpv a 16
	mkpv n 8
	run pvcreate "$(dev a)"
	# a VG that was: a's ring keeps its copies (for the metadata history tests)
	run vgcreate vg_gone "$(dev a)"
	run vgremove -f vg_gone
	# shellcheck disable=SC2086
	{
		rec pvs.json pvs $j -o $PVS_FIELDS
		rec vgs.json vgs $j -a -o $VGS_FIELDS
		rec lvs.json lvs $j -a -o $LVS_FIELDS
		rec lvs-segments.json lvs $j -a --segments -o $SEG_FIELDS
	}
	for c in pvdisplay vgdisplay lvdisplay; do
		rec "$c.txt" "$c"
		rec "$c-v.txt" "$c" -v
		rec "$c-c.txt" "$c" -c
	done
	rec pvdisplay-m.txt pvdisplay -m
	rec pvdisplay-s.txt pvdisplay -s
	rec pvdisplay-n-img.txt pvdisplay "$(dev n)"
	rec pvdisplay-a-n-img.txt pvdisplay "$(dev a)" "$(dev n)"
	rec vgdisplay-s-v.txt vgdisplay -s -v
	rec vgdisplay-A-v.txt vgdisplay -A -v
	rec lvdisplay-a-m-v.txt lvdisplay -a -m -v
	rec vgdisplay-missing-v.txt vgdisplay -v nosuch
	rec lvdisplay-units-x.txt lvdisplay --units x
	rec pvdisplay-units-x.txt pvdisplay --units x
	check "no VG" test "$(jqget vgs.json '.report[0].vg | length')" = 0
}

# Every report field and the selection grammar (-S): two VGs with tags, a striped, a
# spanning, a read-only activation-skipped and a contiguous LV, a snapshot (written by
# vgcfgrestore as in snapshot-meta) and an orphan PV; record_fields adds the goldens.
scenario_fields() {
	mkpv a 64
	mkpv b 96
	mkpv c 32
	mkpv d 16
	run pvcreate "$(dev a)" "$(dev b)" "$(dev c)" "$(dev d)"
	run vgcreate --addtag prod --addtag vgtag1 vg_f1 "$(dev a)" "$(dev b)"
	run vgcreate -s 1M -l 10 vg_f2 "$(dev c)"
	run pvchange --addtag fast "$(dev a)"
	run lvcreate -an -Zn -n lin -L 12M -r 256 --addtag web --addtag db vg_f1 "$(dev a)"
	run lvcreate -an -Zn -n str -i2 -I64k -L 24M vg_f1
	run lvcreate -an -Zn -n span -l 24 vg_f1 "$(dev a)" "$(dev b)"
	run lvcreate -an -Zn -n data -l 3 vg_f1
	run lvcreate -an -Zn -n snap -l 1 vg_f1
	run lvcreate -an -Zn -n ro -l 1 -pr --setactivationskip y --addtag web vg_f1
	run lvcreate -an -Zn -n small -l 3 --alloc contiguous vg_f2
	run lvcreate -an -Zn -n big -L 10M vg_f2
	run vgcfgbackup -f plain.vg vg_f1
	add_snapshots "$WORKDIR/plain.vg" "$WORKDIR/restore.vg" snapshot0:data:snap:8:cow_store
	cp "$WORKDIR/restore.vg" "$OUT/restore-input.vg"
	run vgcfgrestore -f restore.vg vg_f1
	record vg_f1
	record_fields
	check "snap is a snapshot of data" test \
		"$(jqget lvs.json 'first(.report[0].lv[] | select(.lv_name == "snap")) | .origin')" = data
	check "selections recorded" test "$(grep -c $'^sel-' "$OUT/commands.txt")" -ge 200
}

# record_fields: the field goldens of scenario fields: -o help, every field (-o all and
# the per-object *_all lists) in text and JSON, -o +/-field, -O, and every selection
# of fields-selections.txt (made by fields-selections.py).
# shellcheck disable=SC2086
record_fields() {
	local c j='--reportformat json'
	for c in pvs vgs lvs; do
		rec "$c-help.txt" "$c" -o help
	done
	# pvs -o all and -o pv_all include pv_major/pv_minor, the loop device's numbers,
	# which change from run to run (and -o- does not take fields out of an *_all):
	# pvs gets every other PV field by name, in -o all's order
	local pvall=pv_fmt,pv_uuid,dev_size,pv_name,pv_mda_free,pv_mda_size,pv_ext_vsn,pe_start
	pvall+=,pv_size,pv_free,pv_used,pv_attr,pv_allocatable,pv_exported,pv_missing,pv_pe_count
	pvall+=,pv_pe_alloc_count,pv_tags,pv_mda_count,pv_mda_used_count,pv_ba_start,pv_ba_size
	pvall+=,pv_in_use,pv_duplicate,pv_device_id,pv_device_id_type
	rec pvs-all.txt pvs -a -o $pvall
	rec pvs-all.json pvs -a $j -o $pvall
	rec pvs-all-b.json pvs -a $j --units b --nosuffix -o $pvall,vg_all
	rec vgs-all.txt vgs -o all
	rec vgs-all.json vgs $j -o all
	rec vgs-all-b.json vgs $j --units b --nosuffix -o all
	rec lvs-all.txt lvs -a -o all
	rec lvs-all.json lvs -a $j -o all
	rec lvs-all-b.json lvs -a $j --units b --nosuffix -o all
	rec lvs-seg-all.json lvs -a $j --segments -o all
	rec pvs-pvseg_all.txt pvs --segments -o pvseg_all
	rec pvs-pvseg_all.json pvs --segments $j -o pv_name,pvseg_all,lv_name
	rec vgs-vg_all.txt vgs -o vg_all
	rec vgs-vg_all.json vgs $j -o vg_all
	rec lvs-lv_all.txt lvs -a -o lv_all
	rec lvs-lv_all.json lvs -a $j -o lv_all
	rec lvs-seg_all.txt lvs -a -o seg_all
	rec lvs-seg_all.json lvs -a $j -o lv_name,seg_all
	rec lvs-plus.txt lvs -a -o +lv_time,lv_host,lv_tags,lv_read_ahead
	rec lvs-minus.txt lvs -a -o-lv_attr,origin -o +seg_count
	rec lvs-sort.txt lvs -a -O -lv_size,lv_name -o +seg_count
	rec vgs-sort.txt vgs -O -vg_free
	rec pvs-sort.txt pvs -a -O pv_free,-pv_name
	rec lvs-selected.txt lvs -a -o lv_name,selected -S 'lv_size>8m'
	# unknown fields: lvm2 lists every field first (sort keys: "dm_report: " message)
	rec lvs-unknown-field.txt lvs -o lv_name,nosuch
	rec lvs-unknown-sort.txt lvs -O nosuch
	# fields of inner objects: one row per PV segment, per LV or per PV of a VG
	rec pvs-lv-join.txt pvs -a -o pv_name,lv_name,vg_name,seg_start_pe
	rec pvs-lv-join.json pvs $j -o pv_name,lv_name
	rec vgs-lv-join.txt vgs -o vg_name,lv_name,lv_size
	rec vgs-seg-join.txt vgs -o vg_name,lv_name,seg_size
	rec vgs-pv-join.txt vgs -o vg_name,pv_name,pv_free
	rec lvs-pv-field.txt lvs -o lv_name,pv_name
	rec pvs-seg-select.txt pvs --segments -o pvseg_all,lv_name -S lv_name=str
	rec vgs-selected.txt vgs -o vg_name,selected -S 'vg_free>0'
	local name cmdline
	while IFS=$'\t' read -r name cmdline; do
		[ -n "$name" ] || continue
		read -r -a cmd <<<"$cmdline"
		rec "$name.txt" "${cmd[@]}"
	done <"$(dirname "$(realpath "$0")")/fields-selections.txt"
}

# thin-restore: the VG of the kernel scenario thin-pool (a thin pool, thin LVs, a thin
# snapshot; testdata/kernel/thin-pool/032.vgcfg.vg) restored with `vgcfgrestore --force`
# on a fresh PV (lvm2 creates a thin pool only with activation, which this generator
# does not have): what lvm2 reports of pools, thin LVs and the pool's hidden LVs from
# metadata alone. The pool's data and metadata LVs stay zero.
scenario_thin_restore() {
	local here uuid
	here=$(dirname "$(realpath "$0")")
	mkpv pv1 64
	run pvcreate "$(dev pv1)"
	uuid=$(pvs --noheadings -o pv_uuid "$(dev pv1)" 2>/dev/null | tr -d ' ')
	# The kernel's backup, renamed vg_thin, on this PV.
	sed -e '1,/^vg {/s/^vg {/vg_thin {/' \
		-e "/^\t\tpv0 {/,/^\t\t}/s/^\t\t\tid = \".*\"/\t\t\tid = \"$uuid\"/" \
		-e "s|device = \"/dev/vda\"|device = \"$(dev pv1)\"|" \
		"$here/../kernel/thin-pool/032.vgcfg.vg" >"$WORKDIR/thin.vg"
	run vgcfgrestore --force -f "$WORKDIR/thin.vg" vg_thin
	record vg_thin
	rec_thin
	check "the pool and its thin LVs" test \
		"$(jqget lvs.json '[.report[0].lv[] | .lv_name + ":" + .lv_attr] | join(",")')" = \
		"[lvol0_pmspare]:ewi-XX----,pool:twi-XXtz--,[pool_tdata]:Twi-XX----,[pool_tmeta]:ewi-XX----,snap:Vwi-XXtz--,thin1:Vwi-XXtz--,thin2:Vwi-XXtz--"
}

# rec_cache: the cache goldens of the running scenario: lvs with the cache fields, every
# LV and segment field as JSON.
rec_cache() {
	rec lvs-cache.txt lvs -a -o +segtype,pool_lv,origin,data_lv,metadata_lv,cache_mode,cache_policy,cache_settings,cache_metadata_format,chunk_size,lv_layout,lv_role
	rec lvs-cache-segs.txt lvs -a --segments -o lv_name,lv_attr,segtype,chunk_size,cache_mode,cache_policy,cache_metadata_format,lv_size,seg_size,devices,seg_pe_ranges
	rec lvs-cache-all.json lvs -a -o lv_all --reportformat json --units b --nosuffix
	rec lvs-cache-seg-all.json lvs -a --segments -o seg_all,lv_name --reportformat json --units b --nosuffix
}

# The kernel's cache-writeback VG (three cached LVs: writeback with metadata format 2
# and 1, writethrough) restored on two PVs of the same sizes; the images hold no cache
# data, the goldens are lvm2's reports of the cached LVs, pools and hidden sub-LVs.
scenario_cache_restore() {
	local here u1 u2
	here=$(dirname "$(realpath "$0")")
	mkpv pv1 24
	mkpv pv2 40
	run pvcreate "$(dev pv1)" "$(dev pv2)"
	u1=$(pvs --noheadings -o pv_uuid "$(dev pv1)" 2>/dev/null | tr -d ' ')
	u2=$(pvs --noheadings -o pv_uuid "$(dev pv2)" 2>/dev/null | tr -d ' ')
	sed -e '1,/^vg {/s/^vg {/vg_cache {/' \
		-e "/^\t\tpv0 {/,/^\t\t}/s/^\t\t\tid = \".*\"/\t\t\tid = \"$u1\"/" \
		-e "/^\t\tpv1 {/,/^\t\t}/s/^\t\t\tid = \".*\"/\t\t\tid = \"$u2\"/" \
		-e "s|device = \"/dev/vda\"|device = \"$(dev pv1)\"|" \
		-e "s|device = \"/dev/vdb\"|device = \"$(dev pv2)\"|" \
		"$here/../kernel/cache-writeback/037.vgcfg.vg" >"$WORKDIR/cache.vg"
	run vgcfgrestore --force -f "$WORKDIR/cache.vg" vg_cache
	record vg_cache
	rec_cache
	check "the cached LVs, pools and sub-LVs" test \
		"$(jqget lvs.json '[.report[0].lv[] | select(.lv_name == "c1" or .lv_name == "[p1_cpool]") | .lv_attr] | join(",")')" = \
		"Cwi-XXC---,Cwi-XXC---"
}

rec_vdo() {
	rec lvs-vdo.txt lvs -a -o +segtype,pool_lv,data_lv,lv_layout,lv_role,vdo_compression,vdo_deduplication,vdo_write_policy,vdo_header_size
	rec lvs-vdo-segs.txt lvs -a --segments -o lv_name,lv_attr,segtype,pool_lv,data_lv,lv_size,seg_size,devices,seg_pe_ranges
	rec lvs-vdo-all.json lvs -a -o lv_all --reportformat json --units b --nosuffix
	rec lvs-vdo-seg-all.json lvs -a --segments -o seg_all,lv_name --reportformat json --units b --nosuffix
	rec lvdisplay-vdo.txt lvdisplay
	rec lvdisplay-m-a-vdo.txt lvdisplay -m -a
	rec lvdisplay-c-vdo.txt lvdisplay -c -a
	rec vgdisplay-v-vdo.txt vgdisplay -v
}

# Two VDO pools with their volumes, from metadata written for this scenario
# (vdo-restore.vg) and restored by the real vgcfgrestore (lvcreate --type vdo needs
# device-mapper); the goldens are lvm2's reports of the volumes, pools and data LVs.
scenario_vdo_restore() {
	local here u1
	here=$(dirname "$(realpath "$0")")
	mkpv pv1 64
	run pvcreate "$(dev pv1)"
	u1=$(pvs --noheadings -o pv_uuid "$(dev pv1)" 2>/dev/null | tr -d ' ')
	sed -e '/^#/d' -e "s|@PV0_ID@|$u1|" -e "s|@PV0_DEV@|$(dev pv1)|" \
		"$here/vdo-restore.vg" >"$WORKDIR/vdo.vg"
	run vgcfgrestore --force -f "$WORKDIR/vdo.vg" vg_vdo
	record vg_vdo
	rec_vdo
	check "the VDO volumes, pools and data LVs" test \
		"$(jqget lvs.json '[.report[0].lv[] | select(.lv_name == "lvol0" or .lv_name == "vpool0" or .lv_name == "[vpool0_vdata]") | .lv_attr] | join(",")')" = \
		"vwi-XXv---,dwi-XX----,Dwi-XX----"
}

# evidence_unloop NAME: detach PV NAME's loop device (and forget it).
evidence_unloop() {
	local loop l keep=()
	loop=$(readlink "$(dev "$1")")
	losetup -d "$loop"
	for l in "${LOOPS[@]}"; do [ "$l" = "$loop" ] || keep+=("$l"); done
	LOOPS=("${keep[@]}")
}

# evidence_detach NAME: detach PV NAME's image and leave it out of the scenario (as if
# its disk were not there): no golden and no corpus image for it.
evidence_detach() {
	local name=$1 l keep=()
	evidence_unloop "$name"
	rm -f "$(dev "$name")" "$OUT/$name.img"
	keep=()
	for l in "${PVS[@]}"; do [ "$l" = "$name" ] || keep+=("$l"); done
	PVS=("${keep[@]}")
	grep -v " $name.img\$" "$OUT/devmap.txt" >"$OUT/devmap.new" || true
	mv "$OUT/devmap.new" "$OUT/devmap.txt"
	printf '# %s.img detached and left out\n' "$name" >>"$OUT/setup.log"
}

# A VG of three PVs as evidence often comes: c.img missing and b.img cut short of its PV
# size (an image copied onto a full disk); the goldens hold lvm2's warnings for both, and
# its answer for a VG that is not there.
scenario_evidence_missing() {
	local loop
	mkpv a 16
	mkpv b 16
	mkpv c 16
	run pvcreate "$(dev a)" "$(dev b)" "$(dev c)"
	run vgcreate -s 1m vg_ev "$(dev a)" "$(dev b)" "$(dev c)"
	run lvcreate -an -Zn -y -L 20m -n span vg_ev "$(dev a)" "$(dev b)"
	run lvcreate -an -Zn -y -L 4m -n onc vg_ev "$(dev c)"
	evidence_detach c
	evidence_unloop b
	truncate -s 12M "$OUT/b.img"
	loop=$(losetup -f --show "$OUT/b.img")
	LOOPS+=("$loop")
	ln -sfn "$loop" "$(dev b)"
	printf '# b.img cut to 12M and re-attached on %s\n' "$loop" >>"$OUT/setup.log"
	local j='--reportformat json --units b --nosuffix -a'
	# shellcheck disable=SC2086
	{
		rec pvs.json pvs $j -o $PVS_FIELDS
		rec vgs.json vgs $j -o $VGS_FIELDS
		rec lvs.json lvs $j -o $LVS_FIELDS
		rec lvs-segments.json lvs $j --segments -o $SEG_FIELDS
	}
	rec pvs.txt pvs
	rec vgs.txt vgs
	rec vgs-vg.txt vgs vg_ev
	rec lvs-a.txt lvs -a
	rec lvs-devices.txt lvs -a -o +devices
	rec vgs-nosuch.txt vgs nosuch
	rec lvs-nosuch.txt lvs nosuch
	check "c is missing" grep -q "Couldn't find device" "$OUT/vgs.txt.err"
	check "b is short" grep -q "smaller than corresponding PV size" "$OUT/vgs.txt.err"
}

# evid-times: the forensic time fields. A VG restored by vgcfgrestore from an edited
# backup: LVs with chosen creation times (one in northern summer, one in winter), one
# with another creation host, one with neither time nor host (lvs -H: no historical LV, so
# RTime stays empty; a hand-made `historical_logical_volumes` entry without descendants is
# dropped by vgcfgrestore, also with record_lvs_history=1). lvm2 prints lv_time in the
# zone TZ names, so the goldens run the same report under several TZ values (named
# zones with and without summer time, half-hour offsets, a POSIX rule, UTC).
EVID_TZS=(UTC Europe/Berlin America/St_Johns Asia/Kolkata EST5EDT)
scenario_evid_times() {
	mkpv a 32
	run pvcreate "$(dev a)"
	run vgcreate -s 1m vg_t "$(dev a)"
	local lv
	for lv in summer winter away bare; do
		run lvcreate -an -Zn -y -L 2m -n "$lv" vg_t
	done
	run vgcfgbackup -f plain.vg vg_t
	awk '
		/^\t\t[a-z]+ \{$/ { lv = $1 }
		lv == "summer" && $1 == "creation_time" { print "\t\t\tcreation_time = 1719835200"; next }
		lv == "winter" && $1 == "creation_time" { print "\t\t\tcreation_time = 1704110400"; next }
		lv == "away" && $1 == "creation_time" { print "\t\t\tcreation_time = 1711846800"; next }
		lv == "away" && $1 == "creation_host" { print "\t\t\tcreation_host = \"evidence-box.example\""; next }
		lv == "bare" && ($1 == "creation_time" || $1 == "creation_host") { next }
		{ print }' "$WORKDIR/plain.vg" >"$WORKDIR/restore.vg"
	cp "$WORKDIR/restore.vg" "$OUT/restore-input.vg"
	run vgcfgrestore -f restore.vg vg_t
	record vg_t
	record_evid_times
	check "bare has no time" test \
		"$(jqget lvs-time.json '.report[0].lv[] | select(.lv_name == "bare") | .lv_time')" = ""
}

# record_evid_times: lv_time, lv_host and lv_time_removed in each zone of EVID_TZS.
record_evid_times() {
	local tz f=lv_name,lv_time,lv_host
	rec lvs-time.txt lvs -a -o $f
	rec lvs-time.json lvs -a --reportformat json -o $f
	rec lvs-history.txt lvs -H -o lv_name,lv_time,lv_time_removed,lv_host,lv_attr
	rec lvs-history.json lvs -H --reportformat json -o lv_name,lv_time,lv_time_removed,lv_historical
	for tz in "${EVID_TZS[@]}"; do
		rec "lvs-time-${tz//\//-}.txt" env TZ="$tz" lvs -a -o $f
		rec "lvs-history-${tz//\//-}.txt" env TZ="$tz" lvs -H -o lv_name,lv_time,lv_time_removed
		rec "lvdisplay-${tz//\//-}.txt" env TZ="$tz" lvdisplay vg_t/summer vg_t/winter
	done
}

# evid2-hist: historical LVs (lvs -H). A thin VG written by vgcfgrestore (lvm2 makes thin
# LVs only with activation): pool, a chain base <- s1 <- s2 <- s3 of thin snapshots, sb
# a second snapshot of base, other unrelated. Then lvremove with
# metadata/record_lvs_history=1 (works without activation: the pool only gets a queued
# delete message): s1 (middle: kept as -s1), base (root: -base), s3 (a leaf: recorded and
# dropped at once, as it has no descendant), other (no relative: not recorded). The
# removal times are then set to fixed instants through vgcfgbackup + vgcfgrestore, so
# that the goldens in several TZ values and the date selections are reproducible.
EVID2_TZS=(America/New_York Asia/Kolkata)
evid2_hist_vg() { # PVUUID DEVICE: the VG text
	local n
	printf 'vg_hist {\nid = "%s"\nseqno = 1\nformat = "lvm2"\nstatus = ["RESIZEABLE", "READ", "WRITE"]\n' "$(new_uuid)"
	printf 'flags = []\nextent_size = 2048\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n'
	printf 'physical_volumes {\npv0 {\nid = "%s"\ndevice = "%s"\nstatus = ["ALLOCATABLE"]\n' "$1" "$2"
	printf 'flags = []\ndev_size = 131072\npe_start = 2048\npe_count = 63\n}\n}\nlogical_volumes {\n'
	printf 'pool {\nid = "%s"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\n' "$(new_uuid)"
	printf 'creation_time = 1704110400\ncreation_host = "evidence-box"\nsegment_count = 1\n'
	printf 'segment1 {\nstart_extent = 0\nextent_count = 16\ntype = "thin-pool"\nmetadata = "pool_tmeta"\n'
	printf 'pool = "pool_tdata"\ntransaction_id = 6\nchunk_size = 128\ndiscards = "passdown"\nzero_new_blocks = 1\n}\n}\n'
	# name device_id creation_time origin
	while read -r n id t o; do
		printf '%s {\nid = "%s"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\n' "$n" "$(new_uuid)"
		printf 'creation_time = %s\ncreation_host = "evidence-box"\nsegment_count = 1\n' "$t"
		printf 'segment1 {\nstart_extent = 0\nextent_count = 4\ntype = "thin"\nthin_pool = "pool"\n'
		printf 'transaction_id = %s\ndevice_id = %s\n' "$((id - 1))" "$id"
		[ "$o" = - ] || printf 'origin = "%s"\n' "$o"
		printf '}\n}\n'
	done <<-EOF
		base 1 1704110400 -
		s1 2 1711846800 base
		s2 3 1719835200 s1
		s3 4 1719921600 s2
		other 5 1720000000 -
		sb 6 1730000000 base
	EOF
	# name first_pe extents
	while read -r n pe c; do
		printf '%s {\nid = "%s"\nstatus = ["READ", "WRITE"]\nflags = []\n' "$n" "$(new_uuid)"
		printf 'creation_time = 1704110400\ncreation_host = "evidence-box"\nsegment_count = 1\n'
		printf 'segment1 {\nstart_extent = 0\nextent_count = %s\ntype = "striped"\nstripe_count = 1\n' "$c"
		printf 'stripes = [\n"pv0", %s\n]\n}\n}\n' "$pe"
	done <<-EOF
		lvol0_pmspare 0 4
		pool_tmeta 20 4
		pool_tdata 4 16
	EOF
	printf '}\n}\ncontents = "Text Format Volume Group"\nversion = 1\ndescription = ""\n'
	printf 'creation_host = "evidence-box"\ncreation_time = 1730000000\n'
}
# evid2_run_failing CMD...: a step lvm2 carries out but ends with a failure status (lvremove
# of a thin LV commits the metadata, then cannot activate the pool to send the message).
evid2_run_failing() {
	printf '$ %s\n' "$*" >>"$OUT/setup.log"
	local rc=0
	(cd "$WORKDIR" && "$@") >"$WORKDIR/step" 2>&1 || rc=$?
	drop_noise "$WORKDIR/step" >>"$OUT/setup.log"
	printf '# exit %s\n' "$rc" >>"$OUT/setup.log"
}
scenario_evid2_hist() {
	local uuid h='--config metadata/record_lvs_history=1'
	mkpv a 64
	run pvcreate "$(dev a)"
	uuid=$(pvs --noheadings -o pv_uuid "$(dev a)" 2>/dev/null | tr -d ' ')
	evid2_hist_vg "$uuid" "$(dev a)" >"$WORKDIR/hist.vg"
	cp "$WORKDIR/hist.vg" "$OUT/restore-input.vg"
	run vgcfgrestore --force -f hist.vg vg_hist
	# shellcheck disable=SC2086
	{
		evid2_run_failing lvremove -y $h vg_hist/s1
		evid2_run_failing lvremove -y $h vg_hist/base
		evid2_run_failing lvremove -y $h vg_hist/s3
		evid2_run_failing lvremove -y $h vg_hist/other
	}
	run vgcfgbackup -f removed.vg vg_hist
	awk '
		/^\t\t[a-z0-9]+ \{$/ { lv = $1 }
		lv == "s1" && $1 == "removal_time" { print "\t\t\tremoval_time = 1719900000"; next }
		lv == "base" && $1 == "removal_time" { print "\t\t\tremoval_time = 1711850400"; next }
		{ print }' "$WORKDIR/removed.vg" >"$WORKDIR/fixed.vg"
	cp "$WORKDIR/fixed.vg" "$OUT/restore-fixed.vg"
	run vgcfgrestore --force -f fixed.vg vg_hist
	record vg_hist
	record_evid2_hist
	check "two historical LVs" test \
		"$(jqget lvs-hist-rel.json '[.report[0].lv[] | select(.lv_historical != "") | .lv_name] | join(",")')" = "-base,-s1"
	check "fixed removal times" grep -q 'removal_time = 1719900000' "$OUT/vgcfgbackup.txt"
}

# record_evid2_hist: the goldens of evid2-hist: lvs with and without -H, the history
# fields, every LV field of historical LVs, lvdisplay -H, selections, and the same in other
# zones (times, date selections, vgcfgbackup's comments).
# evid2_rec FILE CMD...: rec, its stderr also without the DM_ABSENT lines (lvdisplay of a
# thin pool asks device-mapper for the pool's state even with activation off).
evid2_rec() {
	rec "$@"
	drop_noise "$OUT/$1.err" >"$WORKDIR/err.clean"
	mv "$WORKDIR/err.clean" "$OUT/$1.err"
}

# shellcheck disable=SC2086
record_evid2_hist() {
	local tz z all rel=lv_name,lv_attr,origin,lv_ancestors,lv_full_ancestors,lv_descendants,lv_full_descendants,lv_time,lv_time_removed,lv_historical
	local j='--reportformat json --units b --nosuffix'
	rec lvs-H.txt lvs -H
	rec lvs-H-a.txt lvs -H -a
	rec lvs-history-long.txt lvs --history
	rec lvs-H-default.json lvs -H -a --reportformat json
	rec lvs-hist-rel.txt lvs -H -a -o $rel
	rec lvs-hist-rel.json lvs -H -a --reportformat json -o $rel
	rec lvs-nohist-rel.txt lvs -a -o $rel
	# lv_all but lv_modules: lvm2 2.03.16 dies of SIGSEGV computing lv_modules of a
	# historical LV (its one segment has no type operations).
	all=$(lvs -a $j -o lv_all vg_hist 2>/dev/null |
		jq -r '.report[0].lv[0] | keys_unsorted | map(select(. != "lv_modules")) | join(",")')
	rec lvs-H-all.json lvs -H $j -o $all,vg_name
	rec lvs-H-modules.txt lvs -H -o lv_name,lv_modules vg_hist/s2
	rec lvs-H-segs.txt lvs -H --segments
	rec lvs-H-seg-all.json lvs -H $j --segments -o seg_all,lv_name
	rec lvs-H-sel-hist.txt lvs -H -S lv_historical=1
	rec lvs-sel-hist.txt lvs -S lv_historical=1
	rec lvs-H-sel-nothist.txt lvs -H -S lv_historical=0
	rec lvs-H-named.txt lvs -H vg_hist/-s1 vg_hist/s2
	rec lvs-named-nohist.txt lvs vg_hist/-s1
	rec lvs-H-vg.txt lvs -H vg_hist
	rec lvs-H-sort-removed.txt lvs -H -O lv_time_removed -o lv_name,lv_time_removed
	rec lvs-H-noheadings-sep.txt lvs -H --noheadings --separator : -o lv_name,lv_uuid,lv_attr,lv_size
	rec vgs.txt vgs
	rec vgdisplay.txt vgdisplay vg_hist
	evid2_rec lvdisplay-H.txt lvdisplay -H
	evid2_rec lvdisplay-H-named.txt lvdisplay -H vg_hist/-s1
	evid2_rec lvdisplay.txt lvdisplay
	evid2_rec lvdisplay-H-c.txt lvdisplay -H -c
	# Only lvs and lvdisplay take -H/--history; lvm2's option parser refuses it elsewhere.
	rec vgs-H.txt vgs -H
	rec pvs-history.txt pvs --history
	evid2_rec vgdisplay-H.txt vgdisplay -H
	evid2_rec pvdisplay-history.txt pvdisplay --history
	# Date selections (no spaces: commands.txt is split on them): a whole local day, the
	# instants before and after it, and an explicit offset.
	for tz in UTC "${EVID2_TZS[@]}"; do
		z=${tz//\//-}
		rec "lvs-H-times-$z.txt" env TZ="$tz" lvs -H -a -o lv_name,lv_time,lv_time_removed
		evid2_rec "lvdisplay-H-$z.txt" env TZ="$tz" lvdisplay -H vg_hist/-s1 vg_hist/s2
		rec "lvs-sel-day-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time -S lv_time=2024-03-31
		rec "lvs-sel-lt-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time -S 'lv_time<2024-03-31'
		rec "lvs-sel-gt-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time -S 'lv_time>2024-03-31'
		rec "lvs-sel-ge-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time -S 'lv_time>=2024-10-27'
		rec "lvs-sel-month-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time -S lv_time=2024-07
		rec "lvs-sel-offset-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time -S lv_time=2024-03-31+05:30
		rec "lvs-sel-removed-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time_removed -S lv_time_removed=2024-03-31
		rec "lvs-sel-removed-since-$z.txt" env TZ="$tz" lvs -H -o lv_name,lv_time_removed -S 'lv_time_removed>=2024-07-02'
		rm -f "$WORKDIR/tz.vg"
		rec "vgcfgbackup-$z-cmd.txt" env TZ="$tz" vgcfgbackup -f tz.vg vg_hist
		cp "$WORKDIR/tz.vg" "$OUT/vgcfgbackup-$z.txt"
	done
}

# ---------------------------------------------------------------------------------------

run_scenario() {
	local name=$1 fn
	fn=scenario_${name//-/_}
	declare -F "$fn" >/dev/null || die "unknown scenario: $name"
	OUT=$OUTDIR/$name
	rm -rf "$OUT"
	mkdir -p "$OUT"
	rm -f "${DEVDIR:?}"/*.img "${WORKDIR:?}"/*
	PVS=()
	: >"$OUT/devmap.txt"
	: >"$OUT/commands.txt"
	printf '# %s, %s\n' "$name" "$(lvm version 2>/dev/null | awk '/LVM version/ { print $3 }')" \
		>"$OUT/setup.log"
	STAMP=0
	"$fn"
	cleanup
	[ "$STAMP" = 1 ] && stamp_pvs
	recheck
	(cd "$OUT" && sha256sum -- *.img >images.sha256)
	echo "gen.sh: $name done"
}

pack() {
	local src=$1 dst=$2 d f name
	[ -d "$src" ] || die "no such directory: $src"
	mkdir -p "$dst"
	for d in "$src"/*/; do
		name=$(basename "$d")
		[ -f "$d/devmap.txt" ] || continue
		rm -rf "${dst:?}/$name"
		mkdir -p "$dst/$name"
		for f in "$d"*; do
			case $f in
			*.img) zstd -q -19 "$f" -o "$dst/$name/$(basename "$f").zst" ;;
			*) cp "$f" "$dst/$name/" ;;
			esac
		done
	done
	lvm version >"$dst/lvm-version.txt" 2>/dev/null || true
}

# backup_body FILE: a vgcfgbackup file without what depends on the moment and
# the machine's kernel build (its first line, creation_time, the uname comment).
backup_body() {
	grep -v -e '^# Generated by' -e '^creation_time = ' "$1" |
		sed -e 's/^\(creation_host = "[^"]*"\)\t# .*$/\1/'
}

# verify_one DIR: attach the images of one scenario directory (raw .img or packed
# .img.zst) and run every command of its commands.txt again; stdout and stderr must equal
# the goldens. vgcfgbackup files are compared without the time and the kernel build.
verify_one() {
	local dir=$1 name img p f rc cmdline bad=0
	name=$(basename "$dir")
	OUT=$WORKDIR/verify
	rm -rf "$OUT" "${WORKDIR:?}"/* "${DEVDIR:?}"/*.img
	mkdir -p "$OUT"
	PVS=()
	while read -r _ img; do
		p=${img%.img}
		if [ -f "$dir/$img" ]; then
			cp --sparse=always "$dir/$img" "$OUT/$img"
		else
			zstd -q -d --sparse "$dir/$img.zst" -o "$OUT/$img"
		fi
		LOOPS+=("$(losetup -f --show "$OUT/$img")")
		ln -sfn "${LOOPS[-1]}" "$(dev "$p")"
		PVS+=("$p")
	done <"$dir/devmap.txt"
	while IFS=$'\t' read -r f rc cmdline; do
		read -r -a cmd <<<"$cmdline"
		local got=0
		(cd "$WORKDIR" && "${cmd[@]}") >"$WORKDIR/out" 2>"$WORKDIR/err" || got=$?
		drop_noise "$WORKDIR/err" >"$WORKDIR/err2"
		if ! cmp -s "$WORKDIR/out" "$dir/$f" || ! cmp -s "$WORKDIR/err2" "$dir/$f.err" ||
			[ "$got" != "$rc" ]; then
			echo "$name/$f: differs (exit $got, golden $rc): $cmdline"
			bad=1
		fi
		if [ "${cmd[0]}" = vgcfgbackup ]; then
			local file=${cmd[2]}
			# The time lines and the uname comment after creation_host say
			# when and on which kernel build the file was written, not what
			# lvm2 does: left out.
			if ! cmp -s <(backup_body "$WORKDIR/$file") <(backup_body "$dir/$file"); then
				echo "$name/$file: differs"
				bad=1
			fi
		fi
	done <"$dir/commands.txt"
	cleanup
	rm -rf "$OUT"
	[ "$bad" = 0 ] && echo "gen.sh: $name verified"
	return "$bad"
}

main() {
	case ${1-} in
	--list) printf '%s\n' "${SCENARIOS[@]}"; return ;;
	--pack) [ $# -eq 3 ] || die "usage: gen.sh --pack OUTDIR DEST"; pack "$2" "$3"; return ;;
	'' | -h | --help) sed -n '2,13p' "$0"; return ;;
	esac
	[ "$(id -u)" = 0 ] || die "needs root (losetup)"
	local t
	for t in losetup lvm jq zstd; do
		command -v "$t" >/dev/null || die "missing tool: $t"
	done
	if [ "$1" = --verify ]; then
		[ $# -ge 2 ] || die "usage: gen.sh --verify DIR [SCENARIO...]"
		local dir=$2 fails=0
		shift 2
		[ $# -gt 0 ] || set -- "${SCENARIOS[@]}"
		write_lvm_conf
		exec 9>"$ETCDIR/lock"
		flock 9
		for t in "$@"; do
			[ -f "$dir/$t/commands.txt" ] || die "no scenario $t in $dir"
			verify_one "$dir/$t" || fails=$((fails + 1))
		done
		[ "$fails" = 0 ] || die "$fails scenario(s) differ from their goldens"
		return
	fi
	OUTDIR=$(realpath -m "$1")
	shift
	[ $# -gt 0 ] || set -- "${SCENARIOS[@]}"
	write_lvm_conf
	# one generator at a time: the device and work directories are shared
	exec 9>"$ETCDIR/lock"
	flock 9
	mkdir -p "$OUTDIR"
	lvm version >"$OUTDIR/lvm-version.txt" 2>/dev/null || true
	for t in "$@"; do
		run_scenario "$t"
	done
}

# make-2000.sh sources this file for its helpers
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
