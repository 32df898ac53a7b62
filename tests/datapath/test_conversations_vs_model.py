"""End to end: conversations through a node whose rules run in bpftables' datapath only (its
netfilter tables are empty), compared packet by packet with the reference model.

The same topology and conversations as tests/differential/test_model_conversations_vs_kernel.py
(where the model is checked against iptables-legacy), with the rule lines the datapath enforces
today (no REJECT answers, CONNMARK save/restore or connmark match yet). For every packet:
delivered or not, and the addresses and ports it arrived with; after every example, each rule's
and policy's packet counter. Different Shapes recompile; the same Shape only rewrites data.
``BPFTABLES_DATAPATH_EXAMPLES`` raises the number of examples.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyroute2.netns import create_socket

from bpf.bpffs import ensure_bpffs, remove_tree
from bpf.enforcer import Enforcer, Interface, ipv4_of
from bpf.loader import xdp_metadata_supported
from bpf.ruledata import Environment
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.differential import test_model_conversations_vs_kernel as kernel_test
from tests.netns.conversation import Step, converse
from tests.netns.packets import parsed, wire
from tests.netns.topology import (
    CLIENT_ADDR,
    NODE_CLIENT_SIDE,
    NODE_SERVER_SIDE,
    SERVER_ADDR,
    Topology,
    drain,
    node_host,
    received,
    send_packet,
)
from translator.compile import compile_ruleset
from translator.model.node import Node
from translator.model.packet import IPPROTO_TCP, IPPROTO_UDP, Host, Packet
from translator.shape import analyze

pytestmark = [pytest.mark.netns, pytest.mark.bpf]

EXAMPLES = int(os.environ.get("BPFTABLES_DATAPATH_EXAMPLES", "12"))
DROP_WAIT = 0.08
SERVICE = kernel_test.SERVICE


def _enforced(lines: list[str]) -> list[str]:
    return [line for line in lines
            if "REJECT" not in line and "CONNMARK" not in line and "connmark" not in line]


@st.composite
def ruleset_text(draw: st.DrawFn) -> str:
    def some(lines: list[str]) -> list[str]:
        return draw(st.lists(st.sampled_from(_enforced(lines)), max_size=4))

    text = ["*raw", *some(kernel_test.RAW_PREROUTING), "COMMIT",
            "*mangle", *some(kernel_test.MANGLE_PREROUTING), "COMMIT", "*nat", ":SVC - [0:0]",
            *some(kernel_test.NAT_PREROUTING), *some(kernel_test.NAT_SVC),
            *some(kernel_test.NAT_POSTROUTING), "COMMIT",
            "*filter", f":FORWARD {draw(st.sampled_from(['ACCEPT', 'DROP']))} [0:0]",
            ":CHECK - [0:0]", *some(kernel_test.FILTER_FORWARD),
            *some(kernel_test.FILTER_CHECK), "COMMIT"]
    return "\n".join(text) + "\n"


def _ifindex(netns: str, name: str) -> int:
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show", name], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split(":", 1)[0])


class NodeDatapath:
    """The node's datapath and what it needs to know of the node."""

    def __init__(self, topology: Topology) -> None:
        ensure_bpffs()
        self.enforcer = Enforcer(topology.node)
        self.interfaces = [
            Interface("n0", _ifindex(topology.node, "n0"), ipv4_of(NODE_CLIENT_SIDE)),
            Interface("n1", _ifindex(topology.node, "n1"), ipv4_of(NODE_SERVER_SIDE))]
        self.env = Environment({i.name: i.index for i in self.interfaces})

    def apply(self, ruleset: Ruleset) -> None:
        plan = compile_ruleset(ruleset)
        self.enforcer.apply(plan, analyze(plan), self.env, self.interfaces,
                            [i.address for i in self.interfaces if i.address is not None])

    def load(self, text: str) -> Ruleset:
        """A fresh rule set, and no connections."""
        ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
        self.apply(ruleset)
        self.enforcer.clear_connections()
        self.enforcer.zero_counters()
        return ruleset

    def packet_counters(self) -> Counter:
        return Counter({key: packets for key, (packets, _) in self.enforcer.counters().items()
                        if packets})

    def close(self, node: str) -> None:
        pins = self.enforcer.pin_dir
        self.enforcer.detach(self.interfaces)
        self.enforcer.close()
        remove_tree(pins)


