"""Generate kube-proxy-shaped ``iptables-restore`` input for N services with E endpoints each.

The shape follows kube-proxy's iptables proxier (``shared/fixtures/kube-proxy/USAGE.md``, §2):
filter and nat tables, KUBE-SERVICES -> KUBE-SVC-* (masquerade rule, then a statistic chain of
endpoints) -> KUBE-SEP-* (hairpin masquerade, DNAT), the nodeports rule last, marks written as
kube-proxy writes them. Addresses: cluster IPs from 172.30.0.0/16, endpoints from 10.0.0.0/8 (the
fixtures' own); pass other bases to move them (e.g. into 198.18.0.0/15 for traffic).

Usage: python -m bench.kube_gen --services 10000 --endpoints 5 > rules.txt
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import sys
from collections.abc import Iterator
from dataclasses import dataclass

MARK = "0x004000"


def chain_suffix(*parts: str) -> str:
    """kube-proxy's 16 characters of base32(sha256(...))."""
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


@dataclass(frozen=True)
class ClusterShape:
    services: int
    endpoints: int = 5
    cluster_base: str = "172.30.0.0"
    endpoint_base: str = "10.0.0.0"
    pod_cidr: str = "10.0.0.0/8"
    port: int = 80
    target_port: int = 8080
    random_fully: bool = True
    node_ports: int = 0  # how many services (the first ones) are NodePort services
    node_port_base: int = 30000
    # each service has one service port per protocol (kube-proxy's "ns/svc:p80" for tcp,
    # "ns/svc:p80-udp" for udp...), all on the same endpoints
    protocols: tuple[str, ...] = ("tcp",)
    # explicit (service index, endpoint slots) pairs, slots in range(endpoints): the services
    # present and which of their endpoints; empty: every service 0..services-1, every slot
    members: tuple[tuple[int, tuple[int, ...]], ...] = ()
    endpoint_wrap: int = 0  # when set, endpoint addresses repeat after this many (a small range)

    def present(self) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """(service index, endpoint slots) of every service in the rule set."""
        if self.members:
            return self.members
        return tuple((index, tuple(range(self.endpoints))) for index in range(self.services))

    def endpoint_address(self, index: int, slot: int) -> str:
        offset = index * self.endpoints + slot
        if self.endpoint_wrap:
            offset %= self.endpoint_wrap
        return _address(self.endpoint_base, offset + 1)

    def cluster_address(self, index: int) -> str:
        return _address(self.cluster_base, index + 1)


def _address(base: str, offset: int) -> str:
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(base)) + offset))


def service_name(index: int) -> str:
    return f"ns{index % 97}/svc{index}:p80"


def endpoint_addresses(shape: ClusterShape, index: int) -> list[str]:
    """The endpoints of service ``index`` (every slot)."""
    return [shape.endpoint_address(index, slot) for slot in range(shape.endpoints)]


def cluster_address(shape: ClusterShape, index: int) -> str:
    """The cluster IP of service ``index``."""
    return shape.cluster_address(index)


def port_name(index: int, protocol: str) -> str:
    """kube-proxy's name of a service port: the tcp one is service_name's."""
    return service_name(index) if protocol == "tcp" else f"{service_name(index)}-{protocol}"


def service_chains(shape: ClusterShape, index: int, slots: tuple[int, ...]) -> list[str]:
    """The KUBE-SVC-* and KUBE-SEP-* chains of service ``index`` with endpoints ``slots``."""
    chains = []
    for protocol in shape.protocols:
        name = port_name(index, protocol)
        chains.append("KUBE-SVC-" + chain_suffix(name, protocol))
        chains.extend("KUBE-SEP-" + chain_suffix(name, protocol,
                                                 shape.endpoint_address(index, slot))
                      for slot in slots)
    return chains


