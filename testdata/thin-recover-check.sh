#!/usr/bin/env bash
# thin-provisioning-tools against `lvmsim recover` on kernel/thin-recover:
# `thin_dump --metadata-snap` of the kernel's pool metadata (read out with
# `lvmsim cat vg/pool_tmeta`) gives the mappings of the held root; the thin
# LV `held`, removed while that root was held, is rebuilt from those
# mappings and the pool's data LV, and must have the sha256 the kernel read
# before the removal, as must `lvmsim recover --export vg/held`.
# Usage: testdata/thin-recover-check.sh LVMSIM
set -euo pipefail
lvmsim=$(realpath "$1")
cd "$(dirname "$0")"
for t in thin_dump thin_check zstd python3; do
  command -v "$t" >/dev/null || { echo "FATAL: $t is required and missing (apt-get install thin-provisioning-tools zstd python3)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/lvmsim-thinrec.XXXXXX)
trap 'rm -rf "$work"' EXIT
scen=kernel/thin-recover
zstd -q -d --sparse "$scen/pv1.img.zst" -o "$work/pv1.img"
"$lvmsim" --dev "$work/pv1.img" cat vg/pool_tmeta > "$work/meta.bin"
"$lvmsim" --dev "$work/pv1.img" cat vg/pool_tdata > "$work/data.bin"
thin_check "$work/meta.bin" > "$work/check.out" 2>&1 || { cat "$work/check.out"; echo "FAIL: thin_check rejects the kernel's metadata" >&2; exit 1; }
thin_dump --metadata-snap "$work/meta.bin" > "$work/held.xml"
# held: thin id 3 in lvm2's metadata; the kernel's checkblocks step hashed it.
n=$(awk -F'\t' '$6 == "checkblocks vg/held" {print $1}' "$scen/steps.tsv")
want=$(cut -d' ' -f1 "$scen/$n.sha256")
python3 - "$work/held.xml" "$work/data.bin" "$work/tools-held.img" <<'PY'
import sys, xml.etree.ElementTree as ET
xml, data, out = sys.argv[1:]
root = ET.parse(xml).getroot()
bs = int(root.get("data_block_size")) * 512
devs = {int(d.get("dev_id")): d for d in root.iter("device")}
# The device held alone: id 3 (keep is 1 and still live).
d = devs[3]
size = 4 << 20
img = bytearray(size)
src = open(data, "rb").read()
n = 0
for m in d:
    if m.tag == "range_mapping":
        o, b, l = int(m.get("origin_begin")), int(m.get("data_begin")), int(m.get("length"))
    else:
        o, b, l = int(m.get("origin_block")), int(m.get("data_block")), 1
    for i in range(l):
        img[(o + i) * bs:(o + i + 1) * bs] = src[(b + i) * bs:(b + i + 1) * bs]
        n += 1
assert n == int(d.get("mapped_blocks")), (n, d.get("mapped_blocks"))
open(out, "wb").write(img)
print(f"held root: device 3, {n} mapped blocks")
PY
tools=$(sha256sum "$work/tools-held.img" | cut -d' ' -f1)
"$lvmsim" --dev "$work/pv1.img" recover --export vg/held -o "$work/lvmsim-held.img" > /dev/null
ours=$(sha256sum "$work/lvmsim-held.img" | cut -d' ' -f1)
[ "$tools" = "$want" ] || { echo "FAIL: held rebuilt from thin_dump --metadata-snap: $tools, the kernel read $want" >&2; exit 1; }
[ "$ours" = "$want" ] || { echo "FAIL: lvmsim recover --export vg/held: $ours, the kernel read $want" >&2; exit 1; }
echo "thin-recover: held rebuilt from thin_dump --metadata-snap and by lvmsim recover: both $want, as the kernel read it"
