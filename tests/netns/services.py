"""kube-proxy's own rule sets, service by service: the fixtures' addresses moved into
198.18.0.0/15 (pods 10.0.0.0/8 -> 198.19.0.0/16, service and external addresses ->
198.18.5-7.x, the load balancer's allowed range 203.0.113.0/25 -> 198.18.0.0/25) with
kube-proxy's jumps from the built-in chains added (``bench/kube_gen.py``), the probes that reach
every service, and the driver that sends them through a node (whatever runs its rules) and
checks each against the reference model."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

from bench.kube_gen import jump_lines
from iptparse.model import Ruleset
from tests.netns.packets import answer, headers, parsed, wire
from tests.netns.topology import (
    CLIENT_ADDR,
    NODE_CLIENT_SIDE,
    SERVER_ADDR,
    Topology,
    drain,
    node_host,
    received,
    send_packet,
)
from translator.model.node import Node
from translator.model.packet import IPPROTO_TCP, TCP_SYN, Packet, address

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kube-proxy"
REFUSED_CLIENT = "198.18.0.200"  # outside the load balancer's allowed source range
# routed to the server: the endpoints, and service addresses nothing translates
ROUTED = ("198.19.0.0/16", "198.18.4.0/22")


def _move_address(match: re.Match[str]) -> str:
    a, b, c, d = (int(part) for part in match.group(1).split("."))
    suffix = match.group(2) or ""
    if a == 10:
        return ("198.19.0.0/16" if suffix == "/8" else
                f"198.19.{(b + c) % 256}.{d}{suffix}")
    if (a, b) == (172, 30):
        return f"198.18.5.{d}{suffix}"
    if (a, b) == (192, 168):
        return f"198.18.6.{d}{suffix}"
    if (a, b, c) == (203, 0, 113):
        return f"198.18.0.{d}{suffix}"
    if a in (1, 5):
        return f"198.18.7.{d}{suffix}"
    return match.group(0)


def moved_addresses(text: str) -> str:
    """``text`` with its addresses in 198.18.0.0/15."""
    return re.sub(r"\b(\d+\.\d+\.\d+\.\d+)(/\d+)?", _move_address, text)


def moved_fixture(name: str) -> str:
    """The fixture with its addresses in 198.18.0.0/15 and kube-proxy's jump rules added."""
    text = moved_addresses((FIXTURES / name).read_text())
    lines = text.splitlines()
    for table in ("filter", "nat"):
        end = lines.index("COMMIT", lines.index(f"*{table}"))
        lines[end:end] = jump_lines(table)
    return "\n".join(lines) + "\n"


def probes(text: str) -> list[tuple[str, str, int]]:
    """(client, address, port) for every way in the rule set reaches a service."""
    found: set[tuple[str, int]] = set()
    for line in text.splitlines():
        if re.match(r"-A KUBE-(SERVICES|EXTERNAL-SERVICES|PROXY-FIREWALL) ", line):
            target = re.search(r"-d (\S+?)(?:/32)? .*--dport (\d+)", line)
            if target and not target.group(1).startswith("127."):
                found.add((target.group(1), int(target.group(2))))
        if line.startswith("-A KUBE-NODEPORTS") and " -d " not in line:
            port = re.search(r"--dport (\d+)", line)
            if port:
                found.add((NODE_CLIENT_SIDE, int(port.group(1))))
    return [(client, destination, port) for destination, port in sorted(found)
            for client in (CLIENT_ADDR, REFUSED_CLIENT)]


def possible_endpoints(ruleset: Ruleset, packet: Packet) -> set[tuple[int, int]]:
    """Where the model can send a new connection (statistic draws vary with the seed)."""
    places = set()
    for seed in range(24):
        outcome = Node(ruleset, node_host(*ROUTED), random.Random(seed),
                       icmp_ratelimit_ms=0).receive(packet, "n0")
        places.add((outcome.packet.dst, outcome.packet.dport))
    return places




def prepare(topology: Topology) -> None:
    """The refused client's address, the endpoints on the server, the routes to them."""
    subprocess.run(["ip", "-n", topology.client, "addr", "add", f"{REFUSED_CLIENT}/24", "dev",
                    "c0"], check=True)
    for last in range(1, 6):
        subprocess.run(["ip", "-n", topology.server, "addr", "add", f"198.19.180.{last}/32",
                        "dev", "s0"], check=True)
    for network in ROUTED:
        subprocess.run(["ip", "-n", topology.node, "route", "add", network, "via",
                        SERVER_ADDR], check=True)


def probe_every_service(topology: Topology, ruleset: Ruleset, text: str,
                        first_port: int) -> tuple[int, int]:
    """A new connection to every probe, checked against the model: delivered to an endpoint
    the model can pick, from the address it says, and its answer back from the service; or
    not delivered, with the node's reset (INPUT, no listener) or REJECT's answer. Returns how
    many reached an endpoint and how many did not."""
    model = Node(ruleset, node_host(*ROUTED), random.Random(1), icmp_ratelimit_ms=0)
    client = topology.sender(topology.client, marked=True)
    server = topology.sender(topology.server, marked=True)
    at_server = topology.capture(topology.server, "s0")
    at_client = topology.capture(topology.client, "c0")
    reached = refused = 0
    try:
        for number, (source, destination, port) in enumerate(probes(text)):
            packet = Packet(address(source), address(destination), IPPROTO_TCP,
                            first_port + number, port, tcp_flags=TCP_SYN)
            context = (source, destination, port)
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
                assert (arrived.dst, arrived.dport) in possible_endpoints(ruleset, packet), context
            low, high = expected.chosen_from or (expected.packet.sport, expected.packet.sport)
            assert low <= arrived.sport <= high and arrived.src == expected.packet.src, context
            model.rebind(packet, arrived)
            chains = [visit.chain for visit in expected.visits if visit.matched]
            assert any(chain.startswith("KUBE-SVC-") for chain in chains), context
            assert any(chain.startswith("KUBE-SEP-") for chain in chains), context
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
    return reached, refused
