"""The exceptions lvmsim raises, one class per kind of library error.

Every exception is an :class:`Error`; its message is the one the
``lvmsim`` command prints. Attributes that are not known for an error are
None.
"""

from __future__ import annotations

from typing import Optional


class Error(Exception):
    """Base class of every lvmsim error.

    Attributes: ``structure`` (what is damaged), ``offset`` (its byte
    offset: on the image for metadata, in the COW LV for an exception
    store), ``path`` (the image), ``lv`` (``VG/LV``).
    """

    structure: Optional[str] = None
    offset: Optional[int] = None
    path: Optional[str] = None
    lv: Optional[str] = None


class NotFoundError(Error, LookupError):
    """A VG, LV or device named by the request does not exist."""


class CorruptError(Error):
    """On-disk data is corrupt: a label, PV header, metadata area or text,
    partition table, container, a snapshot's exception store or a thin
    pool's metadata. ``structure`` names it and ``offset`` says where."""


class SnapshotInvalidError(Error):
    """The snapshot is invalid (it overflowed or failed): the kernel fails
    every read of it. ``LV.open(force=True)`` reads what its store still
    holds."""


class SnapshotFullError(SnapshotInvalidError):
    """The snapshot ran out of COW space (and is now invalid)."""


class SnapshotMergingError(Error):
    """The snapshot is merging into its origin: the kernel maps it to the
    error target. Read the origin, or use ``force=True``."""


class MissingPvError(Error):
    """The data lies on a PV none of the given devices holds."""


class IoError(Error, OSError):
    """Reading an image (or a Python file object given as one) failed."""


class UnsupportedError(Error):
    """Valid LVM2 data, or an image format, that lvmsim does not read."""


class UsageError(Error, ValueError):
    """The request is invalid."""


class RefusedError(Error):
    """lvm2 would refuse the request for what the devices hold."""


__all__ = [
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
