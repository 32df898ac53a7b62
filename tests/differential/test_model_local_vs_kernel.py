"""Differential: traffic to and from the node itself (INPUT, OUTPUT), model against the kernel.

Like the conversation test, with the node as an end: the client sends to the node's addresses
(INPUT, REDIRECT, addrtype LOCAL), and the node sends to the server and to a service address
(OUTPUT, nat OUTPUT DNAT, POSTROUTING). Delivery to the node is observed with raw sockets in the
node's namespace, which see exactly what INPUT let through. The node's kernel would answer some
packets itself (resets, port unreachable, echo replies); the loaded rule set drops everything in
raw OUTPUT but the test's own packets (mark 0x77), and the model runs the same rule set, so both
sides stay silent alike. Every packet's fate and headers and every counter must agree.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyroute2.netns import create_socket

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.netns.packets import headers, parsed, wire
from tests.netns.topology import (
    CLIENT_ADDR,
    NODE_CLIENT_SIDE,
    NODE_SERVER_SIDE,
    SENDER_MARK,
    SERVER_ADDR,
    Topology,
    drain,
    node_host,
    received,
    send_packet,
)
from tests.oracle import LegacyIptables
from translator.model.node import Node
from translator.model.packet import (
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_SYN,
    Packet,
    address,
)

pytestmark = pytest.mark.netns

EXAMPLES = int(os.environ.get("BPFTABLES_MODEL_EXAMPLES", "25"))
DROP_WAIT = 0.08
SERVICE = "198.18.5.5"

RAW_OUTPUT = f"-A OUTPUT -m mark ! --mark {hex(SENDER_MARK)} -j DROP"
NAT_PREROUTING = [
    "-A PREROUTING -p tcp --dport 81 -j REDIRECT --to-ports 8081",
    "-A PREROUTING -m addrtype --dst-type LOCAL -p udp --dport 53 -j REDIRECT --to-ports 5353",
    f"-A PREROUTING -d {SERVICE} -p tcp -j DNAT --to-destination {NODE_CLIENT_SIDE}:8080",
]
NAT_OUTPUT = [
    f"-A OUTPUT -d {SERVICE} -p tcp --dport 80 -j DNAT --to-destination {SERVER_ADDR}:8080",
    f"-A OUTPUT -d {SERVICE} -p udp -j DNAT --to-destination {SERVER_ADDR}",
    "-A OUTPUT -m addrtype --dst-type LOCAL -j RETURN",
]
NAT_POSTROUTING = [
    "-A POSTROUTING -o n1 -p udp -j MASQUERADE",
    f"-A POSTROUTING -s {NODE_SERVER_SIDE} -j RETURN",
]
FILTER_INPUT = [
    "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A INPUT -p tcp --dport 8081 -j ACCEPT",
    "-A INPUT -m addrtype --dst-type LOCAL -p udp -j DROP",
    "-A INPUT -i n0 -p icmp -j ACCEPT",
    f"-A INPUT -d {NODE_SERVER_SIDE} -j DROP",
    "-A INPUT -m conntrack --ctstate DNAT -j ACCEPT",
    "-A INPUT -p tcp -m multiport --dports 22,80,8080 -j LOCAL",
]
FILTER_LOCAL = ["-A LOCAL -s 198.18.0.0/24 -j ACCEPT", "-A LOCAL -j DROP"]
FILTER_OUTPUT = [
    "-A OUTPUT -p udp -o n1 -j ACCEPT",
    "-A OUTPUT -m addrtype --dst-type UNICAST -p tcp --dport 8080 -j ACCEPT",
    f"-A OUTPUT -d {SERVER_ADDR} -p icmp -j DROP",
    "-A OUTPUT -m conntrack --ctstate NEW -p tcp --syn -j MARK --set-xmark 0x10/0x10",
]


@st.composite
def ruleset_text(draw: st.DrawFn) -> str:
    def some(lines: list[str]) -> list[str]:
        return draw(st.lists(st.sampled_from(lines), max_size=4))

    policy = draw(st.sampled_from(["ACCEPT", "DROP"]))
    # every table the test zeroes exists on both sides (zeroing creates it in the kernel)
    text = ["*raw", RAW_OUTPUT, "COMMIT", "*mangle", "COMMIT"]
    text += ["*nat", *some(NAT_PREROUTING), *some(NAT_OUTPUT), *some(NAT_POSTROUTING), "COMMIT"]
    text += ["*filter", f":INPUT {policy} [0:0]", ":LOCAL - [0:0]", *some(FILTER_INPUT),
             *some(FILTER_LOCAL), *some(FILTER_OUTPUT), "COMMIT"]
    return "\n".join(text) + "\n"


SENDS = st.tuples(
    st.sampled_from(["client", "node"]),
    st.sampled_from([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP]),
    st.sampled_from([40000, 40001]),
    st.sampled_from([NODE_CLIENT_SIDE, NODE_SERVER_SIDE, SERVICE, SERVER_ADDR]),
    st.sampled_from([80, 81, 53, 8081]),
    st.booleans(),
)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    topo = Topology.create()
    try:
        topo.silence_ends()
        subprocess.run(["ip", "-n", topo.node, "route", "add", "198.18.5.0/24", "via",
                        SERVER_ADDR], check=True)
        yield topo
    finally:
        topo.close()


def delivered_locally(sockets: list[socket.socket], wait: float) -> list[Packet]:
    """What the node's raw sockets received (bounded in time and count)."""
    ready, _, _ = select.select(sockets, [], [], wait)
    packets = []
    for sock in ready:
        for _ in range(8):
            try:
                packets.append(parsed(sock.recv(65535)))
            except BlockingIOError:
                break
    return packets


