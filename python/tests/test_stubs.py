"""The type stubs name what the compiled module has, and the wheel ships
them (with py.typed)."""

from __future__ import annotations

import ast
import pathlib

import lvmsim
from lvmsim import _native

PKG = pathlib.Path(lvmsim.__file__).parent


def test_stubs_match_the_module():
    tree = ast.parse((PKG / "_native.pyi").read_text())
    assert (PKG / "py.typed").exists()
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert {c.name for c in classes} == {"Pv", "Reader", "Lv", "Vg", "System"}
    for c in classes:
        runtime = getattr(_native, c.name)
        stubbed = {f.name for f in c.body if isinstance(f, ast.FunctionDef)}
        public = {a for a in dir(runtime) if not a.startswith("_")}
        assert stubbed == public, c.name
        assert runtime.__doc__
    assert _native.open.__doc__
