#!/usr/bin/env python3
"""Cut seed inputs for every fuzz target out of the committed testdata images
(made by real lvm2 and the real kernel). Usage: fuzz/make-seeds.py [OUTDIR]
(default fuzz/corpus). Needs the zstd command, and builds lvmsim to find the
COW stores of snapshots (exception_store seeds)."""
import glob, os, re, struct, subprocess, sys, tempfile

root = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "corpus")
images = sorted(glob.glob(os.path.join(root, "..", "testdata", "*", "*", "*.img.zst")))
n = 0
subprocess.run(["cargo", "build", "-q", "-p", "sim-cli"], cwd=os.path.join(root, ".."), check=True)
lvmsim = os.path.join(root, "..", "target", "debug", "lvmsim")

def put(target, name, data):
    global n
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    n += 1

def cow_seeds(tag, raw):
    """exception_store: each single-segment snapshot's COW (first MiB),
    after its prefix: log2 of the chunk size, a write count, 16 chunks."""
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(raw)
        f.flush()
        q = lambda *a: subprocess.run([lvmsim, "--dev", "/dev/vda=" + f.name, *a],
                                      capture_output=True, text=True).stdout
        pv = q("pvs", "--noheadings", "--separator", ",", "-o", "pe_start,vg_extent_size", "--units", "b")
        m = re.match(r"\s*(\d+)B,(\d+)B", pv)
        if not m:
            return
        pe_start, extent = int(m[1]), int(m[2])
        rows = q("lvs", "-a", "--noheadings", "--separator", ",", "--units", "b",
                 "-o", "lv_name,origin,chunk_size,lv_size,devices")
        for row in rows.split():
            name, origin, chunk, size, devices = (row.split(",") + [""] * 5)[:5]
            d = re.fullmatch(r"/dev/vda\((\d+)\)", devices)
            if not origin or not d:
                continue
            at = pe_start + int(d[1]) * extent
            cow = raw[at : at + min(int(size.rstrip("B")), 1 << 20) - 18]
            cs = int(chunk.rstrip("B")) // 512
            prefix = bytes([cs.bit_length() - 1, 9]) + bytes(range(0, 160, 10))
            put("exception_store", tag + "-" + name, prefix + cow)

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
            put("vg_model", tag, area[slot_off : slot_off + slot_size])
    # scan_image: two split bytes (one image: cut at the end), then the image head.
    put("scan_image", tag, bytes([255, 255]) + head)
    put("history", tag, bytes([255, 255]) + head)
    put("image_set", tag, bytes([255, 255]) + head)
    cow_seeds(tag, raw)

print(f"{n} seeds from {len(images)} images in {out}")