def compared(counts: Counter) -> Counter:
    """Counters but raw OUTPUT's drop rule: it also counts the node's own answers."""
    return Counter({key: count for key, count in counts.items()
                    if count and (key[:2] != ("raw", "OUTPUT") or key[2] is None)})


_REDIRECT_81 = (f"*raw\n{RAW_OUTPUT}\nCOMMIT\n*mangle\nCOMMIT\n*nat\n"
                "-A PREROUTING -p tcp --dport 81 -j REDIRECT --to-ports 8081\nCOMMIT\n*filter\n"
                ":INPUT ACCEPT [0:0]\n:LOCAL - [0:0]\nCOMMIT\n")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=ruleset_text(), sends=st.lists(SENDS, min_size=1, max_size=5))
# found by hypothesis: the node sending to its own address loops back through PREROUTING, INPUT
@example(text=f"*raw\n{RAW_OUTPUT}\nCOMMIT\n*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n",
         sends=[("node", IPPROTO_TCP, 40000, NODE_CLIENT_SIDE, 80, True)])
# ... an ACK on a connection still in SYN_SENT is INVALID: no NAT for it (REDIRECT undone)
@example(text=_REDIRECT_81, sends=[("client", IPPROTO_TCP, 40000, NODE_CLIENT_SIDE, 81, True),
                                   ("client", IPPROTO_TCP, 40000, NODE_CLIENT_SIDE, 81, False)])
# ... two REDIRECTs onto one tuple: the DNAT keeps it, the null SNAT binding moves the port
@example(text=_REDIRECT_81, sends=[("client", IPPROTO_TCP, 40000, NODE_CLIENT_SIDE, 81, False),
                                   ("client", IPPROTO_TCP, 40000, NODE_SERVER_SIDE, 81, False)])
def test_local_traffic_matches_the_kernel(topology: Topology, text: str,
                                          sends: list[tuple]) -> None:
    node = LegacyIptables(topology.node)
    node.run(["conntrack", "-F"])
    loaded = node.restore(text)
    assert loaded.code == 0, loaded.err
    for table in ("filter", "nat", "raw", "mangle"):
        node.run(["iptables-legacy", "-t", table, "-Z"])
    model = Node(Restorer().restore(text, Ruleset(), RestoreOptions()), node_host("198.18.5.0/24"),
                 icmp_ratelimit_ms=0)
    client_send = topology.sender(topology.client, marked=True)
    node_send = topology.sender(topology.node, marked=True)
    local = [create_socket(topology.node, socket.AF_INET, socket.SOCK_RAW, proto)
             for proto in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP)]
    for sock in local:
        sock.setblocking(False)
    at_server = topology.capture(topology.server, "s0")
    try:
        for side, protocol, sport, destination, dport, syn in sends:
            source = CLIENT_ADDR if side == "client" else NODE_SERVER_SIDE
            packet = Packet(address(source), address(destination), protocol, sport,
                            dport if protocol != IPPROTO_ICMP else 0,
                            tcp_flags=TCP_SYN if syn else TCP_ACK, icmp_type=8,
                            mark=SENDER_MARK if side == "node" else 0)
            if side == "client" and destination == SERVER_ADDR:
                continue  # forwarding is the conversation test's
            for sock in local:
                while delivered_locally([sock], 0):
                    pass
            drain(at_server)
            if side == "client":
                send_packet(client_send, wire(packet), destination)
                expected = model.receive(packet.with_(mark=0), "n0")
            else:
                send_packet(node_send, wire(packet), destination)
                expected = model.send(packet)
            context = (text, sends, side, protocol, destination, dport)
            if expected.path == "INPUT":
                got = delivered_locally(local, DROP_WAIT)
            else:
                got = [parsed(raw) for raw in received(at_server, DROP_WAIT)]
            if expected.verdict == "ACCEPT" and expected.chosen_from is not None and got:
                low, high = expected.chosen_from
                assert low <= got[0].sport <= high, context
                assert headers(got[0].with_(sport=expected.packet.sport)) == headers(
                    expected.packet), context
                model.rebind(packet, got[0])
            elif expected.verdict == "ACCEPT":
                assert [headers(p) for p in got] == [headers(expected.packet)], context
            else:
                assert got == [], context
    finally:
        for sock in (client_send, node_send, at_server, *local):
            sock.close()
    assert compared(node.packet_counters()) == compared(model.counters), text
