# SPDX-License-Identifier: GPL-2.0
"""Raw Ethernet frames for tests, and AF_PACKET senders/receivers in a
namespace.  Built by hand (struct) so every byte is what the test says."""
import os
import select
import socket
import struct
import time

import netns

ETH_P_ALL = 0x0003
BCAST = "ff:ff:ff:ff:ff:ff"
MARK = b"SEMI-TEST"


def mac_bytes(mac):
    return bytes(int(b, 16) for b in mac.split(":"))


def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def udp4(dst, src, vlan=None, size=64, tag=0, ip_src="192.0.2.10", ip_dst="192.0.2.20"):
    """An IPv4/UDP frame of `size` bytes carrying MARK and a 32-bit tag."""
    eth = mac_bytes(dst) + mac_bytes(src)
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    eth += struct.pack("!H", 0x0800)
    payload_len = max(size - len(eth) - 28, len(MARK) + 4)
    payload = MARK + struct.pack("!I", tag)
    payload += b"\0" * (payload_len - len(payload))
    udp = struct.pack("!HHHH", 40000, 40001, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(ip_src), socket.inet_aton(ip_dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return eth + ip + udp


def arp_request(src, sender_ip, target_ip, vlan=None):
    eth = mac_bytes(BCAST) + mac_bytes(src)
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    eth += struct.pack("!H", 0x0806)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_bytes(src),
                      socket.inet_aton(sender_ip), b"\0" * 6, socket.inet_aton(target_ip))
    frame = eth + arp
    return frame + b"\0" * max(0, 60 - len(frame))


def tag_of(frame):
    """The test tag of a frame carrying MARK, else None."""
    i = frame.find(MARK)
    if i < 0 or len(frame) < i + len(MARK) + 4:
        return None
    return struct.unpack("!I", frame[i + len(MARK):i + len(MARK) + 4])[0]


def vlan_of(frame):
    if len(frame) >= 16 and frame[12:14] == b"\x81\x00":
        return struct.unpack("!H", frame[14:16])[0] & 0xfff
    return None


SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40


def with_aux_vlan(data, anc):
    """Put a tag the kernel reported as auxdata back into the frame bytes,
    as libpcap does, so tests see the frame as it is on the wire."""
    for level, typ, cdata in anc:
        if level != SOL_PACKET or typ != PACKET_AUXDATA or len(cdata) < 20:
            continue
        status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", cdata[:20])
        if status & TP_STATUS_VLAN_VALID:
            if not status & TP_STATUS_VLAN_TPID_VALID:
                tpid = 0x8100
            return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


class PacketSocket:
    """AF_PACKET socket bound to dev in namespace ns (a NetNS)."""

    def __init__(self, ns, dev):
        with netns.open_in(ns.name):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.s.bind((dev, 0))
        self.s.setblocking(False)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        # Tags the kernel holds outside the bytes come back as auxdata.
        self.s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.dev = dev

    def send(self, frame):
        self.s.send(frame)

    def recv_all(self, wait=0.3, incoming_only=True):
        """Frames received until `wait` seconds pass without one."""
        out = []
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return out
            while True:
                try:
                    data, anc, _, addr = self.s.recvmsg(65536, socket.CMSG_SPACE(32))
                except BlockingIOError:
                    break
                if incoming_only and addr[2] == socket.PACKET_OUTGOING:
                    continue
                out.append(with_aux_vlan(data, anc))
                deadline = time.monotonic() + wait

    def close(self):
        self.s.close()


def tap_frames(tap, wait=0.3):
    """Frames read from a netns.Tap until `wait` seconds pass without one."""
    out = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        r, _, _ = select.select([tap.fd], [], [], max(0, deadline - time.monotonic()))
        if not r:
            break
        got = tap.read_all()
        out += got
        if got:
            deadline = time.monotonic() + wait
    return out


def marked(frames):
    """Only frames this test sent (they carry MARK)."""
    return [f for f in frames if tag_of(f) is not None]