@contextmanager
def node_with_datapath(prepare: Callable[[Topology], None]) -> Iterator[
        tuple[Topology, NodeDatapath]]:
    """A client -- node -- server topology, readied by ``prepare``, whose node runs its rules
    in the datapath; everything removed afterwards, whatever happens."""
    topo = Topology.create()
    datapath = None
    try:
        topo.silence_ends()
        prepare(topo)
        datapath = NodeDatapath(topo)
        yield topo, datapath
    finally:
        if datapath is not None:
            datapath.close(topo.node)
        topo.close()


def _route_services(topo: Topology) -> None:
    subprocess.run(["ip", "-n", topo.node, "route", "add", "198.18.5.0/24", "via",
                    SERVER_ADDR], check=True)


@pytest.fixture(scope="module")
def topology() -> Iterator[tuple[Topology, NodeDatapath]]:
    with node_with_datapath(_route_services) as pair:
        yield pair


SERVICE_DNAT = ("*nat\n:SVC - [0:0]\n-A PREROUTING -d 198.18.5.5 -p tcp --dport 80 -j DNAT "
                "--to-destination 198.18.1.2:8080\n-A PREROUTING -d 198.18.5.5 -j SVC\n"
                "-A SVC -p udp -j DNAT --to-destination 198.18.1.2:5353\nCOMMIT\n")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=ruleset_text(), steps=st.lists(kernel_test.STEPS, min_size=1, max_size=5))
@example(text=SERVICE_DNAT, steps=[Step("client", IPPROTO_TCP, 40000, True, 80, True),
                                   Step("server"), Step("client", IPPROTO_TCP, 40000, True, 80,
                                                        False), Step("error")])
@example(text=SERVICE_DNAT, steps=[Step("client", IPPROTO_UDP, 40001, True, 53, True),
                                   Step("server")])
def test_datapath_conversations_match_the_model(topology: tuple[Topology, NodeDatapath],
                                                text: str, steps: list[Step]) -> None:
    topo, datapath = topology
    text = kernel_test.EVERY_TABLE_EMPTY.replace("*security\nCOMMIT\n", "") + text
    ruleset = datapath.load(text)
    model = Node(ruleset, node_host("198.18.5.0/24"), icmp_ratelimit_ms=0)
    converse(topo, model, steps, SERVICE, DROP_WAIT, text, answers_checked=False)
    # the node's own packets (its kernel's answers) cross OUTPUT: not counted on either side
    assert kernel_test.not_output(datapath.packet_counters()) == kernel_test.not_output(
        model.counters), text


def test_the_same_shape_keeps_its_programs(topology: tuple[Topology, NodeDatapath]) -> None:
    topo, datapath = topology
    datapath.load(SERVICE_DNAT)
    before = datapath.enforcer.program_ids()
    compiles = datapath.enforcer.compiles
    datapath.load(SERVICE_DNAT.replace("198.18.1.2:5353", "198.18.1.2:5354"))
    assert datapath.enforcer.compiles == compiles
    assert datapath.enforcer.program_ids() == before
    assert len(before) == 4  # n0 and n1, ingress and egress (no raw rules: no XDP)


def test_restart_and_recompile_keep_connections(topology: tuple[Topology, NodeDatapath]) -> None:
    """The agent restarts (a new Enforcer adopts the running programs: no compile, same ids),
    then the Shape changes (a recompile replaces the programs) and the service moves to another
    port: a UDP flow opened before both keeps its first translation, because connections live
    in pinned maps; a new flow gets the new one."""
    topo, datapath = topology
    ruleset = datapath.load(SERVICE_DNAT)
    client_send = topo.sender(topo.client, marked=True)
    at_server = topo.capture(topo.server, "s0")
    old_flow = Packet(ipv4_of(CLIENT_ADDR), ipv4_of(SERVICE), IPPROTO_UDP, 41000, 53)
    new_flow = old_flow.with_(sport=41001)

    def ports(packet: Packet) -> list[int]:
        drain(at_server)
        send_packet(client_send, wire(packet), SERVER_ADDR)
        return [p.dport for p in map(parsed, received(at_server, DROP_WAIT))]

    try:
        assert ports(old_flow) == [5353]
        found = {(c.original, c.reply, c.status) for c in datapath.enforcer.connections()}
        assert ((IPPROTO_UDP, ipv4_of(CLIENT_ADDR), ipv4_of(SERVICE), 41000, 53),
                (IPPROTO_UDP, ipv4_of(SERVER_ADDR), ipv4_of(CLIENT_ADDR), 5353, 41000),
                frozenset({"DNAT"})) in found
        ids = datapath.enforcer.program_ids()
        datapath.enforcer.close()
        datapath.enforcer = Enforcer(topo.node)
        datapath.apply(ruleset)
        assert datapath.enforcer.compiles == 0
        assert datapath.enforcer.program_ids() == ids
        assert ports(old_flow) == [5353]
        moved = SERVICE_DNAT.replace(":5353", ":5354") + (
            "*filter\n-A FORWARD -m mark --mark 0x1 -j DROP\nCOMMIT\n")
        datapath.apply(Restorer().restore(moved, Ruleset(), RestoreOptions()))
        assert datapath.enforcer.compiles == 1
        assert datapath.enforcer.program_ids() != ids
        assert ports(old_flow) == [5353]
        assert ports(new_flow) == [5354]
    finally:
        client_send.close()
        at_server.close()


