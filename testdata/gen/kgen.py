#!/usr/bin/env python3
"""Generator of the kernel corpus: boots Debian's kernel and lvm2 under qemu
and runs scenario files on raw disk images.  See testdata/README.md.

Usage: kgen.py SCENARIO_NAME...   (each is testdata/kernel/NAME/scenario)

Host needs: apt-get, dpkg, depmod (kmod), readelf (binutils), gcc with a
static libc, qemu-system-x86_64, zstd, tar.  Nothing is installed into the
host by this script; Debian packages are only downloaded and unpacked under
testdata/gen/.cache/.
"""

import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse

GEN = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.dirname(GEN)
KERNEL_DIR = os.path.join(TESTDATA, "kernel")
CACHE = os.path.join(GEN, ".cache")
DEBS = os.path.join(CACHE, "debs")
ROOT = os.path.join(CACHE, "root")
GUEST = os.path.join(GEN, "guest")

# Packages unpacked into the cache root; shared libraries they need are added
# by following the ELF NEEDED entries (see resolve_libraries).
BASE_PACKAGES = ["lvm2", "dmsetup", "libdevmapper1.02.1",
                 "libdevmapper-event1.02.1", "busybox-static", "libc6"]
# Modules the guest needs; their dependencies come from modules.dep.
WANTED_MODULES = ["virtio", "virtio_ring", "virtio_pci", "virtio_blk",
                  "dm_mod", "dm_bufio", "dm_snapshot",
                  "crc32c_generic", "dm_thin_pool",
                  # raid and mirror: dm-raid finds the md personalities by
                  # request_module, which has no modprobe in the guest
                  "raid0", "raid1", "raid10", "raid456", "dm_raid",
                  "dm_log", "dm_region_hash", "dm_mirror",
                  # cache: the smq policy is asked for by name
                  "dm_cache", "dm_cache_smq",
                  # writecache; integrity (raid --raidintegrity) hashes
                  # with crc32c by default, loaded above
                  "dm_writecache", "dm_integrity"]
OUT_SERIAL = "kgenout"
OUT_DISK_BYTES = 16 << 20
BOOT_TIMEOUT = 1500
# Software emulation by default: the /dev/kvm of the machines this was made
# on does not run a stock kernel.  KGEN_ACCEL=kvm tries KVM instead.
ACCEL = os.environ.get("KGEN_ACCEL", "tcg")
CPU = "host" if ACCEL == "kvm" else "max"
# Scenarios generated at once (each boot is one single-threaded qemu).
JOBS = int(os.environ.get("KGEN_JOBS", "1"))


def log(msg):
    print("kgen: " + msg, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def out(cmd):
    return subprocess.run(cmd, check=True, capture_output=True,
                          text=True).stdout


# ---------------------------------------------------------------- packages

def kernel_package():
    """The versioned image package that linux-image-amd64 depends on, or
    $KGEN_KERNEL (e.g. linux-image-6.1.0-56-amd64) to stay with the kernel
    of an existing corpus after Debian has moved on."""
    pinned = os.environ.get("KGEN_KERNEL")
    if pinned:
        return pinned
    for line in out(["apt-cache", "depends", "linux-image-amd64"]).splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-\S+)", line)
        if m:
            return m.group(1)
    raise SystemExit("cannot resolve linux-image-amd64")


def download(pkg):
    """apt-get download PKG into the cache once; returns the .deb path."""
    os.makedirs(DEBS, exist_ok=True)
    for name in os.listdir(DEBS):
        if name.startswith(pkg + "_") and name.endswith(".deb"):
            return os.path.join(DEBS, name)
    log("apt-get download " + pkg)
    # As root, apt would try to drop to its sandbox user, which cannot write
    # into the cache; download as root instead.
    run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg],
        cwd=DEBS,
        stdout=subprocess.DEVNULL)
    for name in os.listdir(DEBS):
        if name.startswith(pkg + "_") and name.endswith(".deb"):
            return os.path.join(DEBS, name)
    raise SystemExit("download of %s left no .deb" % pkg)


