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


def test_record_classes_are_exported_and_documented():
    from lvmsim import records

    for name in records.__all__:
        assert name in lvmsim.__all__ and getattr(lvmsim, name) is getattr(records, name)
        obj = getattr(records, name)
        if isinstance(obj, type):
            assert obj.__doc__ and hasattr(obj, "to_dict") and hasattr(obj, "from_dict"), name
    for meth in ("history", "recover"):
        assert getattr(_native.System, meth).__doc__ and getattr(_native.Vg, meth).__doc__
