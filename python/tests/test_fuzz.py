"""Damaged images never crash the interpreter: images cut short or with
bits flipped (labels, metadata, exception stores, thin metadata, data)
either read or raise an lvmsim.Error. Each round runs in a child
interpreter, so a crash fails the test with its output instead of killing
the test run."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    r'''
    import io, random, sys, lvmsim
    seed, rounds, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    rng = random.Random(seed)
    pristine = [open(p, "rb").read() for p in paths]
    # The places worth damaging: the first MiB (label, metadata) and
    # anything that is not zero further on (stores, pool metadata, data).
    def hot(b):
        spots = list(range(0, min(len(b), 1 << 20), 512))
        spots += [i for i in range(1 << 20, len(b), 4096) if b[i:i + 64].strip(b"\0")]
        return spots
    spots = [hot(b) for b in pristine]
    outcome = {"read": 0, "error": 0}
    for r in range(rounds):
        data = [bytearray(b) for b in pristine]
        k = rng.randrange(len(data))
        if rng.random() < 0.25:
            del data[k][rng.randrange(512, len(data[k])):]
        else:
            for _ in range(rng.randint(1, 40)):
                at = rng.choice(spots[k]) + rng.randrange(512)
                if at < len(data[k]):
                    data[k][at] ^= 1 << rng.randrange(8)
        try:
            files = [io.BytesIO(bytes(d)) for d in data]
            system = lvmsim.open(files)
            for vg in system.vgs:
                for lv in vg.all_lvs:
                    try:
                        with lv.open() as f:
                            while f.read(1 << 20):
                                pass
                        outcome["read"] += 1
                    except lvmsim.Error:
                        outcome["error"] += 1
            for what in (system.history, system.recover):
                try:
                    what()
                except lvmsim.Error:
                    outcome["error"] += 1
        except lvmsim.Error:
            outcome["error"] += 1
    print(outcome)
    '''
)


@pytest.mark.parametrize("scenario,seed", [("snap-chunks", 1), ("thin-pool", 2), ("snap-striped-origin", 3), ("merge-interrupted", 4)])
def test_damaged_images_raise_or_read(scenario, seed, images):
    paths = [str(p) for p in images.get(scenario)]
    out = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", CHILD, str(seed), "20", *paths],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, f"rc {out.returncode}\n{out.stdout}\n{out.stderr[-4000:]}"
    counts = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert counts["error"] > 0, counts
