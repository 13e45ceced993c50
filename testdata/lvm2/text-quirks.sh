#!/usr/bin/env bash
# text-quirks.sh OUTDIR
#
# Records what real lvm2 prints for the odd-but-readable metadata texts of
# sim-cli/tests/it/lvm2_text_quirks.rs (a duplicate key, extent_size = 0),
# as the goldens OUTDIR/<case>.txt (commit them to testdata/lvm2/text-quirks/).
#
# The images are the test's own: it builds them with lvmsim's writer and,
# with LVMSIM_KEEP_QUIRK_IMAGES set, keeps a copy. Each case's images are
# attached read-only (`losetup -f -r`), linked as /tmp/l2quirks/pv0.img and
# pv1.img (the names the test gives lvmsim), and lvm2 runs without
# device-mapper (`--driverloaded n`, the private lvm.conf of oracle-env.sh).
# Its note "WARNING: Activation disabled..." is about that setup, not about
# the VG, and is left out; fields that depend on device-mapper (lv_attr's
# state letters, LV Status) are not asked for.
#
# Golden format, per command: `### lvm ARGS`, stdout, `### stderr`, stderr,
# `### exit N`. Needs root, losetup, lvm2 and cargo.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$(realpath -m "$1"); mkdir -p "$OUT"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEVDIR=/tmp/l2quirks
for t in losetup lvm cargo; do
  command -v $t >/dev/null || { echo "text-quirks.sh: $t is missing" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/lvmsim-quirks.XXXXXX)
# shellcheck source=oracle-env.sh
. "$(dirname "$0")/oracle-env.sh"
oracle_env "$WORK/etc" "$DEVDIR"
LOOPS=()
detach() {
  local l
  for l in "${LOOPS[@]}"; do losetup -d "$l" || echo "text-quirks.sh: could not detach $l" >&2; done
  LOOPS=()
  rm -f "$DEVDIR"/pv0.img "$DEVDIR"/pv1.img
}
trap 'detach; rm -rf "$WORK"' EXIT

(cd "$ROOT" && LVMSIM_KEEP_QUIRK_IMAGES=$WORK/img \
  cargo test -q -p sim-cli --test it lvm2_text_quirks:: >/dev/null 2>&1) || true
COMMANDS=(
  "vgs"
  "pvs"
  "lvs -o vg_name,lv_name,lv_size,seg_count"
  "lvs --segments -o lv_name,seg_start,seg_size,seg_pe_ranges,stripes"
  "lvs --units b --nosuffix -o lv_name,lv_size,seg_size_pe"
  "vgs --units b -o vg_name,vg_extent_size,vg_extent_count,vg_free_count,vg_size,vg_free"
  "vgdisplay"
  "pvdisplay -m"
)
for case in duplicate_key extent_size_zero; do
  [ -f "$WORK/img/$case/pv0.img" ] || { echo "text-quirks.sh: the test kept no images for $case" >&2; exit 1; }
  for f in pv0.img pv1.img; do
    l=$(losetup -f -r --show "$WORK/img/$case/$f"); LOOPS+=("$l"); ln -s "$l" "$DEVDIR/$f"
  done
  : > "$OUT/$case.txt"
  for c in "${COMMANDS[@]}"; do
    rc=0
    # shellcheck disable=SC2086
    lvm $c --driverloaded n > "$WORK/o" 2> "$WORK/e" || rc=$?
    {
      echo "### lvm $c"; cat "$WORK/o"
      echo "### stderr"; grep -v -e 'WARNING: Activation disabled' -e 'leaked on lvm invocation' "$WORK/e" || true
      echo "### exit $rc"
    } >> "$OUT/$case.txt"
  done
  detach
done
echo "text-quirks.sh: goldens in $OUT"
