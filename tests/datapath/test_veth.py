"""The harness on real veths: TCP and UDP through DNAT + MASQUERADE done only by the tc
programs (the node's netfilter is empty), with the kernel's own skbs (checksum offload,
CHECKSUM_PARTIAL from local sockets), routing and sockets at both ends.

client c0 198.18.0.2 -- n0 [harness at tc ingress] node [harness at tc ingress] n1 -- s0 198.18.1.2
The client talks to the service 198.18.5.5:80 (udp 53); the server sees 198.18.1.9.

The harness does the source NAT at ingress too, before the node's routing (the real entry
programs redirect after a FIB lookup instead): a source of the node's own would be a martian
there, so the test hides clients behind 198.18.1.9, an address nobody holds, which the server
reaches through a static neighbour entry pointing at n1 (and the node's rp_filter is off).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.datapath.harness import Harness, NatRule
from tests.netns.topology import Topology

pytestmark = [pytest.mark.bpf, pytest.mark.netns]

HIDDEN = "198.18.1.9"
RULES = [NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "tcp", 80, to_ports=(8080, 8080)),
         NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "udp", 53, to_ports=(5353, 5353)),
         NatRule("SNAT", "198.18.0.0/24", HIDDEN)]
TIMEOUT = 3.0


def _attach(netns: str, device: str, prog_fd: int) -> None:
    from pyroute2 import IPRoute
    from pyroute2.netns import popns, pushns

    pushns(netns)
    try:
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=device)[0]
            ipr.tc("add", "clsact", index)
            ipr.tc("add-filter", "bpf", index, ":1", fd=prog_fd, name="bpft_harness",
                   parent="ffff:fff2", classid=1, direct_action=True)
    finally:
        popns()


@pytest.fixture
def topology(harness: Harness) -> Iterator[Topology]:
    """The three namespaces with the harness on both of the node's veths (gone with them)."""
    topo = Topology.create()
    try:
        mac = _run("ip", "-n", topo.node, "-br", "link", "show", "n1").split()[2]
        _run("ip", "-n", topo.server, "neigh", "replace", HIDDEN, "lladdr", mac, "dev", "s0",
             "nud", "permanent")
        for conf in ("all", "default", "n0", "n1"):
            _run("ip", "netns", "exec", topo.node, "sysctl", "-qw",
                 f"net.ipv4.conf.{conf}.rp_filter=0")
        harness.configure(RULES)
        for device in ("n0", "n1"):
            _attach(topo.node, device, harness.prog_fd)
        yield topo
    finally:
        topo.close()


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


def _socket(netns: str, kind: int) -> socket.socket:
    from pyroute2.netns import create_socket

    sock = create_socket(netns, socket.AF_INET, kind)
    sock.settimeout(TIMEOUT)
    return sock


def test_tcp_through_dnat_and_masquerade_on_veths(topology: Topology, harness: Harness) -> None:
    with _socket(topology.server, socket.SOCK_STREAM) as listener, \
            _socket(topology.client, socket.SOCK_STREAM) as client:
        listener.bind(("198.18.1.2", 8080))
        listener.listen(1)
        client.connect(("198.18.5.5", 80))
        conn, peer = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            assert peer[0] == HIDDEN
            client.sendall(b"x" * 3000)  # more than one segment
            got = b""
            while len(got) < 3000:
                got += conn.recv(4096)
            conn.sendall(b"pong")
            assert client.recv(16) == b"pong"
        assert client.getpeername() == ("198.18.5.5", 80)
    assert harness.drops() == {}


def test_udp_through_dnat_and_masquerade_on_veths(topology: Topology, harness: Harness) -> None:
    with _socket(topology.server, socket.SOCK_DGRAM) as server, \
            _socket(topology.client, socket.SOCK_DGRAM) as client:
        server.bind(("198.18.1.2", 5353))
        client.sendto(b"query", ("198.18.5.5", 53))
        data, peer = server.recvfrom(64)
        assert data == b"query" and peer[0] == HIDDEN
        server.sendto(b"answer", peer)
        data, source = client.recvfrom(64)
        assert data == b"answer" and source == ("198.18.5.5", 53)
