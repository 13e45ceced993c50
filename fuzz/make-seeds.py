#!/usr/bin/env python3
"""Cut seed inputs for every fuzz target out of the committed testdata images
(made by real lvm2 and the real kernel). Usage: fuzz/make-seeds.py [OUTDIR]
(default fuzz/corpus). Needs the zstd command, and builds lvmsim to find the
COW stores of snapshots (exception_store seeds). The commands target gets
hand-made programs instead (command_seeds), the select target the recorded
lvm2 selections (select_seeds)."""
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

def command_seeds():
    """commands: hand-made programs (see fuzz_targets/commands.rs for the
    encoding): the image count and sizes, then opcode and argument bytes."""
    def imgs(*mib):
        return bytes([len(mib) - 1] + [m - 4 for m in mib])
    # Indices into the target's tables: VGS vg0=0 vg1=1; LVS lv0=0 lv1=1
    # sn0=2 sn1=3; extent sizes 64s=1, 1024s=3, 8192s=5; chunks 8s=1, 32s=3.
    pvcreate = lambda dev, copies, mdasize: bytes([0, dev, copies, mdasize])
    vgcreate = lambda vg, mask, ext, copies=1: bytes([1, vg, mask - 1, ext, copies])
    vgextend = lambda vg, mask: bytes([2, vg, mask - 1])
    vgreduce = lambda vg, mask: bytes([3, vg, mask - 1])
    size = lambda units128k: bytes([units128k - 1, 0])   # -L N*128KiB
    extents = lambda n: bytes([n - 1, 2])                # -l N
    free = lambda pct: bytes([pct - 1, 3])               # -l P%FREE
    lvcreate = lambda vg, lv, amount, shape=0: bytes([4, vg, lv]) + amount + bytes([shape])
    snapshot = lambda vg, origin, lv, amount, chunk=1: bytes([5, vg, origin, lv]) + amount + bytes([chunk])
    resize = lambda vg, lv, grow, sign, amount: bytes([6, vg, lv, (0 if grow else 1) | sign << 1]) + amount
    lvrename = lambda vg, old, new: bytes([7, vg, old, new])
    lvremove = lambda *pairs: bytes([8, len(pairs) - 1]) + b"".join(bytes(p) for p in pairs)
    addtag = lambda vg, lv, tag=0, act=0: bytes([9, vg, lv, tag, act])
    def write(vg, lv, offset, length, seed):
        o = offset // 256
        return bytes([10, vg, lv, o & 255, o >> 8, 0, (length - 1) & 255, (length - 1) >> 8, seed])
    merge = lambda vg, lv, interrupt=0: bytes([11, vg, lv, interrupt])  # 0 none, 2 mark only, 3 one run
    vgchange = lambda vg, poll=1, interrupt=0: bytes([12, vg, poll, interrupt])
    vgrename = lambda old, new: bytes([13, old, new])
    vgremove = lambda vg, force=1: bytes([14, vg, force])
    progs = {
        "snapshot-merge": imgs(8, 8) + vgcreate(0, 3, 3) + lvcreate(0, 0, size(16))
        + write(0, 0, 4096, 4096, 7) + snapshot(0, 0, 2, size(8)) + write(0, 0, 0, 8192, 9)
        + write(0, 2, 65536, 3000, 11) + merge(0, 2) + lvremove((0, 0)),
        "interrupted-merge": imgs(12) + vgcreate(0, 1, 1) + lvcreate(0, 0, extents(40))
        + write(0, 0, 0, 12288, 1) + snapshot(0, 0, 2, free(50), 3) + write(0, 0, 2048, 12288, 2)
        + merge(0, 2, 3) + write(0, 0, 512, 4000, 3) + vgchange(0) + addtag(0, 0),
        "two-snapshots": imgs(16) + vgcreate(0, 1, 3) + lvcreate(0, 0, size(20))
        + snapshot(0, 0, 2, size(4)) + snapshot(0, 0, 3, size(2), 3) + write(0, 0, 0, 12288, 5)
        + write(0, 3, 8192, 4096, 6) + merge(0, 2, 2) + vgchange(0) + lvremove((0, 3))
        + lvremove((0, 0)),
        "snapshot-fills": imgs(6) + vgcreate(0, 1, 1) + lvcreate(0, 0, size(16))
        + snapshot(0, 0, 2, extents(1), 1) + write(0, 0, 0, 12288, 4) + write(0, 0, 40960, 12288, 8)
        + write(0, 0, 81920, 12288, 12) + merge(0, 2),
        "pvs-and-vgs": imgs(4, 8, 16) + pvcreate(0, 2, 3) + pvcreate(1, 0, 0) + vgcreate(0, 3, 3)
        + vgextend(0, 4) + lvcreate(0, 1, free(100), 0x41) + vgreduce(0, 4) + vgrename(0, 2)
        + lvrename(1, 1, 0) + vgremove(2) + vgcreate(1, 7, 1, 2) + vgremove(1, 0),
        "striped-resize": imgs(8, 8) + vgcreate(0, 3, 1) + lvcreate(0, 0, extents(8), 0x40)
        + resize(0, 0, True, 1, extents(4)) + write(0, 0, 0, 5000, 3)
        + resize(0, 0, False, 2, extents(2)) + lvcreate(1, 1, size(2)) + lvcreate(0, 1, free(30))
        + resize(0, 1, True, 0, free(90)) + addtag(0, 1, 1, 1) + lvremove((0, 0), (0, 1)),
        "small-metadata": imgs(4) + pvcreate(0, 1, 3) + vgcreate(0, 1, 1)
        + b"".join(lvcreate(0, i % 2, extents(1)) + lvremove((0, i % 2)) for i in range(8)),
    }
    for name, prog in progs.items():
        put("commands", name, prog)

