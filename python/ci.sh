#!/usr/bin/env bash
# Builds the lvmsim wheel with maturin in a fresh virtual environment,
# installs it into another fresh one and runs the pytest suite (the kernel
# corpus read through the package, compared with the kernel's records and
# with the lvmsim command's JSON, which it builds). Needs python3 (3.9 or
# later) with venv and pip, cargo, and network access to PyPI. Usage: python/ci.sh [PYTEST ARGS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${PYTHON:-python3}"
command -v "$py" >/dev/null || { echo "python/ci.sh: $py not found (install python3 and python3-venv)" >&2; exit 1; }
"$py" -c 'import sys; assert sys.version_info >= (3, 9), sys.version' ||
    { echo "python/ci.sh: $py is older than 3.9" >&2; exit 1; }
"$py" -c 'import venv, ensurepip' 2>/dev/null ||
    { echo "python/ci.sh: $py has no venv/ensurepip (install python3-venv)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$py" -m venv "$work/build"
"$work/build/bin/pip" install -q 'maturin>=1.5,<2'
(cd "$here" && "$work/build/bin/maturin" build --release -q -i "$py" -o "$work/wheels")
"$py" -m venv "$work/test"
"$work/test/bin/pip" install -q pytest zstandard
"$work/test/bin/pip" install -q "$work"/wheels/lvmsim-*.whl
# The tests compare the package's answers with the command's JSON.
(cd "$here/.." && cargo build -q -p sim-cli)
export LVMSIM_CLI="$here/../target/debug/lvmsim"
# From tests/, so the source tree's lvmsim/ does not shadow the wheel.
cd "$here/tests"
"$work/test/bin/python" -c 'import lvmsim, sys; assert "site-packages" in lvmsim.__file__, lvmsim.__file__'
"$work/test/bin/pytest" -q -p no:cacheprovider "$@" .
