"""Conversations through the harness, packet by packet against the reference model.

Each test writes its nat rules once (:class:`~tests.datapath.harness.NatRule`); the model runs
them as an iptables rule set in a :class:`~translator.model.node.Node` (client side n0
198.18.0.1/24, server side n1 198.18.1.1/24, the service network 198.18.5.0/24 routed to n1),
the harness as its config. For every packet: the verdict, and every byte of the packet that
leaves (addresses, ports, ICMP ids, the quoted header of ICMP errors, every checksum).
BPF_PROG_TEST_RUN has no FIB, so only forwarded traffic is sent (never to the node itself).
"""

from __future__ import annotations

import os
from dataclasses import astuple, dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpf import structs
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.datapath.harness import TC_ACT_OK, TC_ACT_SHOT, Harness, NatRule, nat_table
from tests.netns.packets import answer, unreachable, wire
from tests.netns.topology import node_host
from translator.model.node import Node, Outcome
from translator.model.packet import (
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_RST,
    TCP_SYN,
    Packet,
    address,
)

pytestmark = pytest.mark.bpf

CT_STATES = {"NEW": structs.CT_STATE_NEW, "ESTABLISHED": structs.CT_STATE_ESTABLISHED,
             "RELATED": structs.CT_STATE_RELATED, "INVALID": structs.CT_STATE_INVALID,
             "UNTRACKED": structs.CT_STATE_UNTRACKED}
TCP_STATE_NAMES = {int(state): state.name.removeprefix("CT_TCP_") for state in structs.CtTcpState}
TCP_STATE_NAMES[0] = ""

EXAMPLES = int(os.environ.get("BPFTABLES_DATAPATH_EXAMPLES", "30"))

CLIENT = address("198.18.0.2")
CLIENT2 = address("198.18.0.3")
SERVER = address("198.18.1.2")
NODE_N1 = "198.18.1.1"
SERVICE = address("198.18.5.5")

SERVICE_RULES = [
    NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "tcp", 80, to_ports=(8080, 8080)),
    NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "udp"),
    NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "icmp"),
    NatRule("MASQUERADE", "198.18.0.0/24", NODE_N1),
]
# HCFG_DROP_INVALID: the harness cannot tell INPUT from FORWARD (no FIB), so both drop.
DROP_INVALID = ("*filter\n-A INPUT -m conntrack --ctstate INVALID -j DROP\n"
                "-A FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n")


def icmp_zero_folded(raw: bytes) -> bytes:
    """``raw`` with an ICMP checksum of 0x0000 written as 0xffff.

    Both are ones-complement zero. An incremental update (bpf_l4_csum_replace, as the
    kernel's own NAT uses) yields 0x0000 where a full computation (scapy) yields 0xffff: when
    the message sums to zero, e.g. an echo whose id NAT moved to 0 with nothing else set.
    """
    if len(raw) < 20 or raw[9] != IPPROTO_ICMP:
        return raw
    offset = (raw[0] & 0x0F) * 4 + 2
    if raw[offset:offset + 2] != b"\x00\x00":
        return raw
    return raw[:offset] + b"\xff\xff" + raw[offset + 2:]


