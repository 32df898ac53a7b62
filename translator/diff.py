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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iptparse.memory import building_long_lived
from iptparse.model import Rule
from translator.cache import IdentityCache
from translator.plan import (
    ChainPatch,
    ChainPlan,
    LookupBlock,
    Plan,
    block_members,
    changed_chains,
)
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
    """One chain's map entries, a LOOKUP block's as one item (see :func:`_lookup_ops`). Keys
    start with "member" (table, family, chain) for a family member's entries and "chain"
    (table, chain) for a built-in chain's; then the block's index (and "lookup")."""
    owner = _owner(table, name, chain, report)
    data: dict[tuple[Any, ...], Any] = {}
    if chain.policy is not None:
        data[(*owner, "policy")] = chain.policy
    else:
        data[(*owner, "present")] = True
    for index, block in enumerate(chain.blocks):
        if isinstance(block, LookupBlock):
            data[(*owner, index, "lookup")] = block.rules_by_key
        else:
            data[(*owner, index)] = _rules(block_members(block))
    return data


def _flat(key: tuple[Any, ...], value: Any) -> dict[tuple[Any, ...], Any]:
    """One item of chain_data as map entries: a LOOKUP's entries each under its own key."""
    if key[-1] != "lookup":
        return {key: value}
    return {(*key[:-1], entry): rules for entry, rules in value.items()}


def _lookup_ops(key: tuple[Any, ...], old: Mapping[Any, Any], new: Mapping[Any, Any]
                ) -> tuple[list[MapWrite], list[MapDelete]]:
    """A LOOKUP's entries that changed: compared as tuples of the same Rule objects, which
    Python compares by identity first, so an unchanged entry costs next to nothing."""
    owner = key[:-1]
    get = old.get
    writes = [MapWrite((*owner, entry), rules) for entry, rules in new.items()
              if get(entry) != rules]
    deletes = [MapDelete((*owner, entry)) for entry in old.keys() - new.keys()]
    return writes, deletes


def _patched_lookup_ops(key: tuple[Any, ...], old: Mapping[Any, Any], new: Mapping[Any, Any],
                        patch: ChainPatch) -> tuple[list[MapWrite], list[MapDelete]] | None:
    """:func:`_lookup_ops` of a patched chain's first block, looking at the keys the patch
    changed only (in the same order); None when that is not this lookup, or when several
    keys went (their order is that of a set of every old key)."""
    if (key[-2] != 0 or old is not patch.old.blocks[0].rules_by_key
            or new is not patch.new.blocks[0].rules_by_key):
        return None
    gone = [entry for entry in patch.keys if entry not in new and entry in old]
    if len(gone) > 1:
        return None
    entries = patch.new.blocks[0].entries  # in new's order: by their first rule
    owner = key[:-1]
    written = sorted((entry for entry in patch.keys
                      if entry in new and old.get(entry) != new[entry]),
                     key=lambda entry: entries[entry][0][0])
    return ([MapWrite((*owner, entry), new[entry]) for entry in written],
            [MapDelete((*owner, entry)) for entry in gone])


def _heights(chains: list[tuple[str, str]], report: ShapeReport) -> dict[tuple[str, str], int]:
    """Among ``chains`` only: 0 for a chain that jumps to none of them, else one more than the
    highest of them it jumps to (the rule set is loop-free: checked at commit)."""
    among = set(chains)
    heights: dict[tuple[str, str], int] = {}

    def height(key: tuple[str, str]) -> int:
        if key not in heights:
            heights[key] = 0
            jumps = report.chains[key].jumps  # a set: asked about the few changed chains only
            # over the chain's own jumps, not over ``among``: a full load changes every chain
            heights[key] = 1 + max((height((key[0], target)) for target in jumps
                                    if (key[0], target) in among), default=-1)
        return heights[key]

    for key in chains:
        height(key)
    return heights


Changes = tuple[list[tuple[str, str]], list[tuple[str, str]]]


