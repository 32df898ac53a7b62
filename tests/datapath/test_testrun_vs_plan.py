"""Packet in -> verdict and packet out: the generated tc ingress program run by
BPF_PROG_TEST_RUN, against the reference model's node running the compiled Plan (the Plan
interpreter, translator/interp.py, for every table).

The programs run inside a throwaway namespace shaped like the conversations' node (n0 towards
the client, n1 towards the server, 198.18.5.0/24 routed to the server, the neighbours known),
so the routing step's FIB lookups answer as the node's would; nothing is attached and no
packet leaves. A forwarded packet comes out redirected to its interface (TC_ACT_REDIRECT) with
the model's headers and the TTL one lower; a dropped one is shot; one for the node is passed
on. Hypothesis draws rule sets and conversations as tests/datapath/
test_conversations_vs_model.py does (``BPFTABLES_DATAPATH_EXAMPLES`` raises the count), and
every service of kube-proxy's fixture 01 is probed.
"""

from __future__ import annotations

import ctypes
import os
import random
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpf.bpffs import ensure_bpffs, remove_tree
from bpf.enforcer import Enforcer, Interface
from bpf.ruledata import Environment
from bpf.testrun import run_program
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.datapath.test_conversations_vs_model import ruleset_text
from tests.differential import test_model_conversations_vs_kernel as kernel_test
from tests.netns.conversation import Step
from tests.netns.packets import answer, headers, parsed, unreachable, wire
from tests.netns.services import FIXTURES, ROUTED, moved_fixture, probes
from tests.netns.topology import (
    CLIENT_ADDR,
    NODE_CLIENT_SIDE,
    NODE_SERVER_SIDE,
    SERVER_ADDR,
    node_host,
)
from translator.compile import compile_ruleset
from translator.interp import plan_runner
from translator.model.node import Node
from translator.model.packet import IPPROTO_ICMP, IPPROTO_TCP, TCP_ACK, TCP_SYN, Packet, address
from translator.shape import analyze

pytestmark = [pytest.mark.netns, pytest.mark.bpf]

EXAMPLES = int(os.environ.get("BPFTABLES_DATAPATH_EXAMPLES", "12"))
TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT = 0, 2, 7
CLONE_NEWNET = 0x40000000
ETHERNET = bytes.fromhex("020000000002" "020000000001") + b"\x08\x00"


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def _skb_ctx(ifindex: int) -> bytes:
    """struct __sk_buff up to tc_index: the packet came in by ``ifindex``."""
    ctx = bytearray(48)
    ctx[36:40] = ifindex.to_bytes(4, "little")  # ingress_ifindex
    ctx[40:44] = ifindex.to_bytes(4, "little")  # ifindex
    return bytes(ctx)


class NodeNamespace:
    """The throwaway namespace, entered by this process while programs run."""

    def __init__(self) -> None:
        self.name = f"bpft-tr{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        commands = [["link", "set", "lo", "up"]]
        for dev, peer, addr, neighbour in (("n0", "p0", NODE_CLIENT_SIDE, CLIENT_ADDR),
                                            ("n1", "p1", NODE_SERVER_SIDE, SERVER_ADDR)):
            commands += [["link", "add", dev, "type", "veth", "peer", "name", peer],
                         ["addr", "add", f"{addr}/24", "dev", dev], ["link", "set", dev, "up"],
                         ["link", "set", peer, "up"],
                         ["neigh", "add", neighbour, "lladdr", "02:00:00:00:00:09", "dev", dev]]
        commands += [["route", "add", network, "via", SERVER_ADDR]
                     for network in ("198.18.5.0/24", *ROUTED)]
        for command in commands:
            subprocess.run(["ip", "-n", self.name, *command], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", self.name, "sysctl", "-qw",
                        "net.ipv4.ip_forward=1"], check=True)
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        self.pins = ensure_bpffs() / f"testrun-{uuid.uuid4().hex[:8]}"
        self.pins.mkdir(mode=0o700)
        self.enforcer = Enforcer(pin_dir=self.pins, attach=False)

    @staticmethod
    def _ifindex(dev: str) -> int:
        return socket.if_nametoindex(dev)  # this process is in the namespace

    def load(self, ruleset: Ruleset) -> Node:
        """Compile (a new Shape) and fill the maps, no connections; the model node running the
        same Plan."""
        plan = compile_ruleset(ruleset)
        interfaces = [Interface("n0", self._ifindex("n0"), address(NODE_CLIENT_SIDE)),
                      Interface("n1", self._ifindex("n1"), address(NODE_SERVER_SIDE))]
        self.enforcer.apply(plan, analyze(plan),
                            Environment({i.name: i.index for i in interfaces}), interfaces,
                            [i.address for i in interfaces if i.address is not None])
        self.enforcer.clear_connections()
        return Node(ruleset, node_host("198.18.5.0/24", *ROUTED), random.Random(1),
                    icmp_ratelimit_ms=0, table_runner=plan_runner(plan))

    def run(self, packet: Packet, device: str) -> tuple[int, Packet | None]:
        """The program's verdict and, redirected, the packet it sent (its TTL read off the
        IP header: packets.parsed leaves TTLs at their default)."""
        assert self.enforcer.datapath is not None
        program = self.enforcer.datapath.programs["tc_ingress"]
        result = run_program(program.fd, ETHERNET + wire(packet),
                             ctx=_skb_ctx(self._ifindex(device)))
        if result.retval != TC_ACT_REDIRECT:
            return result.retval, None
        out = result.data[14:]
        return result.retval, parsed(out).with_(ttl=out[8])

    def close(self) -> None:
        self.enforcer.close()
        _setns(self.home)
        os.close(self.home)
        remove_tree(self.pins)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture(scope="module")
