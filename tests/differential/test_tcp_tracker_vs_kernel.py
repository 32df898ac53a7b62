"""The TCP tracker's refusals the model knows (``conntrack.TCP_INVALID``), against the kernel.

For a connection brought to SYN_SENT, SYN_RECV or ESTABLISHED, each kind of TCP packet is sent
in each direction through the node, whose rules count INVALID, NEW and ESTABLISHED packets; the
kernel's INVALID must be exactly where the model says.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.netns.packets import wire
from tests.netns.topology import CLIENT_ADDR, SERVER_ADDR, Topology, send_packet
from tests.oracle import LegacyIptables
from translator.model.conntrack import tcp_invalid
from translator.model.packet import IPPROTO_TCP, Packet, address

pytestmark = pytest.mark.netns

FLAGS = {"SYN": 0x02, "SYN,ACK": 0x12, "ACK": 0x10, "FIN,ACK": 0x11, "RST": 0x04,
         "RST,ACK": 0x14, "PSH,ACK": 0x18}
# (direction, flags) that bring a new connection to each state
SETUPS = {"SYN_SENT": [(False, "SYN")], "SYN_RECV": [(False, "SYN"), (True, "SYN,ACK")],
          "ESTABLISHED": [(False, "SYN"), (True, "SYN,ACK"), (False, "ACK")]}


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    topo = Topology.create()
    try:
        topo.silence_ends()
        LegacyIptables(topo.node).restore("*filter\n-A FORWARD -m conntrack --ctstate INVALID\n"
                                          "COMMIT\n")
        yield topo
    finally:
        topo.close()


def test_invalid_packets_are_where_the_model_says(topology: Topology) -> None:
    node = LegacyIptables(topology.node)
    client = topology.sender(topology.client, marked=True)
    server = topology.sender(topology.server, marked=True)

    def send(reply: bool, flags: str, port: int) -> None:
        ends = (SERVER_ADDR, CLIENT_ADDR) if reply else (CLIENT_ADDR, SERVER_ADDR)
        ports = (80, port) if reply else (port, 80)
        packet = Packet(address(ends[0]), address(ends[1]), IPPROTO_TCP, *ports,
                        tcp_flags=FLAGS[flags])
        send_packet(server if reply else client, wire(packet), ends[1])
        time.sleep(0.02)

    port = 31000
    wrong = []
    try:
        for state, setup in SETUPS.items():
            for reply in (False, True):
                for flags in FLAGS:
                    port += 1
                    for step in setup:
                        send(*step, port)
                    before = node.packet_counters()[("filter", "FORWARD", 1)]
                    send(reply, flags, port)
                    invalid = node.packet_counters()[("filter", "FORWARD", 1)] > before
                    if invalid != tcp_invalid(state, FLAGS[flags], reply):
                        wrong.append((state, "reply" if reply else "original", flags, invalid))
    finally:
        client.close()
        server.close()
    assert wrong == []
