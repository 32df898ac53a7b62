"""Connection tracking as the kernel does it, for the reference model (``nf_conntrack``).

A connection is found by the tuple of a packet in either direction. Its ctstate is NEW until a
packet is seen in the reply direction, then ESTABLISHED; ICMP errors about a tracked connection
are RELATED; what the TCP tracker refuses to start a connection with is INVALID. Timeouts are the
kernel's defaults (read off ``sysctl net.netfilter`` on this machine, kernel 6.18).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from translator.model.packet import (
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Packet,
)

# Seconds (nf_conntrack_*_timeout defaults).
TCP_TIMEOUTS: Mapping[str, int] = MappingProxyType({
    "SYN_SENT": 120, "SYN_RECV": 60, "ESTABLISHED": 432000, "FIN_WAIT": 120, "CLOSE_WAIT": 60,
    "LAST_ACK": 30, "TIME_WAIT": 120, "CLOSE": 10,
})
UDP_TIMEOUT = 30  # until traffic was seen both ways
UDP_TIMEOUT_STREAM = 120
ICMP_TIMEOUT = 30
GENERIC_TIMEOUT = 600

# ICMP queries and the type their reply carries (nf_conntrack_proto_icmp's invmap).
ICMP_REPLY_TYPE: Mapping[int, int] = MappingProxyType({8: 0, 13: 14, 15: 16, 17: 18, 0: 8,
                                                      14: 13, 16: 15, 18: 17})
# ICMP errors: their payload is the header of the packet they are about (RELATED).
ICMP_ERROR_TYPES = frozenset({3, 4, 5, 11, 12})


@dataclass(frozen=True, slots=True)
class FlowTuple:
    """One direction of a connection. For ICMP, ``sport`` is the query id and ``dport`` the type."""

    protocol: int
    src: int
    sport: int
    dst: int
    dport: int

    def inverse(self) -> FlowTuple:
        if self.protocol == IPPROTO_ICMP:
            reply_type = ICMP_REPLY_TYPE.get(self.dport, self.dport)
            return FlowTuple(self.protocol, self.dst, self.sport, self.src, reply_type)
        return FlowTuple(self.protocol, self.dst, self.dport, self.src, self.sport)


def packet_tuple(packet: Packet) -> FlowTuple:
    if packet.protocol == IPPROTO_ICMP:
        return FlowTuple(IPPROTO_ICMP, packet.src, packet.sport, packet.dst, packet.icmp_type)
    if packet.has_ports:
        return FlowTuple(packet.protocol, packet.src, packet.sport, packet.dst, packet.dport)
    return FlowTuple(packet.protocol, packet.src, 0, packet.dst, 0)


@dataclass(frozen=True, slots=True)
class Connection:
    """A tracked connection: its original tuple and the reply tuple it expects (after NAT).

    ``seen_reply`` makes it ESTABLISHED; ``tcp_state`` follows the TCP tracker; ``expires`` is
    the model clock's time of death; ``status`` holds SNAT/DNAT when translated.
    """

    original: FlowTuple
    reply: FlowTuple
    seen_reply: bool = False
    tcp_state: str = ""
    mark: int = 0
    status: frozenset[str] = frozenset()
    expires: float = 0.0


def new_tcp_state(flags: int) -> str | None:
    """The TCP tracker's state for a connection's first packet, or None (INVALID).

    SYN starts SYN_SENT; a bare ACK is picked up mid-stream (nf_conntrack_tcp_loose=1); SYN+ACK,
    FIN and RST cannot start a connection.
    """
    if flags & TCP_RST:
        return None
    if flags & TCP_SYN:
        return None if flags & TCP_ACK else "SYN_SENT"
    if flags & TCP_FIN:
        return None
    return "ESTABLISHED" if flags & TCP_ACK else None


def _tcp_kind(flags: int) -> str:
    if flags & TCP_RST:
        return "RST"
    if flags & TCP_SYN:
        return "SYNACK" if flags & TCP_ACK else "SYN"
    if flags & TCP_FIN:
        return "FIN"
    return "ACK" if flags & TCP_ACK else "NONE"


# Packets the TCP tracker refuses on a known connection (they are INVALID, get no NAT), by
# state and direction, read off this kernel (6.18); tests/differential/test_tcp_tracker_vs_kernel.py
# keeps checking it. A later packet of a connection whose handshake is not where its flags say.
TCP_INVALID: Mapping[tuple[str, bool], frozenset[str]] = MappingProxyType({
    ("SYN_SENT", False): frozenset({"SYNACK", "ACK", "FIN"}),
    ("SYN_SENT", True): frozenset({"FIN"}),
    ("SYN_RECV", True): frozenset({"SYN"}),
    ("ESTABLISHED", False): frozenset({"SYNACK"}),
    ("ESTABLISHED", True): frozenset({"SYN"}),
})


def tcp_invalid(state: str, flags: int, reply: bool) -> bool:
    """Whether the tracker refuses this packet on a connection in ``state``."""
    return _tcp_kind(flags) in TCP_INVALID.get((state, reply), frozenset())


def next_tcp_state(state: str, flags: int, reply: bool) -> str:
    """A simplified TCP tracker transition (the cases the model's conversations produce)."""
    if flags & TCP_RST:
        return "CLOSE"
    if flags & TCP_SYN and flags & TCP_ACK and reply and state == "SYN_SENT":
        return "SYN_RECV"
    if flags & TCP_FIN:
        if state in ("ESTABLISHED", "SYN_RECV"):
            return "FIN_WAIT"
        if state in ("FIN_WAIT", "CLOSE_WAIT"):
            return "LAST_ACK"
        return state
    if flags & TCP_ACK:
        if state == "SYN_RECV" and not reply:
            return "ESTABLISHED"
        if state == "FIN_WAIT":
            return "CLOSE_WAIT"
        if state == "LAST_ACK":
            return "TIME_WAIT"
    return state


def timeout_for(connection: Connection) -> int:
    protocol = connection.original.protocol
    if protocol == IPPROTO_TCP:
        return TCP_TIMEOUTS.get(connection.tcp_state, GENERIC_TIMEOUT)
    if protocol == IPPROTO_UDP:
        return UDP_TIMEOUT_STREAM if connection.seen_reply else UDP_TIMEOUT
    if protocol == IPPROTO_ICMP:
        return ICMP_TIMEOUT
    return GENERIC_TIMEOUT


class ConntrackTable:
    """The connections of one network namespace, indexed by both directions' tuples."""

    def __init__(self) -> None:
        self._by_tuple: dict[FlowTuple, tuple[FlowTuple, bool]] = {}
        self._connections: dict[FlowTuple, Connection] = {}

    def __len__(self) -> int:
        return len(self._connections)

    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    def find(self, flow: FlowTuple, now: float) -> tuple[Connection, bool] | None:
        """(connection, is_reply_direction) for a tuple, expiring dead entries on the way."""
        found = self._by_tuple.get(flow)
        if found is None:
            return None
        key, reply = found
        connection = self._connections[key]
        if connection.expires <= now:
            self.remove(connection)
            return None
        return connection, reply

    def store(self, connection: Connection, now: float) -> Connection:
        """Insert or replace a connection, refreshing its timeout."""
        connection = replace(connection, expires=now + timeout_for(connection))
        old = self._connections.get(connection.original)
        if old is not None:
            self._by_tuple.pop(old.reply, None)
        self._connections[connection.original] = connection
        self._by_tuple[connection.original] = (connection.original, False)
        self._by_tuple[connection.reply] = (connection.original, True)
        return connection

    def set_expiry(self, original: FlowTuple, expires: float) -> None:
        """Keep a stored connection's own time of death (when read back from a saved state)."""
        connection = self._connections.get(original)
        if connection is not None:
            self._connections[original] = replace(connection, expires=expires)

    def remove(self, connection: Connection) -> None:
        self._connections.pop(connection.original, None)
        self._by_tuple.pop(connection.original, None)
        self._by_tuple.pop(connection.reply, None)