XDP_RAW = ("*raw\n-A PREROUTING -p udp -m udp --dport 9 -j DROP\n"
           "-A PREROUTING -p udp -m udp --dport 53 -j NOTRACK\nCOMMIT\n"
           "*filter\n-A FORWARD -m state --state UNTRACKED -j DROP\nCOMMIT\n")


def test_raw_prerouting_runs_at_xdp(topology: tuple[Topology, NodeDatapath]) -> None:
    """Header-only raw PREROUTING rules run at XDP: its drops never reach tc, its NOTRACK
    reaches the filter table's UNTRACKED test; counters as the model's."""
    topo, datapath = topology
    ruleset = datapath.load(XDP_RAW)
    ids = datapath.enforcer.program_ids()
    if xdp_metadata_supported():
        assert {("n0", "XDP"), ("n1", "XDP")} <= ids.keys()
    else:  # this kernel refuses XDP metadata: tc runs raw PREROUTING, with the same verdicts
        assert not any(hook == "XDP" for _, hook in ids)
    model = Node(ruleset, node_host("198.18.5.0/24"), icmp_ratelimit_ms=0)
    client_send = topo.sender(topo.client, marked=True)
    at_server = topo.capture(topo.server, "s0")
    try:
        for port, delivered in ((9, False), (53, False), (80, True)):
            packet = Packet(ipv4_of(CLIENT_ADDR), ipv4_of(SERVER_ADDR), IPPROTO_UDP, 42000,
                            port)
            drain(at_server)
            send_packet(client_send, wire(packet), SERVER_ADDR)
            arrived = received(at_server, DROP_WAIT)
            assert bool(arrived) == delivered == (model.receive(packet, "n0").verdict
                                                  == "ACCEPT"), port
    finally:
        client_send.close()
        at_server.close()
    assert kernel_test.not_output(datapath.packet_counters()) == kernel_test.not_output(
        model.counters)


def test_output_dnat_is_routed_again(topology: tuple[Topology, NodeDatapath]) -> None:
    """The node itself sends to an address routed towards the client; nat OUTPUT DNATs it to
    the server: it leaves towards the server (ip_route_me_harder), once."""
    topo, datapath = topology
    ruleset = datapath.load("*nat\n-A OUTPUT -d 198.18.6.6 -p udp --dport 53 -j DNAT "
                            "--to-destination 198.18.1.2:5353\nCOMMIT\n")
    host = node_host("198.18.5.0/24")
    model = Node(ruleset, Host(host.interfaces, (*host.routes, (ipv4_of("198.18.6.0"), 24,
                                                                "n0"))))
    expected = model.send(Packet(ipv4_of(NODE_CLIENT_SIDE), ipv4_of("198.18.6.6"), IPPROTO_UDP,
                                 40000, 53))
    assert expected.out_iface == "n1"
    subprocess.run(["ip", "-n", topo.node, "route", "add", "198.18.6.0/24", "via",
                    CLIENT_ADDR], check=True)
    at_server = topo.capture(topo.server, "s0")
    at_client = topo.capture(topo.client, "c0")
    sender = create_socket(topo.node, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.sendto(b"query", ("198.18.6.6", 53))
        arrived = [parsed(raw) for raw in received(at_server, DROP_WAIT)]
        assert [(p.src, p.dst, p.dport) for p in arrived] == [
            (expected.packet.src, expected.packet.dst, expected.packet.dport)]
        assert [p for p in map(parsed, received(at_client, 0.02)) if p.dport == 53] == []
        counts = datapath.packet_counters()
        assert counts[("nat", "OUTPUT", 1)] == 1
    finally:
        sender.close()
        at_server.close()
        at_client.close()
        subprocess.run(["ip", "-n", topo.node, "route", "del", "198.18.6.0/24"], check=False)
