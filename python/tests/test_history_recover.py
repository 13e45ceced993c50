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


@pytest.mark.parametrize("scenario", ["snap-drop-reuse", "snap-lvremove", "two-snaps-one-overflows", "merge-complete"])
def test_recovered_views_are_the_commands_exports(scenario, images, tmp_path):
    # Every snapshot of the history whose view the command exports: the
    # file object reads the same bytes (sha256 of the command's export and
    # report), and refuses where the command refuses.
    import hashlib
    import json as js

    paths = images.get(scenario)
    system = lvmsim.open(paths)
    done = 0
    for s in system.recover().snapshots:
        name = f"{s.vg}/{s.snapshot}"
        out = tmp_path / f"{s.snapshot}-{s.last_seqno}.img"
        o = cli.run(paths, "recover", "--export", name, "--seqno", str(s.last_seqno), "-o", str(out))
        if o.returncode != 0:
            with pytest.raises(lvmsim.Error) as e:
                system.open_recovered(name, seqno=s.last_seqno)
            assert str(e.value) in o.stderr
            continue
        report = js.loads(out.with_name(out.name + ".json").read_text())
        with system.open_recovered(name, seqno=s.last_seqno) as f:
            assert f.size == report["size"] == out.stat().st_size
            h = hashlib.sha256()
            for piece in iter(lambda: f.read(3 << 19), b""):  # pieces across runs
                h.update(piece)
            assert h.hexdigest() == report["export_sha256"], name
            # Reads at any offset are the export's bytes.
            data = out.read_bytes()
            for at in (0, 4095, len(data) // 3, len(data) - 1000):
                f.seek(at)
                assert f.read(5000) == data[at : at + 5000]
        done += 1
    assert done >= 1


def test_keys_of_a_later_version_are_kept():
    d = {"snapshots": [], "thin": [{"vg": "vg", "thin": "t"}]}
    r = lvmsim.Recovery.from_dict(d)
    assert r.snapshots == [] and r.to_dict() == d
