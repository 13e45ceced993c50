#!/usr/bin/env bash
# Runs check.py: builds the wheel and the lvmsim command, installs the
# wheel with dfvfs, dissect.target, dissect.extfs and dissect.volume from
# PyPI into a scratch venv, makes a PV image whose LV holds an ext4
# filesystem (mkfs.ext4 -d) with a snapshot taken before it was rewritten,
# and checks what the README says of dfVFS and dissect. Not part of CI (it
# installs those packages). Needs python3 with venv, cargo, mkfs.ext4.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q 'maturin>=1.5,<2' dfvfs dissect.target dissect.extfs dissect.volume
(cd "$here/.." && "$work/venv/bin/maturin" build --release -q -i "$work/venv/bin/python" -o "$work/wheels")
"$work/venv/bin/pip" install -q "$work"/wheels/lvmsim-*.whl
(cd "$root" && cargo build -q -p sim-cli)
cli="$root/target/debug/lvmsim"
mkdir "$work/d1" "$work/d2"
echo "written before the snapshot" >"$work/d1/evidence.txt"
echo "overwritten after the snapshot" >"$work/d2/evidence.txt"
mkfs.ext4 -q -F -d "$work/d1" "$work/fs1.img" 16M >/dev/null
mkfs.ext4 -q -F -d "$work/d2" "$work/fs2.img" 16M >/dev/null
pv="$work/pv.img"
truncate -s 64M "$pv"
l() { "$cli" --dev "$pv" "$@" >/dev/null 2>&1; }
l pvcreate "$pv"
l vgcreate vg "$pv"
l lvcreate -Zn -n data -L 16m vg
l write vg/data --input "$work/fs1.img"
l lvcreate -s -n snap -L 20m vg/data
l write vg/data --input "$work/fs2.img"
cd "$work"
PYTHONPATH="$here" "$work/venv/bin/python" "$here/check.py" \
    "$root/testdata/containers/disk.E01" "$root/testdata/kernel/snap-striped-origin" "$pv"
