"""A Plan's Shape: what code it needs, with the values (the Data) taken out.

Two user chains whose blocks are equal once every value is replaced by a placeholder form a
*family*: kube-proxy's thousands of KUBE-SVC-* chains fall into a few, its KUBE-SEP-* into one.
A family's code is generated once; its members are data. The Shape is the built-in chains'
blocks and the families' signatures; ``shape_hash`` fingerprints it, so a rule set that only
adds or removes services, endpoints or addresses keeps its hash.

Values are: addresses (their prefix length stays), ports, marks, probabilities, timeouts, chain
names in jumps, comments, recent list names, log prefixes, nfacct names. Option names, modes,
negations and which fields a rule uses are shape.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, is_dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from iptparse.memory import building_long_lived
from iptparse.model import STANDARD_TARGETS, TABLE_BUILTINS, IPv4Prefix, Rule
from translator.cache import IdentityCache
from translator.plan import (
    Block,
    ChainPatch,
    ChainPlan,
    LookupBlock,
    Plan,
    RuleBlock,
    block_members,
    changed_chains,
    really_changed,
)

# String fields of extension options that are data, not shape.
VALUE_STRINGS = frozenset({"name", "comment", "prefix", "nfacct_name"})


@lru_cache(maxsize=256)
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(item.name for item in fields(kind))


def _abstract(value: Any, field_name: str = "") -> Any:
    """``value`` as a tuple tree with every number replaced by 0 and value strings by ""."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return 0
    if isinstance(value, str):
        return "" if field_name in VALUE_STRINGS else value
    if isinstance(value, tuple):
        return tuple(_abstract(item) for item in value)
    if is_dataclass(value):
        kind = type(value)
        return (kind.__name__, *(_abstract(getattr(value, name), name)
                                 for name in _field_names(kind)))
    return value


def _prefix_length(prefix: IPv4Prefix | None) -> int | None:
    return None if prefix is None else prefix.mask


def _target_shape(rule: Rule) -> tuple[Any, ...] | None:
    if rule.target is None:
        return None
    jump = rule.target.options is None and rule.target.name not in STANDARD_TARGETS
    return (("<chain>", None) if jump else (rule.target.name, _abstract(rule.target.options)),
            rule.target.goto)


def rule_shape(rule: Rule) -> tuple[Any, ...]:
    """The rule with its values taken out (comments dropped), as a tuple."""
    matches = tuple((match.name, _abstract(match.options)) for match in rule.matches
                    if match.name != "comment")
    return (rule.protocol, rule.protocol_invert, _prefix_length(rule.source),
            rule.source_invert, _prefix_length(rule.destination), rule.destination_invert,
            rule.in_iface, rule.in_iface_invert, rule.out_iface, rule.out_iface_invert,
            rule.fragment, matches, _target_shape(rule))


def block_shape(block: Block) -> tuple[Any, ...]:
    """A block with its values taken out: its kind, key layout, residual shapes and the kinds
    of action its rules take (how many rules, keys or endpoints it holds is data)."""
    if isinstance(block, RuleBlock):
        return ("RULE", rule_shape(block.rule))
    actions = tuple(sorted({_target_shape(rule) for _, rule in block_members(block)}, key=repr))
    if isinstance(block, LookupBlock):
        key = tuple((field.name, field.match, field.length) for field in block.key)
        return ("LOOKUP", key, tuple(rule_shape(variant) for variant in block.variants), actions)
    return (block.kind, rule_shape(block.template), actions)


def chain_signature(chain: ChainPlan) -> tuple[Any, ...]:
    return tuple(block_shape(block) for block in chain.blocks)


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Family:
    """User chains of one table with the same signature; ``pattern`` is their common name
    prefix and ``*`` (the look of kube-proxy's chain names), for people."""

    table: str
    signature_hash: str
    members: tuple[str, ...]
    signature: tuple[Any, ...]

    @property
    def pattern(self) -> str:
        first, last = self.members[0], self.members[-1]  # members are sorted
        common = 0
        while common < min(len(first), len(last)) and first[common] == last[common]:
            common += 1
        return first[:common] + "*" if len(self.members) > 1 else first


@dataclass(frozen=True, slots=True)
class ChainShape:
    """What the Shape needs of one compiled chain: its signature, the signature's digest and
    the chains its blocks jump or go to (all of them, and block by block)."""

    signature: tuple[Any, ...]
    digest: str
    jumps: frozenset[str]
    block_jumps: tuple[frozenset[str], ...]