@dataclass
class Pair:
    """The model and the harness, fed the same packets."""

    node: Node
    harness: Harness

    def send(self, packet: Packet, iface: str) -> Outcome:
        """One packet through both; the verdicts and the bytes out must agree."""
        expected = self.node.receive(packet, iface)
        result = self.harness.run(wire(packet))
        verdict = {TC_ACT_OK: "ACCEPT", TC_ACT_SHOT: "DROP"}.get(result.retval, result.retval)
        assert verdict == expected.verdict, (packet.summary(), expected.state)
        if expected.verdict == "ACCEPT":
            assert icmp_zero_folded(result.data).hex() == wire(expected.packet).hex(), (
                packet.summary(), expected.packet.summary(), expected.state)
        state = self.harness.last_state().ct.state & ~(structs.CT_STATE_SNAT
                                                        | structs.CT_STATE_DNAT)
        assert state == CT_STATES[expected.state], (packet.summary(), expected.state, state)
        return expected

    def assert_same_connections(self) -> None:
        """The live connections: tuples, TCP state, reply seen, NAT status, time left."""
        now_ns = self.harness.now_ns()
        ours = {}
        for connection in self.harness.connections():
            if connection.expires_ns > now_ns:
                ours[connection.original] = (
                    connection.reply, TCP_STATE_NAMES[connection.tcp_state],
                    bool(connection.flags & structs.CT_F_SEEN_REPLY),
                    frozenset(name for name, bit in (("SNAT", structs.CT_F_SNAT),
                                                     ("DNAT", structs.CT_F_DNAT))
                              if connection.flags & bit),
                    round((connection.expires_ns - now_ns) / 1e9))
        theirs = {}
        for connection in self.node.conntrack.connections():
            if connection.expires > self.node.now:
                theirs[astuple(connection.original)] = (
                    astuple(connection.reply), connection.tcp_state, connection.seen_reply,
                    connection.status, round(connection.expires - self.node.now))
        assert ours == theirs

    def advance(self, seconds: float) -> None:
        self.node.now += seconds
        self.harness.advance(seconds)


def make_pair(harness: Harness, rules: list[NatRule], drop_invalid: bool = True,
              notrack_udp_dport: int = 0) -> Pair:
    text = nat_table(rules) + (DROP_INVALID if drop_invalid else "")
    if notrack_udp_dport:
        text += f"*raw\n-A PREROUTING -p udp --dport {notrack_udp_dport} -j NOTRACK\nCOMMIT\n"
    ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    node = Node(ruleset, node_host("198.18.5.0/24"), icmp_ratelimit_ms=0)
    harness.configure(rules, structs.HCFG_DROP_INVALID if drop_invalid else 0,
                      local=(address("198.18.0.1"), address(NODE_N1)),
                      notrack_udp_dport=notrack_udp_dport)
    return Pair(node, harness)


def tcp(src: int, sport: int, dst: int, dport: int, flags: int) -> Packet:
    return Packet(src, dst, IPPROTO_TCP, sport, dport, tcp_flags=flags)


def test_tcp_to_a_service_handshake_data_and_close(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES)
    out = pair.send(tcp(CLIENT, 40000, SERVICE, 80, TCP_SYN), "n0")
    assert out.state == "NEW"
    assert (out.packet.src, out.packet.dst, out.packet.dport) == (
        address(NODE_N1), SERVER, 8080)
    reply = pair.send(answer(out.packet), "n1")  # SYN+ACK from the server
    assert reply.state == "ESTABLISHED"
    assert (reply.packet.src, reply.packet.sport, reply.packet.dst) == (SERVICE, 80, CLIENT)
    for flags, iface in ((TCP_ACK, "n0"), (TCP_ACK | TCP_PSH, "n0"), (TCP_ACK, "n1"),
                         (TCP_FIN | TCP_ACK, "n0"), (TCP_FIN | TCP_ACK, "n1"), (TCP_ACK, "n0")):
        if iface == "n0":
            packet = tcp(CLIENT, 40000, SERVICE, 80, flags)
        else:
            packet = tcp(SERVER, 8080, address(NODE_N1), 40000, flags)
        assert pair.send(packet, iface).state == "ESTABLISHED"
    connections = harness.connections()
    assert len(connections) == 1
    assert connections[0].tcp_state == structs.CtTcpState.CT_TCP_TIME_WAIT
    assert harness.entries() == 2  # the original entry and the reply reference


def test_udp_query_reply_and_an_icmp_error_about_the_dnated_flow(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES)
    query = Packet(CLIENT, SERVICE, IPPROTO_UDP, 40000, 53)
    out = pair.send(query, "n0")
    assert (out.packet.dst, out.packet.dport) == (SERVER, 53)
    pair.send(answer(out.packet), "n1")
    error = pair.send(unreachable(out.packet), "n1")
    assert error.state == "RELATED"
    assert (error.packet.src, error.packet.dst) == (SERVICE, CLIENT)
    assert error.packet.embedded is not None and error.packet.embedded.dst == SERVICE


