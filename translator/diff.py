"""Plan diff: from the Plan in the datapath to a new one, as map writes and deletes.

When the Shape is unchanged (same ``shape_hash``), a new rule set is only new Data: every LOOKUP
entry, every family member's rules and every built-in chain's rule values are map entries, and
the change is the entries that differ. They are ordered so that a packet never meets half a
change: a chain's entries are written before the entries of the chains that jump to it (callees
first, the built-in chains last), and removed in the opposite order (callers first).

Entries are keyed by what they are (table, chain or family member, block, lookup key), never by
rule position, so adding one service changes its own entries only; and only chains whose
ChainPlan changed (the Compiler hands back the same object for an unchanged chain) are looked
at, so the work follows the change, not the rule set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iptparse.model import Rule
from translator.plan import ChainPlan, LookupBlock, Plan, block_members
from translator.shape import ShapeReport


@dataclass(frozen=True, slots=True)
class MapWrite:
    key: tuple[Any, ...]
    value: Any


@dataclass(frozen=True, slots=True)
class MapDelete:
    key: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """``shape_changed``: new code is needed (operations then say what the new code's maps hold
    that the old ones did not); else the map operations, in the order to apply them."""

    shape_changed: bool
    operations: tuple[MapWrite | MapDelete, ...]


def _rules(found: tuple[tuple[int, Rule], ...]) -> tuple[Rule, ...]:
    return tuple(rule for _, rule in found)


def _owner(table: str, name: str, chain: ChainPlan, report: ShapeReport) -> tuple[Any, ...]:
    if chain.policy is not None:
        return ("chain", table, name)
    return ("member", table, report.family_of[(table, name)], name)


def chain_data(table: str, name: str, chain: ChainPlan,
               report: ShapeReport) -> dict[tuple[Any, ...], Any]:
    """One chain's map entries. Keys start with "member" (table, family, chain) for a family
    member's entries and "chain" (table, chain) for a built-in chain's; then the block's index,
    and for a LOOKUP the entry's key."""
    owner = _owner(table, name, chain, report)
    data: dict[tuple[Any, ...], Any] = {}
    if chain.policy is not None:
        data[(*owner, "policy")] = chain.policy
    else:
        data[(*owner, "present")] = True
    for index, block in enumerate(chain.blocks):
        if isinstance(block, LookupBlock):
            for key, found in block.entries.items():
                data[(*owner, index, key)] = _rules(found)
        else:
            data[(*owner, index)] = _rules(block_members(block))
    return data


def plan_data(plan: Plan, report: ShapeReport) -> dict[tuple[Any, ...], Any]:
    """Every map entry of the Plan (see :func:`chain_data`)."""
    data: dict[tuple[Any, ...], Any] = {}
    for table in plan.tables.values():
        for name, chain in table.chains.items():
            data.update(chain_data(table.name, name, chain, report))
    return data


def changed_chains(old: Plan, new: Plan) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(chains of the new Plan that are new or differ, chains of the old Plan that are gone or
    differ): a ChainPlan the compiler reused is the same object and is skipped unseen."""
    written: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    for name in old.tables.keys() | new.tables.keys():
        before = old.tables[name].chains if name in old.tables else {}
        after = new.tables[name].chains if name in new.tables else {}
        written += [(name, chain) for chain, plan in after.items()
                    if before.get(chain) is not plan]
        removed += [(name, chain) for chain, plan in before.items()
                    if after.get(chain) is not plan]
    return written, removed


def _heights(chains: list[tuple[str, str]], report: ShapeReport) -> dict[tuple[str, str], int]:
    """Among ``chains`` only: 0 for a chain that jumps to none of them, else one more than the
    highest of them it jumps to (the rule set is loop-free: checked at commit)."""
    among = set(chains)
    heights: dict[tuple[str, str], int] = {}

    def height(key: tuple[str, str]) -> int:
        if key not in heights:
            heights[key] = 0
            targets = [(key[0], target) for target in report.chains[key].jumps]
            heights[key] = 1 + max((height(target) for target in targets if target in among),
                                   default=-1)
        return heights[key]

    for key in chains:
        height(key)
    return heights


def diff_plans(old: Plan, old_report: ShapeReport, new: Plan,
               new_report: ShapeReport) -> PlanDiff:
    """Map operations from ``old`` to ``new``: writes of changed chains callees first, then
    deletes callers first. Work is in proportion to the chains that changed."""
    written, removed = changed_chains(old, new)
    before: dict[tuple[Any, ...], Any] = {}
    chain_of: dict[tuple[Any, ...], tuple[str, str]] = {}
    for table, name in removed:
        entries = chain_data(table, name, old.tables[table].chains[name], old_report)
        before.update(entries)
        chain_of.update(dict.fromkeys(entries, (table, name)))
    after: dict[tuple[Any, ...], Any] = {}
    for table, name in written:
        entries = chain_data(table, name, new.tables[table].chains[name], new_report)
        after.update(entries)
        chain_of.update(dict.fromkeys(entries, (table, name)))
    new_heights = _heights(written, new_report)
    old_heights = _heights(removed, old_report)
    writes = sorted((MapWrite(key, value) for key, value in after.items()
                     if key not in before or before[key] != value),
                    key=lambda op: new_heights[chain_of[op.key]])
    deletes = sorted((MapDelete(key) for key in before if key not in after),
                     key=lambda op: -old_heights[chain_of[op.key]])
    return PlanDiff(old_report.shape_hash != new_report.shape_hash, (*writes, *deletes))

