"""Plan diff: from the Plan in the datapath to a new one, as map writes and deletes.

When the Shape is unchanged (same ``shape_hash``), a new rule set is only new Data: every LOOKUP
entry, every family member's rules and every built-in chain's rule values are map entries, and
the change is the entries that differ. They are ordered so that a packet never meets half a
change: a chain's entries are written before the entries of the chains that jump to it (callees
first, the built-in chains last), and removed in the opposite order (callers first).

Entries are keyed by what they are (table, chain or family member, block, lookup key), never by
rule position, so adding one service changes its own entries only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iptparse.model import Rule
from translator.plan import LookupBlock, Plan, block_members
from translator.shape import ShapeReport
from translator.shape import jump_targets as _jumps


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


def plan_data(plan: Plan, report: ShapeReport) -> dict[tuple[Any, ...], Any]:
    """Every map entry of the Plan. Keys start with "member" for a family member's entries and
    "chain" for a built-in chain's; lookup entries add their key."""
    family_of = {(family.table, member): family.signature_hash
                 for family in report.families for member in family.members}
    data: dict[tuple[Any, ...], Any] = {}
    for table in plan.tables.values():
        for name, chain in table.chains.items():
            if chain.policy is not None:
                owner: tuple[Any, ...] = ("chain", table.name, name)
                data[(*owner, "policy")] = chain.policy
            else:
                owner = ("member", table.name, family_of[(table.name, name)], name)
                data[(*owner, "present")] = True
            for index, block in enumerate(chain.blocks):
                if isinstance(block, LookupBlock):
                    for key, found in block.entries.items():
                        data[(*owner, index, key)] = _rules(found)
                else:
                    data[(*owner, index)] = _rules(block_members(block))
    return data


def chain_heights(plan: Plan) -> dict[tuple[str, str], int]:
    """How far each chain is from the chains it never jumps past: 0 for a chain that jumps
    nowhere, else one more than the highest chain it jumps to."""
    heights: dict[tuple[str, str], int] = {}
    for table in plan.tables.values():
        def height(name: str, chains=table.chains, table_name: str = table.name) -> int:
            key = (table_name, name)
            if key not in heights:
                heights[key] = 0  # the rule set is loop-free (checked at commit)
                targets = {target for block in chains[name].blocks for target in _jumps(block)
                           if target in chains}
                heights[key] = 1 + max((height(target) for target in targets), default=-1)
            return heights[key]

        for name in table.chains:
            height(name)
    return heights


def _chain_of(key: tuple[Any, ...]) -> tuple[str, str]:
    return (key[1], key[3]) if key[0] == "member" else (key[1], key[2])


def diff_plans(old: Plan, old_report: ShapeReport, new: Plan,
               new_report: ShapeReport) -> PlanDiff:
    before = plan_data(old, old_report)
    after = plan_data(new, new_report)
    new_heights = chain_heights(new)
    old_heights = chain_heights(old)
    writes = sorted((MapWrite(key, value) for key, value in after.items()
                     if key not in before or before[key] != value),
                    key=lambda op: new_heights[_chain_of(op.key)])
    deletes = sorted((MapDelete(key) for key in before if key not in after),
                     key=lambda op: -old_heights[_chain_of(op.key)])
    return PlanDiff(old_report.shape_hash != new_report.shape_hash, (*writes, *deletes))
