"""Run other LVM readers on `lvmsim gen` and `lvmsim mutate` images; judge them by the manifest.

Usage: python3 peer_check.py LVMSIM OUTDIR VENV_PYTHON MUTANTS SEED...

Called by peer-check.sh, which installs the peers first. For every profile
(small, snapshots, history, all; and snapshots and history with --pvs 1) and
SEED, `lvmsim gen` makes an image set; every
VG of its manifest is read by:
  - vslvminfo (libvslvm-utils) on each PV of a one-PV VG (it takes one file);
  - pyvslvm (python3-libvslvm), the PVs given as file objects: every LV read
    whole and hashed;
  - pyvslvm-names: the same binding, the PVs given as a list of file names (the
    binding's documented call), opened and listed only;
  - dissect (dissect.volume's LVM2 reader, in the venv): every LV read and hashed.
Each run is its own process with a 20 s timeout. Then MUTANTS mutants (seeds
1..MUTANTS, every kind in turn, from the snapshots, all and one-PV sets) are read the same
way, with the VG-to-PV grouping of the set they came from.

Verdicts, per manifest LV on gen images: ok (sha256 and size equal the manifest),
unsupported (the peer says so with a clean error, lists the LV as hidden, or does
not list it), wrong_size, short_read (fewer bytes than the size it reported),
wrong_bytes, crash, hang. Per run (gen and mutants): crash (killed by
a signal, or a Python exception that is not the peer's own error class), hang
(timeout), error (a clean error), ok. Crashes and hangs on any image, and wrong
bytes on gen images, are findings.

Writes OUTDIR/report.json and OUTDIR/report.md.
"""

import json
import os
import subprocess
import sys
from collections import Counter

TIMEOUT = 20
# (profile, --pvs): the profiles as lvmsim gen makes them, and one-PV sets, the
# only ones libvslvm 20181227 opens (it refuses or aborts on VGs of several PVs).
SETS = [("small", None), ("snapshots", None), ("history", None), ("all", None), ("snapshots", 1), ("history", 1)]
KINDS = ["text", "header", "label", "text", "ring", "cow", "data"]
HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "peer_worker.py")
SYS_PYTHON = "/usr/bin/python3"

# A peer's own error classes: an exception of these is a clean refusal.
CLEAN = {
    "pyvslvm": {("builtins", "OSError"), ("builtins", "IOError")},
    "pyvslvm-names": {("builtins", "OSError"), ("builtins", "IOError")},
    # dissect.volume's errors derive from dissect.volume.exceptions.Error;
    # NotImplementedError is how it declares a segment type it does not read.
    "dissect": {("builtins", "NotImplementedError")},
}


def short_read(err):
    """The worker's own note that a peer read fewer bytes than it said the LV has."""
    return err["type"] == "ShortRead"


def clean_error(peer, err):
    if short_read(err):
        return True
    if (err["module"], err["type"]) in CLEAN[peer]:
        return True
    return peer == "dissect" and err["module"] == "dissect.volume.exceptions"


