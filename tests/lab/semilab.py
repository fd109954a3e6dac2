# SPDX-License-Identifier: GPL-2.0
"""The two-host migration lab: network namespaces on one machine.

    client --+                       fabric ns: bridge sw0 (the physical switch)
             |            +----------------+----------------+
           sw0 ---- p-hostA                            p-hostB
                          |                                 |
    hostA ns:  uplink -- br0 -- tap-vm1          hostB ns:  uplink -- br0 -- tap-vm1
                                 vf-vm1 (VF, unbridged)
                          |    |
    vm1 ns:     vf0 ----- + virtio0 (tap; tap-relay moves frames tap-vm1 <-> virtio0)
                 \\_ net_failover (lab_guest.bpf.c) _/  -> eth0 holds MAC and IPs

The lab is described as data (topology()) and built by a list of steps
(STEPS), each with an up and a down function, so later work adds a step --
a daemon per host, say -- without touching the others.  Everything it
creates is named after the lab: namespaces NAME-<node>, the run folder
/run/semi-lab/NAME, the pin folder /sys/fs/bpf/semi-lab/NAME; interface
names are short and fixed, unique inside their namespace.

Used by the `lab` command (tests/lab/lab) and by the pytest fixtures in
tests/lab/conftest.py.
"""
import atexit
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUN_ROOT = os.environ.get("SEMI_LAB_RUN", "/run/semi-lab")
PIN_ROOT = "/sys/fs/bpf/semi-lab"
DAEMON_PIN_ROOT = "/sys/fs/bpf/semi-net"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$")
HOSTS = ("hostA", "hostB")
MAX_VMS = 40
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


class LabError(Exception):
    """A lab operation failed; the message says what and where."""


def build_dir():
    return os.environ.get("SEMI_BUILD") or os.path.join(REPO, "build")


# ---- running things ---------------------------------------------------------

def run(cmd, ns=None, input=None, check=True, timeout=30):
    """Run cmd (a list), in namespace ns if given; return stdout."""
    if ns is not None:
        cmd = ["nsenter", f"--net=/run/netns/{ns}", "--"] + list(cmd)
    try:
        p = subprocess.run(cmd, input=input, capture_output=True, text=True,
                           timeout=timeout)
    except FileNotFoundError as e:
        raise LabError(f"cannot run {cmd[0]}: {e}") from e
    if check and p.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({p.returncode}): "
                       f"{(p.stderr or p.stdout).strip()}")
    return p.stdout


def ip_batch(ns, lines):
    """Run iproute2 commands in namespace ns, one process for all of them."""
    if lines:
        run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")


@contextlib.contextmanager
def in_netns(ns):
    """This thread in namespace ns for the block (sysctls, sockets)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    except OSError as e:
        os.close(own)
        raise LabError(f"no namespace {ns}: {e.strerror}") from e
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LabError(f"cannot enter namespace {ns}: {os.strerror(err)}")
        yield
    finally:
        _libc.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(target)


# rtnetlink, for the moves whose timing matters (one request, no process).
RTM_DELLINK, RTM_SETLINK, NLM_F_REQUEST, NLM_F_ACK = 17, 19, 1, 4
IFLA_XDP, IFLA_XDP_FD, IFLA_XDP_FLAGS, NLA_F_NESTED = 43, 1, 3, 0x8000
XDP_FLAGS_DRV_MODE = 1 << 2
IFF_UP = 0x1


def ifindex_in(ns, dev):
    with in_netns(ns):
        return socket.if_nametoindex(dev)


def nl_socket(ns):
    """An rtnetlink socket of namespace ns (it stays there once made)."""
    with in_netns(ns):
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)


def nl_link_request(sock, msg_type, ifindex, attrs=b"", flags=0, change=0):
    """One rtnetlink link request on sock, acknowledged (LabError if not);
    flags/change: the ifinfomsg's (IFF_UP in change and not in flags: down)."""
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, ifindex, flags, change) + attrs
    sock.send(struct.pack("=IHHII", 16 + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK, 1,
                          0) + body)
    err = struct.unpack_from("=i", sock.recv(4096), 16)[0]
    if err:
        raise LabError(f"rtnetlink {msg_type} on ifindex {ifindex}: {os.strerror(-err)}")


def xdp_off_attr():
    """IFLA_XDP: no program in driver mode."""
    inner = struct.pack("=HHi", 8, IFLA_XDP_FD, -1) + struct.pack("=HHI", 8, IFLA_XDP_FLAGS,
                                                                   XDP_FLAGS_DRV_MODE)
    return struct.pack("=HH", 4 + len(inner), IFLA_XDP | NLA_F_NESTED) + inner


def sysctl(ns, settings):
    """Write sysctls (dict name -> value) inside namespace ns."""
    with in_netns(ns):
        for key, value in settings.items():
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                with open(path, "w") as f:
                    f.write(str(value))
            except OSError as e:
                raise LabError(f"cannot set {key}={value} in {ns}: {e.strerror}") from e