def chain_shape(chain: ChainPlan) -> ChainShape:
    signature = chain_signature(chain)
    block_jumps = tuple(frozenset(jump_targets(block)) for block in chain.blocks)
    return ChainShape(signature, _digest(signature), frozenset().union(*block_jumps),
                      block_jumps)


@dataclass(frozen=True, slots=True)
class ShapeReport:
    """What ``bpftables translate`` reports of a Plan's Shape; ``family_of`` maps (table, user
    chain) to its family's signature hash, ``chains`` every chain's :class:`ChainShape`."""

    families: tuple[Family, ...]
    shape_hash: str
    rule_blocks: int  # RULE blocks of the code: once per family, whatever its member count
    max_blocks_per_packet: int
    family_of: Mapping[tuple[str, str], str]
    chains: Mapping[tuple[str, str], ChainShape]


ChainKey = tuple[str, str]  # (table, chain)
Changes = tuple[list[ChainKey], list[ChainKey]]


class ShapeAnalyzer:
    """Plan -> ShapeReport, remembering each ChainPlan's shape: a chain the compiler reused
    (the same ChainPlan object) is not looked at again. What the last report was made of
    (families' members, chains' lengths, the Shape hash) is kept and updated from the chains
    that changed, so analyzing a small change costs what changed plus a copy of two dicts."""

    def __init__(self) -> None:
        self.chain = IdentityCache(chain_shape)
        self.tallies = IdentityCache(block_tallies)  # of patched chains' first blocks
        self._plan: Plan | None = None
        self._report: ShapeReport | None = None
        self._shapes: dict[ChainKey, ChainShape] = {}
        self._members: dict[tuple[str, str], list[str]] = {}  # (table, digest) -> sorted names
        self._families: dict[tuple[str, str], Family] = {}
        self._callers: dict[ChainKey, set[str]] = {}  # (table, target) -> chains jumping there
        # max_blocks_per_packet's length of each chain, per table
        self._lengths: dict[str, dict[str, int]] = {}
        self._table_shape: dict[str, tuple[Any, int]] = {}  # table -> (its Shape, RULE blocks)

    def analyze(self, plan: Plan, changes: Changes | None = None, base: Plan | None = None,
                patches: Mapping[ChainKey, ChainPatch] | None = None) -> ShapeReport:
        """``changes``: the chains that differ from ``base`` (Compiler.last_changes and
        Compiler.previous); used when ``base`` is the Plan analyzed last, else the chains that
        differ are found by comparing the Plans. ``patches`` (Compiler.last_patches): chains
        whose shape is the old one's updated by a few rules."""
        for patch in (patches or {}).values():
            if self.chain.get(patch.new) is None:
                derived = self._patched(patch)
                if derived is not None:
                    self.chain.put(patch.new, derived)
        with building_long_lived():
            if self._plan is None:
                changes = ([(table.name, name) for table in plan.tables.values()
                            for name in table.chains], [])
            elif changes is None or base is not self._plan:
                changes = changed_chains(self._plan, plan)
            return self._update(plan, changes)

    def _update(self, plan: Plan, changes: Changes) -> ShapeReport:
        written, removed = really_changed(self._plan, plan, changes)
        old_report = self._report
        old_plan = self._plan
        shapes = self._shapes
        family_of = old_report.family_of.copy() if old_report is not None else {}
        # families' members that leave and join (a family's sorted list is updated once)
        leaving: dict[tuple[str, str], list[str]] = {}
        joining: dict[tuple[str, str], list[str]] = {}
        dirty: set[ChainKey] = set()  # chains whose max_blocks_per_packet length is stale
        tables_changed: set[str] = set()  # tables whose built-ins or families changed
        rewritten = set(written)
        callers = self._callers

        def callers_of(table: str, target: str) -> set[str]:
            found = callers.get((table, target))
            if found is None:
                found = callers[(table, target)] = set()
            return found

        old_jumps: dict[ChainKey, frozenset[str]] = {}  # of chains changed, not gone
        for key in removed:
            assert old_plan is not None
            chain = old_plan.tables[key[0]].chains[key[1]]
            shape = shapes.pop(key)
            if key in rewritten:  # its callers' entries are updated by what differs
                old_jumps[key] = shape.jumps
            else:
                self._unlink(key, shape.jumps)
            dirty.add(key)
            if chain.policy is None:
                leaving.setdefault((key[0], shape.digest), []).append(key[1])
                del family_of[key]
            else:
                tables_changed.add(key[0])
        for key in written:
            chain = plan.tables[key[0]].chains[key[1]]
            shape = self.chain(chain)
            shapes[key] = shape
            before = old_jumps.get(key)
            if before is not None:
                self._unlink(key, before - shape.jumps)
            for target in shape.jumps if before is None else shape.jumps - before:
                callers_of(key[0], target).add(key[1])
            if old_plan is not None:  # (the first time, no length is known yet)
                dirty.add(key)
            if chain.policy is None:
                joining.setdefault((key[0], shape.digest), []).append(key[1])
                family_of[key] = shape.digest
            else:
                tables_changed.add(key[0])
        touched = leaving.keys() | joining.keys()
        for family in touched:
            members = self._members.setdefault(family, [])
            _update_sorted(members, leaving.get(family, ()), joining.get(family, ()))
            had = family in self._families
            if members:
                table, digest = family
                self._families[family] = Family(table, digest, tuple(members),
                                                shapes[(table, members[0])].signature)
            else:
                del self._members[family]
                self._families.pop(family, None)
            if had != bool(members):
                tables_changed.add(family[0])
        if len(self.chain) > 2 * len(shapes):
            self.chain.keep_only(chain for table in plan.tables.values()
                                 for chain in table.chains.values())
        family_list = tuple(self._families[family] for family in sorted(self._families))
        tables_changed |= self._table_shape.keys() - plan.tables.keys()
        tables_changed |= plan.tables.keys() - self._table_shape.keys()
        if tables_changed or old_report is None:
            self._tables(plan, family_list)
        shape_hash = (old_report.shape_hash if not tables_changed and old_report is not None
                      else _digest(sorted((name, self._table_shape[name][0])
                                          for name in plan.tables))[:16])
        self._plan = plan
        self._report = ShapeReport(
            family_list, shape_hash, sum(blocks for _, blocks in self._table_shape.values()),
            self._longest(plan, dirty), MappingProxyType(family_of), MappingProxyType(
                dict(shapes)))
        return self._report

    def _patched(self, patch: ChainPatch) -> ChainShape | None:
        """The shape of ``patch.new`` from ``patch.old``'s: only its first block's actions
        and jumps can differ, by the rules that came and went."""
        old_shape = self.chain.get(patch.old)
        if old_shape is None:
            return None
        actions, jumps = (dict(tally) for tally in self.tallies(patch.old.blocks[0]))
        for rules, step in ((patch.gone, -1), (patch.came, 1)):
            for rule in rules:
                _tally(actions, _target_shape(rule), step)
                name = _jump(rule)
                if name is not None:
                    _tally(jumps, name, step)
        if len(self.tallies) > 64:  # only the last patched blocks' are asked for
            self.tallies.keep_only([patch.old.blocks[0]])
        self.tallies.put(patch.new.blocks[0], (actions, jumps))
        first = old_shape.signature[0]
        signature = ((*first[:3], tuple(sorted(actions, key=repr))),
                     *old_shape.signature[1:])
        block_jumps = (frozenset(jumps), *old_shape.block_jumps[1:])
        digest = old_shape.digest if signature == old_shape.signature else _digest(signature)
        return ChainShape(signature, digest, frozenset().union(*block_jumps), block_jumps)

    def _unlink(self, key: ChainKey, jumps: frozenset[str]) -> None:
        for target in jumps:
            callers = self._callers.get((key[0], target))
            if callers is not None:
                callers.discard(key[1])
                if not callers:
                    del self._callers[(key[0], target)]

    def _tables(self, plan: Plan, family_list: tuple[Family, ...]) -> None:
        """Each table's part of the Shape (its built-in chains' signatures, its families'
        hashes) and its RULE blocks (a family's once, whatever its member count)."""
        self._table_shape = {}
        for table in plan.tables.values():
            # the built-in chains by name, not by a look at all (60,000) chains
            builtins = {name: self._shapes[(table.name, name)].signature
                        for name in TABLE_BUILTINS.get(table.name, ())
                        if (chain := table.chains.get(name)) is not None
                        and chain.policy is not None}
            families = [family for family in family_list if family.table == table.name]
            rule_blocks = sum(1 for signature in builtins.values() for block in signature
                              if block[0] == "RULE")
            rule_blocks += sum(1 for family in families for block in family.signature
                               if block[0] == "RULE")
            self._table_shape[table.name] = (
                (sorted(builtins.items()), sorted(family.signature_hash for family in families)),
                rule_blocks)

    def _longest(self, plan: Plan, dirty: set[ChainKey]) -> int:
        """max_blocks_per_packet, the lengths of chains that changed and of every chain that
        may reach them computed again, the others remembered."""
        lengths = self._lengths
        stack = list(dirty)
        while stack:
            table_name, name = stack.pop()
            memo = lengths.get(table_name)
            if memo is None:
                continue
            memo.pop(name, None)
            for caller in self._callers.get((table_name, name), ()):
                if caller in memo:
                    stack.append((table_name, caller))
        for gone in lengths.keys() - plan.tables.keys():
            del lengths[gone]
        longest = 0
        for table in plan.tables.values():
            chains = table.chains
            memo = lengths.setdefault(table.name, {})

            def length(name: str, chains: Mapping[str, ChainPlan] = chains,
                       memo: dict[str, int] = memo, table_name: str = table.name) -> int:
                found = memo.get(name)
                if found is None:
                    found = len(chains[name].blocks)
                    for jumps in self._shapes[(table_name, name)].block_jumps:
                        if len(jumps) <= 8:  # most blocks jump to a chain or none
                            found += max((memo[target] if target in memo else length(target)
                                          for target in jumps if target in chains), default=0)
                            continue
                        # the targets' lengths known are looked up without a Python loop
                        # (KUBE-SERVICES jumps to every service), the others computed
                        targets = list(jumps)
                        known = list(map(memo.get, targets))
                        at = _next_none(known, 0)
                        while at >= 0:
                            target = targets[at]
                            known[at] = length(target) if target in chains else 0
                            at = _next_none(known, at + 1)
                        found += max(known, default=0)
                    memo[name] = found
                return found

            # the built-in chains (those with a policy), without a loop over every chain
            names = (TABLE_BUILTINS[table.name] if table.name in TABLE_BUILTINS
                     else tuple(chains))
            for name in names:
                chain = chains.get(name)
                if chain is not None and chain.policy is not None:
                    longest = max(longest, length(name))
        return longest