def run(cmd):
    """Run cmd; return (status, stdout, stderr) with status ok|exit N|signal N|hang."""
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return "hang", (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if p.returncode < 0:
        return f"signal {-p.returncode}", out, err
    return ("ok" if p.returncode == 0 else f"exit {p.returncode}"), out, err


def shell(cmd):
    return " ".join(cmd)


class Checker:
    def __init__(self, lvmsim, out, venv_python):
        self.lvmsim, self.out, self.venv_python = lvmsim, out, venv_python
        self.runs = []  # one record per peer run
        self.lvs = []  # one record per (peer, gen image, manifest LV)

    def worker(self, peer, paths):
        python = self.venv_python if peer == "dissect" else SYS_PYTHON
        return [python, WORKER, peer] + paths

    def read_vg(self, image, vg, paths, gen_lvs, origin):
        """Run every peer on one VG; record runs and, for gen images, LV verdicts."""
        if len(paths) == 1:
            cmd = ["vslvminfo", paths[0]]
            status, out, err = run(cmd)
            outcome = {"ok": "ok", "exit 1": "error", "hang": "hang"}.get(status, "crash")
            self.record(image, vg, "vslvminfo", cmd, status, outcome, err.strip().splitlines()[-1:] or [""], origin)
        # pyvslvm-names crashes in the binding itself (see docs/peer-parsers.md):
        # once per gen VG shows it, on mutants it would only hide other findings.
        peers = ["pyvslvm", "pyvslvm-names", "dissect"] if gen_lvs is not None else ["pyvslvm", "dissect"]
        for peer in peers:
            cmd = self.worker(peer, paths)
            status, out, err = run(cmd)
            events = []
            for line in out.splitlines():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
            unclean = [
                e["error"] for e in events if "error" in e and not clean_error(peer, e["error"])
            ]
            if status == "hang":
                outcome = "hang"
            elif status.startswith("signal") or status == "exit 134" or unclean:
                outcome = "crash"
            elif any("error" in e for e in events):
                outcome = "error"
            else:
                outcome = "ok"
            detail = [f"{e['type']}: {e['message'][:200]}" for e in unclean]
            if not detail:
                detail = [e["error"]["message"][:200] for e in events if "error" in e][:1]
            if status != "ok":
                detail.append(f"{status}; stderr: {err.strip()[-300:]}")
            self.record(image, vg, peer, cmd, status, outcome, detail, origin)
            if gen_lvs is not None and peer != "pyvslvm-names":
                self.judge(image, vg, peer, cmd, status, events, gen_lvs)

    def record(self, image, vg, peer, cmd, status, outcome, detail, origin):
        self.runs.append(
            {
                "image": image,
                "origin": origin,
                "vg": vg,
                "peer": peer,
                "command": shell(cmd),
                "status": status,
                "outcome": outcome,
                "detail": detail,
            }
        )

    def judge(self, image, vg, peer, cmd, status, events, gen_lvs):
        opened = next((e for e in events if e.get("event") == "open"), None)
        by_name = {e["name"]: e for e in events if e.get("event") == "lv" and "name" in e}
        for lv in gen_lvs:
            seen = by_name.get(lv["name"])
            note = ""
            if status == "hang":
                verdict = "hang"
            elif opened is None or (seen is None and status != "ok"):
                verdict = "crash"
                note = status
            elif not opened["ok"]:
                err = opened["error"]
                verdict = "unsupported" if clean_error(peer, err) else "crash"
                note = err["message"][:160]
            elif seen is None:
                verdict = "unsupported"
                note = "not listed"
            elif "error" in seen and short_read(seen["error"]):
                verdict = "short_read"
                note = seen["error"]["message"]
            elif "error" in seen:
                verdict = "unsupported" if clean_error(peer, seen["error"]) else "crash"
                note = f"{seen['error']['type']}: {seen['error']['message'][:160]}"
            elif seen.get("visible") is False:
                verdict = "unsupported"
                note = "listed as a hidden LV"
            elif seen["size"] != lv["size"]:
                verdict = "wrong_size"
                note = f"size {seen['size']}, manifest {lv['size']}"
            elif seen["sha256"] != lv["sha256"]:
                verdict = "wrong_bytes"
                note = f"sha256 {seen['sha256']}"
            else:
                verdict = "ok"
            self.lvs.append(
                {
                    "image": image,
                    "vg": vg,
                    "lv": lv["name"],
                    "role": lv["role"],
                    "segtypes": lv["segtypes"],
                    "peer": peer,
                    "verdict": verdict,
                    "note": note,
                    "command": shell(cmd),
                }
            )

    def gen(self, profile, pvs, seed):
        args = ["--seed", str(seed), "--profile", profile] + (["--pvs", str(pvs)] if pvs else [])
        d = os.path.join(self.out, "img", f"gen-{profile}-{pvs or 'n'}-{seed}")
        subprocess.run([self.lvmsim, "gen"] + args + ["-o", d], check=True, stdout=subprocess.DEVNULL)
        return d, "gen " + " ".join(args)

    def check_set(self, d, image, manifest, origin, judge):
        for vg in manifest["vgs"]:
            paths = [os.path.join(d, f) for f in vg["pvs"]]
            self.read_vg(image, vg["name"], paths, vg["lvs"] if judge else None, origin)


def load(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def main():
    lvmsim, out, venv_python, mutants = sys.argv[1:5]
    seeds = sys.argv[5:] or ["1", "2", "3"]
    c = Checker(lvmsim, out, venv_python)
    sources = []
    for profile, pvs in SETS:
        for seed in seeds:
            d, name = c.gen(profile, pvs, seed)
            m = load(d)
            c.check_set(d, name, m, name, judge=True)
            if profile in ("snapshots", "all") or pvs == 1:
                sources.append((d, name, m))
    mutated = Counter()
    for i in range(1, int(mutants) + 1):
        src, src_name, m = sources[i % len(sources)]
        kind = KINDS[i % len(KINDS)]
        d = os.path.join(out, "img", f"mut-{i}")
        p = subprocess.run(
            [lvmsim, "mutate", "--seed", str(i), "--kind", kind, src, "-o", d],
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            # e.g. a cow mutant of a set without snapshots: lvmsim says why.
            mutated[f"none ({kind} of {src_name}: {p.stderr.strip()[:120]})"] += 1
            continue
        mm = load(d)
        mut = mm["mutation"]
        mutated[f"{mut['kind']}/{mut['variant']}"] += 1
        name = f"mutate --seed {i} --kind {kind} ({src_name})"
        c.check_set(d, name, m, f"{mut['kind']}/{mut['variant']}: {mut['what']} (lvm2 {mut['lvm2']['verdict']})", judge=False)
    write_report(c, out, seeds, mutants, mutated)
    findings = [r for r in c.runs if r["outcome"] in ("crash", "hang")]
    wrong = [r for r in c.lvs if r["verdict"] in ("wrong_bytes", "wrong_size", "short_read", "crash", "hang")]
    print(f"peer-check: {len(c.runs)} peer runs, {len(findings)} crashes/hangs, {len(wrong)} LV reads wrong, crashed or hung on gen images")


def versions():
    v = {}
    for pkg in ["libvslvm-utils", "python3-libvslvm", "libvslvm1"]:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        v[pkg] = p.stdout.strip() or "missing"
    return v


def write_report(c, out, seeds, mutants, mutated):
    venv_python = c.venv_python
    p = subprocess.run(
        [venv_python, "-c", "import importlib.metadata as m; print(m.version('dissect.volume'))"],
        capture_output=True,
        text=True,
    )
    vers = versions()
    vers["dissect.volume"] = p.stdout.strip()
    report = {
        "versions": vers,
        "seeds": seeds,
        "mutants": int(mutants),
        "mutant_variants": dict(sorted(mutated.items())),
        "runs": c.runs,
        "lvs": c.lvs,
    }
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)

    lines = ["# Peer parsers on lvmsim images", ""]
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".")
    gens = len({r["image"] for r in c.lvs})
    lines.append(f"Image sets: {gens} from `lvmsim gen` (seeds {' '.join(seeds)}), {mutants} mutants.")
    lines += ["", "## LV reads on gen images (per peer, role, verdict)", ""]
    lines += ["| peer | role | verdict | LVs |", "|---|---|---|---|"]
    tally = Counter((r["peer"], r["role"], r["verdict"]) for r in c.lvs)
    for (peer, role, verdict), n in sorted(tally.items()):
        lines.append(f"| {peer} | {role} | {verdict} | {n} |")
    lines += ["", "## Runs (per peer, image kind, outcome)", ""]
    lines += ["| peer | images | outcome | runs |", "|---|---|---|---|"]
    tally = Counter((r["peer"], r["image"].split()[0], r["outcome"]) for r in c.runs)
    for (peer, kind, outcome), n in sorted(tally.items()):
        lines.append(f"| {peer} | {kind} | {outcome} | {n} |")
    lines += ["", "## Crashes and hangs", ""]
    for r in c.runs:
        if r["outcome"] in ("crash", "hang"):
            lines.append(f"- {r['peer']} {r['outcome']} on `lvmsim {r['image']}` VG {r['vg']}: `{r['command']}`")
            for d in r["detail"]:
                lines.append(f"  - {d}")
    lines += ["", "## Wrong answers on gen images", ""]
    for r in c.lvs:
        if r["verdict"] in ("wrong_bytes", "wrong_size", "short_read"):
            lines.append(
                f"- {r['peer']} `lvmsim {r['image']}` {r['vg']}/{r['lv']} ({r['role']}, "
                f"{'+'.join(r['segtypes'])}): {r['verdict']}, {r['note']}"
            )
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