def netns_list():
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def proc_starttime(pid, zombie=False):
    """Start time of pid (clock ticks since boot), None if it is gone (or
    a zombie, unless zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z" and not zombie:
        return None
    return int(fields[19])


def proc_alive(pid, starttime):
    return pid is not None and proc_starttime(pid) == starttime


def proc_gone(pid, starttime):
    """Not even a zombie left (reaped by its parent)."""
    return proc_starttime(pid, zombie=True) != starttime


def stop_process(pid, starttime, popen=None, timeout=5.0, reaped=False):
    """Stop a process we started (identified by pid and start time).

    SIGCONT first, so that a paused relay sees the SIGTERM; SIGKILL if it
    does not go within timeout.  With reaped, also wait (within timeout)
    until its parent has reaped it, when that is not us."""
    if not proc_alive(pid, starttime):
        # Dead, or its first thread is: a killed relay's other threads
        # may still hold its taps until it can be reaped.
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout)
        elif reaped:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not proc_gone(pid, starttime):
                time.sleep(0.001)
        return
    for sig in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            return
        if popen is None and not proc_alive(pid, starttime):
            break
        time.sleep(0.01)
    if popen is None and reaped:
        # Not our child (a relay that `lab up` started, now init's): wait
        # a little for init to reap it, so that no zombie outlives `down`.
        while time.monotonic() < deadline and not proc_gone(pid, starttime):
            time.sleep(0.01)
        if not proc_alive(pid, starttime):
            return
    if proc_alive(pid, starttime):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout)


# ---- the topology, as data --------------------------------------------------

def topology(name, vms=1, home="hostA", vf=True, relay=True, daemons=False,
             daemon_config=None, fabric_xdp=True):
    """Everything the steps build, as plain data (also `lab status -j`).
    daemons: one semi-netd per host (step "daemons"), with daemon_config
    merged into each host's configuration; fabric_xdp: the fabric's ends
    of the uplinks take XDP frames (see step_daemons_up)."""
    if not NAME_RE.match(name):
        raise LabError(f"bad lab name '{name}': letters, digits, '_' and '-', "
                       "at most 24 characters")
    if not 0 <= vms <= MAX_VMS:
        raise LabError(f"--vms must be 0..{MAX_VMS}")
    if home not in HOSTS:
        raise LabError(f"bad host '{home}' (one of {', '.join(HOSTS)})")
    rundir = os.path.join(RUN_ROOT, name)
    topo = {
        "name": name,
        "rundir": rundir,
        "pin_root": os.path.join(PIN_ROOT, name),
        "fabric": {"ns": f"{name}-fabric", "bridge": "sw0", "ports": {}},
        "client": {"ns": f"{name}-client", "dev": "eth0", "fabric_port": "p-client",
                   "mac": "02:5e:00:00:c1:01", "ipv4": "192.0.2.100/24",
                   "ipv6": "2001:db8::100/64"},
        "hosts": {},
        "guests": {},
        "daemons": bool(daemons),
        "daemon_config": dict(daemon_config or {}),
        "fabric_xdp": bool(fabric_xdp),
    }
    topo["fabric"]["ports"]["client"] = "p-client"
    for i, h in enumerate(HOSTS, 1):
        topo["fabric"]["ports"][h] = f"p-{h}"
        topo["hosts"][h] = {
            "ns": f"{name}-{h}",
            "uplink": "uplink",
            "fabric_port": f"p-{h}",
            "bridge": "br0",
            "bridge_mac": f"02:5e:00:00:0{i}:00",
            # The underlay: the hosts' own addresses (tunnels, management).
            "ipv4": f"198.51.100.{i}/24",
            "ipv6": f"2001:db8:1::{i}/64",
            # Where a semi-netd for this host keeps its things.
            "daemon": {
                "instance": f"{name}-{h}",
                "socket": os.path.join(rundir, h, "semi-netd.sock"),
                "state": os.path.join(rundir, h, "semi-netd.state.json"),
                "config": os.path.join(rundir, h, "semi-netd.json"),
                "pin_root": os.path.join(DAEMON_PIN_ROOT, f"{name}-{h}"),
                "log": os.path.join(rundir, h, "semi-netd.log"),
            },
        }
    for n in range(1, vms + 1):
        vm = f"vm{n}"
        topo["guests"][vm] = {
            "ns": f"{name}-{vm}",
            "mac": f"52:54:00:5e:00:{n:02x}",
            "ipv4": f"192.0.2.{10 + n}/24",
            "ipv6": f"2001:db8::{10 + n:x}/64",
            "master": "eth0",       # net_failover's device: holds MAC and IPs
            "master_peer": "fo-sink",
            "virtio": "virtio0",    # the standby (a tap; tap-relay's guest side)
            "vf": "vf0",            # the primary (veth; peer on the host)
            "tap": f"tap-{vm}",     # the host tap, on every host
            "host_vf": f"vf-{vm}",  # the VF's host end, on the host it is plugged in
            "pin": os.path.join(PIN_ROOT, name, vm),
            "home": home,
            "plug_vf": vf,
            "start_relay": relay,
        }
    return topo


def strip_len(cidr):
    return cidr.split("/")[0]


# ---- the steps --------------------------------------------------------------

class Step:
    """One stage of bringing a lab up; down undoes it (best effort)."""

    def __init__(self, name, up, down=None):
        self.name, self.up, self.down = name, up, down

    def __repr__(self):
        return f"Step({self.name})"


# Each namespace: IPv6 only where asked for, no DAD delays, no rp_filter,
# and quiet -- no router solicitations (the lab has no router), MLD reports
# only at link-up -- so that a node sends only what a test makes it send.
NS_SYSCTLS = {
    "net.ipv6.conf.default.disable_ipv6": 1,
    "net.ipv6.conf.all.router_solicitations": 0,
    "net.ipv6.conf.default.router_solicitations": 0,
    "net.ipv6.conf.all.mldv1_unsolicited_report_interval": 1,
    "net.ipv6.conf.default.mldv1_unsolicited_report_interval": 1,
    "net.ipv6.conf.all.mldv2_unsolicited_report_interval": 1,
    "net.ipv6.conf.default.mldv2_unsolicited_report_interval": 1,
    "net.ipv6.conf.all.accept_dad": 0,
    "net.ipv6.conf.default.accept_dad": 0,
    "net.ipv4.conf.all.rp_filter": 0,
    "net.ipv4.conf.default.rp_filter": 0,
}


def nodes(lab):
    t = lab.topo
    yield "fabric", t["fabric"]["ns"]
    for h, host in t["hosts"].items():
        yield h, host["ns"]
    yield "client", t["client"]["ns"]
    for vm, g in t["guests"].items():
        yield vm, g["ns"]


def step_namespaces_up(lab):
    os.makedirs(lab.rundir, exist_ok=True)
    for _, ns in nodes(lab):
        if ns not in netns_list():
            run(["ip", "netns", "add", ns])
        ip_batch(ns, ["link set dev lo up"])
        sysctl(ns, NS_SYSCTLS)


def step_namespaces_down(lab):
    for _, ns in nodes(lab):
        if ns in netns_list():
            run(["ip", "netns", "del", ns], check=False)


def step_fabric_up(lab):
    f = lab.topo["fabric"]
    ip_batch(f["ns"], [
        f"link add {f['bridge']} type bridge stp_state 0 mcast_snooping 0",
        f"link set dev {f['bridge']} up",
    ])


def step_hosts_up(lab):
    fab = lab.topo["fabric"]
    for h, host in lab.topo["hosts"].items():
        ns = host["ns"]
        ip_batch(fab["ns"], [
            f"link add {host['fabric_port']} type veth peer name {host['uplink']} "
            f"netns {ns}",
            f"link set dev {host['fabric_port']} master {fab['bridge']} up",
        ])
        ip_batch(ns, [
            f"link add {host['bridge']} address {host['bridge_mac']} type bridge "
            "stp_state 0 mcast_snooping 0",
            f"link set dev {host['uplink']} master {host['bridge']} up",
            f"link set dev {host['bridge']} up",
        ])
        sysctl(ns, {f"net.ipv6.conf.{host['bridge']}.disable_ipv6": 0})
        ip_batch(ns, [
            f"addr add {host['ipv4']} dev {host['bridge']}",
            f"addr add {host['ipv6']} dev {host['bridge']} nodad",
        ])
        # Frames leave a host complete, as on a wire (see client).
        run(["ethtool", "-K", host["bridge"], "tx", "off"], ns=ns)


def step_client_up(lab):
    fab, c = lab.topo["fabric"], lab.topo["client"]
    ip_batch(fab["ns"], [
        f"link add {c['fabric_port']} type veth peer name {c['dev']} "
        f"address {c['mac']} netns {c['ns']}",
        f"link set dev {c['fabric_port']} master {fab['bridge']} up",
    ])
    sysctl(c["ns"], {f"net.ipv6.conf.{c['dev']}.disable_ipv6": 0})
    ip_batch(c["ns"], [
        f"link set dev {c['dev']} up",
        f"addr add {c['ipv4']} dev {c['dev']}",
        f"addr add {c['ipv6']} dev {c['dev']} nodad",
    ])
    # Full checksums on every frame, as on a wire: a CHECKSUM_PARTIAL skb
    # that a host XDP-redirects into a veth would arrive with a bad one.
    run(["ethtool", "-K", c["dev"], "tx", "off", "gso", "off"], ns=c["ns"])


def step_guests_up(lab):
    gbin = lab.binary("semi-lab-guest")
    os.makedirs(lab.topo["pin_root"], mode=0o700, exist_ok=True)
    for vm, g in lab.topo["guests"].items():
        ns = g["ns"]
        ip_batch(ns, [
            f"link add {g['master']} address {g['mac']} type veth "
            f"peer name {g['master_peer']}",
            f"link set dev {g['master_peer']} up",
            f"tuntap add dev {g['virtio']} mode tap",
            f"link set dev {g['virtio']} address {g['mac']} up",
        ])
        sysctl(ns, {f"net.ipv6.conf.{g['master']}.disable_ipv6": 0})
        ip_batch(ns, [
            f"link set dev {g['master']} up",
            f"addr add {g['ipv4']} dev {g['master']}",
            f"addr add {g['ipv6']} dev {g['master']} nodad",
        ])
        run(["ethtool", "-K", g["master"], "tx", "off", "gso", "off"], ns=ns)
        run([gbin, "-n", ns, "setup", "-p", g["pin"], "-m", g["master"],
             "-s", g["virtio"]])
        # The VM's tap on every host, as libvirt makes it: in the host
        # bridge, no carrier until a relay (QEMU) attaches.
        for h, host in lab.topo["hosts"].items():
            ip_batch(host["ns"], [
                f"tuntap add dev {g['tap']} mode tap",
                f"link set dev {g['tap']} master {host['bridge']} up",
            ])


def step_guests_down(lab):
    for vm, g in lab.topo["guests"].items():
        if os.path.isdir(g["pin"]):
            run([lab.binary("semi-lab-guest"), "teardown", "-p", g["pin"]], check=False)


def step_vfs_up(lab):
    for vm, g in lab.topo["guests"].items():
        if g["plug_vf"] and not lab.vm_state(vm).get("vf_host"):
            lab.plug(vm, g["home"])


def step_relays_up(lab):
    for vm, g in lab.topo["guests"].items():
        if g["start_relay"] and not lab.relay_alive(vm):
            lab.relay_start(vm, g["home"])


def step_relays_down(lab):
    for vm in lab.topo["guests"]:
        lab.relay_stop(vm)


def daemon_config(lab, h):
    """The semi-netd configuration of host h: its uplink, bridge, pin root,
    the other host as its peer, its underlay address as the tunnel's, then
    the lab's daemon_config on top (a dict value merges one level deep)."""
    t = lab.topo
    host = t["hosts"][h]
    cfg = {
        "host": h,
        "uplink": host["uplink"],
        "bridge": host["bridge"],
        "pin_root": host["daemon"]["pin_root"],
        "peers": [{"name": o, "address": strip_len(t["hosts"][o]["ipv4"])}
                  for o in t["hosts"] if o != h],
        "tunnel": {"local": strip_len(host["ipv4"])},
    }
    for k, v in t.get("daemon_config", {}).items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def step_daemons_up(lab):
    """One semi-netd per host (lab daemons=True; other labs do not have the
    step), then a port for every VM on the host it starts on, with its VF
    if it has one plugged (not when topo["daemon_ports"] is False)."""
    # A NIC sends back out what its XDP program returns XDP_TX (semi-net's
    # tunnel): a veth does so only when its peer takes XDP frames, so the
    # fabric's ends get an XDP program that passes everything (lab_steer
    # with its slot empty) -- a NIC whose XDP_TX works.  Without it
    # (fabric_xdp=False) the datapath sends tunnel frames by TC.
    if lab.topo.get("fabric_xdp", True) and any(
            daemon_config(lab, h).get("uplink_xdp", "auto") != "off"
            for h in lab.topo["hosts"]):
        for h in lab.topo["hosts"]:
            lab.fabric_xdp(h, True)
    for h, host in lab.topo["hosts"].items():
        dm = host["daemon"]
        os.makedirs(os.path.dirname(dm["socket"]), exist_ok=True)
        with open(dm["config"], "w") as f:
            json.dump(daemon_config(lab, h), f, indent=1)
        lab.daemon_start(h, wait=False)
    for h in lab.topo["hosts"]:
        lab.daemon_wait(h)
    if not lab.topo.get("daemon_ports", True):
        return      # the caller adds them (tests/guest: once its QEMU guest runs)
    for vm, g in lab.topo["guests"].items():
        st = lab.vm_state(vm)
        home = st.get("host") or g["home"]
        args = ["port", "add", vm, "--mac", g["mac"], "--tap", g["tap"]]
        if st.get("vf_host") == home:
            args += ["--vf", g["host_vf"]]
        lab.netctl(home, *args)


