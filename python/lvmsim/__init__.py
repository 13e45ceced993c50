"""LVM2 volumes on disk images, read as the Linux kernel shows them.

A thin layer over the lvmsim Rust library: ``open()`` scans images (or
Python file objects) as lvm2 scans devices; each VG lists its LVs and PVs
with lvm2's metadata; ``LV.open()`` returns a read-only binary file object
with exactly the bytes ``lvmsim cat`` (and ``dd if=/dev/VG/LV`` after
activation) shows: a snapshot's view through its exception store, a merging
origin's data, thin LVs through their pool.

    import hashlib, lvmsim
    vg = lvmsim.open(["pv1.img", "pv2.img"]).vg("vg")
    print([(lv.name, lv.attr, lv.origin) for lv in vg.lvs])
    with vg.lv("snap").open() as f:
        print(hashlib.sha256(f.read()).hexdigest())
"""

from __future__ import annotations

import ctypes
import io
import os
from typing import Any, Iterable, Union

from . import _native
from .errors import (
    CorruptError,
    Error,
    IoError,
    MissingPvError,
    NotFoundError,
    RefusedError,
    SnapshotFullError,
    SnapshotInvalidError,
    SnapshotMergingError,
    UnsupportedError,
    UsageError,
)

from .records import (
    HISTORY_SCHEMA,
    Change,
    Copy,
    Extents,
    History,
    Place,
    Recovered,
    Recovery,
    Reuse,
    SnapshotInfo,
    Store,
)

System = _native.System
Vg = _native.Vg
Lv = _native.Lv
Pv = _native.Pv
Reader = _native.Reader


class LvFile(io.RawIOBase):
    """An LV's bytes as a read-only, seekable binary file.

    ``io.RawIOBase`` semantics: ``read``/``readinto`` return fewer bytes only
    at the LV's end (then ``b""``/0); reads release the GIL. Errors while
    reading (an unreadable image, a damaged store) raise :class:`Error`
    subclasses. Not meant for concurrent use of one object from several
    threads (open one per thread: they share nothing but the images).
    """

    def __init__(self, reader: "_native.Reader") -> None:
        super().__init__()
        self._reader = reader
        self._pos = 0
        self.name = reader.name

    @property
    def size(self) -> int:
        """The LV's length in bytes (as the file shows it)."""
        return self._reader.size

    def readable(self) -> bool:
        self._checkClosed()
        return True

    def seekable(self) -> bool:
        self._checkClosed()
        return True

    def writable(self) -> bool:
        self._checkClosed()
        return False

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._reader.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, b: Any) -> int:
        self._checkClosed()
        with memoryview(b) as view:
            m = view.cast("B") if view.format != "B" or view.ndim != 1 else view
            try:
                n = min(len(m), max(0, self._reader.size - self._pos))
                if n == 0:
                    return 0
                # A ctypes array over the buffer holds an export of it (it
                # cannot be resized or freed) while the read runs without
                # the GIL; from_buffer refuses read-only memory.
                arr = (ctypes.c_char * n).from_buffer(m)
                try:
                    got = self._reader.read_into_address(self._pos, ctypes.addressof(arr), n)
                finally:
                    del arr
            finally:
                if m is not view:
                    m.release()
        self._pos += got
        return got

    def read(self, size: int = -1) -> bytes:
        self._checkClosed()
        if size is None or size < 0:
            return self.readall()
        data = self._reader.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        self._checkClosed()
        data = self._reader.read_at(self._pos, max(0, self._reader.size - self._pos))
        self._pos += len(data)
        return data

    def fileno(self) -> int:
        raise io.UnsupportedOperation("an LV has no file descriptor")

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<lvmsim.LvFile {self.name}{state}>"


Source = Union[str, "os.PathLike[str]", Any]


def open(sources: Union[Source, Iterable[Source]]) -> "_native.System":  # noqa: A001
    """Scans ``sources`` as lvm2 scans devices and returns the :class:`System`.

    Each source is a path (an image, a whole disk with a partition table, a
    qcow2 or E01 container, a directory of images, ``NAME=PATH`` or
    ``PATH@OFFSET``) or a Python file object (with ``read`` and ``seek``, or
    ``readinto``; ``get_size()`` is used if it has one) holding a PV, a
    whole disk with a partition table (partitions named ``NAME:p1``...,
    NAME being the object's ``name``), or a qcow2 or single-segment E01
    container of either. A single path or file object may be given alone.
    """
    if isinstance(sources, (str, bytes, os.PathLike)) or hasattr(sources, "read") or hasattr(
        sources, "readinto"
    ):
        sources = [sources]
    return _native.open(list(sources))


__all__ = [
    "open",
    "System",
    "Vg",
    "Lv",
    "Pv",
    "LvFile",
    "Reader",
    "History",
    "Copy",
    "Place",
    "Change",
    "Extents",
    "SnapshotInfo",
    "Recovery",
    "Recovered",
    "Reuse",
    "Store",
    "HISTORY_SCHEMA",
    "Error",
    "NotFoundError",
    "CorruptError",
    "SnapshotInvalidError",
    "SnapshotFullError",
    "SnapshotMergingError",
    "MissingPvError",
    "IoError",
    "UnsupportedError",
    "UsageError",
    "RefusedError",
]