def test_icmp_echo_and_reply_through_dnat_and_masquerade(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES)
    echo = Packet(CLIENT, SERVICE, IPPROTO_ICMP, 7, icmp_type=8)
    out = pair.send(echo, "n0")
    assert (out.packet.src, out.packet.dst) == (address(NODE_N1), SERVER)
    reply = pair.send(answer(out.packet), "n1")
    assert reply.state == "ESTABLISHED" and reply.packet.dst == CLIENT
    pair.send(echo, "n0")


def test_icmp_error_about_a_tcp_flow_and_about_an_echo(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES)
    out = pair.send(tcp(CLIENT, 41000, SERVICE, 80, TCP_SYN), "n0")
    assert pair.send(unreachable(out.packet), "n1").state == "RELATED"
    echo = pair.send(Packet(CLIENT, SERVER, IPPROTO_ICMP, 9, icmp_type=8), "n0")
    assert pair.send(unreachable(echo.packet), "n1").state == "RELATED"
    # an error about nothing known is INVALID (and the filter rule drops it)
    stray = Packet(CLIENT2, SERVER, IPPROTO_UDP, 999, 53)
    assert pair.send(unreachable(stray), "n1").verdict == "DROP"


def test_tcp_packets_the_tracker_refuses_are_invalid(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES)
    # SYN+ACK, FIN, RST cannot start a connection
    for flags in (TCP_SYN | TCP_ACK, TCP_FIN, TCP_RST, 0):
        outcome = pair.send(tcp(CLIENT, 42000 + flags, SERVER, 22, flags), "n0")
        assert outcome.state == "INVALID" and outcome.verdict == "DROP"
    # a SYN_SENT connection refuses an original-direction SYN+ACK
    pair.send(tcp(CLIENT, 42100, SERVER, 22, TCP_SYN), "n0")
    assert pair.send(tcp(CLIENT, 42100, SERVER, 22, TCP_SYN | TCP_ACK), "n0").state == "INVALID"
    assert harness.drops().get("DROP_INVALID") == 5


def test_invalid_packets_pass_untranslated_without_the_drop_rule(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES, drop_invalid=False)
    outcome = pair.send(tcp(CLIENT, 42000, SERVICE, 80, TCP_SYN | TCP_ACK), "n0")
    assert outcome.verdict == "ACCEPT" and outcome.packet.dst == SERVICE
    assert harness.entries() == 0


def test_masquerade_moves_the_second_client_with_the_same_source_port(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES)
    first = pair.send(tcp(CLIENT, 40000, SERVER, 80, TCP_SYN), "n0")
    second = pair.send(tcp(CLIENT2, 40000, SERVER, 80, TCP_SYN), "n0")
    assert first.packet.sport == 40000
    assert second.packet.sport != 40000 and second.chosen_from == (1024, 65535)
    # each reply reaches its own client
    assert pair.send(answer(first.packet), "n1").packet.dst == CLIENT
    assert pair.send(answer(second.packet), "n1").packet.dst == CLIENT2


def test_snat_to_a_port_range_and_exhaustion(harness: Harness) -> None:
    rules = [NatRule("SNAT", "198.18.0.0/24", "198.18.1.9", "udp", to_ports=(2000, 2001))]
    pair = make_pair(harness, rules)
    for client_port in (5000, 5001):
        assert pair.send(Packet(CLIENT, SERVER, IPPROTO_UDP, client_port, 53), "n0"
                         ).verdict == "ACCEPT"
    # no third port in the range: the kernel drops
    assert pair.send(Packet(CLIENT, SERVER, IPPROTO_UDP, 5002, 53), "n0").verdict == "DROP"
    assert harness.drops() == {"DROP_NAT_NO_TUPLE": 1}


def test_udp_without_checksum_keeps_a_zero_checksum(harness: Harness) -> None:
    make_pair(harness, SERVICE_RULES)
    raw = bytearray(wire(Packet(CLIENT, SERVICE, IPPROTO_UDP, 40000, 53)))
    raw[26:28] = b"\x00\x00"  # UDP checksum 0: none
    result = harness.run(bytes(raw))
    assert result.retval == TC_ACT_OK and result.data[26:28] == b"\x00\x00"
    assert result.data[16:20] == bytes([198, 18, 1, 2])