def unpack(pkg):
    stamp = os.path.join(CACHE, "unpacked", pkg)
    if os.path.exists(stamp):
        return
    deb = download(pkg)
    log("dpkg -x " + os.path.basename(deb))
    run(["dpkg", "-x", deb, ROOT])
    os.makedirs(os.path.dirname(stamp), exist_ok=True)
    with open(stamp, "w") as f:
        f.write(os.path.basename(deb) + "\n")


def package_version(pkg):
    with open(os.path.join(CACHE, "unpacked", pkg)) as f:
        return urllib.parse.unquote(f.read().strip().split("_")[1])


LIB_DIRS = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64",
            "lib", "usr/lib"]


def find_in_root(soname):
    for d in LIB_DIRS:
        p = os.path.join(ROOT, d, soname)
        if os.path.lexists(p):
            return p
    return None


def needed(path):
    names = []
    for line in out(["readelf", "-d", path]).splitlines():
        m = re.search(r"\(NEEDED\)\s+Shared library: \[(.+)\]", line)
        if m:
            names.append(m.group(1))
    return names


def interpreter(path):
    for line in out(["readelf", "-l", path]).splitlines():
        m = re.search(r"Requesting program interpreter: (\S+)\]", line)
        if m:
            return m.group(1)
    return None


def host_package_of(soname):
    """Debian package that ships SONAME, asked of the host's dpkg database."""
    for line in out(["ldconfig", "-p"]).splitlines():
        m = re.match(r"\s*(\S+) \(libc6,x86-64[^)]*\) => (\S+)", line)
        if m and m.group(1) == soname:
            real = m.group(2)
            for cand in (real, os.path.realpath(real)):
                r = subprocess.run(["dpkg", "-S", cand], capture_output=True,
                                   text=True)
                if r.returncode == 0:
                    return r.stdout.split(":")[0].strip()
                # merged /usr: dpkg knows the /lib spelling
                alt = cand.replace("/usr/lib/", "/lib/", 1)
                r = subprocess.run(["dpkg", "-S", alt], capture_output=True,
                                   text=True)
                if r.returncode == 0:
                    return r.stdout.split(":")[0].strip()
    raise SystemExit("no package known for " + soname)


def resolve_libraries(binaries):
    """Unpack packages until every NEEDED library of BINARIES (and of those
    libraries) is inside the cache root.  Returns the library paths."""
    libs = {}
    todo = list(binaries)
    seen = set()
    while todo:
        path = todo.pop()
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        for soname in needed(real):
            if soname in libs:
                continue
            p = find_in_root(soname)
            if p is None:
                unpack(host_package_of(soname))
                p = find_in_root(soname)
                if p is None:
                    raise SystemExit("package did not provide " + soname)
            libs[soname] = p
            todo.append(p)
    return libs


def prepare_root():
    kpkg = kernel_package()
    for pkg in [kpkg] + BASE_PACKAGES:
        unpack(pkg)
    kver = kpkg[len("linux-image-"):]
    moddir = os.path.join(ROOT, "lib", "modules", kver)
    if not os.path.exists(os.path.join(moddir, "modules.dep")):
        log("depmod -b " + ROOT)
        run(["depmod", "-b", ROOT, kver])
    return kpkg, kver


# ----------------------------------------------------------------- modules

def module_order(kver):
    moddir = os.path.join(ROOT, "lib", "modules", kver)
    deps = {}
    by_name = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            base = os.path.basename(path)
            name = re.sub(r"\.ko(\.\w+)?$", "", base).replace("-", "_")
            by_name[name] = path
    order = []

    def visit(path):
        if path in order:
            return
        # modules.dep lists every transitive dependency; visiting each first
        # yields a valid load order.
        for d in deps[path]:
            visit(d)
        order.append(path)

    builtin = open(os.path.join(moddir, "modules.builtin")).read()
    for name in WANTED_MODULES:
        if name not in by_name:
            if re.search(r"/%s\.ko" % re.escape(name.replace("_", "[-_]")),
                         builtin):
                continue
            raise SystemExit("module %s not found" % name)
        visit(by_name[name])
    return moddir, order


