"""The metadata history and the snapshot survey as Python objects.

``System.history()`` returns a :class:`History` and ``System.recover()`` a
:class:`Recovery`: the same data the ``lvmsim history --json`` (schema
``lvmsim-history/1``, described in docs/history-json.md) and ``lvmsim
recover --json`` commands print, as frozen dataclasses whose attributes
are the JSON's keys (``from`` is ``from_``, a Python keyword). Every
object's ``to_dict()`` gives back the command's JSON as ``json.loads``
reads it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Union

HISTORY_SCHEMA = "lvmsim-history/1"


def _key(name: str) -> str:
    """The JSON key of attribute ``name``."""
    return name[:-1] if name.endswith("_") else name


def _plain(v: Any) -> Any:
    if isinstance(v, _Record):
        return v.to_dict()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class _Record:
    """A JSON object as a dataclass: attributes are its keys. Keys this
    version does not know (added by a later one) are kept, and
    ``to_dict()`` gives them back."""

    # Attributes holding records: attribute -> class (for lists, their items).
    _nested: ClassVar[Dict[str, Any]] = {}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> Any:
        """The object the JSON object ``d`` describes."""
        kw = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if not f.init:
                continue
            v = d.get(_key(f.name))
            sub = cls._nested.get(f.name)
            if sub is not None and v is not None:
                v = [sub.from_dict(x) for x in v] if isinstance(v, list) else sub.from_dict(v)
            kw[f.name] = v
        obj = cls(**kw)
        known = {_key(f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        object.__setattr__(obj, "_extra", {k: v for k, v in d.items() if k not in known})
        return obj

    def to_dict(self) -> Dict[str, Any]:
        """The object as the command's JSON has it."""
        out = {_key(f.name): _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        out.update(getattr(self, "_extra", {}))
        return out


# ---------------------------------------------------------------------------
# history


@dataclass(frozen=True)
class Place(_Record):
    """Where a metadata copy was found."""

    device: str
    """The device (as given to ``open``, a partition as ``NAME:pN``)."""
    mda: Optional[int]
    """Metadata area 1 or 2 of the PV header; None for a whole-image scan."""
    area_offset: int
    """Byte offset of the area on the device (0 for a whole-image scan)."""
    offset: int
    """Byte offset of the copy's first byte on the device."""
    wrapped: bool
    """The copy runs past the area's end and continues at its start."""
    committed: bool
    """The area's committed slot points here."""
    guess: bool
    """No label or area header points here (found by scanning)."""


@dataclass(frozen=True)
class Extents(_Record):
    """A run of physical extents."""

    pv: str
    """The PV's key in the metadata (``pv0``)."""
    first: int
    count: int


@dataclass(frozen=True)
class SnapshotInfo(_Record):
    """A snapshot's relation to its origin."""

    origin: str
    chunk_bytes: int
    merging: bool


# Keys of each change type besides ``type`` and ``text`` (``from`` is
# ``from_``).
_CHANGE_KEYS: Dict[str, tuple] = {
    "vg_renamed": ("from_", "to"),
    "vg_changed": ("key", "from_", "to"),
    "pv_added": ("pv", "id"),
    "pv_removed": ("pv", "id"),
    "pv_changed": ("pv", "what"),
    "lv_created": ("lv", "extents", "at", "snapshot"),
    "lv_removed": ("lv", "at", "snapshot"),
    "snapshot_merged": ("lv", "origin", "at"),
    "lv_renamed": ("from_", "to"),
    "lv_resized": ("lv", "from_extents", "to_extents", "added"),
    "lv_moved": ("lv", "from_", "to"),
    "lv_changed": ("lv", "key", "from_", "to"),
    "snapshot_attached": ("lv", "snapshot", "at"),
    "snapshot_detached": ("lv", "snapshot"),
    "merge_started": ("lv", "origin"),
    "other": (),
}


@dataclass(frozen=True)
class Change(_Record):
    """One change between two metadata copies: ``type`` names it (see
    docs/history-json.md), ``text`` says it as ``lvmsim history`` prints
    it; the attributes its type has are set, the others are None.
    ``from_``/``to`` are names or values as text, or (``lv_moved``)
    lists of :class:`Extents`. Keys of a type this version does not know
    are kept in ``extra``."""

    type: str
    text: str
    lv: Optional[str] = None
    key: Optional[str] = None
    from_: Union[str, List[Extents], None] = None
    to: Union[str, List[Extents], None] = None
    pv: Optional[str] = None
    id: Optional[str] = None
    what: Optional[str] = None
    origin: Optional[str] = None
    extents: Optional[int] = None
    from_extents: Optional[int] = None
    to_extents: Optional[int] = None
    at: Optional[List[Extents]] = None
    added: Optional[List[Extents]] = None
    snapshot: Optional[SnapshotInfo] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    _EXTENT_LISTS: ClassVar[tuple] = ("at", "added")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Change":
        kw: Dict[str, Any] = {"type": d["type"], "text": d["text"]}
        known = _CHANGE_KEYS.get(d["type"])
        names = known if known is not None else ()
        for name in names:
            v = d.get(_key(name))
            if v is not None:
                if name in cls._EXTENT_LISTS or (name in ("from_", "to") and isinstance(v, list)):
                    v = [Extents.from_dict(x) for x in v]
                elif name == "snapshot":
                    v = SnapshotInfo.from_dict(v)
            kw[name] = v
        used = {_key(n) for n in names} | {"type", "text"}
        kw["extra"] = {k: v for k, v in d.items() if k not in used}
        return cls(**kw)

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"type": self.type}
        for name in _CHANGE_KEYS.get(self.type, ()):
            out[_key(name)] = _plain(getattr(self, name))
        out.update(self.extra)
        out["text"] = self.text
        return out


