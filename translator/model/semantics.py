"""The context extension semantics run in, and what a target returns.

The functions themselves are in :mod:`.matchers` and :mod:`.targets`; this module holds what
they share: the evaluation :class:`Context` (connection, host, clock, random source, recent
lists) and a target's :class:`TargetOutcome`. The model refuses (:class:`UnsupportedExtension`)
what it has no meaning for, rather than guessing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from translator.model.nat import NatRange
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
    untracked: bool = False  # set by NOTRACK / CT --notrack in raw

    @property
    def has_conntrack(self) -> bool:
        """Whether the kernel would find a conntrack entry (nf_ct_get not NULL): not for an
        untracked packet nor for an INVALID one."""
        return not self.untracked and self.state not in ("UNTRACKED", "INVALID")


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
    nth: dict[int, int] = field(default_factory=dict)  # statistic --mode nth counters
    logged: list[Packet] = field(default_factory=list)  # what LOG would have written


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """A target's effect: CONTINUE (non-terminal) or a verdict, with the packet as it left.

    ``nat`` is the translation a nat target asks to bind; ``reply`` names what REJECT sends
    back (its ``--reject-with`` type).
    """

    verdict: str
    packet: Packet
    nat: NatRange | None = None
    reply: str | None = None


