"""kube-proxy's own rule sets (fixtures 01 and 04) enforced by the datapath alone: every service,
datapath against the reference model, with real traffic.

The node's netfilter tables stay empty; bpftables' programs run its rules. Addresses are moved
into 198.18.0.0/15 and kube-proxy's jumps added as in tests/differential/
test_model_fixtures_vs_kernel.py (where the model is checked against the kernel with the same
probes). For every address and port a service answers on: the connection reaches an endpoint
the model can pick (statistic), from the address the model says (MASQUERADE), the endpoint's
answer comes back from the service address, what the model drops is not delivered, and a
service without endpoints answers with REJECT's ICMP error as the model says.
"""

from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.datapath.test_conversations_vs_model import NodeDatapath
from tests.differential.test_model_fixtures_vs_kernel import (
    REFUSED_CLIENT,
    ROUTED,
    _move_address,
    _possible_endpoints,
    moved_fixture,
    probes,
)
from tests.netns.packets import answer, headers, parsed, wire
from tests.netns.topology import SERVER_ADDR, Topology, drain, node_host, received, send_packet
from translator.model.node import Node
from translator.model.packet import IPPROTO_TCP, TCP_SYN, Packet, address

pytestmark = [pytest.mark.netns, pytest.mark.bpf]

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kube-proxy"


@pytest.fixture(scope="module")
def topology() -> Iterator[tuple[Topology, NodeDatapath]]:
    topo = Topology.create()
    datapath = None
    try:
        topo.silence_ends()
        subprocess.run(["ip", "-n", topo.client, "addr", "add", f"{REFUSED_CLIENT}/24", "dev",
                        "c0"], check=True)
        for last in range(1, 6):
            subprocess.run(["ip", "-n", topo.server, "addr", "add", f"198.19.180.{last}/32",
                            "dev", "s0"], check=True)
        for network in ROUTED:
            subprocess.run(["ip", "-n", topo.node, "route", "add", network, "via",
                            SERVER_ADDR], check=True)
        datapath = NodeDatapath(topo)
        yield topo, datapath
    finally:
        if datapath is not None:
            datapath.close(topo.node)
        topo.close()


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
@pytest.mark.parametrize("fixture", ["01-overall-mixed.rules", "04-repeated-1-full-initial.rules"])
def test_every_service_through_the_datapath(topology: tuple[Topology, NodeDatapath],
                                            fixture: str) -> None:
    topo, datapath = topology
    text = moved_fixture(fixture)
    ruleset = datapath.load(text)
    model = Node(ruleset, node_host(*ROUTED), random.Random(1), icmp_ratelimit_ms=0)
    client = topo.sender(topo.client, marked=True)
    server = topo.sender(topo.server, marked=True)
    at_server = topo.capture(topo.server, "s0")
    at_client = topo.capture(topo.client, "c0")
    reached = refused = 0
    try:
        for number, (source, destination, port) in enumerate(probes(text)):
            packet = Packet(address(source), address(destination), IPPROTO_TCP, 44000 + number,
                            port, tcp_flags=TCP_SYN)
            context = (fixture, source, destination, port)
            for capture in (at_server, at_client):
                drain(capture)
            send_packet(client, wire(packet), destination)
            expected = model.receive(packet, "n0")
            at_endpoint = [parsed(raw) for raw in received(at_server, 0.1)]
            answers = [parsed(raw) for raw in received(at_client, 0.02)]
            if expected.path == "INPUT":
                # delivered to the node's own stack, which has no listener: it resets
                assert at_endpoint == [], context
                resets = [p for p in answers if p.protocol == IPPROTO_TCP and p.tcp_flags & 4]
                assert bool(resets) == (expected.verdict == "ACCEPT"), context
                refused += 1
                continue
            if expected.verdict != "ACCEPT":
                assert at_endpoint == [], context
                wanted = [headers(expected.reply)] if expected.reply is not None else []
                assert [headers(p) for p in answers] == wanted, context
                refused += 1
                continue
            assert len(at_endpoint) == 1, context
            arrived = at_endpoint[0]
            if (arrived.dst, arrived.dport) != (expected.packet.dst, expected.packet.dport):
                assert (arrived.dst, arrived.dport) in _possible_endpoints(ruleset, packet), \
                    context
            low, high = expected.chosen_from or (expected.packet.sport, expected.packet.sport)
            assert low <= arrived.sport <= high and arrived.src == expected.packet.src, context
            model.rebind(packet, arrived)
            reached += 1
            reply = answer(arrived)
            drain(at_client)
            send_packet(server, wire(reply), source)
            back = model.receive(reply, "n1")
            seen = [parsed(raw) for raw in received(at_client, 0.1)]
            assert [headers(p) for p in seen] == [headers(back.packet)], context
            assert (back.packet.src, back.packet.sport) == (address(destination), port), context
    finally:
        for sock in (client, server, at_server, at_client):
            sock.close()
    assert reached > 0, refused


def test_data_only_syncs_keep_the_programs(topology: tuple[Topology, NodeDatapath]) -> None:
    """Fixtures 04 -> 05 -> 06 (a service added, then removed) as kube-proxy sends them: the
    attached programs stay the same; 07's first REJECT rule is a new kind of rule: one
    recompile; 08 fails to restore (as in iptables) and changes nothing."""
    topo, datapath = topology
    restorer = Restorer()
    ruleset = Ruleset()
    ids = []
    syncs = ("04-repeated-1-full-initial.rules", "05-repeated-2-partial-add-service.rules",
             "06-repeated-3-partial-delete-service.rules",
             "07-repeated-4-partial-new-service-no-endpoints-reject.rules")
    for number, name in enumerate(syncs):
        text = re.sub(r"\b(\d+\.\d+\.\d+\.\d+)(/\d+)?", _move_address,
                      (FIXTURES / name).read_text())
        if number == 0:  # kube-proxy adds its jumps once
            text = moved_fixture(name)
        ruleset = restorer.restore(text, ruleset,
                                   RestoreOptions(noflush=True, counters=True))
        datapath.apply(ruleset)
        ids.append(datapath.enforcer.program_ids())
    assert ids[0] == ids[1] == ids[2]
    assert ids[3] != ids[2]