def _next_none(values: list[int | None], start: int) -> int:
    """The index of the first None of ``values`` from ``start`` (found in C), or -1."""
    try:
        return values.index(None, start)
    except ValueError:
        return -1


def _update_sorted(names: list[str], leaving: Collection[str], joining: Collection[str]
                   ) -> None:
    """``names`` (sorted) without ``leaving`` and with ``joining``, kept sorted: by bisection
    for a few, by one pass for many (a first analysis adds every chain)."""
    if len(leaving) > 16:
        gone = set(leaving)
        names[:] = [name for name in names if name not in gone]
    else:
        for name in leaving:
            del names[bisect_left(names, name)]
    if len(joining) > 16:
        names.extend(joining)
        names.sort()
    else:
        for name in joining:
            insort(names, name)


def analyze(plan: Plan) -> ShapeReport:
    return ShapeAnalyzer().analyze(plan)


def jump_targets(block: Block) -> set[str]:
    """The chains a block's rules jump or go to."""
    return {rule.target.name for _, rule in block_members(block)
            if rule.target is not None and rule.target.options is None
            and rule.target.name not in STANDARD_TARGETS}


def _jump(rule: Rule) -> str | None:
    target = rule.target
    if target is None or target.options is not None or target.name in STANDARD_TARGETS:
        return None
    return target.name


