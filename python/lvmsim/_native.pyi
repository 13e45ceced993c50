"""Type stubs of lvmsim's compiled module (re-exported by ``lvmsim``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

if TYPE_CHECKING:
    from . import LvFile
    from .records import History, Recovery

class Pv:
    """A physical volume of a VG."""

    @property
    def device(self) -> Optional[str]:
        """The device holding it (the path or name given), None if missing."""
    @property
    def uuid(self) -> str:
        """The PV's UUID (lvm2's dashed form)."""
    @property
    def recorded_device(self) -> Optional[str]:
        """The device name the metadata last recorded, if any."""
    @property
    def size(self) -> Optional[int]:
        """The device size the metadata records, in bytes."""
    @property
    def pe_start(self) -> int:
        """Where the first extent starts, in bytes from the device's start."""
    @property
    def pe_count(self) -> int:
        """Number of extents."""
    @property
    def missing(self) -> bool:
        """True if no scanned device holds this PV."""

class Reader:
    """An LV's bytes as ``lvmsim cat`` shows them, read at offsets (what
    :class:`lvmsim.LvFile` reads through)."""

    @property
    def size(self) -> int:
        """The LV's length in bytes, as its view shows it."""
    @property
    def name(self) -> str:
        """``VG/LV``."""
    def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the LV's end), read
        with the GIL released."""
    def read_into_address(self, offset: int, addr: int, n: int) -> int:
        """Reads up to ``n`` bytes from ``offset`` into the writable memory
        at ``addr``, which the caller keeps exported for the call; returns
        the bytes read."""

class Lv:
    """A logical volume."""

    @property
    def name(self) -> str: ...
    @property
    def vg_name(self) -> str: ...
    @property
    def full_name(self) -> str:
        """``VG/LV``."""
    @property
    def uuid(self) -> str: ...
    @property
    def size(self) -> int:
        """LSize as ``lvs`` reports it, in bytes (an old-style snapshot: its
        COW store's size; its view is as long as its origin)."""
    @property
    def segment_types(self) -> list[str]:
        """Segment types in segment order, without repeats ("striped",
        "thin", "thin-pool", ...)."""
    @property
    def creation_host(self) -> Optional[str]: ...
    @property
    def creation_time(self) -> Optional[int]:
        """Seconds since the epoch."""
    @property
    def origin(self) -> Optional[str]:
        """The origin's name, for a snapshot (old-style or thin)."""
    @property
    def data_percent(self) -> Optional[float]:
        """lvm2's Data% after activation (a snapshot's fill level)."""
    @property
    def attr(self) -> str:
        """lvm2's ``lv_attr`` as ``lvs`` shows it after activation."""
    @property
    def visible(self) -> bool:
        """False for LVs ``lvs`` hides (pool internals, spare metadata)."""
    def open(self, force: bool = False) -> "LvFile":
        """The LV's bytes as a read-only :class:`lvmsim.LvFile`. With
        ``force``, an invalid or merging snapshot is read from what its
        store still holds."""
    def reader(self, force: bool = False) -> Reader: ...

class Vg:
    """A volume group."""

    @property
    def name(self) -> str: ...
    @property
    def uuid(self) -> str: ...
    @property
    def seqno(self) -> int:
        """The metadata's sequence number."""
    @property
    def extent_size(self) -> int:
        """In bytes."""
    @property
    def lvs(self) -> list[Lv]:
        """The LVs ``lvs`` lists."""
    @property
    def all_lvs(self) -> list[Lv]:
        """Every LV, hidden ones included (snapshot glue left out)."""
    @property
    def pvs(self) -> list[Pv]: ...
    @property
    def partial(self) -> bool:
        """True if a PV is missing."""
    def lv(self, name: str) -> Lv:
        """The LV named ``name``; :class:`lvmsim.NotFoundError` if none."""
    def history(self, scan_all: bool = False) -> "History":
        """``System.history(vg=name)``: this VG's metadata copies, those
        under older names included."""
    def recover(self, scan_all: bool = False) -> "Recovery":
        """``System.recover(vg=name)``: the snapshots this VG's metadata
        copies knew."""

class System:
    """The devices given to :func:`lvmsim.open`, scanned as lvm2 scans."""

    @property
    def vgs(self) -> list[Vg]: ...
    @property
    def warnings(self) -> list[str]:
        """lvm2's warnings about the devices, one line each."""
    @property
    def devices(self) -> list[str]:
        """The devices scanned, by the names given."""
    def vg(self, name: str) -> Vg:
        """The VG named ``name``; :class:`lvmsim.NotFoundError` if none."""
    def history(self, vg: Optional[str] = None, scan_all: bool = False) -> "History":
        """Every metadata copy on the devices and what changed from one to
        the next, as ``lvmsim history --json [VG]`` prints it (``to_dict()``
        is that JSON). ``scan_all``: the whole devices are scanned for
        copies (``--scan-all``). :class:`lvmsim.RefusedError` if there is no
        copy (of that VG)."""
    def recover(self, vg: Optional[str] = None, scan_all: bool = False) -> "Recovery":
        """Every snapshot any metadata copy knew, its state now and what can
        be rebuilt of it, as ``lvmsim recover --json [VG]`` prints it."""
    def open_recovered(self, snapshot: str, seqno: Optional[int] = None, scan_all: bool = False) -> "LvFile":
        """The rebuilt view of ``snapshot`` (``VG/SNAP``) as ``lvmsim recover
        --export`` writes it, as a read-only :class:`lvmsim.LvFile`: from the
        metadata copy with ``seqno``, or the last copy that held it when one
        snapshot of that name is in the history. ``recover()`` tells what
        each byte range is worth."""

def open(sources: Sequence[Any]) -> System: ...
