"""Debian's CNI plugins (bridge with ipMasq, portmap, firewall) as one network configuration
list, run through bpftables' drop-in commands on a node whose rules are enforced in eBPF.

    client c0 198.18.0.2 -- n0 198.18.0.1  node  cni0 198.18.2.1 -- eth0 198.18.2.2 container

The plugins run with the node namespace as their own and find ``iptables`` in a
``bpftables shim-dir`` folder first in their PATH (go-iptables runs ``iptables --version``,
``-t nat -S``, ``-N``, ``-C``/``-A``/``-I``/``-D``, ``-F``, ``-X``, all with ``--wait``). The
same ADD and DEL run in a second node through iptables-legacy: the saved rules must be the same.
(Not CHECK there: with a working ip6tables, this portmap's CHECK looks for IPv6 rules an
IPv4-only container never got, containernetworking/plugins#819; bpftables' ip6tables answers
only --version, so portmap takes IPv6 for unavailable, as on a node without ip6tables.)
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyroute2.netns import create_socket

from shim.install import fill_shim_dir
from tests.netns.agents import CHECKOUT, BpftablesCommands, bpftables_in, checkout_multi
from tests.netns.cni import PLUGIN_DIR, Attachment, CniRuntime, legacy_path_dir
from tests.netns.topology import CLIENT_ADDR, NODE_CLIENT_SIDE, Topology

pytestmark = [pytest.mark.netns, pytest.mark.bpf,
              pytest.mark.skipif(not Path(PLUGIN_DIR, "bridge").exists(),
                                 reason="no CNI plugins (Debian's containernetworking-plugins)")]

NETWORK = "bpftnet"
CONTAINER_ID = "bpftables-cni-0001"
POD_SUBNET = "198.18.2.0/24"
POD_ADDR = "198.18.2.2"
POD_GATEWAY = "198.18.2.1"  # cni0's address (isGateway)
TCP_HOST_PORT, TCP_CONTAINER_PORT = 8080, 80
UDP_HOST_PORT, UDP_CONTAINER_PORT = 8053, 53
OUTSIDE_PORT = 9000  # a listener in the client namespace, for the container's own traffic


def network_list(data_dir: Path) -> dict[str, Any]:
    """The conflist a container runtime would read from /etc/cni/net.d."""
    return {"cniVersion": "1.0.0", "name": NETWORK, "plugins": [
        {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]],
                  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(data_dir)}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"},
    ]}


def attachment(container_netns: str) -> Attachment:
    return Attachment(CONTAINER_ID, f"/var/run/netns/{container_netns}", "eth0", {
        "portMappings": [
            {"hostPort": TCP_HOST_PORT, "containerPort": TCP_CONTAINER_PORT, "protocol": "tcp"},
            {"hostPort": UDP_HOST_PORT, "containerPort": UDP_CONTAINER_PORT, "protocol": "udp"},
        ]})


def saved(runtime: CniRuntime) -> str:
    """``iptables-save`` as the plugins would find it, without its comment lines and with the
    built-in chains' counters at zero (the nodes' own packets, an IGMP report when cni0 comes
    up, are not the plugins' doing)."""
    done = runtime.run(["iptables-save"])
    assert done.returncode == 0, done.stderr
    return "".join(re.sub(r"^(:\S+ \S+) \[\d+:\d+\]$", r"\1 [0:0]", line) + "\n"
                   for line in done.stdout.splitlines() if not line.startswith("#"))


@dataclass
class Node:
    """One node of the comparison: its runtime, the container's namespace, the ADD's result."""

    runtime: CniRuntime
    container: str
    conflist: dict[str, Any]
    result: dict[str, Any] | None = None
    deleted: bool = False

    @property
    def attachment(self) -> Attachment:
        return attachment(self.container)

    def add(self) -> None:
        self.result = self.runtime.add(self.conflist, self.attachment)

    def delete(self) -> None:
        if self.result is not None and not self.deleted:
            self.deleted = True
            self.runtime.delete(self.conflist, self.attachment, self.result)


@dataclass
class Nodes:
    """The two nodes after the ADD, and what the bpftables one needs for traffic."""

    ours: Node  # bpftables
    legacy: Node  # iptables-legacy
    topology: Topology  # ours.runtime.node_netns is topology.node
    commands: BpftablesCommands
    after_add: tuple[str, str]  # (ours, legacy) iptables-save right after the ADD


