"""The `lvmsim` command, to compare the package's answers with its JSON."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def path() -> str:
    """The command: $LVMSIM_CLI, else the workspace's debug or release
    build (python/ci.sh builds it)."""
    env = os.environ.get("LVMSIM_CLI")
    if env:
        return env
    for p in (ROOT / "target/debug/lvmsim", ROOT / "target/release/lvmsim"):
        if p.exists():
            return str(p)
    raise RuntimeError("no lvmsim command: build it (cargo build -p sim-cli) or set LVMSIM_CLI")


def run_json(devices, *args: str):
    """`lvmsim --dev D... ARGS` parsed as JSON (it must succeed)."""
    cmd = [path()]
    for d in devices:
        cmd += ["--dev", str(d)]
    out = subprocess.run(cmd + list(args), check=True, capture_output=True)
    return json.loads(out.stdout)


def run(devices, *args: str) -> subprocess.CompletedProcess:
    cmd = [path()]
    for d in devices:
        cmd += ["--dev", str(d)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True)
