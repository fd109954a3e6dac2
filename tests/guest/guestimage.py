# SPDX-License-Identifier: GPL-2.0
"""The test guest's kernel and initramfs, built from Debian packages.

    img = guestimage.ensure(build_dir)      # img.kernel, img.initrd, img.version

Nothing binary is committed.  The kernel comes from the package that
Debian's linux-image-amd64 depends on, fetched with `apt-get download` and
unpacked with `dpkg-deb -x` into <build>/guest/kernel/<package>_<version>/
(never into /boot).  busybox comes from busybox-static the same way, into
<build>/guest/busybox/<version>/: nothing is installed on this machine.
The initramfs holds busybox, iproute2's ip with its libraries (copied from
this machine), the failover modules (decompressed) and tests/guest/init.sh.
Everything is cached under <build>/guest/ and rebuilt only when an input
changes: the kernel and busybox when their package's version changes, the
initramfs when the kernel, busybox, ip, a library, init.sh or this file
changes.

Environment: SEMI_GUEST_KERNEL_DEB=path/to/linux-image-*.deb uses that
package instead of asking apt.
"""
import hashlib
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
INIT = os.path.join(HERE, "init.sh")
META_PACKAGE = "linux-image-amd64"
BUSYBOX_PACKAGE = "busybox-static"

# Load order: each after what it needs (issue 7).
MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
           "virtio_pci", "failover", "net_failover", "virtio_net", "e1000e"]
MODULE_DIRS = ["kernel/drivers/virtio", "kernel/drivers/net", "kernel/net/core"]
BINARIES = {"/usr/sbin/ip": ["/usr/sbin/ip", "/sbin/ip", "/bin/ip"]}


class ImageError(Exception):
    """The image cannot be built; the message says what is missing."""


class FetchError(ImageError):
    """A package could not be had from apt (no network, no such version)."""


class Image:
    def __init__(self, kernel, initrd, version, package):
        self.kernel, self.initrd = kernel, initrd
        self.version, self.package = version, package

    def __repr__(self):
        return f"Image({self.package} {self.version}: {self.kernel}, {self.initrd})"


def _run(cmd, cwd=None, timeout=600):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise ImageError(f"cannot run {cmd[0]}: {e.strerror}") from e
    if p.returncode != 0:
        raise ImageError(f"{' '.join(cmd)} failed ({p.returncode}): "
                         f"{(p.stderr or p.stdout).strip()[-600:]}")
    return p.stdout


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- the kernel --------------------------------------------------------------

def _apt(ask):
    """ask() with apt's package lists, updated once if it finds nothing (a
    fresh machine may have no lists yet)."""
    try:
        found = ask()
    except ImageError:
        found = None
    if found is None:
        try:
            _run(["apt-get", "update", "-qq"])
        except ImageError as e:
            raise FetchError(str(e)) from e
        found = ask()
    return found


def _candidate(pkg):
    show = _run(["apt-cache", "show", "--no-all-versions", pkg])
    v = re.search(r"^Version: (\S+)", show, re.M)
    return v.group(1) if v else None


def kernel_package():
    """(package, version) of the kernel linux-image-amd64 points at."""
    def ask():
        out = _run(["apt-cache", "depends", META_PACKAGE])
        m = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)\b", out)
        if not m:
            return None
        v = _candidate(m.group(1))
        return (m.group(1), v) if v else None

    found = _apt(ask)
    if found is None:
        raise FetchError(f"apt knows no kernel package behind {META_PACKAGE}")
    return found


def _download(pkg, version, into):
    """apt-get download pkg=version into folder into; the .deb's path."""
    try:
        _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
              f"{pkg}={version}"], cwd=into)
    except ImageError as e:
        raise FetchError(str(e)) from e
    debs = [f for f in os.listdir(into) if f.endswith(".deb")]
    if len(debs) != 1:
        raise ImageError(f"apt-get download {pkg} left {debs}")
    return os.path.join(into, debs[0])


def _deb_fields(deb):
    out = _run(["dpkg-deb", "-f", deb, "Package", "Version"])
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return fields["Package"], fields["Version"]


