"""What each match and target means to a packet: one table, by extension name (bpfilter style).

A match is ``(options, packet, ctx) -> bool``; a target is ``(options, packet, ctx) ->
TargetOutcome``. ``options`` are the frozen values :mod:`iptparse.extensions` builds. The model
refuses (:class:`UnsupportedExtension`) what it has no meaning for, rather than guessing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from translator.model.packet import Host, Packet


class UnsupportedExtension(Exception):
    """The reference model has no meaning for this extension."""


@dataclass(slots=True)
class ConnectionView:
    """What conntrack tells rules about the packet's connection (``-m conntrack``, ``state``).

    ``state`` is NEW, ESTABLISHED, RELATED, INVALID or UNTRACKED; ``status`` holds DNAT/SNAT
    when the connection is translated; ``reply`` is True for packets in the reply direction.
    """

    state: str = "NEW"
    mark: int = 0
    status: frozenset[str] = frozenset()
    reply: bool = False


@dataclass(slots=True)
class Context:
    """Everything outside the packet a rule may look at or change while it is evaluated.

    ``recent`` holds the recent match's lists (name -> address -> hit times); ``now`` is the
    model's clock in seconds; ``rng`` draws statistic's 31-bit numbers (injectable for tests).
    """

    host: Host
    hook: str
    conn: ConnectionView = field(default_factory=ConnectionView)
    now: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    recent: dict[str, dict[int, list[float]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """A target's effect: CONTINUE (non-terminal) or a verdict, with the packet as it left.

    ``nat`` is ("DNAT" | "SNAT", address, port or None) for a translation to bind;
    ``reply`` names what REJECT sends back (an ICMP type/code text or "tcp-reset").
    """

    verdict: str
    packet: Packet
    nat: tuple[str, int, int | None] | None = None
    reply: str | None = None


MatchFunction = Callable[[Any, Packet, Context], bool]
TargetFunction = Callable[[Any, Packet, Context], TargetOutcome]


def _comment(options: Any, packet: Packet, ctx: Context) -> bool:
    return True


MATCH_SEMANTICS: dict[str, MatchFunction] = {"comment": _comment}
TARGET_SEMANTICS: dict[str, TargetFunction] = {}


def match_semantics(name: str) -> MatchFunction:
    function = MATCH_SEMANTICS.get(name)
    if function is None:
        raise UnsupportedExtension(f"the reference model has no meaning for match {name!r}")
    return function


def target_semantics(name: str) -> TargetFunction:
    function = TARGET_SEMANTICS.get(name)
    if function is None:
        raise UnsupportedExtension(f"the reference model has no meaning for target {name!r}")
    return function
