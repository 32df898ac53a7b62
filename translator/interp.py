"""Executes a Plan on a packet: the Python twin of the datapath, and the proof that compiling
keeps the meaning (tests compare it with the reference model, translator/model).

The chain walk itself (jumps, gotos, returns, policies, targets) is the model's
(:func:`~translator.model.evaluate.walk_table`); what a Plan changes is which rules a packet
meets: a LOOKUP block offers only the rules its key finds for the packet. SELECT and AFFINITY
blocks offer their rules in order, each drawing or checking its list as the kernel does; the
datapath's single draw (plan.select_thresholds) has the same distribution, tested apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from translator.model.evaluate import TableVerdict, walk_table
from translator.model.packet import Packet
from translator.model.semantics import Context
from translator.plan import (
    Candidates,
    KeyValue,
    LookupBlock,
    Plan,
    RuleBlock,
    TablePlan,
    block_members,
)


def _mask(length: int) -> int:
    return (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF


def packet_key(block: LookupBlock, packet: Packet,
               lpm_length: int | None = None) -> tuple[KeyValue, ...] | None:
    """The packet's key in ``block`` (the LPM field cut to ``lpm_length``); None when the packet
    has no value for a key field (no ports)."""
    key: list[KeyValue] = []
    for field in block.key:
        if field.name == "protocol":
            key.append(packet.protocol)
        elif field.name == "dport":
            if not packet.has_ports:
                return None
            key.append(packet.dport)
        else:
            address = packet.src if field.name == "source" else packet.dst
            length = lpm_length if field.lpm else field.length
            assert length is not None
            key.append((address & _mask(length), length))
    return tuple(key)


def lookup(block: LookupBlock, packet: Packet) -> Candidates:
    if block.storage == "hash":
        key = packet_key(block, packet)
        return block.entries.get(key, ()) if key is not None else ()
    for length in range(32, -1, -1):  # the longest stored prefix holding the address
        key = packet_key(block, packet, length)
        if key is None:
            return ()
        found = block.entries.get(key)
        if found is not None:
            return found
    return ()


def _block_candidates(block: Any, packet: Packet) -> Candidates:
    if isinstance(block, LookupBlock):
        return lookup(block, packet)
    if isinstance(block, RuleBlock):
        return ((block.rules[0], block.rule),)
    return block_members(block)


def plan_runner(plan: Plan) -> Callable[..., TableVerdict]:
    """A reference-model Node's table runner (translator/model/node.py) that runs ``plan``'s
    compiled tables instead of the rules."""
    def run(name: str, hook: str, packet: Packet, ctx: Context,
            on_hit: Callable[[str, str, int | None], None]) -> TableVerdict:
        return run_table_plan(plan.tables[name], hook, packet, ctx, on_hit)

    return run


def run_table_plan(plan: TablePlan, hook: str, packet: Packet, ctx: Context,
                   on_hit: Callable[[str, str, int | None], None] | None = None) -> TableVerdict:
    chains = {name: (chain.policy, chain.blocks) for name, chain in plan.chains.items()}
    return walk_table(plan.name, chains, hook, packet, ctx, _block_candidates, on_hit)