@dataclass(frozen=True)
class Copy(_Record):
    """One distinct copy of a VG's metadata text."""

    vg: str
    """The VG's name in this copy."""
    vg_id: str
    """The VG's UUID (the same across renames)."""
    seqno: int
    creation_time: Optional[int]
    """When the copy was written, seconds since the epoch."""
    creation_time_utc: Optional[str]
    creation_host: Optional[str]
    description: Optional[str]
    """lvm2's ``description`` (``Write from COMMAND LINE.``)."""
    length: int
    """Length of the text with its NUL."""
    crc: str
    """LVM CRC of the text, 8 hex digits."""
    crc_status: str
    """``committed``, ``mismatch`` or ``unrecorded``."""
    stored_crc: Optional[str]
    parse_error: Optional[str]
    """Why the text does not parse (None: it parses)."""
    bad_end: bool
    found: List[Place]
    previous_seqno: Optional[int]
    """The seqno of the copy compared with (the VG's previous copy)."""
    changes: List[Change]
    """What changed since that copy."""
    changes_note: Optional[str]
    """Why there are no changes to list, if there are none to compute."""

    _nested = {"found": Place, "changes": Change}


@dataclass(frozen=True)
class History(_Record):
    """Every metadata copy of the VGs, oldest first within each VG
    (``lvmsim history --json``)."""

    schema: str
    """``lvmsim-history/1``."""
    history: List[Copy]

    _nested = {"history": Copy}

    @property
    def copies(self) -> List[Copy]:
        """The copies (``history``)."""
        return self.history

    @classmethod
    def from_json(cls, text: str) -> "History":
        return cls.from_dict(json.loads(text))


# ---------------------------------------------------------------------------
# recover


@dataclass(frozen=True)
class Reuse(_Record):
    """A later LV that was given some of a snapshot's COW extents."""

    extents: str
    lv: str
    seqno: int
    """The first seqno in which it held them."""


@dataclass(frozen=True)
class Store(_Record):
    """What was found in a snapshot's COW extents."""

    chunk_bytes: int
    error: Optional[str]
    """Why the store could not be read, if it could not."""
    exceptions: int
    exceptions_on_reused_extents: int
    header: bool
    header_guessed: bool
    implausible_records: int
    metadata_intact: bool
    metadata_on_reused_extents: bool
    valid: bool


@dataclass(frozen=True)
class Recovered(_Record):
    """One snapshot any metadata copy knew, and what can be rebuilt of it."""

    caveat: Optional[str]
    chunk_bytes: int
    cow_extents: str
    """The COW LV's extents in the last copy that had it (``pv0:10-19``)."""
    first_seqno: int
    id: str
    """The COW LV's UUID."""
    last_seqno: int
    last_seqno_time: Optional[int]
    notes: List[str]
    origin: str
    reused_by: List[Reuse]
    snapshot: str
    """The snapshot's name."""
    state: str
    """``present``, ``invalid``, ``dropped`` or ``merged``."""
    store: Optional[Store]
    verdict: Optional[str]
    """``recoverable``, ``partly`` or ``lost`` (dropped and invalid ones)."""
    vg: str

    _nested = {"reused_by": Reuse, "store": Store}


@dataclass(frozen=True)
class Recovery(_Record):
    """Every snapshot of the metadata history (``lvmsim recover --json``)."""

    snapshots: List[Recovered]

    _nested = {"snapshots": Recovered}

    @classmethod
    def from_json(cls, text: str) -> "Recovery":
        return cls.from_dict(json.loads(text))


__all__ = [
    "HISTORY_SCHEMA",
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
]