def restore_lines(shape: ClusterShape) -> Iterator[str]:
    """The lines of one full sync, as kube-proxy writes them."""
    yield "*filter"
    for chain in ("KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FIREWALL",
                  "KUBE-FORWARD", "KUBE-PROXY-FIREWALL"):
        yield f":{chain} - [0:0]"
    yield ('-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" '
           "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT "
           "-j DROP")
    yield "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"
    yield (f'-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
           f"-m mark --mark {MARK}/{MARK} -j ACCEPT")
    yield ('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
           "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    yield "COMMIT"
    yield "*nat"
    for chain in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"):
        yield f":{chain} - [0:0]"
    services = []
    for position, (index, slots) in enumerate(shape.present()):
        for protocol in shape.protocols:
            name = port_name(index, protocol)
            svc = "KUBE-SVC-" + chain_suffix(name, protocol)
            eps = [shape.endpoint_address(index, slot) for slot in slots]
            seps = ["KUBE-SEP-" + chain_suffix(name, protocol, ep) for ep in eps]
            node_port = position < shape.node_ports and protocol == shape.protocols[0]
            services.append((name, protocol, svc, shape.cluster_address(index), eps, seps,
                             node_port))
            yield f":{svc} - [0:0]"
            if node_port:
                yield f":KUBE-EXT-{svc[9:]} - [0:0]"
            for sep in seps:
                yield f":{sep} - [0:0]"
    yield f"-A KUBE-POSTROUTING -m mark ! --mark {MARK}/{MARK} -j RETURN"
    yield f"-A KUBE-POSTROUTING -j MARK --xor-mark {MARK}"
    masq = "-j MASQUERADE --random-fully" if shape.random_fully else "-j MASQUERADE"
    yield ('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
           + masq)
    yield f"-A KUBE-MARK-MASQ -j MARK --or-mark {MARK}"
    for name, protocol, svc, cluster_ip, eps, seps, _ in services:
        match = (f'-m comment --comment "{name} cluster IP" -m {protocol} -p {protocol} '
                 f"-d {cluster_ip} --dport {shape.port}")
        yield f"-A KUBE-SERVICES {match} -j {svc}"
        yield f"-A {svc} {match} ! -s {shape.pod_cidr} -j KUBE-MARK-MASQ"
        count = len(eps)
        for position, (ep, sep) in enumerate(zip(eps, seps, strict=True)):
            comment = f'-m comment --comment "{name} -> {ep}:{shape.target_port}"'
            if position < count - 1:
                probability = f"{1.0 / (count - position):0.10f}"
                yield (f"-A {svc} {comment} -m statistic --mode random --probability "
                       f"{probability} -j {sep}")
            else:
                yield f"-A {svc} {comment} -j {sep}"
        for ep, sep in zip(eps, seps, strict=True):
            yield f"-A {sep} -m comment --comment {name} -s {ep} -j KUBE-MARK-MASQ"
            yield (f"-A {sep} -m comment --comment {name} -m {protocol} -p {protocol} -j DNAT "
                   f"--to-destination {ep}:{shape.target_port}")
    node_ports = [(name, svc) for name, _, svc, _, _, _, node_port in services if node_port]
    for index, (name, svc) in enumerate(node_ports):
        ext = f"KUBE-EXT-{svc[9:]}"
        port = f"-m tcp -p tcp --dport {shape.node_port_base + index}"
        yield (f"-A KUBE-NODEPORTS -m comment --comment {name} {port} -d 127.0.0.0/8 "
               f"-m nfacct --nfacct-name localhost_nps_accepted_pkts -j {ext}")
        yield f"-A KUBE-NODEPORTS -m comment --comment {name} {port} -j {ext}"
        yield (f'-A {ext} -m comment --comment "masquerade traffic for {name} external '
               f'destinations" -j KUBE-MARK-MASQ')
        yield f"-A {ext} -j {svc}"
    yield ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
           'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    yield "COMMIT"


TOP_NAT_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ")


def partial_sync_text(shape: ClusterShape, changed: set[str]) -> str:
    """A partial sync as kube-proxy sends it with ``--noflush`` (USAGE.md): the filter table and
    nat's top-level chains in full, and of the service chains only those of the services named
    in ``changed`` (by service_name)."""
    lines = list(restore_lines(shape))
    nat = lines.index("*nat")
    keep = set(TOP_NAT_CHAINS)
    changed = {port for name in changed for port in
               (name, *(f"{name}-{protocol}" for protocol in shape.protocols))}
    for line in lines[nat:]:
        if line.startswith("-A KUBE-SVC-") or line.startswith("-A KUBE-EXT-"):
            words = line.split()
            if any(f"{name} " in line or line.endswith(name) for name in changed):
                keep.add(words[1])
                keep.update(word for word in words if word.startswith("KUBE-SEP-"))
    kept = [line for line in lines[nat:] if line in ("*nat", "COMMIT")
            or (line.startswith(":") and line[1:].split()[0] in keep)
            or (line.startswith("-A ") and line.split()[1] in keep)]
    return "".join(line + "\n" for line in lines[:nat] + kept)


# kube-proxy's jumps from the built-in chains (USAGE.md §1.4: EnsureRule(Prepend, ...)), as
# (table, built-in chain, extra match, comment, target chain), in the order kube-proxy adds them.
JUMPS = (
    ("filter", "INPUT", "-m conntrack --ctstate NEW",
     "kubernetes externally-visible service portals", "KUBE-EXTERNAL-SERVICES"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW",
     "kubernetes externally-visible service portals", "KUBE-EXTERNAL-SERVICES"),
    ("filter", "INPUT", "", "kubernetes health check service ports", "KUBE-NODEPORTS"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes service portals",
     "KUBE-SERVICES"),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes service portals",
     "KUBE-SERVICES"),
    ("filter", "FORWARD", "", "kubernetes forwarding rules", "KUBE-FORWARD"),
    ("filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall",
     "KUBE-PROXY-FIREWALL"),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall",
     "KUBE-PROXY-FIREWALL"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall",
     "KUBE-PROXY-FIREWALL"),
    ("nat", "OUTPUT", "", "kubernetes service portals", "KUBE-SERVICES"),
    ("nat", "PREROUTING", "", "kubernetes service portals", "KUBE-SERVICES"),
    ("nat", "POSTROUTING", "", "kubernetes postrouting rules", "KUBE-POSTROUTING"),
    ("filter", "INPUT", "", "", "KUBE-FIREWALL"),
    ("filter", "OUTPUT", "", "", "KUBE-FIREWALL"),
)


