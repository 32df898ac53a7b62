"""Stale UDP flows (issue 8 item 6): when a DNAT destination leaves the rule set, the connections
translated to it go, so a UDP client that keeps its source port reaches a live endpoint with
its next datagram (what kube-proxy's conntrack cleanup does with the kernel's table)."""

from __future__ import annotations

import json
import select
import socket
import subprocess
from collections.abc import Iterator

import pytest
from pyroute2.netns import create_socket

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from shim.namespace import stale_dnat
from tests.netns.agents import BpftablesCommands, bpftables_in
from tests.netns.topology import CLIENT_ADDR, SERVER_ADDR, Topology

SECOND_ENDPOINT = "198.18.1.3"
SERVICE = "198.18.100.1"
SERVICE_PORT = 53
ENDPOINT_PORT = 5353
CLIENT_PORTS = range(41000, 41008)

SERVICE_RULES = f"""*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-U - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d {SERVICE}/32 -p udp -m udp --dport {SERVICE_PORT} -j KUBE-SVC-U
-A KUBE-SVC-U -m statistic --mode random --probability 0.5 -j KUBE-SEP-A
-A KUBE-SVC-U -j KUBE-SEP-B
-A KUBE-SEP-A -p udp -m udp -j DNAT --to-destination {SERVER_ADDR}:{ENDPOINT_PORT}
-A KUBE-SEP-B -p udp -m udp -j DNAT --to-destination {SECOND_ENDPOINT}:{ENDPOINT_PORT}
COMMIT
"""

CHAIN_OF = {SERVER_ADDR: "KUBE-SEP-A", SECOND_ENDPOINT: "KUBE-SEP-B"}


def without(gone: str, kept: str) -> str:
    """kube-proxy's partial sync when an endpoint goes: the service chain rewritten to the
    other one, the endpoint's chain flushed and deleted."""
    return (f"*nat\n:KUBE-SVC-U - [0:0]\n:{gone} - [0:0]\n-A KUBE-SVC-U -j {kept}\n"
            f"-X {gone}\nCOMMIT\n")


WITHOUT_A = without("KUBE-SEP-A", "KUBE-SEP-B")


def _ruleset(*texts: str) -> Ruleset:
    ruleset = Ruleset()
    restorer = Restorer()
    for number, text in enumerate(texts):
        ruleset = restorer.restore(text, ruleset, RestoreOptions(noflush=number > 0))
    return ruleset


@pytest.mark.unit
def test_stale_destinations_only_when_one_went_away() -> None:
    from bpf.enforcer import Connection

    old = _ruleset(SERVICE_RULES)
    new = _ruleset(SERVICE_RULES, WITHOUT_A)
    assert stale_dnat(old, old) is None
    assert stale_dnat(new, old) is None  # an endpoint added: nothing is stale
    doomed = stale_dnat(old, new)
    assert doomed is not None
    client, vip = 0xC6120002, 0xC6126401
    a, b = 0xC6120102, 0xC6120103

    def udp(endpoint: int, port: int = ENDPOINT_PORT, status: frozenset[str] = frozenset(
            {"DNAT"}), protocol: int = 17) -> Connection:
        return Connection((protocol, client, vip, 41000, SERVICE_PORT),
                          (protocol, endpoint, client, port, 41000), 0, status, 0)

    assert doomed(udp(a))
    assert not doomed(udp(b))
    assert not doomed(udp(a, port=80))  # another port of that address was never A's
    assert not doomed(udp(a, status=frozenset()))  # not translated
    assert not doomed(udp(a, protocol=6))  # TCP: kube-proxy leaves it to the endpoint's RST


# --- with traffic ---------------------------------------------------------------------------


@pytest.fixture
def service() -> Iterator[tuple[Topology, BpftablesCommands]]:
    topo = Topology.create()
    try:
        subprocess.run(["ip", "-n", topo.server, "addr", "add", f"{SECOND_ENDPOINT}/24",
                        "dev", "s0"], check=True)
        with bpftables_in(topo.node) as commands:
            yield topo, commands
    finally:
        topo.close()


def _send_all(senders: dict[int, socket.socket]) -> None:
    for port, sender in senders.items():
        sender.sendto(str(port).encode(), (SERVICE, SERVICE_PORT))


def _where(endpoints: dict[str, socket.socket], count: int) -> dict[int, str]:
    """Which endpoint each client port's datagram reached (bounded wait)."""
    found: dict[int, str] = {}
    by_fd = {sock.fileno(): (address, sock) for address, sock in endpoints.items()}
    while len(found) < count:
        ready, _, _ = select.select(list(by_fd), [], [], 2.0)
        if not ready:
            break
        for fd in ready:
            address, sock = by_fd[fd]
            found[int(sock.recv(64))] = address
    return found


@pytest.mark.netns
def test_udp_client_moves_to_a_live_endpoint(
        service: tuple[Topology, BpftablesCommands]) -> None:
    topo, commands = service
    assert commands.restore(SERVICE_RULES).code == 0
    endpoints = {address: create_socket(topo.server, socket.AF_INET, socket.SOCK_DGRAM)
                 for address in (SERVER_ADDR, SECOND_ENDPOINT)}
    senders = {port: create_socket(topo.client, socket.AF_INET, socket.SOCK_DGRAM)
               for port in CLIENT_PORTS}
    try:
        for address, sock in endpoints.items():
            sock.bind((address, ENDPOINT_PORT))
        for port, sender in senders.items():
            sender.bind((CLIENT_ADDR, port))
        _send_all(senders)
        first = _where(endpoints, len(senders))
        assert set(first) == set(CLIENT_PORTS)
        _send_all(senders)  # the connections hold: each flow stays where it went
        assert _where(endpoints, len(senders)) == first
        # the endpoint the first client went to goes away (so some flow surely is stale)
        gone = first[CLIENT_PORTS[0]]
        (kept,) = set(endpoints) - {gone}
        stale = [port for port, address in first.items() if address == gone]

        assert commands.restore(without(CHAIN_OF[gone], CHAIN_OF[kept]), "--noflush").code == 0
        _send_all(senders)
        assert _where(endpoints, len(senders)) == dict.fromkeys(CLIENT_PORTS, kept)
        status = json.loads(commands.cli("status", "--json").out)
        assert status["datapath"]["stale_udp_removed"] == len(stale)
    finally:
        for sock in [*endpoints.values(), *senders.values()]:
            sock.close()