class PlanDiffer:
    """Plan diffs that remember each compiled chain's entries (by ChainPlan identity: the
    compiler reuses unchanged chains), so a diff costs what the changed chains hold."""

    def __init__(self) -> None:
        self._entries: dict[str, IdentityCache[ChainPlan, dict[tuple[Any, ...], Any]]] = {}
        self._reports: dict[str, ShapeReport] = {}

    def _chain_entries(self, table: str, name: str, chain: ChainPlan,
                       report: ShapeReport) -> dict[tuple[Any, ...], Any]:
        if table not in self._entries:
            self._entries[table] = IdentityCache(
                lambda plan, table=table: chain_data(table, plan.name, plan, self._reports[table]))
        self._reports[table] = report
        return self._entries[table](chain)

    def _forget(self, plan: Plan) -> None:
        """Drop the entries of chains no longer in ``plan`` once a table's cache holds twice
        what is live (the next diff asks for ``plan``'s chains only; the cost is spread)."""
        for table, cache in list(self._entries.items()):
            live = plan.tables[table].chains if table in plan.tables else {}
            if len(cache) > 2 * len(live) + 64:
                cache.keep_only(live.values())

    def diff(self, old: Plan, old_report: ShapeReport, new: Plan, new_report: ShapeReport,
             changes: Changes | None = None,
             patches: Mapping[tuple[str, str], ChainPatch] | None = None) -> PlanDiff:
        """Map operations from ``old`` to ``new``: writes of changed chains callees first,
        then deletes callers first. ``changes``: the chains that differ, when the compiler
        knows them (Compiler.last_changes); else they are found by comparing the Plans.
        ``patches`` (Compiler.last_patches): chains whose lookup entries changed at a few
        keys only, which are the only ones compared."""
        with building_long_lived():
            return self._diff(old, old_report, new, new_report, changes, patches or {})

    def _diff(self, old: Plan, old_report: ShapeReport, new: Plan, new_report: ShapeReport,
              changes: Changes | None,
              patches: Mapping[tuple[str, str], ChainPatch]) -> PlanDiff:
        written, removed = changes if changes is not None else changed_chains(old, new)
        before: dict[tuple[Any, ...], Any] = {}
        chain_of: dict[tuple[Any, ...], tuple[str, str]] = {}
        for table, name in removed:
            entries = self._chain_entries(table, name, old.tables[table].chains[name],
                                          old_report)
            before.update(entries)
            chain_of.update(dict.fromkeys(entries, (table, name)))
        after: dict[tuple[Any, ...], Any] = {}
        for table, name in written:
            entries = self._chain_entries(table, name, new.tables[table].chains[name],
                                          new_report)
            after.update(entries)
            chain_of.update(dict.fromkeys(entries, (table, name)))
        new_heights = _heights(written, new_report)
        old_heights = _heights(removed, old_report)
        writes: list[tuple[int, MapWrite]] = []
        deletes: list[tuple[int, MapDelete]] = []
        for key, value in after.items():
            height = new_heights[chain_of[key]]
            if key[-1] == "lookup":
                previous = before.get(key, {})
                patch = patches.get(chain_of[key])
                found = None if patch is None else _patched_lookup_ops(key, previous, value, patch)
                added, gone = found or _lookup_ops(key, previous, value)
                writes += [(height, op) for op in added]
                deletes += [(-old_heights.get(chain_of[key], 0), op) for op in gone]
            elif key not in before or before[key] != value:
                writes.append((height, MapWrite(key, value)))
        for key, value in before.items():
            if key not in after:
                deletes += [(-old_heights[chain_of[key]], MapDelete(flat))
                            for flat in _flat(key, value)]
        writes.sort(key=lambda item: item[0])
        deletes.sort(key=lambda item: item[0])
        self._forget(new)
        return PlanDiff(old_report.shape_hash != new_report.shape_hash,
                        (*(op for _, op in writes), *(op for _, op in deletes)))


def diff_plans(old: Plan, old_report: ShapeReport, new: Plan,
               new_report: ShapeReport) -> PlanDiff:
    return PlanDiffer().diff(old, old_report, new, new_report)