def jump_lines(table: str) -> list[str]:
    """The jumps of ``table`` as restore lines, each built-in chain in the order that
    prepending them one by one leaves (the last one added first)."""
    lines = []
    for name, chain, extra, comment, target in reversed(JUMPS):
        if name == table:
            words = [f"-A {chain}", extra, f'-m comment --comment "{comment}"' if comment else "",
                     f"-j {target}"]
            lines.append(" ".join(word for word in words if word))
    return lines


def restore_text(shape: ClusterShape, jumps: bool = False) -> str:
    """A full sync; with ``jumps``, also the built-in chains' jumps kube-proxy adds with -I."""
    lines = list(restore_lines(shape))
    if jumps:
        for table in ("filter", "nat"):
            end = lines.index("COMMIT", lines.index(f"*{table}"))
            lines[end:end] = jump_lines(table)
    return "".join(line + "\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--cluster-base", default="172.30.0.0")
    parser.add_argument("--endpoint-base", default="10.0.0.0")
    parser.add_argument("--node-ports", type=int, default=0,
                        help="how many services (the first ones) are NodePort services")
    parser.add_argument("--jumps", action="store_true",
                        help="also the built-in chains' jumps (kube-proxy adds them with -I)")
    args = parser.parse_args(argv)
    shape = ClusterShape(args.services, args.endpoints, args.cluster_base, args.endpoint_base,
                         node_ports=args.node_ports)
    sys.stdout.write(restore_text(shape, args.jumps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
