"""NAT bindings as the kernel chooses them (``nf_nat_core``), for the reference model.

A binding is decided on a connection's first packet: the nat table's target gives a
:class:`NatRange`; the translated tuple keeps what it can (the port, when it is in range and the
resulting reply tuple is not taken) and otherwise picks a free port the way the kernel does: in
the range given, or, with no range, in the original port's class (1-511, 600-1023, 1024-65535).
With several addresses or several free ports the kernel's exact pick depends on hashing and
randomness; the model picks the lowest, and tests compare such translations by class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from translator.model.conntrack import FlowTuple
from translator.model.packet import IPPROTO_ICMP


@dataclass(frozen=True, slots=True)
class NatRange:
    """What a nat target asks for. ``kind`` is DNAT (destination) or SNAT (source).

    Ports None means "keep the original port if possible"; flags are the target's
    ``--random``, ``--random-fully``, ``--persistent``.
    """

    kind: str
    min_addr: int
    max_addr: int
    min_port: int | None = None
    max_port: int | None = None
    random: bool = False
    random_fully: bool = False
    persistent: bool = False


def _port_class(port: int) -> tuple[int, int]:
    """The range the kernel searches when it must move a port and no range was given."""
    if port < 512:
        return 1, 511
    if port < 1024:
        return 600, 1023
    return 1024, 65535


def _with_end(flow: FlowTuple, kind: str, addr: int, port: int) -> FlowTuple:
    if flow.protocol == IPPROTO_ICMP:  # the query id is the "port" of both ends
        if kind == "DNAT":
            return FlowTuple(flow.protocol, flow.src, port, addr, flow.dport)
        return FlowTuple(flow.protocol, addr, port, flow.dst, flow.dport)
    if kind == "DNAT":
        return FlowTuple(flow.protocol, flow.src, flow.sport, addr, port)
    return FlowTuple(flow.protocol, addr, port, flow.dst, flow.dport)


@dataclass(frozen=True, slots=True)
class Translation:
    """A binding's result: the new tuple (None: no free tuple, the kernel drops), and the port
    range the kernel chose it from when it could not keep the port (its pick is its own)."""

    flow: FlowTuple | None
    chosen_from: tuple[int, int] | None = None


def translate(flow: FlowTuple, nat: NatRange,
              reply_taken: Callable[[FlowTuple], bool]) -> Translation:
    """The original tuple after NAT.

    ``reply_taken(tuple)`` says whether a connection already expects that reply tuple.
    """
    addr = nat.min_addr
    if nat.kind == "DNAT" and flow.protocol != IPPROTO_ICMP:
        port = flow.dport
    else:
        port = flow.sport
    if flow.protocol == IPPROTO_ICMP:
        # ICMP queries keep their id unless it clashes; the id is the "port" here.
        low, high = 0, 65535
    elif nat.min_port is not None and nat.max_port is not None:
        low, high = nat.min_port, nat.max_port
    else:
        low, high = _port_class(port)
    keep = (nat.min_port is None or low <= port <= high) and not nat.random_fully
    if keep:
        candidate = _with_end(flow, nat.kind, addr, port)
        if not reply_taken(candidate.inverse()):
            return Translation(candidate)
        if nat.min_port is None and flow.protocol not in (6, 17, 132, IPPROTO_ICMP):
            return Translation(candidate)  # no ports to move: the clash stays
    if nat.kind == "DNAT" and nat.min_port is None and flow.protocol != IPPROTO_ICMP:
        # A DNAT without ports never moves the destination port, even onto a taken tuple:
        # the source side (a null SNAT binding at the latest) moves instead.
        return Translation(_with_end(flow, nat.kind, addr, port))
    for candidate_port in range(low, high + 1):
        candidate = _with_end(flow, nat.kind, addr, candidate_port)
        if not reply_taken(candidate.inverse()):
            return Translation(candidate, (low, high) if low != high else None)
    if nat.kind == "DNAT":
        # a DNAT keeps a taken tuple too: the source side moves (the null SNAT binding)
        return Translation(_with_end(flow, nat.kind, addr, low))
    return Translation(None)
