"""Damaged images raise the mapped exception classes, never crash the
interpreter: a corrupt exception store, metadata lvm2 cannot read, an
image cut short."""

from __future__ import annotations

import os

import pytest

import lvmsim


def test_corrupt_exception_store_raises_corrupt_error(images, tmp_path):
    (img,) = images.copy("snap-chunks", tmp_path)
    data = bytearray(img.read_bytes())
    # Every snapshot store header (magic "SnAp" at the start of a sector):
    # the version field (bytes 8-11) set to a value the kernel refuses.
    headers = [i for i in range(0, len(data), 512) if data[i : i + 4] == b"SnAp"]
    assert len(headers) == 3
    for h in headers:
        data[h + 8 : h + 12] = b"\xff\xff\xff\xff"
    img.write_bytes(bytes(data))
    vg = lvmsim.open(img).vg("vg")
    for name in ("s4k", "s64k", "s512k"):
        with pytest.raises(lvmsim.CorruptError) as e:
            vg.lv(name).open()
        assert e.value.structure == "exception store"
        assert e.value.lv == f"vg/{name}"
        assert e.value.offset == 8  # the version field in the COW
        assert "version" in str(e.value)
    # The origin does not read the stores.
    with vg.lv("origin").open() as f:
        assert len(f.read()) == f.size


def test_unreadable_metadata_is_a_warning_and_the_vg_is_not_found(images):
    # The metadata area header was zeroed after the last report: lvm2
    # found no VG on these images.
    system = lvmsim.open(images.get("damaged-mda"))
    assert system.vgs == []
    assert any("metadata area at 4096" in w for w in system.warnings)
    with pytest.raises(lvmsim.NotFoundError) as e:
        system.vg("vg")
    assert str(e.value) == 'Volume group "vg" not found'
    assert isinstance(e.value, LookupError)


def test_image_cut_short_raises_io_error(images, tmp_path):
    (img,) = images.copy("linear-fragmented", tmp_path)
    system = lvmsim.open(img)
    lvs = system.vg("vg").lvs
    # The LV whose extents reach furthest lose their end.
    with open(img, "r+b") as f:
        f.truncate(os.path.getsize(img) // 2)
    failed = 0
    for lv in lvs:
        try:
            with lv.open() as f:
                while f.read(1 << 20):
                    pass
        except lvmsim.IoError as e:
            failed += 1
            assert str(img) in str(e)
    assert failed >= 1


def test_not_an_image(tmp_path):
    with pytest.raises(lvmsim.IoError):
        lvmsim.open(tmp_path / "missing.img")
    with pytest.raises(ValueError):
        lvmsim.open([object()])
    junk = tmp_path / "junk.img"
    junk.write_bytes(os.urandom(1 << 20))
    assert lvmsim.open(junk).vgs == []
