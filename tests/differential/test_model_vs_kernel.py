"""Differential: the reference model against real netfilter, packet by packet, rule by rule.

Hypothesis builds filter rule sets (user chains, jumps, gotos, returns, policies, addresses,
protocols, interfaces) and packets; the node namespace of a client -- node -- server topology
loads the rules with iptables-legacy-restore and forwards the packets. For every packet the
model's verdict must equal what the server saw (delivered or not), and after every example each
rule's packet counter in ``iptables-legacy-save -c`` must equal the model's hit count.
``BPFTABLES_MODEL_EXAMPLES`` raises the number of examples for long runs.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.netns.topology import (
    CLIENT_ADDR,
    SERVER_ADDR,
    Topology,
    drain,
    received,
    send_packet,
)
from tests.oracle import LegacyIptables
from translator.model.evaluate import run_hook
from translator.model.packet import Host, Packet, address
from translator.model.semantics import Context

pytestmark = pytest.mark.netns

EXAMPLES = int(os.environ.get("BPFTABLES_MODEL_EXAMPLES", "25"))
# Delivered packets arrive within microseconds; a dropped one is declared dropped after this.
DROP_WAIT = 0.08

SOURCES = ["198.18.0.2", "198.18.0.0/24", "198.18.0.0/15", "198.18.0.3", "10.0.0.0/8"]
DESTINATIONS = ["198.18.1.2", "198.18.1.0/24", "198.18.1.3", "198.18.0.0/16"]
USER_CHAINS = ["A", "B", "C"]


@st.composite
def rule_line(draw: st.DrawFn, chain: str) -> str:
    words = [f"-A {chain}"]
    if draw(st.booleans()):
        words.append(draw(st.sampled_from(["", "! "])) + "-s " + draw(st.sampled_from(SOURCES)))
    if draw(st.booleans()):
        words.append(draw(st.sampled_from(["", "! "])) + "-d "
                     + draw(st.sampled_from(DESTINATIONS)))
    if draw(st.booleans()):
        words.append(draw(st.sampled_from(["", "! "])) + "-p "
                     + draw(st.sampled_from(["tcp", "udp", "icmp"])))
    if draw(st.integers(0, 3)) == 0:
        words.append(draw(st.sampled_from(["-i n0", "-i n+", "! -i n1", "-o n1", "-o c0"])))
    index = USER_CHAINS.index(chain) if chain in USER_CHAINS else -1
    # jumps only go "down" the chain list, so generated sets never loop
    callees = USER_CHAINS[index + 1:]
    targets = ["", "-j ACCEPT", "-j DROP", "-j RETURN"]
    targets += [f"-j {callee}" for callee in callees] + [f"-g {callee}" for callee in callees]
    target = draw(st.sampled_from(targets))
    if target:
        words.append(target)
    return " ".join(words)


@st.composite
def ruleset_text(draw: st.DrawFn) -> str:
    lines = ["*filter", ":INPUT ACCEPT [0:0]",
             f":FORWARD {draw(st.sampled_from(['ACCEPT', 'DROP']))} [0:0]",
             ":OUTPUT ACCEPT [0:0]"]
    lines += [f":{chain} - [0:0]" for chain in USER_CHAINS]
    for _ in range(draw(st.integers(1, 8))):
        lines.append(draw(rule_line(draw(st.sampled_from(["FORWARD", *USER_CHAINS])))))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


PACKETS = st.builds(
    lambda proto, port: (proto, port),
    st.sampled_from(["tcp", "udp", "icmp"]), st.integers(1000, 1003),
)


def build_packet(proto: str, port: int) -> tuple[bytes, Packet]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    layer = {"tcp": TCP(sport=port, dport=80, flags="S"), "udp": UDP(sport=port, dport=53),
             "icmp": ICMP(type=8, id=port)}[proto]
    raw = bytes(IP(src=CLIENT_ADDR, dst=SERVER_ADDR) / layer)
    number = {"tcp": 6, "udp": 17, "icmp": 1}[proto]
    model = Packet(address(CLIENT_ADDR), address(SERVER_ADDR), protocol=number, sport=port,
                   dport=80 if proto == "tcp" else 53, length=len(raw), in_iface="n0",
                   out_iface="n1")
    return raw, model


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    topo = Topology.create()
    try:
        server = LegacyIptables(topo.server)
        # the server answers nothing, so only the client's packets cross the node
        server.iptables("-A", "OUTPUT", "-j", "DROP")
        yield topo
    finally:
        topo.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=ruleset_text(), packets=st.lists(PACKETS, min_size=1, max_size=4))
def test_forward_verdicts_and_counters_match_the_kernel(topology: Topology, text: str,
                                                       packets: list[tuple[str, int]]) -> None:
    node = LegacyIptables(topology.node)
    loaded = node.restore(text, "-c")
    assert loaded.code == 0, loaded.err
    ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    hits: Counter = Counter()

    def count(table: str, chain: str, rule: int | None) -> None:
        hits[(table, chain, rule)] += 1

    sender = topology.sender(topology.client)
    capture = topology.capture(topology.server, "s0")
    try:
        for proto, port in packets:
            raw, model_packet = build_packet(proto, port)
            drain(capture)
            send_packet(sender, raw, SERVER_ADDR)
            expected = run_hook(ruleset, "FORWARD", model_packet,
                                Context(Host(), "FORWARD"), on_hit=count).verdict
            arrived = [packet for packet in received(capture, DROP_WAIT) if packet == raw[:20]
                       or packet[12:20] == raw[12:20]]
            assert ("ACCEPT" if arrived else "DROP") == expected, (text, proto, port)
    finally:
        sender.close()
        capture.close()
    assert node.packet_counters() == hits, text
