"""make demo, part 2: a kube-proxy rule set enforced by bpftables' datapath alone, with traffic.

Three throwaway network namespaces (client -- node -- server, veth pairs, 198.18.0.0/15 only);
the node's netfilter stays empty: its rules run in the eBPF programs bpftables compiles. The
client opens connections to a service; the server side shows which endpoint each reached.
Then kube-proxy adds a service the way it does (a partial ``--noflush`` restore): a few map
writes, no compile, and the new service answers at once. Everything is removed at the end.
"""

from __future__ import annotations

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
from bpf.bpffs import ensure_bpffs, remove_tree  # noqa: E402
from bpf.enforcer import Enforcer, Interface, ipv4_of  # noqa: E402
from bpf.ruledata import Environment  # noqa: E402
from iptparse.grammar.restore import RestoreOptions, Restorer  # noqa: E402
from iptparse.model import Ruleset  # noqa: E402
from translator.compile import Compiler  # noqa: E402
from translator.shape import ShapeAnalyzer  # noqa: E402

SHAPE = dict(endpoints=3, cluster_base="198.19.0.0", endpoint_base="198.19.128.0",
             pod_cidr="198.19.128.0/17")


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def ifindex(netns: str, name: str) -> int:
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show", name], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split(":", 1)[0])


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


def main() -> int:
    tag = uuid.uuid4().hex[:6]
    client, node, server = (f"bpft-demo-{role}{tag}" for role in "cns")
    pins = None
    enforcer = None
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
        # the client's and server's own kernels stay quiet (no resets for our raw SYNs)
        for netns in (client, server):
            run("ip", "netns", "exec", netns, "iptables-legacy", "-A", "OUTPUT", "-p", "tcp",
                "--tcp-flags", "RST", "RST", "-j", "DROP")

        restorer, compiler, analyzer = Restorer(), Compiler(), ShapeAnalyzer()
        text = restore_text(ClusterShape(20, **SHAPE), jumps=True)
        ruleset = restorer.restore(text, Ruleset(), RestoreOptions())
        interfaces = [Interface("n0", ifindex(node, "n0"), ipv4_of("198.18.0.1")),
                      Interface("n1", ifindex(node, "n1"), ipv4_of("198.18.1.1"))]
        env = Environment({i.name: i.index for i in interfaces})
        local = [i.address for i in interfaces if i.address is not None]
        ensure_bpffs()
        enforcer = Enforcer(node)
        pins = enforcer.pin_dir
        start = time.perf_counter()
        plan = compiler.compile(ruleset)
        enforcer.apply(plan, analyzer.analyze(plan), env, interfaces, local)
        print(f"   20 services x 3 endpoints ({len(text.splitlines())} restore lines): compiled "
              f"and attached in {time.perf_counter() - start:.1f} s, {enforcer.last_writes} map "
              "writes; the node's netfilter tables are empty")
        ids = enforcer.program_ids()
        print(f"   programs on the node: {', '.join(f'{i}/{h}' for i, h in sorted(ids))}")
        print("   30 new connections from the client to the first service 198.19.0.1:80 reach:")
        for where, count in sorted(connections(client, server, "198.19.0.1", 30,
                                               20000).items()):
            print(f"     {count:3d}  {where}")
        counters = enforcer.counters()
        svc = "KUBE-SVC-" + chain_suffix(service_name(0), "tcp")
        hits = {key: value for key, value in counters.items()
                if key[1] == svc and value[0]}
        print(f"   counters of {svc} (the first service's chain), as iptables -L -v shows them:")
        for (table, chain, number), (packets, octets) in sorted(hits.items()):
            print(f"     {table} {chain} rule {number}: {packets} packets, {octets} bytes")

        text = partial_sync_text(ClusterShape(21, **SHAPE), {service_name(20)})
        ruleset = restorer.restore(text, ruleset, RestoreOptions(noflush=True, counters=True))
        start = time.perf_counter()
        plan = compiler.compile(ruleset)
        compiled = enforcer.compiles
        enforcer.apply(plan, analyzer.analyze(plan), env, interfaces, local,
                       compiler.last_changes)
        print(f"   kube-proxy adds a 21st service (partial --noflush restore): "
              f"{enforcer.last_writes} map writes in {1000 * (time.perf_counter() - start):.0f} "
              f"ms, compiled again: {'yes' if enforcer.compiles > compiled else 'no'}, "
              f"programs unchanged: {'yes' if enforcer.program_ids() == ids else 'no'}")
        print("   10 new connections to it (198.19.0.21:80) reach:")
        for where, count in sorted(connections(client, server, "198.19.0.21", 10,
                                               30000).items()):
            print(f"     {count:3d}  {where}")
    finally:
        if enforcer is not None:
            enforcer.close()
        for netns in (client, node, server):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        if pins is not None:
            remove_tree(pins)
    return 0


if __name__ == "__main__":
    sys.exit(main())