def _decompress_module(src, dst):
    if src.endswith(".ko"):
        shutil.copyfile(src, dst)
    elif src.endswith(".ko.xz"):
        with lzma.open(src) as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out)
    elif src.endswith(".ko.zst"):
        with open(dst, "wb") as out:
            p = subprocess.run(["zstd", "-dc", src], stdout=out, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise ImageError(f"cannot decompress {src}: {p.stderr.decode().strip()}")
    elif src.endswith(".ko.gz"):
        import gzip
        with gzip.open(src) as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out)
    else:
        raise ImageError(f"unknown module format: {src}")


def ensure_kernel(gdir, log=print):
    """The kernel and the modules, unpacked under gdir/kernel/PKG_VERSION/."""
    deb = os.environ.get("SEMI_GUEST_KERNEL_DEB")
    pkg, version = _deb_fields(deb) if deb else kernel_package()
    kdir = os.path.join(gdir, "kernel", f"{pkg}_{version}".replace(":", "_"))
    stamp = os.path.join(kdir, "kernel.json")
    if os.path.exists(stamp):
        with open(stamp) as f:
            return json.load(f)

    kroot = os.path.join(gdir, "kernel")
    os.makedirs(kroot, exist_ok=True)
    for old in os.listdir(kroot):      # one kernel cached at a time
        shutil.rmtree(os.path.join(kroot, old), ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=gdir, prefix=".kernel-") as tmp:
        if not deb:
            log(f"guest: downloading {pkg} {version}")
            deb = _download(pkg, version, tmp)
        log(f"guest: unpacking {os.path.basename(deb)}")
        root = os.path.join(tmp, "root")
        _run(["dpkg-deb", "-x", deb, root])
        kernels = [f for f in os.listdir(os.path.join(root, "boot"))
                   if f.startswith("vmlinuz-")]
        if len(kernels) != 1:
            raise ImageError(f"{deb}: expected one /boot/vmlinuz-*, found {kernels}")
        kver = kernels[0][len("vmlinuz-"):]
        mroot = os.path.join(root, "lib", "modules", kver)
        found = {}
        for sub in MODULE_DIRS:
            for dirpath, _, files in os.walk(os.path.join(mroot, sub)):
                for fn in files:
                    name = fn.split(".ko")[0]
                    if name in MODULES and ".ko" in fn:
                        found[name] = os.path.join(dirpath, fn)
        missing = [m for m in MODULES if m not in found]
        if missing:
            raise ImageError(f"{pkg} {version} has no module {', '.join(missing)} "
                             "(built in? then drop it from MODULES)")
        staging = kdir + ".new"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(os.path.join(staging, "modules"))
        shutil.copyfile(os.path.join(root, "boot", kernels[0]),
                        os.path.join(staging, "vmlinuz"))
        for m in MODULES:
            _decompress_module(found[m], os.path.join(staging, "modules", m + ".ko"))
        info = {"package": pkg, "version": version, "kernel_release": kver,
                "vmlinuz": os.path.join(kdir, "vmlinuz"),
                "modules": {m: os.path.join(kdir, "modules", m + ".ko") for m in MODULES}}
        with open(os.path.join(staging, "kernel.json"), "w") as f:
            json.dump(info, f, indent=1)
        os.rename(staging, kdir)
    return info


# ---- the initramfs -----------------------------------------------------------

def _libraries(binary):
    """Shared libraries of binary (ldd), with the dynamic loader."""
    out = _run(["ldd", binary])
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def _find_binary(candidates):
    for c in candidates:
        if os.access(c, os.X_OK):
            return os.path.realpath(c)
    raise ImageError(f"none of {', '.join(candidates)} exists (apt-get install iproute2)")