def test_connections_expire_with_the_kernels_timeouts(harness: Harness) -> None:
    pair = make_pair(harness, SERVICE_RULES)
    query = Packet(CLIENT, SERVICE, IPPROTO_UDP, 40000, 53)
    out = pair.send(query, "n0")
    pair.advance(29)
    assert pair.send(answer(out.packet), "n1").state == "ESTABLISHED"  # now 120 s
    pair.advance(100)
    assert pair.send(query, "n0").state == "ESTABLISHED"
    pair.advance(121)
    assert pair.send(query, "n0").state == "NEW"  # expired: a new connection


def test_random_fully_picks_in_range_and_is_undone(harness: Harness) -> None:
    rules = [NatRule("MASQUERADE", "198.18.0.0/24", NODE_N1, "tcp", to_ports=(3000, 3999),
                     random_fully=True)]
    make_pair(harness, rules)
    ports = set()
    for client_port in range(41000, 41010):
        syn = wire(tcp(CLIENT, client_port, SERVER, 80, TCP_SYN))
        result = harness.run(syn)
        port = int.from_bytes(result.data[20:22], "big")
        assert result.retval == TC_ACT_OK and 3000 <= port <= 3999
        ports.add(port)
        back = harness.run(wire(tcp(SERVER, 80, address(NODE_N1), port, TCP_SYN | TCP_ACK)))
        assert back.data[16:20] == bytes([198, 18, 0, 2])
        assert int.from_bytes(back.data[22:24], "big") == client_port
    assert len(ports) > 1  # a random start, not the range's first port each time


def test_fragments_follow_their_first_fragment(harness: Harness) -> None:
    from scapy.layers.inet import IP, UDP

    make_pair(harness, SERVICE_RULES)
    first = IP(src="198.18.0.2", dst="198.18.5.5", id=77, flags="MF") / UDP(
        sport=40000, dport=53) / (b"a" * 16)
    later = IP(src="198.18.0.2", dst="198.18.5.5", id=77, frag=3, proto=17) / (b"b" * 16)
    out_first = harness.run(bytes(first))
    out_later = harness.run(bytes(later))
    assert out_first.retval == out_later.retval == TC_ACT_OK
    expected = IP(bytes(later))
    expected.src, expected.dst = "198.18.1.1", "198.18.1.2"
    del expected.chksum
    assert out_later.data == bytes(expected)
    orphan = IP(src="198.18.0.2", dst="198.18.5.5", id=78, frag=3, proto=17) / b"c"
    assert harness.run(bytes(orphan)).retval == TC_ACT_SHOT
    assert harness.drops() == {"DROP_FRAG_UNKNOWN": 1}


def test_non_ipv4_passes_and_a_broken_header_drops(harness: Harness) -> None:
    from bpf.testrun import run_program

    arp = bytes(12) + b"\x08\x06" + bytes(28)
    assert run_program(harness.prog_fd, arp).retval == TC_ACT_OK
    # (BPF_PROG_TEST_RUN itself refuses a frame without a whole IPv4 header)
    truncated = wire(tcp(CLIENT, 1, SERVER, 2, TCP_SYN))[:30]
    assert harness.run(truncated).retval == TC_ACT_SHOT
    assert harness.drops().get("DROP_MALFORMED", 0) >= 1


# --- generated conversations ------------------------------------------------------------------

RULE_SETS = [
    SERVICE_RULES,
    [],  # null bindings only
    [NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "tcp", 80, to_ports=(8080, 8081)),
     NatRule("DNAT", "198.18.5.5/32", "198.18.1.2"),
     NatRule("SNAT", "198.18.0.0/24", "198.18.1.9", "udp", to_ports=(2000, 2002)),
     NatRule("SNAT", "198.18.0.0/24", "198.18.1.9", "tcp", to_ports=(1000, 1001)),
     NatRule("SNAT", "198.18.0.0/24", "198.18.1.9")],
    [NatRule("DNAT", "198.18.5.0/24", "198.18.1.2", "udp", 53),
     NatRule("MASQUERADE", "198.18.0.2/32", NODE_N1, "tcp", to_ports=(40000, 40001)),
     NatRule("SNAT", "198.18.0.0/23", "198.18.1.1")],
    [NatRule("REDIRECT", "198.18.1.2/32", "198.18.0.1", "tcp", 80, to_ports=(8080, 8080)),
     NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "tcp", to_ports=(8080, 8080)),
     NatRule("MASQUERADE", "198.18.0.0/24", NODE_N1, "udp", to_ports=(1000, 1000))],
]
FLAGS = [TCP_SYN, TCP_SYN, TCP_ACK, TCP_ACK | TCP_PSH, TCP_SYN | TCP_ACK, TCP_FIN | TCP_ACK,
         TCP_RST, TCP_RST | TCP_ACK, 0]