def _netns(name: str, made: list[str]) -> str:
    """A new namespace (lo up), recorded in ``made`` for the cleanup."""
    subprocess.run(["ip", "netns", "add", name], check=True)
    made.append(name)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return name


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    tag = uuid.uuid4().hex[:8]
    made: list[str] = []
    topology = Topology.create()
    try:
        with tempfile.TemporaryDirectory(prefix="bpft-cni-") as folder:
            scratch = Path(folder)
            shims = scratch / "shims"
            fill_shim_dir(shims, checkout_multi(scratch))
            oracle_node = _netns(f"bpft-o{tag}", made)
            containers = [_netns(f"bpft-k{tag}", made), _netns(f"bpft-q{tag}", made)]
            # each node its own xtables lock: other tests on the machine hold /run/xtables.lock
            ours = Node(CniRuntime(topology.node, (str(shims),), env={
                "XTABLES_LOCKFILE": str(scratch / "ours.lock"), "PYTHONPATH": str(CHECKOUT)}),
                containers[0], network_list(scratch / "ipam-ours"))
            legacy = Node(CniRuntime(oracle_node, (str(legacy_path_dir(scratch / "legacy")),),
                                     env={"XTABLES_LOCKFILE": str(scratch / "legacy.lock")}),
                          containers[1], network_list(scratch / "ipam-legacy"))
            with bpftables_in(topology.node, PYTHONPATH=str(CHECKOUT)) as commands:
                try:
                    legacy.add()
                    ours.add()
                    yield Nodes(ours, legacy, topology, commands,
                                (saved(ours.runtime), saved(legacy.runtime)))
                finally:
                    for node in (ours, legacy):
                        try:
                            node.delete()
                        except Exception:  # noqa: BLE001 - cleanup goes on; the test said why
                            pass
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False)
        topology.close()


def test_add_writes_the_same_rules_as_iptables_legacy(nodes: Nodes) -> None:
    ours, legacy = nodes.after_add
    assert f"-j DNAT --to-destination {POD_ADDR}:{TCP_CONTAINER_PORT}" in legacy
    assert "-j MASQUERADE" in legacy and "-j CNI-FORWARD" in legacy
    assert ours == legacy
    assert nodes.ours.result is not None and nodes.legacy.result is not None
    assert [ip["address"] for ip in nodes.ours.result["ips"]] == [f"{POD_ADDR}/24"]
    # the node's kernel tables stay empty: what follows is done by the eBPF datapath
    kernel = nodes.ours.runtime.run(["/usr/sbin/iptables-legacy-save"]).stdout
    assert "CNI" not in kernel


def test_check_succeeds(nodes: Nodes) -> None:
    assert nodes.ours.result is not None
    nodes.ours.runtime.check(nodes.ours.conflist, nodes.ours.attachment, nodes.ours.result)


def test_datapath_on_the_bridge_not_its_ports(nodes: Nodes) -> None:
    status = json.loads(nodes.commands.cli("status", "--json").out)
    programs = set(status["datapath"]["programs"])
    assert "cni0/INGRESS" in programs
    assert not any(name.startswith("veth") for name in programs), programs