def ensure_busybox(gdir, log=print):
    """busybox from Debian's busybox-static, unpacked under
    gdir/busybox/VERSION/ (nothing installed on this machine)."""
    version = _apt(lambda: _candidate(BUSYBOX_PACKAGE))
    if version is None:
        raise FetchError(f"apt knows no {BUSYBOX_PACKAGE}")
    bdir = os.path.join(gdir, "busybox", version.replace(":", "_"))
    path = os.path.join(bdir, "busybox")
    if os.path.exists(path):
        return path
    broot = os.path.join(gdir, "busybox")
    shutil.rmtree(broot, ignore_errors=True)
    os.makedirs(broot)
    with tempfile.TemporaryDirectory(dir=gdir, prefix=".busybox-") as tmp:
        log(f"guest: downloading {BUSYBOX_PACKAGE} {version}")
        deb = _download(BUSYBOX_PACKAGE, version, tmp)
        root = os.path.join(tmp, "root")
        _run(["dpkg-deb", "-x", deb, root])
        for cand in ("bin/busybox", "usr/bin/busybox"):
            if os.path.exists(os.path.join(root, cand)):
                break
        else:
            raise ImageError(f"{deb} has no busybox binary")
        with open(os.path.join(root, cand), "rb") as f:
            if b"ld-linux" in f.read(1 << 16):
                raise ImageError(f"{deb}: busybox is not static")
        os.makedirs(bdir)
        shutil.copyfile(os.path.join(root, cand), path + ".tmp")
        os.chmod(path + ".tmp", 0o755)
        os.rename(path + ".tmp", path)
    return path


class Cpio:
    """A newc-format cpio archive, the format the kernel unpacks."""

    def __init__(self, f):
        self.f, self.ino, self.size = f, 1, 0

    def _entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
            len(name_b), 0))
        self.ino += 1
        self._write(hdr.encode() + name_b)
        self._pad()
        self._write(data)
        self._pad()

    def _write(self, b):
        self.f.write(b)
        self.size += len(b)

    def _pad(self):
        self._write(b"\0" * (-self.size % 4))

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def node(self, name, mode, rdev):
        self._entry(name, mode, rdev=rdev)

    def finish(self):
        self._entry("TRAILER!!!", 0)


def _initramfs_inputs(kernel, busybox):
    """Every input file of the initramfs: (path in image, host path, mode)."""
    files = [("bin/busybox", busybox, 0o755), ("init", INIT, 0o755)]
    for dest, candidates in BINARIES.items():
        binary = _find_binary(candidates)
        files.append((dest.lstrip("/"), binary, 0o755))
        for lib in _libraries(binary):
            files.append((lib.lstrip("/"), os.path.realpath(lib), 0o755))
    for m in MODULES:
        files.append((f"lib/modules/{m}.ko", kernel["modules"][m], 0o644))
    return files


def ensure_initramfs(gdir, kernel, busybox, log=print):
    files = _initramfs_inputs(kernel, busybox)
    h = hashlib.sha256()
    h.update(("\n".join(MODULES) + kernel["package"] + kernel["version"]).encode())
    h.update(_sha256(os.path.abspath(__file__)).encode())
    for dest, src, mode in files:
        h.update(f"{dest} {mode} {_sha256(src)}\n".encode())
    key = h.hexdigest()[:16]
    path = os.path.join(gdir, f"initramfs-{key}.cpio")
    if os.path.exists(path):
        return path
    log(f"guest: building {os.path.basename(path)}")
    for old in os.listdir(gdir):
        if old.startswith("initramfs-") and old.endswith(".cpio"):
            os.unlink(os.path.join(gdir, old))
    dirs = set()
    for dest, _, _ in files:
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    dirs |= {"proc", "sys", "dev", "tmp", "etc", "usr/sbin"}
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        c = Cpio(f)
        for d in sorted(dirs):
            c.dir(d)
        # The kernel opens /dev/console before /init runs.
        c.node("dev/console", stat.S_IFCHR | 0o600, (5, 1))
        for dest, src, mode in files:
            with open(src, "rb") as s:
                c.file(dest, s.read(), mode)
        c.file("etc/semi-modules", ("\n".join(MODULES) + "\n").encode())
        c.finish()
    os.rename(tmp, path)
    return path


def ensure(build, log=print):
    """Kernel and initramfs for the test guest, built if needed."""
    gdir = os.path.join(os.path.abspath(build), "guest")
    os.makedirs(gdir, exist_ok=True)
    kernel = ensure_kernel(gdir, log)
    busybox = ensure_busybox(gdir, log)
    initrd = ensure_initramfs(gdir, kernel, busybox, log)
    return Image(kernel["vmlinuz"], initrd, kernel["version"], kernel["package"])


if __name__ == "__main__":
    import sys
    print(ensure(sys.argv[1] if len(sys.argv) > 1 else
                 os.environ.get("SEMI_BUILD", os.path.join(HERE, "..", "..", "build"))))