def module_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        import lzma
        data = lzma.decompress(data)
    elif path.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc", path], check=True,
                              capture_output=True).stdout
    elif path.endswith(".gz"):
        data = gzip.decompress(data)
    return data


# --------------------------------------------------------------- initramfs

class Cpio:
    """Writer of a cpio 'newc' archive, enough for an initramfs."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
            len(nameb), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + nameb)
        self._pad()
        self.buf.write(data)
        self._pad()

    def _pad(self):
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, 0o040755)

    def file(self, name, data, mode=0o644):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name, major, minor):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def build_base_initramfs(kver):
    """Busybox, lvm, dmsetup, their libraries, the modules, lvm.conf and the
    guest scripts.  Written once per cache; returns its path."""
    target = os.path.join(CACHE, "base-initramfs.cpio.gz")
    moddir, order = module_order(kver)
    c = Cpio()
    for d in ("bin", "sbin", "dev", "proc", "sys", "run", "tmp", "etc/lvm",
              "etc/kgen", "out", "lib/modules", "lib/x86_64-linux-gnu",
              "lib64", "var/lock"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3)
    c.file("bin/busybox", read(os.path.join(ROOT, "bin", "busybox")), 0o755)
    c.symlink("bin/sh", "busybox")
    lvm = os.path.join(ROOT, "sbin", "lvm")
    dmsetup = os.path.join(ROOT, "sbin", "dmsetup")
    c.file("sbin/lvm", read(lvm), 0o755)
    c.file("sbin/dmsetup", read(dmsetup), 0o755)
    for name in sorted(os.listdir(os.path.join(ROOT, "sbin"))):
        p = os.path.join(ROOT, "sbin", name)
        if os.path.islink(p) and os.readlink(p) == "lvm":
            c.symlink("sbin/" + name, "lvm")
    libs = resolve_libraries([lvm, dmsetup])
    for soname, p in sorted(libs.items()):
        c.file("lib/x86_64-linux-gnu/" + soname, read(os.path.realpath(p)),
               0o755)
    interp = interpreter(lvm)
    ip = find_in_root(os.path.basename(interp))
    c.file(interp, read(os.path.realpath(ip)), 0o755)
    if (not interp.startswith("/lib/x86_64-linux-gnu/")
            and os.path.basename(interp) not in libs):
        c.symlink("lib/x86_64-linux-gnu/" + os.path.basename(interp),
                  "/" + interp.strip("/"))
    names = []
    for rel in order:
        base = re.sub(r"\.(xz|zst|gz)$", "", os.path.basename(rel))
        c.file("lib/modules/" + base, module_bytes(os.path.join(moddir, rel)))
        names.append(base)
    c.file("etc/kgen/modules", ("\n".join(names) + "\n").encode())
    c.file("etc/lvm/lvm.conf", read(os.path.join(GUEST, "lvm.conf")))
    c.file("init", read(os.path.join(GUEST, "init")), 0o755)
    c.file("bin/kgen-runner", read(os.path.join(GUEST, "kgen-runner")), 0o755)
    helper = os.path.join(CACHE, "kgen-pattern.%d" % os.getpid())
    run(["gcc", "-static", "-O2", "-Wall", "-o", helper,
         os.path.join(GUEST, "kgen-pattern.c")])
    c.file("bin/kgen-pattern", read(helper), 0o755)
    os.unlink(helper)
    # Several generators may run at once: replace the file atomically.
    tmp = "%s.%d" % (target, os.getpid())
    with open(tmp, "wb") as f:
        f.write(gzip.compress(c.finish(), compresslevel=6, mtime=0))
    os.replace(tmp, target)
    return read(target), names


def boot_initramfs(path, scenario_text, boot, first, ndisks):
    c = Cpio()
    c.file("etc/kgen/scenario", scenario_text.encode())
    c.file("etc/kgen/boot", (
        "KGEN_BOOT=%d\nKGEN_FIRST=%d\nKGEN_DISKS=%d\nKGEN_OUT=%s\n"
        % (boot, first, ndisks, OUT_SERIAL)).encode())
    with open(path, "wb") as f:
        f.write(gzip.compress(c.finish(), mtime=0))


# --------------------------------------------------------------- scenarios

SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.upper())
    if not m:
        raise SystemExit("bad disk size " + text)
    return int(m.group(1)) * SIZE_UNITS.get(m.group(2), 1)


def parse_scenario(text):
    """Returns (disks, steps): disks as [(name, bytes)], steps as the step
    lines in order (step n is steps[n-1])."""
    disks, steps = [], []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("disk "):
            _, name, size = s.split()
            if not re.fullmatch(r"[a-z][a-z0-9]*", name):
                raise SystemExit("bad disk name " + name)
            disks.append((name, parse_size(size)))
        else:
            steps.append(s)
    return disks, steps


def qemu_version():
    return out(["qemu-system-x86_64", "--version"]).splitlines()[0]


def boot_once(kernel, initrd, images, outimg, console):
    cmd = ["qemu-system-x86_64", "-accel", ACCEL, "-cpu", CPU, "-m", "1G",
           "-smp", "1", "-nographic", "-no-reboot", "-serial", "stdio",
           "-monitor", "none", "-nodefaults", "-kernel", kernel,
           "-initrd", initrd, "-append", "console=ttyS0 panic=-1 quiet"]
    for i, (name, path) in enumerate(images + [(OUT_SERIAL, outimg)]):
        cmd += ["-drive", "if=none,id=d%d,file=%s,format=raw,cache=unsafe"
                % (i, path),
                "-device", "virtio-blk-pci,drive=d%d,serial=%s" % (i, name)]
    t0 = time.monotonic()
    with open(console, "wb") as f:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f,
                           stderr=subprocess.STDOUT, timeout=BOOT_TIMEOUT)
    return time.monotonic() - t0, r.returncode


def compress_image(src, dst):
    run(["zstd", "-q", "-f", "-19", "-T0", src, "-o", dst])


def generate(name, kernel, base_initrd, versions):
    sdir = os.path.join(KERNEL_DIR, name)
    with open(os.path.join(sdir, "scenario")) as f:
        text = f.read()
    disks, steps = parse_scenario(text)
    if not disks:
        raise SystemExit(name + ": no disk declared")
    # Old records go; the scenario file stays.
    for entry in os.listdir(sdir):
        if entry != "scenario":
            p = os.path.join(sdir, entry)
            if os.path.isdir(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
    work = tempfile.mkdtemp(prefix="kgen-%s-" % name, dir="/tmp")
    images = []
    for dname, size in disks:
        p = os.path.join(work, dname + ".img")
        with open(p, "wb") as f:
            f.truncate(size)
        images.append((dname, p))
    first, boot, ok = 1, 0, True
    boot_times = []
    steps_tsv = []
    while first <= len(steps):
        boot += 1
        outimg = os.path.join(work, "out.img")
        with open(outimg, "wb") as f:
            f.truncate(OUT_DISK_BYTES)
        initrd = os.path.join(work, "boot.cpio.gz")
        boot_initramfs(initrd, text, boot, first, len(disks) + 1)
        both = os.path.join(work, "initrd.cpio.gz")
        with open(both, "wb") as f:
            f.write(base_initrd + read(initrd))
        console = os.path.join(sdir, "boot%d.console" % boot)
        log("%s: boot %d from step %d" % (name, boot, first))
        try:
            secs, rc = boot_once(kernel, both, images, outimg, console)
        except subprocess.TimeoutExpired:
            raise SystemExit("%s: boot %d did not end within %d s; see %s"
                             % (name, boot, BOOT_TIMEOUT, console))
        boot_times.append(secs)
        log("%s: boot %d took %.1f s (qemu rc %d)" % (name, boot, secs, rc))
        got = os.path.join(work, "got%d" % boot)
        os.makedirs(got)
        try:
            with tarfile.open(outimg) as t:
                t.extractall(got)
        except tarfile.TarError as e:
            raise SystemExit("%s: boot %d left no output (%s); see %s"
                             % (name, boot, e, console))
        last = 0
        for entry in sorted(os.listdir(got)):
            src = os.path.join(got, entry)
            if entry == "steps.tsv":
                with open(src) as f:
                    for row in f:
                        steps_tsv.append(row)
                        cols = row.split("\t")
                        last = max(last, int(cols[0]))
                        if cols[3] != "ok":
                            ok = False
                continue
            shutil.move(src, os.path.join(sdir, entry))
        if last < first:
            raise SystemExit("%s: boot %d ran no step; see %s"
                             % (name, boot, console))
        first = last + 1
        if first <= len(steps):
            for dname, p in images:
                compress_image(p, os.path.join(
                    sdir, "%s.after-boot%d.img.zst" % (dname, boot)))
    for dname, p in images:
        compress_image(p, os.path.join(sdir, dname + ".img.zst"))
    with open(os.path.join(sdir, "steps.tsv"), "w") as f:
        f.writelines(steps_tsv)
    with open(os.path.join(sdir, "boot1.versions")) as f:
        guest = f.read()
    lvm_line = re.search(r"lvm\s+LVM version:\s*(\S+)", guest)
    kernel_line = re.search(r"^kernel (\S+)$", guest, re.M)
    with open(os.path.join(sdir, "manifest"), "w") as f:
        f.write("scenario %s\n" % name)
        f.write("generated %s\n" % time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                 time.gmtime()))
        f.write("kernel_package %s %s\n" % versions["kernel"])
        f.write("kernel_release %s\n" % (kernel_line.group(1)
                                         if kernel_line else "?"))
        f.write("lvm2_package %s\n" % versions["lvm2"])
        f.write("lvm2_version %s\n" % (lvm_line.group(1) if lvm_line
                                       else "?"))
        f.write("busybox_package %s\n" % versions["busybox"])
        f.write("qemu %s\n" % versions["qemu"])
        f.write("qemu_accel %s\n" % ACCEL)
        f.write("boots %d\n" % boot)
        for i, s in enumerate(boot_times, 1):
            f.write("boot%d_seconds %.1f\n" % (i, s))
        for dname, size in disks:
            f.write("disk %s %d\n" % (dname, size))
        f.write("all_steps_as_expected %s\n" % ("yes" if ok else "NO"))
    shutil.rmtree(work)
    if not ok:
        log("%s: some step did not behave as expected; see steps.tsv" % name)
    return ok


def main(argv):
    names = argv[1:]
    if not names:
        names = sorted(n for n in os.listdir(KERNEL_DIR)
                       if os.path.exists(os.path.join(KERNEL_DIR, n,
                                                      "scenario")))
    for n in names:
        if not os.path.exists(os.path.join(KERNEL_DIR, n, "scenario")):
            raise SystemExit("no scenario file testdata/kernel/%s/scenario" % n)
    kpkg, kver = prepare_root()
    kernel = os.path.join(ROOT, "boot", "vmlinuz-" + kver)
    base, mods = build_base_initramfs(kver)
    log("modules in load order: " + " ".join(mods))
    versions = {
        "kernel": (kpkg, package_version(kpkg)),
        "lvm2": package_version("lvm2"),
        "busybox": package_version("busybox-static"),
        "qemu": qemu_version(),
    }
    if JOBS > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(JOBS) as pool:
            oks = list(pool.map(
                lambda n: generate(n, kernel, base, versions), names))
    else:
        oks = [generate(n, kernel, base, versions) for n in names]
    bad = [n for n, ok in zip(names, oks) if not ok]
    if bad:
        log("scenarios with unexpected steps: " + " ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
