"""Differential: kube-proxy rule sets through the model and through the kernel.

A kube-proxy full sync with its jump rules (``bench/kube_gen.py``, addresses moved into
198.18.0.0/15: services on 198.18.5.0/24, endpoints on the server) is loaded into the node.

- one endpoint per service: every service's first packet and its answer, packet by packet, as in
  the conversation test (the KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP path, KUBE-MARK-MASQ and the
  --random-fully MASQUERADE, whose port only the kernel picks);
- three endpoints: the statistic match's split of new flows, by distribution (chi-square against
  kube-proxy's equal shares), for the kernel and for the model alike.
"""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from collections.abc import Iterator

import pytest

from bench.kube_gen import ClusterShape, restore_text
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.netns.packets import answer, headers, parsed, wire
from tests.netns.topology import (
    CLIENT_ADDR,
    SERVER_ADDR,
    Topology,
    drain,
    node_host,
    received,
    send_packet,
)
from tests.oracle import LegacyIptables
from translator.model.node import Node
from translator.model.packet import IPPROTO_TCP, TCP_SYN, Packet, address

pytestmark = pytest.mark.netns

SERVICES = "198.18.5.0"
ENDPOINTS = "198.18.1.10"  # the first endpoint is .11; all live on the server
# chi-square, 2 degrees of freedom, p = 0.001: a fair three-way split exceeds this 1 in 1000
CHI_SQUARE_LIMIT = 13.8


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    topo = Topology.create()
    try:
        topo.silence_ends()
        for offset in range(11, 20):
            subprocess.run(["ip", "-n", topo.server, "addr", "add", f"198.18.1.{offset}/32",
                            "dev", "s0"], check=True)
        yield topo
    finally:
        topo.close()


def _load(topology: Topology, shape: ClusterShape) -> tuple[LegacyIptables, Node]:
    text = restore_text(shape, jumps=True)
    node = LegacyIptables(topology.node)
    node.reset()
    node.run(["conntrack", "-F"])
    for name in ("ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"):
        node.nfacct_add(name)
    loaded = node.restore(text)
    assert loaded.code == 0, loaded.err
    model = Node(Restorer().restore(text, Ruleset(), RestoreOptions()), node_host(),
                 random.Random(7), icmp_ratelimit_ms=0)
    return node, model


def test_every_service_reaches_its_endpoint_and_answers_come_back(topology: Topology) -> None:
    shape = ClusterShape(6, 1, cluster_base=SERVICES, endpoint_base=ENDPOINTS)
    _, model = _load(topology, shape)
    client = topology.sender(topology.client, marked=True)
    server = topology.sender(topology.server, marked=True)
    at_server = topology.capture(topology.server, "s0")
    at_client = topology.capture(topology.client, "c0")
    try:
        for index in range(shape.services):
            service = f"198.18.5.{index + 1}"
            packet = Packet(address(CLIENT_ADDR), address(service), IPPROTO_TCP, 42000 + index,
                            80, tcp_flags=TCP_SYN)
            drain(at_server)
            send_packet(client, wire(packet), SERVER_ADDR)
            expected = model.receive(packet, "n0")
            arrived = [parsed(raw) for raw in received(at_server, 0.2)]
            assert expected.verdict == "ACCEPT" and len(arrived) == 1, service
            low, high = expected.chosen_from or (expected.packet.sport, expected.packet.sport)
            assert low <= arrived[0].sport <= high, service  # --random-fully: the kernel's pick
            assert headers(arrived[0].with_(sport=expected.packet.sport)) == headers(
                expected.packet), service
            assert (arrived[0].dst, arrived[0].dport) == (
                address(f"198.18.1.{11 + index}"), 8080)
            model.rebind(packet, arrived[0])
            reply = answer(arrived[0])
            drain(at_client)
            send_packet(server, wire(reply), CLIENT_ADDR)
            back = model.receive(reply, "n1")
            seen = [parsed(raw) for raw in received(at_client, 0.2)]
            assert [headers(p) for p in seen] == [headers(back.packet)], service
            assert (back.packet.src, back.packet.sport) == (address(service), 80)
            trace = {visit.chain for visit in expected.visits if visit.matched}
            assert {"KUBE-SERVICES", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"} <= trace
            assert any(chain.startswith("KUBE-SEP-") for chain in trace)
    finally:
        for sock in (client, server, at_server, at_client):
            sock.close()


def _chi_square(counts: Counter, flows: int, shares: int) -> float:
    expected = flows / shares
    return sum((counts.get(index, 0) - expected) ** 2 / expected for index in range(shares))


def test_statistic_splits_new_flows_evenly_in_the_kernel_and_the_model(
        topology: Topology) -> None:
    shape = ClusterShape(1, 3, cluster_base=SERVICES, endpoint_base=ENDPOINTS)
    _, model = _load(topology, shape)
    flows = 300
    client = topology.sender(topology.client, marked=True)
    at_server = topology.capture(topology.server, "s0")
    kernel: Counter = Counter()
    ours: Counter = Counter()
    try:
        for flow in range(flows):
            packet = Packet(address(CLIENT_ADDR), address("198.18.5.1"), IPPROTO_TCP,
                            20000 + flow, 80, tcp_flags=TCP_SYN)
            drain(at_server)
            send_packet(client, wire(packet), SERVER_ADDR)
            arrived = [parsed(raw) for raw in received(at_server, 0.2, limit=1)]
            assert len(arrived) == 1
            kernel[(arrived[0].dst & 0xFF) - 11] += 1
            ours[(model.receive(packet, "n0").packet.dst & 0xFF) - 11] += 1
    finally:
        client.close()
        at_server.close()
    assert sum(kernel.values()) == sum(ours.values()) == flows
    assert _chi_square(kernel, flows, 3) < CHI_SQUARE_LIMIT, kernel
    assert _chi_square(ours, flows, 3) < CHI_SQUARE_LIMIT, ours