def step_daemons_down(lab):
    for h in lab.topo["hosts"]:
        lab.stop_proc(f"semi-netd-{h}")
    with contextlib.suppress(OSError):
        os.rmdir(DAEMON_PIN_ROOT)       # only if no other instance uses it


def step_pins_down(lab):
    """The lab's pin folder, and the per-host daemon pin roots if a later
    step made them (both carry the lab's name)."""
    paths = [lab.topo["pin_root"]] + [h["daemon"]["pin_root"]
                                      for h in lab.topo["hosts"].values()]
    for path in paths:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)


STEPS = [
    Step("namespaces", step_namespaces_up, step_namespaces_down),
    Step("pins", lambda lab: None, step_pins_down),
    Step("fabric", step_fabric_up),
    Step("hosts", step_hosts_up),
    Step("client", step_client_up),
    Step("guests", step_guests_up, step_guests_down),
    Step("vfs", step_vfs_up),
    Step("relays", step_relays_up, step_relays_down),
    Step("daemons", step_daemons_up, step_daemons_down),
]


def add_step(step, after=None):
    """Add a step for every lab brought up from now on (after a named step,
    or last)."""
    if after is None:
        STEPS.append(step)
        return
    for i, s in enumerate(STEPS):
        if s.name == after:
            STEPS.insert(i + 1, step)
            return
    raise LabError(f"no step named {after}")


# ---- the lab ----------------------------------------------------------------

