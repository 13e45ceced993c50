"""Read one VG of an image set with one peer parser and print what it saw.

Usage: python3 peer_worker.py PEER PV_IMAGE...

PEER is `pyvslvm` (libvslvm's Python binding, run by the system python3; the
PVs given as file objects), `pyvslvm-names` (the same, the PVs given as a list of
file names) or `dissect` (dissect.volume's LVM2 reader, run by the venv's python). The images are
the PVs of one VG, the first one being the PV the peer is opened on.

Output: one JSON object per line, flushed at once, so that what was read before a
hang or a crash survives:
  {"event": "open", "ok": true, "vg": NAME}            or with "error"
  {"event": "lv", "name": N, "size": S, "sha256": H}   or with "error"
  {"event": "done"}
An error is {"type": exception class, "module": its module, "message": first
400 characters, "traceback": the last frames}. The caller decides whether an
exception is a clean error of the peer or a crash.
"""

import hashlib
import json
import resource
import sys
import traceback

# A peer that balloons on a mutant should fail here, not take the machine.
MEMORY_LIMIT = 2 << 30
BLOCK = 1 << 20


class ShortRead(Exception):
    """The peer gave fewer bytes than the LV size it reported."""


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def error(exc):
    return {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc)[:400],
        "traceback": traceback.format_exc(limit=-4)[-1500:],
    }


def digest(read, size, paths):
    """sha256 of `size` bytes from `read(offset, n)`; a short read is an error.

    An LV larger than all its PVs together is not read (a damaged size would
    make the reading, not the peer, take the time): None.
    """
    import os

    if size > sum(os.path.getsize(p) for p in paths):
        return None
    h = hashlib.sha256()
    off = 0
    while off < size:
        n = min(BLOCK, size - off)
        data = read(off, n)
        if len(data) != n:
            raise ShortRead(f"short read: {len(data)} of {n} bytes at offset {off}")
        h.update(data)
        off += n
    return h.hexdigest()


def run_pyvslvm(paths, by_name=False):
    import pyvslvm

    h = pyvslvm.handle()
    try:
        h.open(paths[0])
        if by_name:
            # The binding's own way of naming the PVs: a list of file names.
            h.open_physical_volume_files(paths)
        else:
            files = [open(p, "rb") for p in paths]
            h.open_physical_volume_files_as_file_objects(files)
        vg = h.get_volume_group()
        emit({"event": "open", "ok": True, "vg": vg.name})
    except Exception as e:  # noqa: BLE001 - every exception is reported
        emit({"event": "open", "ok": False, "error": error(e)})
        return
    for i in range(vg.number_of_logical_volumes):
        rec = {"event": "lv", "index": i}
        try:
            lv = vg.get_logical_volume(i)
            rec["name"] = lv.name
            rec["size"] = lv.size

            def read(off, n, lv=lv):
                lv.seek_offset(off, 0)
                return lv.read_buffer(n)

            rec["sha256"] = digest(read, lv.size, paths)
        except Exception as e:  # noqa: BLE001
            rec["error"] = error(e)
        emit(rec)


def run_dissect(paths):
    from dissect.volume.lvm import LVM2

    files = [open(p, "rb") for p in paths]
    try:
        lvm = LVM2(files)
        vg = lvm.vg
        emit({"event": "open", "ok": True, "vg": vg.name})
    except Exception as e:  # noqa: BLE001
        emit({"event": "open", "ok": False, "error": error(e)})
        return
    for i, lv in enumerate(vg.lv):
        rec = {"event": "lv", "index": i}
        try:
            rec["name"] = lv.name
            rec["visible"] = lv.is_visible
            fh = lv.open()
            size = getattr(fh, "size", None)
            if size is None:
                fh.seek(0, 2)
                size = fh.tell()
            rec["size"] = size

            def read(off, n, fh=fh):
                fh.seek(off)
                return fh.read(n)

            rec["sha256"] = digest(read, size, paths)
        except Exception as e:  # noqa: BLE001
            rec["error"] = error(e)
        emit(rec)


def main():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    peer, paths = sys.argv[1], sys.argv[2:]
    if peer == "pyvslvm-names":
        run_pyvslvm(paths, by_name=True)
    else:
        {"pyvslvm": run_pyvslvm, "dissect": run_dissect}[peer](paths)
    emit({"event": "done"})


if __name__ == "__main__":
    main()
