#!/usr/bin/env python3
"""Cut seed inputs for every fuzz target out of the committed testdata images
(made by real lvm2 and the real kernel). Usage: fuzz/make-seeds.py [OUTDIR]
(default fuzz/corpus). Needs the zstd command."""
import glob, os, struct, subprocess, sys

root = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "corpus")
images = sorted(glob.glob(os.path.join(root, "..", "testdata", "*", "*", "*.img.zst")))
n = 0

def put(target, name, data):
    global n
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    n += 1

for path in images:
    raw = subprocess.run(["zstd", "-q", "-d", "-c", path], check=True, capture_output=True).stdout
    tag = path.split(os.sep)[-2] + "-" + os.path.basename(path).split(".")[0]
    head = raw[: 1 << 20]
    put("label", tag, raw[512:1024])
    put("mda_header", tag, raw[4096:4608])
    size = struct.unpack_from("<Q", raw, 4096 + 0x20)[0] if raw[4100:4116] == b" LVM2 x[5A%r0N*>" else 0
    if 512 <= size <= (1 << 20):
        area = raw[4096 : 4096 + size]
        put("ring_scan", tag, area)
        slot_off, slot_size = struct.unpack_from("<QQ", raw, 4096 + 0x28)
        if slot_off and slot_off + slot_size <= size:
            put("metadata_text", tag, area[slot_off : slot_off + slot_size])
    # scan_image: two split bytes (one image: cut at the end), then the image head.
    put("scan_image", tag, bytes([255, 255]) + head)
    put("history", tag, bytes([255, 255]) + head)

print(f"{n} seeds from {len(images)} images in {out}")
