"""Executes a Plan on a packet: the Python twin of the datapath, and the proof that compiling
keeps the meaning (tests compare it with the reference model, translator/model).

The chain walk itself (jumps, gotos, returns, policies, targets) is the model's
(:func:`~translator.model.evaluate.walk_table`); what a Plan changes is which rules a packet
meets: a LOOKUP block offers only the rules whose key is the packet's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from iptparse.model import Rule
from translator.model.evaluate import TableVerdict, walk_table
from translator.model.packet import Packet
from translator.model.semantics import Context
from translator.plan import LookupBlock, TablePlan


def packet_key(block: LookupBlock, packet: Packet) -> tuple[int, ...]:
    if len(block.key_fields) == 1:
        return (packet.dst,)
    return (packet.dst, packet.dport if packet.has_ports else -1)


def _block_candidates(block: Any, packet: Packet) -> Sequence[tuple[int, Rule]]:
    if isinstance(block, LookupBlock):
        return block.entries.get(packet_key(block, packet), ())
    return ((block.rules[0], block.rule),)


def run_table_plan(plan: TablePlan, hook: str, packet: Packet, ctx: Context,
                   on_hit: Callable[[str, str, int | None], None] | None = None) -> TableVerdict:
    chains = {name: (chain.policy, chain.blocks) for name, chain in plan.chains.items()}
    return walk_table(plan.name, chains, hook, packet, ctx, _block_candidates, on_hit)
