"""make demo, part 2: a kube-proxy rule set fed to bpftables' drop-in commands, with traffic.

Three throwaway network namespaces (client -- node -- server, veth pairs, 198.18.0.0/15 only).
The node's rules go in the way kube-proxy sends them (``iptables-restore -w 5 --noflush
--counters`` through bpftables-multi); its agent runs them in eBPF and the node's netfilter
stays empty. The client opens connections to a service; the server side shows which endpoint
each reached; ``iptables -L -v`` shows the datapath's counters. kube-proxy then adds a service
(a partial restore): a few map writes, no compile. Last, side by side: ``bpftables export``
hands the same rules to iptables-legacy and the same traffic runs through the kernel.
Everything is removed at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kube_gen import (  # noqa: E402
    ClusterShape,
    chain_suffix,
    partial_sync_text,
    restore_text,
    service_name,
)
from bpf.bpffs import ensure_bpffs  # noqa: E402

SHAPE = dict(endpoints=3, cluster_base="198.19.0.0", endpoint_base="198.19.128.0",
             pod_cidr="198.19.128.0/17")


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def syn(source_port: int, destination: str) -> bytes:
    from scapy.layers.inet import IP, TCP

    return bytes(IP(src="198.18.0.2", dst=destination) / TCP(sport=source_port, dport=80,
                                                             flags="S"))


def connections(client: str, server: str, destination: str, count: int,
                first_port: int) -> Counter[str]:
    """``count`` new connections from the client: where each arrived at the server."""
    from pyroute2.netns import create_socket
    from scapy.layers.inet import IP, TCP

    sender = create_socket(client, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    capture = create_socket(server, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    capture.bind(("s0", 0x0800))
    capture.settimeout(0.2)
    reached: Counter[str] = Counter()
    try:
        for number in range(count):
            sender.sendto(syn(first_port + number, destination), (destination, 0))
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                try:
                    frame = capture.recv(2048)
                except TimeoutError:
                    break
                packet = IP(frame[14:])
                if TCP in packet and packet[TCP].flags == "S":  # (MASQUERADE picks the port)
                    reached[f"from {packet.src} to endpoint {packet.dst}:{packet[TCP].dport}"] += 1
                    break
    finally:
        sender.close()
        capture.close()
    return reached


MULTI = Path(sys.executable).parent / "bpftables-multi"


class NodeCommands:
    """bpftables' commands in the node namespace."""

    def __init__(self, netns: str) -> None:
        self.netns = netns

    def run(self, program: str, *args: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.netns, str(MULTI), program, *args],
                              input=stdin, capture_output=True, text=True, check=True)

    def cli(self, *args: str) -> str:
        return subprocess.run(["ip", "netns", "exec", self.netns,
                               str(MULTI.with_name("bpftables")), *args],
                              capture_output=True, text=True, check=True).stdout


def show(reached: Counter[str]) -> None:
    for where, count in sorted(reached.items()):
        print(f"     {count:3d}  {where}")


