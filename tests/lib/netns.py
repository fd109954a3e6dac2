# SPDX-License-Identifier: GPL-2.0
"""Network namespaces, veths and taps for tests, under unique names.

Every name a test creates carries RUN_TOKEN (one per pytest process) so that
parallel runs never collide and teardown removes exactly what this run
made, also on failure.  Nothing here touches the root namespace's devices.
"""
import contextlib
import ctypes
import fcntl
import os
import secrets
import struct
import subprocess

RUN_TOKEN = os.environ.get("SEMI_TEST_TOKEN") or secrets.token_hex(3)
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_created = []  # namespaces made by this process, for the session safety net


def run(cmd, check=True, ns=None, input=None, timeout=60):
    """Run a command (list or str), optionally inside namespace ns; return stdout."""
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    if ns is not None:
        cmd = ["nsenter", f"--net=/run/netns/{ns}", "--"] + list(cmd)
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def unique(role):
    return f"sn{RUN_TOKEN}-{role}"


class NetNS:
    """A named network namespace removed on close (and at session end)."""

    def __init__(self, role):
        self.name = unique(role)
        run(["ip", "netns", "add", self.name])
        _created.append(self.name)
        self.ip("link set lo up")

    def ip(self, args, check=True):
        return run(["ip", "-n", self.name] + args.split(), check=check)

    def run(self, cmd, check=True, **kw):
        return run(cmd, check=check, ns=self.name, **kw)

    def ifindex(self, dev):
        with open_in(self.name):
            return socket_if_nametoindex(dev)

    def close(self):
        if self.name in _created:
            run(["ip", "netns", "del", self.name], check=False)
            _created.remove(self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def socket_if_nametoindex(dev):
    import socket
    return socket.if_nametoindex(dev)


@contextlib.contextmanager
def open_in(ns):
    """Switch this thread into namespace ns for the block (sockets, taps)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        yield
    finally:
        _libc.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(target)


def veth(ns_a, name_a, ns_b, name_b, up=True):
    """A veth pair with one end in each namespace (NetNS objects)."""
    run(["ip", "-n", ns_a.name, "link", "add", name_a, "type", "veth",
         "peer", "name", name_b, "netns", ns_b.name])
    if up:
        ns_a.ip(f"link set {name_a} up")
        ns_b.ip(f"link set {name_b} up")


TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


class Tap:
    """A real tap device created in namespace ns, held open by this process.

    Frames sent to the device are read from fd; closing removes the device.
    """

    def __init__(self, ns, name, create=True):
        """create=False attaches to an existing (persistent) tap."""
        self.ns, self.name = ns, name
        with open_in(ns.name):
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            ifr = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
            fcntl.ioctl(self.fd, TUNSETIFF, ifr)
        if create:
            ns.ip(f"link set {name} up")

    def read_all(self):
        frames = []
        while True:
            try:
                frames.append(os.read(self.fd, 65536))
            except BlockingIOError:
                return frames

    def write(self, frame):
        os.write(self.fd, frame)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def cleanup_all():
    """Session safety net: remove whatever this process created and left."""
    for name in list(_created):
        run(["ip", "netns", "del", name], check=False)
        _created.remove(name)
