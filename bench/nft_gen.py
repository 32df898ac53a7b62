"""Native nftables rule sets for the side-by-side benchmark, from the same ClusterShape as
bench/kube_gen.py, in the structure of kube-proxy's nftables mode: one ``ip kube-proxy`` table,
a ``service-ips`` verdict map (address . protocol . port -> goto the service's chain), per
service a chain that marks for masquerade and picks an endpoint with ``numgen random mod N
vmap``, per endpoint a chain that marks hairpin traffic and DNATs, and masquerading in
postrouting by mark. Adding a service is one ``nft -f`` transaction of adds, as kube-proxy's
partial syncs are.
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.kube_gen import (
    ClusterShape,
    chain_suffix,
    cluster_address,
    endpoint_addresses,
    service_name,
)

TABLE = "ip kube-proxy"
NAME_SAFE = str.maketrans({"/": "-", ":": "-", ".": "-"})
MARK = "0x00004000"


def _service_chain(shape: ClusterShape, index: int) -> str:
    name = service_name(index)
    return f"service-{chain_suffix(name, shape.protocols[0])[:8]}-{name.translate(NAME_SAFE)}"


def _endpoint_chain(shape: ClusterShape, index: int, endpoint: str) -> str:
    name = service_name(index)
    return (f"endpoint-{chain_suffix(name, shape.protocols[0], endpoint)[:8]}-"
            f"{name.translate(NAME_SAFE)}-{endpoint.translate(NAME_SAFE)}")


def _base() -> Iterator[str]:
    yield f"add table {TABLE}"
    yield f"flush table {TABLE}"
    for chain, hook, priority in (("nat-prerouting", "prerouting", "dstnat"),
                                  ("nat-output", "output", "-100"),
                                  ("nat-postrouting", "postrouting", "srcnat")):
        yield f"add chain {TABLE} {chain} {{ type nat hook {hook} priority {priority} ; }}"
    for chain, hook in (("filter-input", "input"), ("filter-forward", "forward"),
                        ("filter-output", "output")):
        yield f"add chain {TABLE} {chain} {{ type filter hook {hook} priority -110 ; }}"
    for chain in ("services", "masquerading", "mark-for-masquerade", "firewall-check"):
        yield f"add chain {TABLE} {chain}"
    yield f"add rule {TABLE} nat-prerouting jump services"
    yield f"add rule {TABLE} nat-output jump services"
    yield f"add rule {TABLE} nat-postrouting jump masquerading"
    yield f"add rule {TABLE} filter-forward ct state new jump firewall-check"
    yield f"add rule {TABLE} mark-for-masquerade mark set mark or {MARK}"
    yield f"add rule {TABLE} masquerading mark and {MARK} == 0 return"
    yield f"add rule {TABLE} masquerading mark set mark xor {MARK}"
    yield f"add rule {TABLE} masquerading masquerade fully-random"
    yield (f"add map {TABLE} service-ips {{ type ipv4_addr . inet_proto . inet_service : "
           f"verdict ; }}")
    yield f"add rule {TABLE} services ip daddr . meta l4proto . th dport vmap @service-ips"


def service_lines(shape: ClusterShape, index: int) -> Iterator[str]:
    """One service: its chains, rules and map element."""
    proto = shape.protocols[0]
    chain = _service_chain(shape, index)
    cluster_ip = cluster_address(shape, index)
    endpoints = endpoint_addresses(shape, index)
    chains = [_endpoint_chain(shape, index, endpoint) for endpoint in endpoints]
    yield f"add chain {TABLE} {chain}"
    for endpoint_chain in chains:
        yield f"add chain {TABLE} {endpoint_chain}"
    yield (f"add rule {TABLE} {chain} ip daddr {cluster_ip} {proto} dport {shape.port} "
           f"ip saddr != {shape.pod_cidr} jump mark-for-masquerade")
    picks = " , ".join(f"{n} : goto {c}" for n, c in enumerate(chains))
    yield f"add rule {TABLE} {chain} numgen random mod {len(chains)} vmap {{ {picks} }}"
    for endpoint, endpoint_chain in zip(endpoints, chains, strict=True):
        yield f"add rule {TABLE} {endpoint_chain} ip saddr {endpoint} jump mark-for-masquerade"
        yield (f"add rule {TABLE} {endpoint_chain} meta l4proto {proto} dnat to "
               f"{endpoint}:{shape.target_port}")
    yield (f"add element {TABLE} service-ips {{ {cluster_ip} . {proto} . {shape.port} : "
           f"goto {chain} }}")


def full_text(shape: ClusterShape) -> str:
    lines = list(_base())
    for index in range(shape.services):
        lines += service_lines(shape, index)
    return "\n".join(lines) + "\n"


def add_service_text(shape: ClusterShape, index: int) -> str:
    """kube-proxy's transaction for one new service."""
    return "\n".join(service_lines(shape, index)) + "\n"


def single_rule_command(address: str) -> list[str]:
    """One ``nft add rule`` (argv after ``nft``), the counterpart of one ``iptables -A``."""
    return ["add", "rule", *TABLE.split(), "filter-input", "ip", "saddr", address, "tcp",
            "dport", "9", "drop"]


def drop_text(sources: list[str]) -> str:
    """The early-drop firewall: the source prefixes in an interval set, dropped at prerouting
    before conntrack (priority raw)."""
    elements = ", ".join(sources)
    return (f"add table ip bench-drop\n"
            f"add set ip bench-drop blocked {{ type ipv4_addr ; flags interval ; }}\n"
            f"add element ip bench-drop blocked {{ {elements} }}\n"
            f"add chain ip bench-drop prerouting {{ type filter hook prerouting priority raw ; }}\n"
            f"add rule ip bench-drop prerouting ip saddr @blocked drop\n")
