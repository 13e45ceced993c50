"""Shared helpers: the kernel corpus (testdata/kernel), decompressed once
per test session into a temporary directory."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "testdata" / "kernel"


def decompress(src: pathlib.Path, dst: pathlib.Path) -> None:
    """Writes the zstd-compressed image `src` to `dst`."""
    try:
        import zstandard
    except ImportError:
        zstandard = None
    if zstandard is not None:
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            zstandard.ZstdDecompressor().copy_stream(fi, fo)
        return
    if shutil.which("zstd") is None:
        raise RuntimeError("decompressing the corpus needs the zstandard module or the zstd command")
    subprocess.run(["zstd", "-qdf", str(src), "-o", str(dst)], check=True)


class Images:
    """Decompressed images of the corpus, made on first use."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root

    def get(self, scenario: str, variant: str = "") -> list[pathlib.Path]:
        """The PV images of `scenario` (`variant` "after-boot1" for the
        images boot 1 left), in pvN order."""
        suffix = f".{variant}.img.zst" if variant else ".img.zst"
        out = []
        for src in sorted((CORPUS / scenario).glob("pv*" + suffix)):
            stem = src.name[: -len(suffix)]
            if not variant and "." in stem:
                continue
            dst = self.root / scenario / (src.name[: -len(".zst")])
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                decompress(src, dst)
            out.append(dst)
        assert out, f"no images for {scenario} {variant}"
        return out

    def copy(self, scenario: str, dest: pathlib.Path) -> list[pathlib.Path]:
        """Fresh copies of `scenario`'s images under `dest` (to damage)."""
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for p in self.get(scenario):
            q = dest / p.name
            shutil.copyfile(p, q)
            out.append(q)
        return out


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    return Images(tmp_path_factory.mktemp("kernel-images"))


def scenarios() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if (p / "steps.tsv").exists())


os.environ.setdefault("PYTHONFAULTHANDLER", "1")