def select_seeds():
    """select: every selection the lvm2 corpus records (fields scenario),
    after a first byte that picks the row's values."""
    lst = os.path.join(root, "..", "testdata", "lvm2", "fields-selections.txt")
    with open(lst) as f:
        for i, line in enumerate(f):
            name, cmd = line.rstrip("\n").split("\t")
            sel = cmd.split(" -S ", 1)[1]
            put("select", name, bytes([i % 256]) + sel.encode())

def thin_seeds(tag, raw):
    """thin_metadata: each thin pool's metadata LV read with lvmsim cat, cut
    after its last non-zero block, with mode bytes 0 (as is) and 3 (stamp
    checksums and block numbers); thin_write: the same device after a
    short program."""
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(raw)
        f.flush()
        q = lambda *a: subprocess.run([lvmsim, "--dev", "/dev/vda=" + f.name, *a],
                                      capture_output=True).stdout
        rows = q("lvs", "-a", "--noheadings", "--separator", ",", "-o", "vg_name,lv_name,segtype")
        for row in rows.decode().split():
            vg, name, segtype = (row.split(",") + [""] * 3)[:3]
            if segtype != "thin-pool":
                continue
            meta = q("cat", f"{vg}/{name}_tmeta")
            used = [i for i in range(len(meta) // 4096) if meta[i * 4096 : (i + 1) * 4096].strip(b"\0")]
            if not used:
                continue
            meta = meta[: (used[-1] + 1) * 4096]
            for mode in (0, 3):
                put("thin_metadata", f"{tag}-{name}-{mode}", bytes([mode]) + meta)
            # thin_write: a short program (provisions, a snapshot, a
            # delete, commits) before the same device.
            program = bytes([0, 1, 8, 2, 7, 0, 5, 0, 16, 3, 7, 0, 6, 1, 7, 0])
            put("thin_write", f"{tag}-{name}", bytes([len(program)]) + program + meta)

def cache_seeds():
    """cache_metadata: the kernel's cache pool metadata kept for dm-pdata's
    tests, cut after its last non-zero block, with mode bytes 0 (as is) and
    3 (stamp checksums and block numbers)."""
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dm-pdata", "tests", "data")
    for name in sorted(os.listdir(data)):
        if not name.endswith(".cmeta.zst"):
            continue
        meta = subprocess.run(["zstd", "-q", "-d", "-c", os.path.join(data, name)],
                              check=True, capture_output=True).stdout
        used = [i for i in range(len(meta) // 4096) if meta[i * 4096 : (i + 1) * 4096].strip(b"\0")]
        if not used:
            continue
        meta = meta[: (used[-1] + 1) * 4096]
        for mode in (0, 3):
            put("cache_metadata", f"{name.split('.cmeta')[0]}-{mode}", bytes([mode]) + meta)

def writecache_seeds():
    """writecache: the kernel's cachevols kept for dm-pdata's tests, cut
    after their entry arrays and first cached blocks (128 KiB), with mode
    bytes 0 (as is) and 1 (stamp the superblock head for the cut size)."""
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dm-pdata", "tests", "data")
    for name in sorted(os.listdir(data)):
        if not (name.startswith("writecache.") and name.endswith(".zst")):
            continue
        dev = subprocess.run(["zstd", "-q", "-d", "-c", os.path.join(data, name)],
                             check=True, capture_output=True).stdout[: 128 << 10]
        for mode in (0, 1):
            put("writecache", f"{name.split('.')[1]}-{mode}", bytes([mode]) + dev)

command_seeds()
select_seeds()
cache_seeds()
writecache_seeds()
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
    thin_seeds(tag, raw)

def disk_layout_seeds():
    """disk_layout: the first MiB of the partitioned disks (tables made by
    sfdisk and sgdisk) and of the qcow2 images (made by qemu-img)."""
    for path in sorted(glob.glob(os.path.join(root, "..", "testdata", "partitions", "*.img.zst"))
                       + glob.glob(os.path.join(root, "..", "testdata", "containers", "*.qcow2.zst"))):
        raw = subprocess.run(["zstd", "-q", "-d", "-c", path], check=True, capture_output=True).stdout
        put("disk_layout", os.path.basename(path).split(".")[0], raw[: 1 << 20])

disk_layout_seeds()

def rmeta_seeds():
    """rmeta: 8 KiB from every dm-raid superblock ("DmRd", with the bitmap
    after it) and mirror disk log ("rRiM") on the kernel scenarios'
    images, found on 512-byte boundaries."""
    for path in images:
        raw = subprocess.run(["zstd", "-q", "-d", "-c", path], check=True, capture_output=True).stdout
        tag = path.split(os.sep)[-2] + "-" + os.path.basename(path).split(".")[0]
        for magic in (b"DmRd", b"rRiM"):
            at = raw.find(magic)
            while at >= 0:
                if at % 512 == 0:
                    put("rmeta", f"{tag}-{at}", raw[at : at + 8192])
                at = raw.find(magic, at + 1)

rmeta_seeds()
print(f"{n} seeds from {len(images)} images in {out}")
