#!/usr/bin/env bash
# peer-check.sh LVMSIM OUTDIR [SEEDS...]
#
# Runs other LVM readers on `lvmsim gen` images and `lvmsim mutate` mutants and
# collects their crashes, hangs (20 s timeout) and wrong answers, the manifests
# saying what is right:
#   - libvslvm: vslvminfo (Debian libvslvm-utils) and its Python binding pyvslvm
#     (python3-libvslvm), installed with apt-get when missing;
#   - dissect.volume (PyPI), installed with pip in a venv under OUTDIR/venv.
# Every LV a peer lists is read whole and its sha256 compared with the manifest.
# See peer_check.py for the verdicts. MUTANTS (environment, default 21) mutants
# are read after the gen images. Writes OUTDIR/report.json and OUTDIR/report.md;
# docs/peer-parsers.md tells what a run found.
#
# Needs root for apt-get (when the Debian packages are missing) and network for
# pip; fails loudly when either cannot be had. Not part of .ci/run for that reason.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 LVMSIM OUTDIR [SEEDS...]" >&2; exit 2; }
LVMSIM=$(realpath "$1")
OUT=$2
shift 2
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2 3)
MUTANTS=${MUTANTS:-21}
HERE=$(dirname "$(realpath "$0")")

die() { echo "peer-check.sh: $*" >&2; exit 1; }

# libvslvm from Debian, for the system python3 (pyvslvm is built for it).
if ! command -v vslvminfo >/dev/null || ! /usr/bin/python3 -c 'import pyvslvm' 2>/dev/null; then
  apt-get install -y libvslvm-utils python3-libvslvm >/dev/null ||
    die "could not install libvslvm-utils and python3-libvslvm with apt-get (root and a Debian mirror are needed)"
fi
command -v vslvminfo >/dev/null || die "vslvminfo is missing after installing libvslvm-utils"
/usr/bin/python3 -c 'import pyvslvm' || die "pyvslvm does not import after installing python3-libvslvm"

# dissect.volume from PyPI, in a venv of its own.
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
VENV=$OUT/venv
if ! "$VENV/bin/python" -c 'import dissect.volume' 2>/dev/null; then
  /usr/bin/python3 -m venv "$VENV" || die "could not make a venv in $VENV (is python3-venv installed?)"
  "$VENV/bin/pip" install -q dissect.volume ||
    die "pip could not install dissect.volume from PyPI into $VENV (is the network reachable?)"
fi

rm -rf "$OUT/img"
/usr/bin/python3 "$HERE/peer_check.py" "$LVMSIM" "$OUT" "$VENV/bin/python" "$MUTANTS" "${SEEDS[@]}"
echo "peer-check: $OUT/report.json, $OUT/report.md"
