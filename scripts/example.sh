#!/usr/bin/env bash
# The bundled example: two PV images made by real lvm2 (testdata/lvm2/corpus/
# twopv-striped), read by lvmsim without root, loop devices or device-mapper.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sim-cli
LVMSIM=$PWD/target/release/lvmsim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for z in testdata/lvm2/corpus/twopv-striped/*.img.zst; do
  zstd -q -d "$z" -o "$work/$(basename "$z" .zst)"
done
show() { echo "\$ lvmsim $*"; (cd "$work" && "$LVMSIM" "$@"); echo; }
show --dev a.img --dev b.img pvs
show --dev . vgs
show --dev . lvs -a --segments -o +devices,seg_pe_ranges
show --dev . lvs --reportformat json -o lv_name,lv_size,lv_attr --units b --nosuffix
show pvck --dump metadata_search a.img
echo "\$ lvmsim --dev . cat vg_striped/str | sha256sum"
(cd "$work" && "$LVMSIM" --dev . cat vg_striped/str | sha256sum)