@contextlib.contextmanager
def locked(name):
    """One lab command at a time per lab (by hand, from several shells)."""
    if not NAME_RE.match(name):
        raise LabError(f"bad lab name '{name}'")
    os.makedirs(RUN_ROOT, exist_ok=True)
    path = os.path.join(RUN_ROOT, f".{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if not os.path.isdir(os.path.join(RUN_ROOT, name)):
            # The lab is down: leave nothing behind.
            with contextlib.suppress(OSError):
                os.unlink(path)
            with contextlib.suppress(OSError):
                os.rmdir(RUN_ROOT)
        os.close(fd)


_live_labs = {}


def _atexit_down():
    for lab in list(_live_labs.values()):
        with contextlib.suppress(Exception):
            lab.down()


atexit.register(_atexit_down)


class Lab:
    """A named lab.  Lab(name, vms=1).up() builds it; Lab.load(name) picks
    up one that is already up (from /run/semi-lab/NAME/lab.json)."""

    def __init__(self, name, vms=1, home="hostA", vf=True, relay=True,
                 build=None, steps=None, daemons=False, daemon_config=None,
                 fabric_xdp=True):
        self.topo = topology(name, vms, home, vf, relay, daemons, daemon_config,
                             fabric_xdp)
        self.name = name
        self.rundir = self.topo["rundir"]
        self.statefile = os.path.join(self.rundir, "lab.json")
        self.build = build or build_dir()
        # The daemons step only where asked for: "daemons" in steps_done
        # means this lab runs them.
        self.steps = [st for st in (steps if steps is not None else STEPS)
                      if daemons or st.name != "daemons"]
        self.state = {"topology": self.topo, "steps_done": [], "complete": False,
                      "vms": {vm: {} for vm in self.topo["guests"]}, "procs": {}}
        self._popens = {}

    # -- persistence ---------------------------------------------------------

    @classmethod
    def load(cls, name, build=None):
        path = os.path.join(RUN_ROOT, name, "lab.json")
        try:
            with open(path) as f:
                state = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise LabError(f"cannot read {path}: {e}") from e
        topo = state["topology"]
        g0 = next(iter(topo["guests"].values()), {})
        lab = cls(name, vms=len(topo["guests"]), home=g0.get("home", "hostA"),
                  vf=g0.get("plug_vf", True), relay=g0.get("start_relay", True),
                  build=build, daemons=topo.get("daemons", False),
                  daemon_config=topo.get("daemon_config"),
                  fabric_xdp=topo.get("fabric_xdp", True))
        lab.topo = topo
        lab.state = state
        return lab

    def save(self):
        os.makedirs(self.rundir, exist_ok=True)
        tmp = self.statefile + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
        os.rename(tmp, self.statefile)

    # -- names ---------------------------------------------------------------

    def binary(self, name):
        path = os.path.join(self.build, "bin", name)
        if not os.access(path, os.X_OK):
            raise LabError(f"{path} is missing: run 'make tests' "
                           "(or set SEMI_BUILD to the build folder)")
        return path

    def ns(self, node):
        """Namespace of a node: fabric, hostA, hostB, client, vm1, ..."""
        for n, ns in nodes(self):
            if n == node:
                return ns
        raise LabError(f"lab {self.name} has no node '{node}' "
                       f"(nodes: {', '.join(n for n, _ in nodes(self))})")

    def guest(self, vm):
        try:
            return self.topo["guests"][vm]
        except KeyError:
            raise LabError(f"lab {self.name} has no VM '{vm}'") from None

    def host(self, h):
        try:
            return self.topo["hosts"][h]
        except KeyError:
            raise LabError(f"no host '{h}' (one of {', '.join(HOSTS)})") from None

    def vm_state(self, vm):
        self.guest(vm)
        return self.state["vms"].setdefault(vm, {})

    # -- up and down ---------------------------------------------------------

    def is_up(self):
        return self.state.get("complete") and all(
            ns in netns_list() for _, ns in nodes(self))

    def up(self):
        """Build the lab; a no-op if it is already up."""
        if self.is_up():
            return self
        for prog in ("tap-relay", "semi-lab-guest"):
            self.binary(prog)
        stale = [ns for _, ns in nodes(self) if ns in netns_list()]
        if stale or os.path.exists(self.statefile):
            self.down()      # a half-built lab from an earlier attempt
        _live_labs[self.name] = self
        self.save()
        for step in self.steps:
            step.up(self)
            self.state["steps_done"].append(step.name)
            self.save()
        self.state["complete"] = True
        self.save()
        return self

    def down(self):
        """Remove everything the lab made; safe to repeat, also half-built."""
        errors = []
        self.stop_procs()
        self._stop_orphan_relays()
        for step in reversed(self.steps):
            if step.down is None:
                continue
            try:
                step.down(self)
            except Exception as e:  # keep going: the namespaces must go
                errors.append(f"{step.name}: {e}")
        # Anything named after the lab that a step did not know about.
        for ns in self._own_namespaces():
            run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self.rundir, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(RUN_ROOT, f".{self.name}.lock"))
        for root in (RUN_ROOT, PIN_ROOT):
            with contextlib.suppress(OSError):
                os.rmdir(root)      # only if no other lab uses it
        self.state["complete"] = False
        _live_labs.pop(self.name, None)
        if errors:
            raise LabError("lab down: " + "; ".join(errors))

    def _own_namespaces(self):
        """Namespaces with this lab's names (lab "a" never takes "a-b"'s)."""
        pat = re.compile(rf"^{re.escape(self.name)}-(fabric|client|host[AB]|vm\d+)$")
        return [ns for ns in netns_list() if pat.match(ns)]

    def _stop_orphan_relays(self):
        """Relays named in pid files that the state does not know about
        (a lab whose lab.json was lost)."""
        try:
            names = os.listdir(self.rundir)
        except FileNotFoundError:
            return
        for fn in names:
            if not (fn.startswith("relay-") and fn.endswith(".pid")):
                continue
            try:
                with open(os.path.join(self.rundir, fn)) as f:
                    pid = int(f.read().strip())
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except (OSError, ValueError):
                continue
            if (os.path.basename(argv[0]) == b"tap-relay"
                    and any(a.startswith(f"{self.name}-".encode()) for a in argv)):
                stop_process(pid, proc_starttime(pid), reaped=True)

    def leftovers(self):
        """What of this lab still exists (empty after a clean down)."""
        left = [f"namespace {ns}" for ns in self._own_namespaces()]
        for path in [self.rundir, self.topo["pin_root"]] + [
                h["daemon"]["pin_root"] for h in self.topo["hosts"].values()]:
            if os.path.exists(path):
                left.append(path)
        for key, p in self.state.get("procs", {}).items():
            if proc_alive(p["pid"], p["start"]):
                left.append(f"process {key} (pid {p['pid']})")
        return left

    # -- processes -----------------------------------------------------------

    def spawn(self, key, cmd, log=None, **kw):
        """Start a process that belongs to the lab (stopped at down)."""
        if key in self.state["procs"]:
            old = self.state["procs"][key]
            if proc_alive(old["pid"], old["start"]):
                raise LabError(f"{key} is already running (pid {old['pid']})")
        if log is not None:
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self._popens[key] = p
        self.state["procs"][key] = {"pid": p.pid, "start": proc_starttime(p.pid),
                                    "cmd": cmd}
        self.save()
        return p

    def stop_proc(self, key, reaped=False):
        p = self.state["procs"].pop(key, None)
        if p is not None:
            stop_process(p["pid"], p["start"], self._popens.pop(key, None),
                         reaped=reaped)
            self.save()

    def stop_procs(self):
        """Stop every process of the lab; all at once, then wait."""
        procs = self.state.get("procs", {})
        for p in procs.values():
            if proc_alive(p["pid"], p["start"]):
                for sig in (signal.SIGTERM, signal.SIGCONT):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p["pid"], sig)
        for key in list(procs):
            self.stop_proc(key, reaped=True)

    def popen(self, node, cmd, key=None, **kw):
        """Run cmd in a node's namespace in the background (nsenter, so it
        sees bpffs); stopped at down if still running."""
        key = key or f"{node}:{os.path.basename(cmd[0])}:{time.monotonic_ns()}"
        return self.spawn(key, ["nsenter", f"--net=/run/netns/{self.ns(node)}", "--"]
                          + list(cmd), **kw)

    def exec(self, node, cmd, check=True, timeout=30, input=None):
        """Run cmd in a node's namespace; return its stdout."""
        return run(cmd, ns=self.ns(node), check=check, timeout=timeout, input=input)

    # -- the VF --------------------------------------------------------------

    def plug(self, vm, host):
        """Hot-plug the VM's VF from host: a new veth, guest end vf0."""
        g, h = self.guest(vm), self.host(host)
        st = self.vm_state(vm)
        if st.get("vf_host"):
            raise LabError(f"{vm} already has a VF (from {st['vf_host']})")
        ip_batch(h["ns"], [
            f"link add {g['host_vf']} type veth peer name {g['vf']} "
            f"address {g['mac']} netns {g['ns']}",
            f"link set dev {g['host_vf']} up",
        ])
        ip_batch(g["ns"], [f"link set dev {g['vf']} up"])
        # XDP on vf0 (so the host can XDP-redirect into vf-vmN), TC, and
        # last the registration: from then on virtio stops delivering.
        run([self.binary("semi-lab-guest"), "-n", g["ns"], "plug", "-p", g["pin"],
             "-f", g["vf"]])
        st["vf_host"] = host
        self.save()

    def unplug(self, vm, detach_xdp=True):
        """Hot-unplug the VM's VF: the interface goes, and with it the
        guest's registration (the kernel empties the devmap slot while the
        VF unregisters, as net_failover drops its primary then).

        Between the VF's close and its unregistration the guest takes frames
        from neither path (net_failover does the same).  The XDP program on
        vf0 exists only because a veth needs one to take XDP-redirected
        frames -- a real VF has none -- and tearing it down inside the
        unregistration stretches that window from a fraction of a
        millisecond to several; so it is detached first (detach_xdp=False
        keeps the raw veth behaviour).
        """
        g, st = self.guest(vm), self.vm_state(vm)
        host = st.get("vf_host")
        if not host:
            raise LabError(f"{vm} has no VF plugged")
        if detach_xdp:
            ip_batch(g["ns"], [f"link set dev {g['vf']} xdpdrv off"])
        run(["ip", "-n", self.host(host)["ns"], "link", "del", g["host_vf"]])
        st["vf_host"] = None
        self.save()

    def unplug_now(self, vm, close_first=True):
        """QEMU's unplug of the VF as one move (unplug, without the time a
        process per step takes), one netlink request per step.

        As a guest ejects a hot-unplugged VF: its driver's remove runs
        unregister_netdev(), which closes the VF first -- net_failover
        sends on the standby from then on, and what the VF had already
        sent goes out -- and only then does the device leave the bus, the
        host's view of it with it.  So the guest's VF loses its XDP program
        (a real VF has none), goes down, and then its host end goes.  close_first=False removes the device under the guest
        (a surprise removal: what the VF was sending is lost with it).

        Between two `ip` processes the host would spend milliseconds
        XDP-redirecting into a veth whose peer no longer takes XDP frames
        -- a lab artifact, not an unplug.  Returns (asked, done) on
        CLOCK_MONOTONIC ns: when the removal was asked for, and when the
        kernel acknowledged it (the device unregistered, its notices out)."""
        g, st = self.guest(vm), self.vm_state(vm)
        host = st.get("vf_host")
        if not host:
            raise LabError(f"{vm} has no VF plugged")
        hns = self.host(host)["ns"]
        gs, hs = nl_socket(g["ns"]), nl_socket(hns)
        try:
            vf, ifindex = ifindex_in(g["ns"], g["vf"]), ifindex_in(hns, g["host_vf"])
            nl_link_request(gs, RTM_SETLINK, vf, xdp_off_attr())
            asked = time.monotonic_ns()
            if close_first:
                nl_link_request(gs, RTM_SETLINK, vf, flags=0, change=IFF_UP)
            nl_link_request(hs, RTM_DELLINK, ifindex)
            done = time.monotonic_ns()
        finally:
            gs.close()
            hs.close()
        st["vf_host"] = None
        self.save()
        return asked, done

    def plug_failover(self, vm, host, before_guest=None):
        """A VF for the VM from host, taken by the guest as Linux
        net_failover takes one: enslaved -- its frames filtered -- before it
        is opened, so it never delivers on its own (plug brings vf0 up
        first).  before_guest() runs once the host end exists, before the
        guest has the VF: where libvirt tells semi-net (`port set --vf`).
        Returns the instant (CLOCK_MONOTONIC ns) the guest registered it."""
        g, st = self.guest(vm), self.vm_state(vm)
        if st.get("vf_host"):
            raise LabError(f"{vm} already has a VF (from {st['vf_host']})")
        ns, pin = g["ns"], g["pin"]
        ip_batch(self.host(host)["ns"], [
            f"link add {g['host_vf']} type veth peer name {g['vf']} address {g['mac']} "
            f"netns {ns}",
            f"link set dev {g['host_vf']} up",
        ])
        st["vf_host"] = host
        self.save()
        if before_guest:
            before_guest()
        run(["bpftool", "net", "attach", "xdpdrv", "pinned", f"{pin}/lab_vf_xdp", "dev",
             g["vf"]], ns=ns)
        run(["tc", "qdisc", "add", "dev", g["vf"], "clsact"], ns=ns)
        for d in ("ingress", "egress"):
            run(["tc", "filter", "add", "dev", g["vf"], d, "handle", "1", "prio", "1", "bpf",
                 "direct-action", "pinned", f"{pin}/lab_vf_{d}"], ns=ns)
        ip_batch(ns, [f"link set dev {g['vf']} up"])
        ifindex = ifindex_in(ns, g["vf"])
        t = time.monotonic_ns()
        run(["bpftool", "map", "update", "pinned", f"{pin}/lab_vf", "key", "0", "0", "0", "0",
             "value"] + [str(b) for b in ifindex.to_bytes(4, "little")], ns=ns)
        return t

    def vf_link(self, vm, up):
        """Carrier of the guest's VF: set its host end up or down."""
        g, st = self.guest(vm), self.vm_state(vm)
        if not st.get("vf_host"):
            raise LabError(f"{vm} has no VF plugged")
        ip_batch(self.host(st["vf_host"])["ns"],
                 [f"link set dev {g['host_vf']} {'up' if up else 'down'}"])

    def steer(self, host, vm):
        """Tests only: XDP on host's uplink sends unicast frames to the VM's
        VF host end (lab_steer.bpf.o), as semi-net's uplink program would;
        the kernel empties the slot when the VF goes."""
        g, h = self.guest(vm), self.host(host)
        if self.vm_state(vm).get("vf_host") != host:
            raise LabError(f"{vm} has no VF on {host}")
        obj = os.path.join(self.build, "lab", "lab_steer.bpf.o")
        if not os.path.exists(obj):
            raise LabError(f"{obj} is missing: run 'make tests'")
        pindir = os.path.join(self.topo["pin_root"], f"steer-{host}")
        os.makedirs(pindir, mode=0o700)
        ns = h["ns"]
        run(["bpftool", "prog", "load", obj, f"{pindir}/prog", "type", "xdp",
             "pinmaps", pindir], ns=ns)
        ifindex = json.loads(run(["ip", "-j", "link", "show", "dev", g["host_vf"]],
                                 ns=ns))[0]["ifindex"]
        run(["bpftool", "map", "update", "pinned", f"{pindir}/lab_steer_to",
             "key", "0", "0", "0", "0", "value"]
            + [str(b) for b in ifindex.to_bytes(4, "little")], ns=ns)
        run(["bpftool", "net", "attach", "xdpdrv", "pinned", f"{pindir}/prog",
             "dev", h["uplink"]], ns=ns)

    def unsteer(self, host):
        h = self.host(host)
        run(["bpftool", "net", "detach", "xdpdrv", "dev", h["uplink"]], ns=h["ns"],
            check=False)
        shutil.rmtree(os.path.join(self.topo["pin_root"], f"steer-{host}"),
                      ignore_errors=True)

    # -- the relay (QEMU) ----------------------------------------------------

    def _relay_key(self, vm):
        return f"relay-{vm}"

    def relay_alive(self, vm):
        p = self.state["procs"].get(self._relay_key(vm))
        return bool(p) and proc_alive(p["pid"], p["start"])

    def relay_pid(self, vm):
        p = self.state["procs"].get(self._relay_key(vm))
        return p["pid"] if p and proc_alive(p["pid"], p["start"]) else None

    def relay_start(self, vm, host, announce=False):
        """The VM runs on host: a relay between host's tap and the guest."""
        g, h = self.guest(vm), self.host(host)
        if self.relay_alive(vm):
            raise LabError(f"{vm} already runs on {self.vm_state(vm).get('host')}")
        pidfile = os.path.join(self.rundir, f"relay-{vm}.pid")
        logpath = os.path.join(self.rundir, f"relay-{vm}.log")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pidfile)
        cmd = [self.binary("tap-relay"), "-v", "-n", h["ns"], "-t", g["tap"],
               "-N", g["ns"], "-g", g["virtio"], "-p", pidfile,
               "-s", self._relay_statsfile(vm, host)]
        if announce:
            cmd.append("-a")
        with open(logpath, "a") as log:
            p = self.spawn(self._relay_key(vm), cmd, log=log)
        # Attached once the pid file exists (both taps open).
        deadline = time.monotonic() + 10
        while not os.path.exists(pidfile):
            if p.poll() is not None or time.monotonic() > deadline:
                self.stop_proc(self._relay_key(vm))
                raise LabError(f"tap-relay for {vm} on {host} did not start: "
                               f"{self._tail(logpath)}")
            time.sleep(0.002)
        st = self.vm_state(vm)
        st["host"] = host
        st["paused"] = False
        self.save()
        return p.pid

    def relay_stop(self, vm, kill=False):
        """The VM left its host: the relay exits (its tap loses carrier).
        kill: at once (SIGKILL), as a QEMU that goes: what its tap still
        holds is never read."""
        key = self._relay_key(vm)
        p = self.state["procs"].get(key)
        if kill and p and proc_alive(p["pid"], p["start"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p["pid"], signal.SIGKILL)
            deadline = time.monotonic() + 5
            while proc_alive(p["pid"], p["start"]) and time.monotonic() < deadline:
                time.sleep(0.0001)
        # Reaped (ours) or gone: only then are its taps free for the next relay.
        self.stop_proc(key, reaped=True)
        st = self.vm_state(vm)
        st["host"] = None
        st["paused"] = False
        self.save()

    def relay_incoming(self, vm, host, poll=0.005):
        """QEMU -incoming on host: a relay that holds the VM's tap there
        from now on (frames queue in it) and takes the guest once the
        source's relay lets go (tap-relay -w; relay_handoff)."""
        g = self.guest(vm)
        key = f"relay-{vm}-in-{host}"
        pidfile = os.path.join(self.rundir, f"{key}.pid")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pidfile)
        cmd = [self.binary("tap-relay"), "-v", "-w", "-n", self.ns(host), "-t", g["tap"],
               "-N", g["ns"], "-g", g["virtio"], "-p", pidfile,
               "-s", self._relay_statsfile(vm, host)]
        with open(os.path.join(self.rundir, f"{key}.log"), "a") as log:
            self.spawn(key, cmd, log=log)
        self.wait_for(f"the incoming relay to hold {g['tap']} on {host}",
                      lambda: "LOWER_UP" in self.link_stats(host, g["tap"])["flags"],
                      step=poll)
        self.vm_state(vm)["incoming"] = {"host": host, "key": key, "pidfile": pidfile}
        self.save()

    def relay_handoff(self, vm, kill=False, poll=0.005):
        """The VM leaves its relay for the one waiting on the destination
        (relay_incoming): the source's exits (kill: see relay_stop) -- its
        tap's queue goes with it, as with QEMU -- and the waiting one takes
        the guest, from then on the VM's relay."""
        inc = self.vm_state(vm).pop("incoming", None)
        if not inc:
            raise LabError(f"no relay waits for {vm} (relay_incoming first)")
        self.relay_stop(vm, kill=kill)
        self.wait_for("the incoming relay to take the guest",
                      lambda: os.path.exists(inc["pidfile"]), step=poll)
        procs = self.state["procs"]
        procs[self._relay_key(vm)] = procs.pop(inc["key"])
        if inc["key"] in self._popens:
            self._popens[self._relay_key(vm)] = self._popens.pop(inc["key"])
        st = self.vm_state(vm)
        st["host"], st["paused"] = inc["host"], False
        self.save()

    def _relay_statsfile(self, vm, host):
        return os.path.join(self.rundir, f"relay-{vm}-{host}.json")

    def relay_stats(self, vm, host):
        """The counters vm's relay on host wrote last (SIGUSR1 or exit)."""
        try:
            with open(self._relay_statsfile(vm, host)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def relay_poll(self, vm, timeout=5):
        """The counters of vm's running relay, now (SIGUSR1)."""
        pid, host = self.relay_pid(vm), self.vm_state(vm).get("host")
        if pid is None:
            raise LabError(f"{vm} has no running relay")
        path = self._relay_statsfile(vm, host)
        def ino():   # the relay renames a new file into place each time
            with contextlib.suppress(FileNotFoundError):
                return os.stat(path).st_ino
        before = ino()
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ino() not in (None, before):
                return self.relay_stats(vm, host)
            time.sleep(0.002)
        raise LabError(f"the relay of {vm} did not write its counters")

    def wait_for(self, what, cond, timeout=20, step=0.005):
        """Poll cond() until true; LabError naming `what` after timeout.
        Tests wait for events this way, never for a length of time."""
        deadline = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                raise LabError(f"timed out waiting for {what}")
            time.sleep(step)

    def pause(self, vm):
        """The VM is paused: SIGSTOP its relay; frames queue in the tap."""
        self._relay_run(vm, False)

    def resume(self, vm):
        self._relay_run(vm, True)

    def _relay_run(self, vm, run):
        pid = self.relay_pid(vm)
        if pid is None:
            raise LabError(f"{vm} is not running (no relay)")
        os.kill(pid, signal.SIGCONT if run else signal.SIGSTOP)
        self.vm_state(vm)["paused"] = not run
        self.save()

    def migrate(self, vm, host, announce=False, vf=False):
        """Move the VM to host: the relay there attaches to host's tap and
        the same guest.  With vf, unplug the VF first and plug one from
        host after (the whole libvirt sequence, without semi-net)."""
        self.host(host)
        st = self.vm_state(vm)
        if vf and st.get("vf_host"):
            self.unplug(vm)
        self.relay_stop(vm)
        self.relay_start(vm, host, announce=announce)
        if vf:
            self.plug(vm, host)

    # -- semi-netd (lab daemons=True) ------------------------------------------

    def fabric_xdp(self, host, on):
        """XDP (pass everything) on the fabric's end of host's uplink, or
        none: whether XDP_TX out of the uplink works."""
        port = self.topo["fabric"]["ports"][host]
        obj = os.path.join(self.build, "lab", "lab_steer.bpf.o")
        run(["ip", "link", "set", "dev", port, "xdpdrv"] +
            (["obj", obj, "sec", "xdp"] if on else ["off"]), ns=self.topo["fabric"]["ns"])

    def netctl(self, host, *args, check=0, json_out=False, timeout=30):
        """semi-netctl ARGS against host's semi-netd (-j with json_out: the
        parsed reply); check: the exit status wanted (None: any)."""
        dm = self.host(host)["daemon"]
        cmd = [self.binary("semi-netctl"), "-s", dm["socket"]] + \
            (["-j"] if json_out else []) + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check is not None and p.returncode != check:
            raise LabError(f"semi-netctl {' '.join(map(str, args))} on {host}: exit "
                           f"{p.returncode}: {(p.stderr or p.stdout).strip()}")
        return json.loads(p.stdout) if json_out and p.returncode == 0 else p

    def daemon_start(self, host, wait=True):
        """Start host's semi-netd (its files as the daemons step wrote them);
        wait: until it answers."""
        dm = self.host(host)["daemon"]
        with open(dm["log"], "a") as log:
            self.popen(host, [self.binary("semi-netd"), "-f", "-c", dm["config"], "-i",
                              dm["instance"], "-s", dm["socket"], "--state", dm["state"]],
                       key=f"semi-netd-{host}", log=log)
        if wait:
            self.daemon_wait(host)

    def daemon_wait(self, host):
        self.wait_for(f"semi-netd on {host}",
                      lambda: self.netctl(host, "status", check=None).returncode == 0
                      or self.daemon_died(host), timeout=20)
        if self.daemon_died(host):
            raise LabError(f"semi-netd on {host} did not start: "
                           f"{self._tail(self.host(host)['daemon']['log'])}")

    def daemon_died(self, host):
        p = self.state["procs"].get(f"semi-netd-{host}")
        return p is not None and not proc_alive(p["pid"], p["start"])

    # -- addresses -------------------------------------------------------------

    def endpoint(self, node):
        """dev, mac, ipv4, ipv6 (no prefix length) of the client or a guest."""
        if node == "client":
            c = self.topo["client"]
            dev = c["dev"]
        else:
            c = self.guest(node)
            dev = c["master"]
        return {"dev": dev, "mac": c["mac"], "ipv4": strip_len(c["ipv4"]),
                "ipv6": strip_len(c["ipv6"])}

    def pin_neigh(self, node, peer):
        """Permanent neighbour entries on node for peer's addresses: traffic
        then needs no ARP/ND (which a blocked path would eat)."""
        a, b = self.endpoint(node), self.endpoint(peer)
        ip_batch(self.ns(node), [
            f"neigh replace {b[fam]} lladdr {b['mac']} dev {a['dev']} nud permanent"
            for fam in ("ipv4", "ipv6")])

    # -- looking ---------------------------------------------------------------

    def guest_stats(self, vm):
        g = self.guest(vm)
        out = run([self.binary("semi-lab-guest"), "-n", g["ns"], "stats", "-p",
                   g["pin"], "-j"])
        return json.loads(out)

    def link_stats(self, node, dev):
        """Kernel counters of a device (rx_packets, tx_dropped, ...)."""
        out = run(["ip", "-n", self.ns(node), "-j", "-s", "link", "show", "dev", dev])
        info = json.loads(out)[0]
        st = info["stats64"]
        return {"rx_packets": st["rx"]["packets"], "rx_dropped": st["rx"]["dropped"],
                "tx_packets": st["tx"]["packets"], "tx_dropped": st["tx"]["dropped"],
                "flags": info.get("flags", []), "operstate": info.get("operstate"),
                "txqlen": info.get("txqlen")}

    def status(self):
        """The lab as data, for people and for later code (`lab status -j`)."""
        t = self.topo
        present = set(netns_list())
        out = {
            "name": self.name,
            "up": bool(self.state.get("complete")) and all(
                ns in present for _, ns in nodes(self)),
            "rundir": self.rundir,
            "pin_root": t["pin_root"],
            "namespaces": {n: ns for n, ns in nodes(self)},
            "fabric": dict(t["fabric"]),
            "client": dict(t["client"]),
            "hosts": {},
            "guests": {},
            "steps": self.state.get("steps_done", []),
        }
        for h, host in t["hosts"].items():
            hs = dict(host)
            hs["vms"] = {}
            for vm, g in t["guests"].items():
                st = self.state["vms"].get(vm, {})
                hs["vms"][vm] = {
                    "tap": g["tap"],
                    "vf": g["host_vf"] if st.get("vf_host") == h else None,
                    "mac": g["mac"],
                    "running": st.get("host") == h and self.relay_alive(vm),
                }
            out["hosts"][h] = hs
        for vm, g in t["guests"].items():
            st = self.state["vms"].get(vm, {})
            gs = {k: g[k] for k in ("ns", "mac", "ipv4", "ipv6", "master", "virtio",
                                    "vf", "tap", "host_vf", "pin")}
            gs.update({
                "vf_host": st.get("vf_host"),
                "host": st.get("host") if self.relay_alive(vm) else None,
                "relay_pid": self.relay_pid(vm),
                "paused": bool(st.get("paused")) and self.relay_alive(vm),
            })
            out["guests"][vm] = gs
        return out

    def describe(self):
        """A short human summary, plus the relays' logs (for failed tests)."""
        lines = [format_status(self.status())]
        for vm in self.topo["guests"]:
            log = os.path.join(self.rundir, f"relay-{vm}.log")
            if os.path.exists(log):
                lines.append(f"--- relay-{vm}.log\n{self._tail(log, 20)}")
        for h, host in self.topo["hosts"].items():
            log = host["daemon"].get("log")
            if log and os.path.exists(log):
                lines.append(f"--- semi-netd {h}\n{self._tail(log, 40)}")
        return "\n".join(lines)

    @staticmethod
    def _tail(path, n=5):
        try:
            with open(path) as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return "(no log)"

    # -- the meter -------------------------------------------------------------

    def meter_recv(self, node, listen="9000", args=(), key=None):
        """Start semi-meter recv in node; returns a Meter once it listens."""
        m = Meter(self, node, ["recv", listen, "-j", *args], key)
        m.wait_listening()
        return m

    def meter_send(self, node, dest, rate, count=None, duration=None, args=(), key=None):
        cmd = ["send", dest, "-j", "-r", str(rate)]
        if count is not None:
            cmd += ["-c", str(count)]
        if duration is not None:
            cmd += ["-d", str(duration)]
        return Meter(self, node, cmd + list(args), key)


# ---- semi-netd's control socket and logs ---------------------------------------

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    """The first sanitizer mark in a log, None when it has none."""
    return next((m for m in SANITIZER_MARKS if m in text), None)


class Lines:
    """JSON lines from a socket (semi-netd's control protocol)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("semi-netd closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def next_reply(self):
        """The next reply, past the events a watch streams in between."""
        while True:
            o = self.next()
            if "event" not in o:
                return o


def take_down(labs, failed):
    """A fixture's end: close each (obj.close(failed) -> (left behind,
    sanitizer reports)) and say what is wrong, [] when nothing is."""
    problems = []
    for lab in labs:
        left, san = lab.close(failed)
        if left:
            problems.append(f"lab left behind: {', '.join(left)}")
        if san:
            problems.append(f"sanitizer report in semi-netd's log ({', '.join(san)})")
    return problems


class Meter:
    """One semi-meter process in a lab node; result() is its JSON report."""

    def __init__(self, lab, node, args, key=None):
        self.lab = lab
        self.key = key or f"meter-{node}-{args[0]}-{time.monotonic_ns()}"
        cmd = [lab.binary("semi-meter"), args[0], "-n", lab.ns(node)] + list(args[1:])
        self.proc = lab.spawn(self.key, cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)

    def wait_listening(self, timeout=10):
        import select
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stderr], [], [], 0.1)
            if r:
                line = self.proc.stderr.readline()
                if "listening on" in line:
                    return
                if not line:
                    break
        raise LabError(f"semi-meter did not start listening: {self.proc.stderr.read()}")

    def result(self, timeout=60):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.lab.stop_proc(self.key)
            raise LabError(f"semi-meter ({self.key}) did not finish in {timeout}s")
        self.lab.state["procs"].pop(self.key, None)
        self.lab._popens.pop(self.key, None)
        if self.proc.returncode not in (0, 3):
            raise LabError(f"semi-meter failed ({self.proc.returncode}): {err.strip()}")
        return json.loads(out)

    def stop(self):
        """End the meter now (SIGTERM: it reports what it has)."""
        os.kill(self.proc.pid, signal.SIGTERM)


def format_status(s):
    """`lab status` for people."""
    lines = [f"lab {s['name']}: {'up' if s['up'] else 'DOWN'}   run folder {s['rundir']}"]
    f, c = s["fabric"], s["client"]
    lines.append(f"  {'fabric':7} {f['ns']:22} bridge {f['bridge']}: "
                 + " ".join(sorted(f["ports"].values())))
    for h, host in s["hosts"].items():
        vms = []
        for vm, v in host["vms"].items():
            desc = f"{vm}: {v['tap']}"
            if v["running"]:
                desc += " (relay)"
            if v["vf"]:
                desc += f", {v['vf']}"
            vms.append(desc)
        lines.append(f"  {h:7} {host['ns']:22} {host['uplink']} in {host['bridge']} "
                     f"{strip_len(host['ipv4'])} {strip_len(host['ipv6'])}; "
                     + "; ".join(vms))
    lines.append(f"  {'client':7} {c['ns']:22} {c['dev']} {c['mac']} "
                 f"{strip_len(c['ipv4'])} {strip_len(c['ipv6'])}")
    for vm, g in s["guests"].items():
        where = f"runs on {g['host']}" if g["host"] else "not running"
        if g["paused"]:
            where += " (paused)"
        vf = f"VF from {g['vf_host']}" if g["vf_host"] else "no VF"
        lines.append(f"  {vm:7} {g['ns']:22} {g['master']} {g['mac']} "
                     f"{strip_len(g['ipv4'])} {strip_len(g['ipv6'])}; {where}; {vf}")
    return "\n".join(lines)


def labs_present():
    """Names of labs with a run folder (up, or half-built)."""
    try:
        return sorted(d for d in os.listdir(RUN_ROOT)
                      if os.path.exists(os.path.join(RUN_ROOT, d, "lab.json")))
    except FileNotFoundError:
        return []
