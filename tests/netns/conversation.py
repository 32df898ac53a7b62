"""One conversation through a node, packet by packet against the reference model: the client
sends (to the service or the server), the server answers what it last received or refuses it
with an ICMP error. Whatever runs the node's rules (iptables-legacy, bpftables' datapath) must
deliver, translate and drop each packet as the model says."""

from __future__ import annotations

from dataclasses import dataclass

from tests.netns.packets import answer, headers, parsed, unreachable, wire
from tests.netns.topology import (
    CLIENT_ADDR,
    SERVER_ADDR,
    Topology,
    drain,
    received,
    send_packet,
)
from translator.model.node import Node
from translator.model.packet import IPPROTO_ICMP, IPPROTO_TCP, TCP_ACK, TCP_SYN, Packet, address


@dataclass(frozen=True)
class Step:
    """``client``: the client sends (proto, client port, to the service or the server, port,
    SYN or ACK); ``server``: the server answers the last packet it received; ``error``: the
    server refuses it with an ICMP port unreachable (RELATED, translated back on the way)."""

    side: str
    protocol: int = IPPROTO_TCP
    sport: int = 40000
    to_service: bool = True
    dport: int = 80
    syn: bool = True


def converse(topology: Topology, model: Node, steps: list[Step], service: str,
             wait: float, context: object, answers_checked: bool = True) -> None:
    """Run ``steps``; ``answers_checked``: the client's REJECT answers are compared too."""
    client_send = topology.sender(topology.client, marked=True)
    server_send = topology.sender(topology.server, marked=True)
    at_server = topology.capture(topology.server, "s0")
    at_client = topology.capture(topology.client, "c0")
    last_at_server: Packet | None = None
    try:
        for step in steps:
            drain(at_server)
            drain(at_client)
            answers: list[Packet] = []
            if step.side == "client":
                packet = Packet(address(CLIENT_ADDR),
                                address(service if step.to_service else SERVER_ADDR),
                                step.protocol, step.sport, step.dport,
                                tcp_flags=TCP_SYN if step.syn else TCP_ACK, icmp_type=8)
                if step.protocol == IPPROTO_ICMP:
                    packet = packet.with_(dport=0)
                send_packet(client_send, wire(packet), SERVER_ADDR)
                expected = model.receive(packet, "n0")
                arrived = [parsed(raw) for raw in received(at_server, wait)]
                answers = [parsed(raw) for raw in received(at_client, 0.01)]
                if expected.verdict == "ACCEPT":
                    last_at_server = arrived[0] if arrived else None
            else:
                if last_at_server is None:
                    continue
                packet = (answer(last_at_server) if step.side == "server"
                          else unreachable(last_at_server))
                send_packet(server_send, wire(packet), CLIENT_ADDR)
                expected = model.receive(packet, "n1")
                arrived = [parsed(raw) for raw in received(at_client, wait)]
            where = (context, steps, step)
            # an untracked answer to the node's (SNAT) address stays in the node: INPUT
            passed = expected.verdict == "ACCEPT" and expected.path == "FORWARD"
            if passed and expected.chosen_from is not None and arrived:
                # the node picked the NAT port itself: any free one of the range is right
                low, high = expected.chosen_from
                assert low <= arrived[0].sport <= high, where
                assert headers(arrived[0].with_(sport=expected.packet.sport)) == headers(
                    expected.packet), where
                model.rebind(packet, arrived[0])
                if step.side == "client":
                    last_at_server = arrived[0]
            elif passed:
                assert [headers(p) for p in arrived] == [headers(expected.packet)], where
            else:
                assert arrived == [], where
            if step.side == "client" and answers_checked:
                wanted = [headers(expected.reply)] if expected.reply is not None else []
                assert [headers(p) for p in answers] == wanted, where
    finally:
        for sock in (client_send, server_send, at_server, at_client):
            sock.close()
