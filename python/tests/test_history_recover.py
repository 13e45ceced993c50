"""`System.history()` and `System.recover()` give the data `lvmsim history
--json` and `lvmsim recover --json` print, as objects whose `to_dict()` is
that JSON, for the kernel corpus's images."""

from __future__ import annotations

import io

import pytest

import cli
import lvmsim

# Scenarios whose history holds removed, overflowed, merged and reused
# snapshots, renames and resizes.
SCENARIOS = [
    "snap-lvremove",
    "snap-drop-reuse",
    "merge-complete",
    "merge-with-sibling",
    "two-snaps-one-overflows",
    "snap-extend",
    "thin-pool",
    "walkthrough",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_history_and_recover_are_the_commands_json(scenario, images):
    paths = images.get(scenario)
    system = lvmsim.open(paths)
    h = system.history()
    assert isinstance(h, lvmsim.History)
    assert h.schema == lvmsim.HISTORY_SCHEMA == "lvmsim-history/1"
    assert h.to_dict() == cli.run_json(paths, "history", "--json")
    r = system.recover()
    assert isinstance(r, lvmsim.Recovery)
    assert r.to_dict() == cli.run_json(paths, "recover", "--json")
    # Per VG, and by name.
    for vg in system.vgs:
        assert vg.history().to_dict() == cli.run_json(paths, "history", "--json", vg.name)
        assert vg.recover() == system.recover(vg=vg.name)
        assert vg.recover().to_dict() == cli.run_json(paths, "recover", "--json", vg.name)


def test_typed_attributes(images):
    paths = images.get("snap-drop-reuse")
    system = lvmsim.open(paths)
    h = system.history()
    copies = h.copies
    assert copies == h.history and len(copies) > 3
    seqnos = [c.seqno for c in copies]
    assert seqnos == sorted(seqnos)
    first, last = copies[0], copies[-1]
    assert first.changes_note == "oldest copy on the images" and first.changes == []
    assert last.previous_seqno == copies[-2].seqno
    assert last.crc_status == "committed" and len(last.crc) == 8
    assert last.found[0].device == str(paths[0]) and last.found[0].mda == 1
    assert isinstance(last.found[0], lvmsim.Place)
    changes = [ch for c in copies for ch in c.changes]
    created = [ch for ch in changes if ch.type == "lv_created"]
    assert created and all(isinstance(e, lvmsim.Extents) for ch in created for e in ch.at)
    # lvm2 makes a snapshot in two commits: its COW LV, then the snapshot.
    attached = [ch for ch in changes if ch.type == "snapshot_attached"]
    assert len(attached) == 3 and all(isinstance(ch.snapshot, lvmsim.SnapshotInfo) for ch in attached)
    assert attached[0].snapshot == lvmsim.SnapshotInfo(origin="origin", chunk_bytes=8192, merging=False)
    assert attached[0].lv and attached[0].at and attached[0].from_ is None
    assert all(ch.text for ch in changes)
    r = system.recover()
    dropped = [s for s in r.snapshots if s.state == "dropped"]
    assert dropped, r
    d = dropped[0]
    assert isinstance(d, lvmsim.Recovered) and isinstance(d.store, lvmsim.Store)
    assert d.verdict in ("recoverable", "partly", "lost")
    assert d.first_seqno <= d.last_seqno and d.vg == "vg"
    assert all(isinstance(x, lvmsim.Reuse) for x in d.reused_by)


def test_renamed_values_and_round_trip():
    # `from` is `from_` in Python and `from` again in to_dict(); a change
    # type this version does not know keeps its keys.
    d = {"type": "lv_renamed", "from": "a", "to": "b", "text": "LV a renamed to b"}
    ch = lvmsim.Change.from_dict(d)
    assert ch.from_ == "a" and ch.to == "b" and ch.to_dict() == d
    moved = {
        "type": "lv_moved",
        "lv": "x",
        "from": [{"pv": "pv0", "first": 0, "count": 2}],
        "to": [{"pv": "pv1", "first": 5, "count": 2}],
        "text": "x moved",
    }
    m = lvmsim.Change.from_dict(moved)
    assert m.from_[0].pv == "pv0" and m.to[0].first == 5 and m.to_dict() == moved
    new = {"type": "vg_split", "into": "vg2", "text": "split"}
    n = lvmsim.Change.from_dict(new)
    assert n.extra == {"into": "vg2"} and n.to_dict() == new


def test_history_of_file_objects_names_them(images):
    paths = images.get("snap-lvremove")
    with open(paths[0], "rb") as f:
        # The object's name is the path: the same JSON as the command's.
        h = lvmsim.open(f).history()
    assert h.to_dict() == cli.run_json(paths, "history", "--json")
    mem = io.BytesIO(paths[0].read_bytes())
    h2 = lvmsim.open(mem).history()
    assert {p.device for c in h2.copies for p in c.found} == {"/dev/pyfile0"}


def test_refusals_are_the_commands(images, tmp_path):
    paths = images.get("snap-lvremove")
    system = lvmsim.open(paths)
    with pytest.raises(lvmsim.RefusedError) as e:
        system.history(vg="nosuch")
    o = cli.run(paths, "history", "--json", "nosuch")
    assert o.returncode != 0 and str(e.value) in o.stderr
    with pytest.raises(lvmsim.UsageError):
        system.recover(vg="a/b")
    junk = tmp_path / "junk.img"
    junk.write_bytes(bytes(1 << 20))
    with pytest.raises(lvmsim.RefusedError, match="No metadata copies found"):
        lvmsim.open(junk).history()
    assert lvmsim.open(junk).recover().snapshots == []


def test_scan_all_finds_copies_of_a_wiped_label(images):
    # damaged-label: the label sector is gone, so no metadata area is
    # known; the whole-device scan still finds the copies (as guesses).
    paths = images.get("damaged-label")
    system = lvmsim.open(paths)
    h = system.history(scan_all=True)
    assert h.copies and all(p.guess for c in h.copies for p in c.found)
    assert h.to_dict() == cli.run_json(paths, "--scan-all", "history", "--json")
