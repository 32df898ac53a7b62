"""Packets and hooks as the reference model sees them.

A :class:`Packet` carries only what rules can look at; addresses are integers (host order) so the
model, the compiler and the datapath's test tables share one representation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from iptparse.grammar.tokens import format_ipv4, parse_ipv4_address

# Tables in the order netfilter runs them at each hook (priority order).
HOOK_TABLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "PREROUTING": ("raw", "mangle", "nat"),
    "INPUT": ("mangle", "filter", "security", "nat"),
    "FORWARD": ("mangle", "filter", "security"),
    "OUTPUT": ("raw", "mangle", "nat", "filter", "security"),
    "POSTROUTING": ("mangle", "nat"),
})

# IP protocol numbers the model understands beyond addresses.
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_SCTP = 132

# TCP flag bits as in the TCP header (and in the tcp match's --tcp-flags).
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def address(text: str) -> int:
    """A dotted quad as the model's integer; ValueError for anything else."""
    value = parse_ipv4_address(text)
    if value is None:
        raise ValueError(f"not an IPv4 address: {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class Packet:
    """An IPv4 packet's header fields that rules can match, plus the skb's mark.

    ``fragment_offset`` non-zero means a later fragment (``-f`` matches it; ports are unknown).
    ``in_iface``/``out_iface`` are filled in by the hook that sees the packet.
    """

    src: int
    dst: int
    protocol: int = IPPROTO_TCP
    sport: int = 0
    dport: int = 0
    tcp_flags: int = TCP_SYN
    icmp_type: int = 8
    icmp_code: int = 0
    length: int = 60
    ttl: int = 64
    tos: int = 0
    fragment_offset: int = 0
    mark: int = 0
    in_iface: str | None = None
    out_iface: str | None = None
    embedded: Packet | None = None  # an ICMP error's quoted packet

    def with_(self, **changes: object) -> Packet:
        return replace(self, **changes)

    @property
    def has_ports(self) -> bool:
        ported = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP)
        return self.protocol in ported and not self.fragment_offset

    def summary(self) -> str:
        """``tcp 198.18.0.1:1000 -> 198.18.1.1:80`` style text for traces and messages."""
        if self.has_ports:
            return (f"{self.protocol} {format_ipv4(self.src)}:{self.sport} -> "
                    f"{format_ipv4(self.dst)}:{self.dport}")
        return f"{self.protocol} {format_ipv4(self.src)} -> {format_ipv4(self.dst)}"


@dataclass(frozen=True, slots=True)
class Host:
    """The network namespace the rules run in: its interfaces' addresses and its routes.

    ``interfaces`` maps an interface to its (address, prefix length); ``routes`` are more routes
    as (network, prefix length, interface), a default route being (0, 0, interface). Loopback
    (127.0.0.0/8 on ``lo``) is always there.
    """

    interfaces: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType({}))
    routes: tuple[tuple[int, int, str], ...] = ()

    @property
    def interface_addresses(self) -> Mapping[str, int]:
        return {name: address for name, (address, _) in self.interfaces.items()}

    def is_local(self, address: int) -> bool:
        return address >> 24 == 127 or any(
            address == own for own, _ in self.interfaces.values())

    @property
    def broadcasts(self) -> frozenset[int]:
        """The directed broadcast address of each interface's subnet (addrtype BROADCAST)."""
        result = set()
        for address, length in self.interfaces.values():
            if length < 31:
                result.add(address | (0xFFFFFFFF >> length))
        return frozenset(result)

    def route(self, destination: int) -> str | None:
        """The interface the longest matching prefix sends ``destination`` out of (``lo`` for
        the node's own addresses)."""
        if self.is_local(destination):
            return "lo"
        best: tuple[int, str] | None = None
        candidates = [(address, length, name)
                      for name, (address, length) in self.interfaces.items()]
        candidates += list(self.routes)
        for network, length, name in candidates:
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0
            if (destination & mask) == (network & mask) and (best is None or length > best[0]):
                best = (length, name)
        return None if best is None else best[1]