@st.composite
def conversation(draw: st.DrawFn) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = []
    for _ in range(draw(st.integers(1, 16))):
        kind = draw(st.sampled_from(["new", "new", "server", "answer", "answer", "again",
                                     "error", "wait"]))
        if kind in ("new", "server"):
            protocol = draw(st.sampled_from([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP]))
            if kind == "new":
                src = draw(st.sampled_from([CLIENT, CLIENT2]))
                dst = draw(st.sampled_from([SERVICE, SERVER, address("198.18.5.6")]))
            else:
                src, dst = SERVER, draw(st.sampled_from([CLIENT, CLIENT2]))
            sport = draw(st.sampled_from([40000, 40001, 1000, 2000, 8080]))
            dport = draw(st.sampled_from([80, 53, 8080, 40000]))
            if protocol == IPPROTO_ICMP:
                packet = Packet(src, dst, protocol, sport % 7, icmp_type=8)
            else:
                packet = Packet(src, dst, protocol, sport, dport,
                                tcp_flags=draw(st.sampled_from(FLAGS)))
            steps.append((kind, packet))
        elif kind == "wait":
            steps.append(("wait", draw(st.sampled_from([5, 35, 65, 125, 200]))))
        else:
            steps.append((kind, (draw(st.integers(0, 7)), draw(st.sampled_from(FLAGS)))))
    return steps


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rules=st.sampled_from(RULE_SETS), notrack=st.sampled_from([0, 0, 53]),
       steps=conversation())
def test_generated_conversations_agree_with_the_model(compiled_harness: Harness,
                                                      rules: list[NatRule], notrack: int,
                                                      steps: list[tuple[str, object]]) -> None:
    compiled_harness.reset()
    pair = make_pair(compiled_harness, rules, notrack_udp_dport=notrack)
    sent: list[tuple[Packet, Packet, str]] = []  # (as sent, as it left, where from)
    for kind, value in steps:
        if kind in ("new", "server"):
            assert isinstance(value, Packet)
            iface = "n0" if kind == "new" else "n1"
            outcome = pair.send(value, iface)
            if outcome.verdict == "ACCEPT":
                sent.append((value, outcome.packet, iface))
        elif kind == "wait":
            assert isinstance(value, int)
            pair.advance(value)
        elif sent:
            assert isinstance(value, tuple)
            index, flags = value
            original, out, iface = sent[index % len(sent)]
            back = "n1" if iface == "n0" else "n0"
            if kind == "answer":
                reply = answer(out)
                if reply.protocol == IPPROTO_TCP and index % 2:
                    reply = reply.with_(tcp_flags=flags)
                outcome = pair.send(reply, back)
                if outcome.verdict == "ACCEPT":  # errors about it travel the other way
                    sent.append((reply, outcome.packet, back))
            elif kind == "again":
                if original.protocol == IPPROTO_TCP:
                    original = original.with_(tcp_flags=flags)
                pair.send(original, iface)
            else:
                pair.send(unreachable(out), back)
        pair.assert_same_connections()


# --- beyond the model's packets ---------------------------------------------------------------

