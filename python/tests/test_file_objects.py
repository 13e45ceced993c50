"""PVs given as Python file objects read exactly as PVs given as paths,
whatever the object: a buffered file, bytes in memory, or an object with
only `seek`/`readinto`/`get_size` (as forensic libraries' file entries)."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest

import lvmsim


def hashes(system: "lvmsim.System") -> dict[str, str]:
    out = {}
    for vg in system.vgs:
        for lv in vg.lvs:
            try:
                with lv.open() as f:
                    out[lv.full_name] = hashlib.sha256(f.read()).hexdigest()
            except lvmsim.Error as e:
                out[lv.full_name] = type(e).__name__
    return out


class EntryLike:
    """A file object as dfVFS gives them: seek() returns None, no tell()
    needed, get_size(); reads through readinto only."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self.reads = 0

    def get_size(self) -> int:
        return len(self._data)

    def seek(self, offset: int, whence: int = 0) -> None:
        assert whence == 0
        self._pos = offset

    def readinto(self, b) -> int:
        self.reads += 1
        chunk = self._data[self._pos : self._pos + min(len(b), 65536)]
        b[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


@pytest.mark.parametrize("scenario", ["snap-striped-origin", "striped-mdacopies", "thin-pool", "snap-overflow"])
def test_file_objects_read_as_paths(scenario, images):
    paths = images.get(scenario)
    want = hashes(lvmsim.open(paths))
    assert want
    files = [open(p, "rb") for p in paths]
    try:
        assert hashes(lvmsim.open(files)) == want
    finally:
        for f in files:
            f.close()
    memory = [io.BytesIO(p.read_bytes()) for p in paths]
    assert hashes(lvmsim.open(memory)) == want
    entries = [EntryLike(p.read_bytes()) for p in paths]
    assert hashes(lvmsim.open(entries)) == want
    assert all(e.reads > 0 for e in entries)
    # A path and a file object together.
    if len(paths) > 1:
        with open(paths[1], "rb") as f:
            assert hashes(lvmsim.open([paths[0], *[open(p, "rb") for p in paths[1:]]])) == want


def test_file_object_reads_from_threads(images):
    # Reads run without the GIL and take it for each read of the file
    # object: several threads reading LVs of one system at once get the
    # same bytes as one thread.
    paths = images.get("snap-chunks")
    with open(paths[0], "rb") as pv:
        system = lvmsim.open(pv)
        lvs = system.vg("vg").lvs
        want = {lv.name: hashlib.sha256(lv.open().read()).hexdigest() for lv in lvs}
        got = {}

        def work(lv):
            h = hashlib.sha256()
            with lv.open() as f:
                for piece in iter(lambda: f.read(1 << 16), b""):
                    h.update(piece)
            got[lv.name] = h.hexdigest()

        threads = [threading.Thread(target=work, args=(lv,)) for lv in lvs for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert got == want


def test_file_object_errors_become_io_errors(images):
    data = images.get("snap-chunks")[0].read_bytes()

    class Failing(io.BytesIO):
        armed = False

        def read(self, n=-1):
            if self.armed:
                raise OSError("device went away")
            return super().read(n)

    f = Failing(data)
    system = lvmsim.open(f)
    f.armed = True
    with pytest.raises(lvmsim.IoError) as e:
        system.vg("vg").lv("s4k").open().read(4096)
    assert "device went away" in str(e.value)
    assert isinstance(e.value, OSError)


def test_file_like_semantics(images):
    lv = lvmsim.open(images.get("snap-chunks")).vg("vg").lv("s64k")
    with lv.open() as f:
        assert isinstance(f, io.RawIOBase)
        assert f.readable() and f.seekable() and not f.writable()
        whole = f.read()
        assert len(whole) == f.size == f.tell()
        assert f.read(10) == b"" and f.readinto(bytearray(10)) == 0
        assert f.seek(-100, io.SEEK_END) == f.size - 100
        assert f.read() == whole[-100:]
        f.seek(12345)
        b = bytearray(4096)
        assert f.readinto(memoryview(b)) == 4096 and bytes(b) == whole[12345 : 12345 + 4096]
        f.seek(5, io.SEEK_CUR)
        assert f.tell() == 12345 + 4096 + 5
        # A buffered reader over it, as libraries wrap raw files.
        f.seek(0)
        br = io.BufferedReader(f)
        assert br.read(1000) == whole[:1000]
        br.detach()
        with pytest.raises(TypeError):
            f.readinto(bytes(10))
        with pytest.raises(ValueError):
            f.seek(-1)
    assert f.closed
    with pytest.raises(ValueError):
        f.read(1)