def main() -> int:
    tag = uuid.uuid4().hex[:6]
    client, node, server = (f"bpft-demo-{role}{tag}" for role in "cns")
    try:
        for netns in (client, node, server):
            run("ip", "netns", "add", netns)
            run("ip", "-n", netns, "link", "set", "lo", "up")
        run("ip", "-n", client, "link", "add", "c0", "type", "veth", "peer", "name", "n0",
            "netns", node)
        run("ip", "-n", server, "link", "add", "s0", "type", "veth", "peer", "name", "n1",
            "netns", node)
        for netns, dev, address in ((client, "c0", "198.18.0.2/24"), (node, "n0", "198.18.0.1/24"),
                                    (node, "n1", "198.18.1.1/24"), (server, "s0", "198.18.1.2/24")):
            run("ip", "-n", netns, "addr", "add", address, "dev", dev)
            run("ip", "-n", netns, "link", "set", dev, "up")
        run("ip", "-n", client, "route", "add", "default", "via", "198.18.0.1")
        run("ip", "-n", server, "route", "add", "default", "via", "198.18.1.1")
        run("ip", "-n", node, "route", "add", "198.19.128.0/17", "via", "198.18.1.2")
        for last in range(1, 64):  # the endpoints live on the server
            run("ip", "-n", server, "addr", "add", f"198.19.128.{last}/32", "dev", "s0")
        run("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ensure_bpffs()  # from here: the agent's pins must outlive it
        # the client's and server's own kernels stay quiet (no resets for our raw SYNs)
        for netns in (client, server):
            run("ip", "netns", "exec", netns, "iptables-legacy", "-A", "OUTPUT", "-p", "tcp",
                "--tcp-flags", "RST", "RST", "-j", "DROP")

        node_cmd = NodeCommands(node)
        text = restore_text(ClusterShape(20, **SHAPE), jumps=True)
        svc = "KUBE-SVC-" + chain_suffix(service_name(0), "tcp")
        print(f"   node {node}: its rules go through bpftables' drop-in commands "
              f"({MULTI.name} as iptables-restore, iptables)")
        start = time.perf_counter()
        done = node_cmd.run("iptables-restore", "-w", "5", "--noflush", "--counters",
                            stdin=text)
        print(f"   iptables-restore -w 5 --noflush --counters ({len(text.splitlines())} lines, "
              f"20 services x 3 endpoints): exit {done.returncode} in "
              f"{time.perf_counter() - start:.1f} s (the agent started and compiled the "
              "datapath); the node's netfilter tables stay empty")
        status = json.loads(node_cmd.cli("status", "--json"))
        print("   bpftables status: programs " + ", ".join(
            f"{prog_id} on {where}" for where, prog_id in status["datapath"]["programs"].items()))
        print("   30 new connections from the client to the first service 198.19.0.1:80 reach:")
        show(connections(client, server, "198.19.0.1", 30, 20000))
        print(f"   iptables -t nat -L {svc} -v -n (the datapath's counters):")
        listing = node_cmd.run("iptables", "-t", "nat", "-L", svc, "-v", "-n").stdout
        print("".join(f"     {line}\n" for line in listing.splitlines()), end="")

        text = partial_sync_text(ClusterShape(21, **SHAPE), {service_name(20)})
        start = time.perf_counter()
        node_cmd.run("iptables-restore", "-w", "5", "--noflush", "--counters", stdin=text)
        elapsed = time.perf_counter() - start
        after = json.loads(node_cmd.cli("status", "--json"))["datapath"]
        print(f"   kube-proxy adds a 21st service (a partial --noflush restore): "
              f"{1000 * elapsed:.0f} ms for the command, {after['last_map_writes']} map writes, "
              f"compiled again: "
              f"{'yes' if after['compiles'] > status['datapath']['compiles'] else 'no'}")
        print("   10 new connections to it (198.19.0.21:80) reach:")
        show(connections(client, server, "198.19.0.21", 10, 30000))

        print("== 6. Side by side: the same rules handed to iptables-legacy (bpftables export)")
        node_cmd.cli("export")
        print("   the node's kernel tables hold the rules now; bpftables' programs are off "
              "the links")
        print("   the same 30 connections to 198.19.0.1:80 reach:")
        show(connections(client, server, "198.19.0.1", 30, 40000))
        print(f"   iptables-legacy -t nat -L {svc} -v -n (the kernel's counters):")
        listing = subprocess.run(["ip", "netns", "exec", node, "iptables-legacy", "-t", "nat",
                                  "-L", svc, "-v", "-n"], capture_output=True, text=True,
                                 check=True).stdout
        print("".join(f"     {line}\n" for line in listing.splitlines()), end="")
    finally:
        subprocess.run(["ip", "netns", "exec", node, str(MULTI.with_name("bpftables")), "agent",
                        "stop", "--forget"], capture_output=True, check=False)
        for netns in (client, node, server):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
