"""A throwaway three-namespace topology: client -- node -- server, connected by veth pairs.

    client c0 198.18.0.2/24 <-> n0 198.18.0.1/24 node n1 198.18.1.1/24 <-> s0 198.18.1.2/24 server

The node forwards; nothing is connected to the machine's real interfaces. Packets are written
with raw sockets created inside the namespaces (pyroute2 ``create_socket``), and what arrives is
read with packet sockets bound to the receiving veth, so a test sees exactly what netfilter let
through and how it was translated. Everything is deleted by :meth:`Topology.close`.
"""

from __future__ import annotations

import select
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass

from pyroute2.netns import create_socket

from translator.model.packet import Host, address

ETH_P_IP = 0x0800
ETH_HEADER = 14

CLIENT_ADDR = "198.18.0.2"
NODE_CLIENT_SIDE = "198.18.0.1"
NODE_SERVER_SIDE = "198.18.1.1"
SERVER_ADDR = "198.18.1.2"
# What the tests' own raw sockets send; see Topology.silence_ends.
SENDER_MARK = 0x77


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@dataclass
class Topology:
    client: str
    node: str
    server: str

    @classmethod
    def create(cls) -> Topology:
        tag = uuid.uuid4().hex[:8]
        topo = cls(f"bpft-c{tag}", f"bpft-n{tag}", f"bpft-s{tag}")
        try:
            topo._build()
        except BaseException:
            topo.close()
            raise
        return topo

    def _build(self) -> None:
        for name in (self.client, self.node, self.server):
            _run("ip", "netns", "add", name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", self.client, "link", "add", "c0", "type", "veth", "peer", "name", "n0",
             "netns", self.node)
        _run("ip", "-n", self.server, "link", "add", "s0", "type", "veth", "peer", "name", "n1",
             "netns", self.node)
        ends = ((self.client, "c0", CLIENT_ADDR), (self.node, "n0", NODE_CLIENT_SIDE),
                (self.node, "n1", NODE_SERVER_SIDE), (self.server, "s0", SERVER_ADDR))
        for ns, dev, addr in ends:
            _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _run("ip", "-n", ns, "link", "set", dev, "up")
        _run("ip", "-n", self.client, "route", "add", "default", "via", NODE_CLIENT_SIDE)
        _run("ip", "-n", self.server, "route", "add", "default", "via", NODE_SERVER_SIDE)
        _run("ip", "netns", "exec", self.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def close(self) -> None:
        for name in (self.client, self.node, self.server):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)

    # --- packets ----------------------------------------------------------------------------

    def silence_ends(self) -> None:
        """Client and server send only what a test writes (marked SENDER_MARK): their kernels'
        own answers (resets, port unreachable, echo replies) would cross the node too."""
        for netns in (self.client, self.server):
            _run("ip", "netns", "exec", netns, "iptables-legacy", "-A", "OUTPUT", "-m", "mark",
                 "!", "--mark", hex(SENDER_MARK), "-j", "DROP")

    def sender(self, netns: str, marked: bool = False) -> socket.socket:
        """A raw socket in ``netns`` that sends whole IPv4 packets (IP_HDRINCL), its packets
        marked SENDER_MARK when ``marked``."""
        sock = create_socket(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        if marked:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, SENDER_MARK)
        return sock

    def capture(self, netns: str, device: str) -> socket.socket:
        """A packet socket on ``device`` in ``netns`` that sees every IPv4 frame arriving."""
        sock = create_socket(netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        sock.bind((device, ETH_P_IP))
        sock.setblocking(False)
        return sock


def node_host(*routes: str) -> Host:
    """The node as the reference model sees it: its two veth addresses, and ``NET/LEN`` routes
    out of n1 (towards the server), as the test added them to the node's kernel."""
    extra = []
    for route in routes:
        network, _, length = route.partition("/")
        extra.append((address(network), int(length), "n1"))
    return Host({"n0": (address(NODE_CLIENT_SIDE), 24), "n1": (address(NODE_SERVER_SIDE), 24)},
                tuple(extra))


def send_packet(sock: socket.socket, packet: bytes, dst: str) -> None:
    """Send; a packet the sender's own OUTPUT chains drop comes back as EPERM: it is sent."""
    try:
        sock.sendto(packet, (dst, 0))
    except PermissionError:
        pass


def received(sock: socket.socket, timeout: float = 0.3,
             limit: int = 64) -> list[bytes]:
    """IPv4 packets (without Ethernet header) that arrived within ``timeout`` (bounded)."""
    packets: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(packets) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            break
        frame, address = sock.recvfrom(65535)
        if address[2] == socket.PACKET_OUTGOING:
            continue
        packets.append(frame[ETH_HEADER:])
    return packets


def drain(sock: socket.socket) -> None:
    """Forget anything already queued (ARP retries, earlier packets)."""
    while True:
        try:
            sock.recv(65535)
        except BlockingIOError:
            return
