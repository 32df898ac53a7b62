"""`bpftables import` takes a node's legacy tables, counters and connections over; `bpftables
export` hands the rules back. A UDP flow NATed by the kernel before the import keeps its
endpoint afterwards; new flows follow the rules in eBPF, then in the kernel again."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from pyroute2.netns import create_socket

from tests.netns.agents import BpftablesCommands, bpftables_in
from tests.netns.topology import CLIENT_ADDR, SERVER_ADDR, Topology
from tests.oracle import LegacyIptables

pytestmark = [pytest.mark.netns, pytest.mark.bpf]

SERVICE = "198.18.5.1"
RULES = f"""*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SVC - [0:0]
-A PREROUTING -d {SERVICE}/32 -p udp -m udp --dport 80 -j SVC
-A SVC -p udp -j DNAT --to-destination {SERVER_ADDR}:8080
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -s {CLIENT_ADDR}/32 -p udp -j ACCEPT
COMMIT
"""
EMPTY = "".join(f"*{table}\n" + "".join(f":{chain} ACCEPT [0:0]\n" for chain in chains)
                + "COMMIT\n"
                for table, chains in (("filter", ("INPUT", "FORWARD", "OUTPUT")),
                                      ("nat", ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"))))


def _rules(saved: str) -> str:
    """The save text without any counters."""
    return "".join((line.split(" [")[0] if line.startswith(":") else line.split("] ", 1)[-1])
                   + "\n" for line in saved.splitlines())


def _tables(saved: str) -> dict[str, str]:
    """Each table's text (iptables-save's table order is the order the kernel made them)."""
    return {block.split("\n", 1)[0]: block for block in saved.split("*")[1:]}


class Flow:
    """One UDP flow from a fixed client port to the service, and what the server gets."""

    def __init__(self, topo: Topology, port: int, server: socket.socket | None = None) -> None:
        self.client = create_socket(topo.client, socket.AF_INET, socket.SOCK_DGRAM)
        self.client.bind((CLIENT_ADDR, port))
        if server is None:
            server = create_socket(topo.server, socket.AF_INET, socket.SOCK_DGRAM)
            server.bind((SERVER_ADDR, 8080))
            server.settimeout(2.0)
        self.server = server

    def exchange(self, payload: bytes) -> bool:
        """Send, see it arrive at the endpoint, answer, see the answer come from the service."""
        self.client.sendto(payload, (SERVICE, 80))
        try:
            data, peer = self.server.recvfrom(64)
        except TimeoutError:
            return False
        self.server.sendto(data, peer)
        self.client.settimeout(2.0)
        try:
            _, source = self.client.recvfrom(64)
        except TimeoutError:
            return False
        return data == payload and source == (SERVICE, 80)

    def close(self) -> None:
        self.client.close()
        self.server.close()


@pytest.fixture
def node() -> Iterator[tuple[Topology, BpftablesCommands, LegacyIptables]]:
    topo = Topology.create()
    try:
        with bpftables_in(topo.node) as commands:
            yield topo, commands, LegacyIptables(topo.node)
    finally:
        topo.close()


def test_import_then_export_keeps_rules_counters_and_connections(
        node: tuple[Topology, BpftablesCommands, LegacyIptables]) -> None:
    topo, commands, kernel = node
    assert kernel.restore(RULES).code == 0
    flow = Flow(topo, 40001)
    try:
        assert flow.exchange(b"before")
        before = kernel.save(counters=True)
        assert "[1:" in before  # the kernel counted the flow's first packet

        done = commands.cli("import")
        report = json.loads(done.out)
        assert report["connections"] >= 1
        assert _tables(kernel.save()) == _tables(EMPTY)
        ours = commands.save(counters=True)
        assert _tables(ours) == _tables(before)  # rules and counters moved as they were
        assert flow.exchange(b"during")  # the kernel's connection, now in eBPF
        second = Flow(topo, 40002, server=flow.server)
        assert second.exchange(b"new flow")  # a new connection, DNATed by bpftables
        second.client.close()

        assert json.loads(commands.cli("export").out)["stopped"]
        deadline = time.monotonic() + 10  # it answers, then exits
        while commands.agent_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert commands.agent_pids() == []
        # and the kernel enforces them again
        assert _tables(_rules(kernel.save())) == _tables(_rules(before))
        third = Flow(topo, 40003, server=flow.server)
        assert third.exchange(b"after")
        third.client.close()
    finally:
        flow.close()
    subprocess.run(["ip", "netns", "exec", topo.node, "conntrack", "-F"], check=False,
                   capture_output=True)