def test_icmp_error_quoting_a_whole_tcp_header_keeps_its_checksum(harness: Harness) -> None:
    """Real ICMP errors quote up to 576 bytes: the quoted TCP checksum is there and the kernel
    translates it with the quoted addresses and ports."""
    from scapy.layers.inet import ICMP, IP, TCP

    pair = make_pair(harness, SERVICE_RULES)
    out = pair.send(tcp(CLIENT, 40000, SERVICE, 80, TCP_SYN), "n0").packet
    quoted = bytes(IP(src="198.18.1.1", dst="198.18.1.2") / TCP(sport=out.sport, dport=8080,
                                                                flags="S", seq=12345))
    error = IP(src="198.18.1.2", dst="198.18.1.1") / ICMP(type=3, code=3) / quoted
    result = harness.run(bytes(error))
    assert result.retval == TC_ACT_OK
    back = bytes(IP(src="198.18.0.2", dst="198.18.5.5") / TCP(sport=40000, dport=80, flags="S",
                                                              seq=12345))
    expected = IP(src="198.18.5.5", dst="198.18.0.2") / ICMP(type=3, code=3) / back
    assert result.data.hex() == bytes(expected).hex()
    assert harness.last_state().ct.state & structs.CT_STATE_RELATED


def test_ip_options_move_the_l4_header(harness: Harness) -> None:
    from scapy.layers.inet import IP, TCP, IPOption_RR

    make_pair(harness, SERVICE_RULES)
    packet = IP(src="198.18.0.2", dst="198.18.5.5", options=[IPOption_RR()]) / TCP(
        sport=40000, dport=80, flags="S")
    result = harness.run(bytes(packet))
    info = harness.last_state().pkt
    assert info.l4_off == 14 + IP(bytes(packet)).ihl * 4
    assert info.dport == 8080  # pkt_info follows the rewrites
    expected = IP(bytes(packet))
    expected.src, expected.dst, expected[TCP].dport = "198.18.1.1", "198.18.1.2", 8080
    del expected.chksum
    del expected[TCP].chksum
    assert result.retval == TC_ACT_OK and result.data.hex() == bytes(expected).hex()


def test_parsed_fields(harness: Harness) -> None:
    from scapy.layers.inet import IP, TCP

    make_pair(harness, [])
    harness.run(bytes(IP(src="198.18.0.2", dst="198.18.1.2", ttl=9, tos=0x10, id=4242) / TCP(
        sport=1234, dport=80, flags="SA")))
    info = harness.last_state().pkt
    assert (info.ttl, info.tos, info.ip_id, info.tot_len, info.protocol) == (
        9, 0x10, 4242, 40, IPPROTO_TCP)
    assert (info.sport, info.dport, info.tcp_flags) == (1234, 80, TCP_SYN | TCP_ACK)
    assert info.flags == structs.PKT_F_L4 | structs.PKT_F_PORTS
    harness.run(wire(unreachable(Packet(SERVER, CLIENT, IPPROTO_UDP, 53, 40000))))
    info = harness.last_state().pkt
    assert info.flags & structs.PKT_F_ICMP_ERROR
    assert (info.icmp_type, info.icmp_code, info.inner.sport, info.inner.dport) == (
        3, 3, 53, 40000)


def test_a_full_table_evicts_and_takes_new_flows(compiled_harness: Harness) -> None:
    """LRU: with every slot taken by live connections, a new flow still gets in."""
    harness = compiled_harness
    harness.reset()
    try:
        make_pair(harness, [])
        table = harness._table("ct_map")
        expires = harness.now_ns() + 3600 * 10**9
        for index in range(structs.CT_MAX_ENTRIES):
            key = structs.flow4(saddr=structs.be32(address("198.19.0.0") + index),
                                daddr=structs.be32(SERVER), sport=1, dport=2, proto=17)
            entry = structs.ct_entry(expires_ns=expires, tcp_state=0)
            entry.other = structs.flow4(saddr=key.daddr, daddr=key.saddr, sport=2, dport=1,
                                        proto=17)
            table[table.Key.from_buffer_copy(bytes(key))] = table.Leaf.from_buffer_copy(
                bytes(entry))
        result = harness.run(wire(Packet(CLIENT, SERVER, IPPROTO_UDP, 40000, 53)))
        assert result.retval == TC_ACT_OK
        back = harness.run(wire(Packet(SERVER, CLIENT, IPPROTO_UDP, 53, 40000)))
        assert back.retval == TC_ACT_OK
        assert harness.last_state().ct.state & structs.CT_STATE_ESTABLISHED
    finally:
        harness.reset()