def node() -> Iterator[NodeNamespace]:
    test_node = NodeNamespace()
    try:
        yield test_node
    finally:
        test_node.close()


def _check(node: NodeNamespace, model: Node, packet: Packet, device: str,
           context: object) -> Packet | None:
    """Run one packet both ways; the packet that left (forwarded), or None."""
    retval, out = node.run(packet, device)
    expected = model.receive(packet, device)
    context = (context, packet, expected)
    if expected.verdict != "ACCEPT":
        assert retval == TC_ACT_SHOT, context
        return None
    if expected.path == "INPUT":
        assert retval == TC_ACT_OK, context
        return None
    assert retval == TC_ACT_REDIRECT and out is not None, context
    if expected.chosen_from is not None:
        low, high = expected.chosen_from
        assert low <= out.sport <= high, context
        assert headers(out.with_(sport=expected.packet.sport)) == headers(expected.packet), \
            context
        model.rebind(packet, out)
    else:
        assert headers(out) == headers(expected.packet), context
    assert out.ttl == packet.ttl - 1, context
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=ruleset_text(), steps=st.lists(kernel_test.STEPS, min_size=1, max_size=6))
def test_testrun_tables_match_the_plan_interpreter(node: NodeNamespace, text: str,
                                                   steps: list[Step]) -> None:
    text = kernel_test.EVERY_TABLE_EMPTY.replace("*security\nCOMMIT\n", "") + text
    model = node.load(Restorer().restore(text, Ruleset(), RestoreOptions()))
    last: Packet | None = None
    for step in steps:
        if step.side == "client":
            packet = Packet(address(CLIENT_ADDR),
                            address(kernel_test.SERVICE if step.to_service else SERVER_ADDR),
                            step.protocol, step.sport, step.dport,
                            tcp_flags=TCP_SYN if step.syn else TCP_ACK, icmp_type=8)
            if step.protocol == IPPROTO_ICMP:
                packet = packet.with_(dport=0)
            out = _check(node, model, packet, "n0", (text, steps, step))
            last = out or last
        elif last is not None:
            packet = answer(last) if step.side == "server" else unreachable(last)
            _check(node, model, packet, "n1", (text, steps, step))


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
def test_every_service_of_fixture_01_in_testrun_tables(node: NodeNamespace) -> None:
    text = moved_fixture("01-overall-mixed.rules")
    ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    model = node.load(ruleset)
    forwarded = 0
    for number, (source, destination, port) in enumerate(probes(text)):
        if source != CLIENT_ADDR:
            continue  # the refused client has no neighbour entry in this namespace
        packet = Packet(address(source), address(destination), IPPROTO_TCP, 45000 + number,
                        port, tcp_flags=TCP_SYN)
        retval, out = node.run(packet, "n0")
        expected = model.receive(packet, "n0")
        context = (source, destination, port, expected)
        if expected.verdict != "ACCEPT":
            assert retval in (TC_ACT_SHOT, TC_ACT_REDIRECT), context  # REJECT answers
            continue
        if expected.path == "INPUT":
            assert retval == TC_ACT_OK, context
            continue
        assert retval == TC_ACT_REDIRECT and out is not None, context
        model.rebind(packet, out)  # statistic: the endpoint the program drew
        assert out.src == expected.packet.src, context
        forwarded += 1
        back = answer(out)
        retval, returned = node.run(back, "n1")
        expected_back = model.receive(back, "n1")
        assert retval == TC_ACT_REDIRECT and returned is not None, context
        assert headers(returned) == headers(expected_back.packet), context
    assert forwarded > 0