def _tcp_peer(listen_ns: str, port: int, connect_ns: str, address: str, dest_port: int,
              timeout: float = 5.0) -> str:
    """Connect from ``connect_ns`` to ``address:dest_port``; the source address the listener
    on ``port`` in ``listen_ns`` saw, once its answer came back through the same translation."""
    listener = create_socket(listen_ns, socket.AF_INET, socket.SOCK_STREAM)
    client = create_socket(connect_ns, socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(1)
        listener.settimeout(timeout)
        client.settimeout(timeout)
        client.connect((address, dest_port))
        accepted, peer = listener.accept()
        with accepted:
            accepted.sendall(b"bpftables")
            assert client.recv(64) == b"bpftables"
        return str(peer[0])
    finally:
        client.close()
        listener.close()


def _udp_peer(listen_ns: str, port: int, send_ns: str, address: str, dest_port: int,
              timeout: float = 5.0) -> str:
    """The UDP twin of :func:`_tcp_peer` (one datagram there, its answer back)."""
    receiver = create_socket(listen_ns, socket.AF_INET, socket.SOCK_DGRAM)
    sender = create_socket(send_ns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("0.0.0.0", port))
        receiver.settimeout(timeout)
        sender.settimeout(timeout)
        sender.sendto(b"bpftables", (address, dest_port))
        data, peer = receiver.recvfrom(64)
        assert data == b"bpftables"
        receiver.sendto(b"answer", peer)
        answer, source = sender.recvfrom(64)
        assert (answer, source) == (b"answer", (address, dest_port))
        return str(peer[0])
    finally:
        sender.close()
        receiver.close()


def test_host_port_reaches_the_container_through_dnat(nodes: Nodes) -> None:
    client, container = nodes.topology.client, nodes.ours.container
    assert _tcp_peer(container, TCP_CONTAINER_PORT, client, NODE_CLIENT_SIDE,
                     TCP_HOST_PORT) == CLIENT_ADDR
    assert _udp_peer(container, UDP_CONTAINER_PORT, client, NODE_CLIENT_SIDE,
                     UDP_HOST_PORT) == CLIENT_ADDR


def test_hairpin_to_its_own_host_port_is_masqueraded(nodes: Nodes) -> None:
    """The container reaching itself through the node's host port: portmap marks it
    (CNI-HOSTPORT-SETMARK) and masquerades the marked packet to the bridge's address."""
    container = nodes.ours.container
    assert _tcp_peer(container, TCP_CONTAINER_PORT, container, NODE_CLIENT_SIDE,
                     TCP_HOST_PORT) == POD_GATEWAY


def test_container_traffic_is_masqueraded(nodes: Nodes) -> None:
    client, container = nodes.topology.client, nodes.ours.container
    assert _tcp_peer(client, OUTSIDE_PORT, container, CLIENT_ADDR,
                     OUTSIDE_PORT) == NODE_CLIENT_SIDE
    assert _udp_peer(client, OUTSIDE_PORT, container, CLIENT_ADDR,
                     OUTSIDE_PORT) == NODE_CLIENT_SIDE


def test_del_leaves_the_same_rules_as_iptables_legacy(nodes: Nodes) -> None:
    nodes.legacy.delete()
    nodes.ours.delete()
    ours, legacy = saved(nodes.ours.runtime), saved(nodes.legacy.runtime)
    assert ours == legacy
    # nothing of the container is left; the plugins keep their shared chains (CNI-HOSTPORT-*,
    # CNI-FORWARD, CNI-ADMIN) and the jumps to them, as they do on iptables-legacy
    assert POD_ADDR not in ours and CONTAINER_ID not in ours
    chains = [line.split()[0] for line in ours.splitlines() if line.startswith(":CNI-")]
    assert sorted(chains) == [":CNI-ADMIN", ":CNI-FORWARD", ":CNI-HOSTPORT-DNAT",
                              ":CNI-HOSTPORT-MASQ", ":CNI-HOSTPORT-SETMARK"]


def test_ip6tables_answers_its_version_and_refuses_rules() -> None:
    """go-iptables asks ``ip6tables --version`` before anything (the firewall plugin gives up
    on IPv4 as well when that fails); every other ip6tables command is still refused."""
    with tempfile.TemporaryDirectory(prefix="bpft-cni-") as folder:
        shims = Path(folder) / "shims"
        fill_shim_dir(shims, checkout_multi(Path(folder)))
        for argv in (["--version"], ["-V"]):
            real = subprocess.run(["/usr/sbin/ip6tables-legacy", *argv], capture_output=True,
                                  text=True, timeout=30, check=False)
            ours = subprocess.run([str(shims / "ip6tables"), *argv], capture_output=True,
                                  text=True, timeout=30, check=False)
            assert (ours.returncode, ours.stdout, ours.stderr) == (
                real.returncode, real.stdout, real.stderr)
        refused = subprocess.run([str(shims / "ip6tables"), "-t", "nat", "-S"],
                                 capture_output=True, text=True, timeout=30, check=False)
        assert refused.returncode == 1 and "does not enforce IPv6" in refused.stderr