def _tally(counts: dict[Any, int], item: Any, step: int) -> None:
    left = counts.get(item, 0) + step
    if left:
        counts[item] = left
    else:
        del counts[item]


def block_tallies(block: Block) -> tuple[dict[Any, int], dict[str, int]]:
    """How many of the block's rules take each action shape, and jump to each chain."""
    actions: dict[Any, int] = {}
    jumps: dict[str, int] = {}
    for _, rule in block_members(block):
        _tally(actions, _target_shape(rule), 1)
        name = _jump(rule)
        if name is not None:
            _tally(jumps, name, 1)
    return actions, jumps


def max_blocks_per_packet(plan: Plan,
                          shapes: Mapping[tuple[str, str], ChainShape] | None = None) -> int:
    """The most blocks one packet can execute in one hook's table: a chain's blocks plus, for
    each block that jumps, the longest chain it may jump to (a goto included). ``shapes``:
    the chains' ChainShape, when the caller has them (their jumps are then not recomputed)."""
    longest = 0
    for table in plan.tables.values():
        memo: dict[str, int] = {}

        def length(name: str, chains: Mapping[str, ChainPlan] = table.chains,
                   memo: dict[str, int] = memo, table_name: str = table.name) -> int:
            if name not in memo:
                chain = chains[name]
                total = len(chain.blocks)
                block_jumps = (shapes[(table_name, name)].block_jumps if shapes is not None
                               else tuple(jump_targets(block) for block in chain.blocks))
                for jumps in block_jumps:
                    targets = [target for target in jumps if target in chains]
                    if targets:
                        total += max(length(target) for target in targets)
                memo[name] = total
            return memo[name]

        for name, chain in table.chains.items():
            if chain.policy is not None:
                longest = max(longest, length(name))
    return longest
