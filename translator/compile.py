"""Ruleset -> Plan: runs of look-alike rules become lookups and draws, everything else stays a rule.

A rule's *key profile* is what a LOOKUP key can hold of it: its protocol (``-p``, not inverted),
its one destination port (a tcp/udp match asking for nothing else), and its source and
destination prefixes (absent = length 0; inverted or non-contiguous = not keyable). A LOOKUP run
takes its key fields from its first rule and grows while each next rule has them (and they say
something: not only zero-length prefixes), at most one
prefix field has varying lengths (the LPM field) and the run keeps at most ``MAX_VARIANTS``
residual shapes; its entries offer at most ``MAX_CANDIDATES`` rules (a longer run is cut where
that first fails), and it has at least two keys. Entries keep, per key, the run's rules in rule
order, so first-match order, duplicate keys, overlapping prefixes, rules without a target and
non-terminal targets inside a run mean exactly what they meant.

Rules with stateful matches (statistic, recent, limit) never join a LOOKUP: skipping them would
change their state. Runs of random statistic rules become SELECT blocks, runs of recent
``--rcheck`` rules AFFINITY blocks (translator/plan.py says what each means).

:class:`Compiler` remembers what it compiled: an unchanged chain (the same object, as the
restore parser hands back for untouched chains) keeps its ChainPlan, and a rule seen before
keeps its key profile, so recompiling after a small change costs little. A table is compared
with the last one compiled (only its chains that are new objects are looked at; a re-sent
chain holding the same rules keeps its ChainPlan), and a chain that differs from its last
version only by rules inside its leading hash LOOKUP block (kube-proxy's KUBE-SERVICES, re-sent
whole for every service added) has that block patched (:class:`~translator.plan.ChainPatch`),
so the analyzer, the generator and the Plan diff can follow the few rules that came and went.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import compress
from types import MappingProxyType
from typing import Any, NamedTuple

from iptparse.memory import building_long_lived
from iptparse.model import Chain, Match, Rule, Ruleset, Table
from translator.cache import IdentityCache
from translator.plan import (
    MAX_CANDIDATES,
    MAX_VARIANTS,
    PROBABILITY_ONE,
    AffinityBlock,
    Block,
    Candidates,
    ChainPatch,
    ChainPlan,
    KeyField,
    KeyValue,
    LookupBlock,
    Plan,
    RuleBlock,
    SelectBlock,
    TablePlan,
)

STATEFUL_MATCHES = frozenset({"statistic", "recent", "limit"})
PORT_MATCHES = frozenset({"tcp", "udp"})
FULL_PORTS = (0, 0xFFFF)
PREFIX_FIELDS = ("source", "destination")
MIN_RUN = 2


class KeyProfile(NamedTuple):
    """What a LOOKUP key can hold of one rule (see the module's docstring); ``port_match`` is
    the index of the tcp/udp match that holds only ``dport`` (-1: none). A NamedTuple, not a
    frozen dataclass: one is made per rule compiled, and tuples are made several times faster."""

    protocol: int | None
    dport: int | None
    source: tuple[int, int] | None
    destination: tuple[int, int] | None
    port_match: int
    stateful: bool
    matches: frozenset[str]  # the names of the rule's matches
    present: frozenset[str]  # the fields with a keyable value (prefixes of length 0 included)
    keyed: frozenset[str]  # the fields with a value that says something (not a /0 prefix)

    def value(self, name: str) -> Any:
        return getattr(self, name)


def _port_only(match: Match) -> int | None:
    """The one destination port a tcp/udp match asks for, when it asks nothing else."""
    options = match.options
    if options.dport_invert or options.dport[0] != options.dport[1]:
        return None
    if options.sport != FULL_PORTS or options.sport_invert:
        return None
    if match.name == "tcp" and (options.flag_mask or options.option):
        return None
    return options.dport[0]


def _prefix(prefix: Any, inverted: bool) -> tuple[int, int] | None:
    if prefix is None:
        return (0, 0)
    length = prefix.prefixlen
    if inverted or length is None:
        return None
    return (prefix.addr, length)


def key_profile(rule: Rule) -> KeyProfile:
    # written plainly: it runs once per rule of every new chain
    present: list[str] = []
    keyed: list[str] = []
    protocol = rule.protocol if rule.protocol and not rule.protocol_invert else None
    dport, port_match, names = None, -1, []
    for index, match in enumerate(rule.matches):
        name = match.name
        names.append(name)
        if protocol is not None and port_match == -1 and dport is None and name in PORT_MATCHES:
            dport = _port_only(match)
            if dport is not None:
                port_match = index
                present.append("dport")
                keyed.append("dport")
    if protocol is not None:
        present.append("protocol")
        keyed.append("protocol")
    source = _prefix(rule.source, rule.source_invert)
    if source is not None:
        present.append("source")
        if source[1]:
            keyed.append("source")
    destination = _prefix(rule.destination, rule.destination_invert)
    if destination is not None:
        present.append("destination")
        if destination[1]:
            keyed.append("destination")
    name_set = _frozen(tuple(names))
    return KeyProfile(protocol, dport, source, destination, port_match,
                      not name_set.isdisjoint(STATEFUL_MATCHES), name_set,
                      _frozen(tuple(present)), _frozen(tuple(keyed)))


@lru_cache(maxsize=1024)
def _frozen(names: tuple[str, ...]) -> frozenset[str]:
    """The few sets of names rules have, made once each."""
    return frozenset(names)


def _residual_matches(rule: Rule, profile: KeyProfile,
                      fields: frozenset[str]) -> tuple[Match, ...]:
    return tuple(match for index, match in enumerate(rule.matches)
                 if match.name != "comment"
                 and not (index == profile.port_match and "dport" in fields))


def residual_key(rule: Rule, profile: KeyProfile, fields: frozenset[str]) -> tuple[Any, ...]:
    """What tells two rules' residuals apart (see :func:`residual`), cheaply."""
    return (None if "protocol" in fields else rule.protocol, rule.protocol_invert,
            None if "source" in fields else rule.source, rule.source_invert,
            None if "destination" in fields else rule.destination, rule.destination_invert,
            rule.in_iface, rule.in_iface_invert, rule.out_iface, rule.out_iface_invert,
            rule.fragment, _residual_matches(rule, profile, fields))


def residual(rule: Rule, profile: KeyProfile, fields: frozenset[str]) -> Rule:
    """The rule with its key fields, comments and target taken out: what a LOOKUP still checks
    per rule (a *variant*)."""
    return replace(rule, protocol=None if "protocol" in fields else rule.protocol,
                   source=None if "source" in fields else rule.source,
                   destination=None if "destination" in fields else rule.destination,
                   matches=_residual_matches(rule, profile, fields), target=None)


def _mask(length: int) -> int:
    return (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF


def lookup_entries(key: tuple[KeyField, ...], run: list[tuple[int, Rule, KeyProfile]]
                   ) -> dict[tuple[KeyValue, ...], Candidates]:
    """Per key, the run's rules a packet with that key meets, in rule order. For the LPM field
    each stored prefix lists the rules of every stored prefix containing it."""
    own: dict[tuple[KeyValue, ...], list[tuple[int, Rule]]] = {}
    for number, rule, profile in run:
        own.setdefault(tuple(profile.value(field.name) for field in key), []).append(
            (number, rule))
    lpm = next((index for index, field in enumerate(key) if field.lpm), None)
    if lpm is None:
        return {value: tuple(found) for value, found in own.items()}
    entries: dict[tuple[KeyValue, ...], Candidates] = {}
    for value, found in own.items():
        addr, length = value[lpm]
        merged = list(found)
        for shorter in range(length):
            ancestor = (*value[:lpm], (addr & _mask(shorter), shorter), *value[lpm + 1:])
            merged.extend(own.get(ancestor, ()))
        entries[value] = tuple(sorted(merged, key=lambda item: item[0]))
    return entries


def _joins(fields: frozenset[str], profile: KeyProfile) -> bool:
    """Whether a rule has every key field, and a key value that says something (a rule the
    key says nothing about stays a RULE)."""
    return (not profile.stateful and fields <= profile.present
            and not fields.isdisjoint(profile.keyed))


@dataclass(slots=True)
class _LookupRun:
    """A LOOKUP run being grown; ``fields`` are its key fields (prefix fields included even
    while every rule leaves them at length 0)."""

    fields: tuple[str, ...]
    field_set: frozenset[str]
    lengths: dict[str, set[int]]
    variants: dict[tuple[Any, ...], int]
    run: list[tuple[int, Rule, KeyProfile]]

    @classmethod
    def start(cls, profile: KeyProfile, following: KeyProfile) -> _LookupRun | None:
        """A run from a rule, when it can start one and the rule after it can join."""
        if (profile.stateful or not profile.keyed
                or not _joins(profile.present, following)):
            return None
        fields = tuple(name for name in ("protocol", "dport", *PREFIX_FIELDS)
                       if name in profile.present)
        return cls(fields, profile.present,
                   {name: set() for name in PREFIX_FIELDS if name in fields}, {}, [])

    def joins(self, profile: KeyProfile) -> bool:
        return _joins(self.field_set, profile)

    def add(self, number: int, rule: Rule, profile: KeyProfile) -> bool:
        """Grow the run by one rule, or say False (and change nothing) when it cannot join."""
        if not self.joins(profile):
            return False
        lengths = {name: seen | {profile.value(name)[1]} for name, seen in self.lengths.items()}
        if sum(1 for seen in lengths.values() if len(seen) > 1) > 1:
            return False
        variant = residual_key(rule, profile, self.field_set)
        if variant not in self.variants and len(self.variants) >= MAX_VARIANTS:
            return False
        self.variants.setdefault(variant, len(self.variants))
        self.lengths = lengths
        self.run.append((number, rule, profile))
        return True

    def key(self, count: int) -> tuple[KeyField, ...]:
        lengths: dict[str, set[int]] = {name: set() for name in self.lengths}
        for _, _, profile in self.run[:count]:
            for name in lengths:
                lengths[name].add(profile.value(name)[1])
        key = []
        for name in self.fields:
            if name not in lengths:
                key.append(KeyField(name))
            elif lengths[name] != {0}:  # a prefix field every rule leaves open is no key
                key.append(KeyField(name, "prefix", next(iter(lengths[name])))
                           if len(lengths[name]) == 1 else KeyField(name, "lpm"))
        return tuple(key)

    def block(self, count: int) -> LookupBlock | None:
        """The LOOKUP block of the run's first ``count`` rules, or None when an entry would
        offer more than MAX_CANDIDATES rules."""
        key = self.key(count)
        run = self.run[:count]
        entries = lookup_entries(key, run)
        if max(len(found) for found in entries.values()) > MAX_CANDIDATES:
            return None
        fields = frozenset(field.name for field in key)
        variants: dict[tuple[Any, ...], tuple[int, Rule]] = {}
        variant_of = {}
        for number, rule, profile in run:
            found = variants.get(residual_key(rule, profile, fields))
            if found is None:
                found = (len(variants), residual(rule, profile, fields))
                variants[residual_key(rule, profile, fields)] = found
            variant_of[number] = found[0]
        return LookupBlock(tuple(number for number, _, _ in run), key,
                           tuple(variant for _, variant in variants.values()),
                           MappingProxyType(variant_of), MappingProxyType(entries),
                           MappingProxyType({found_key: tuple(rule for _, rule in found)
                                             for found_key, found in entries.items()}))


def _lookup_run(rules: tuple[Rule, ...], profiles: list[KeyProfile],
                start: int) -> tuple[LookupBlock, int] | None:
    if start + 1 >= len(rules):
        return None
    run = _LookupRun.start(profiles[start], profiles[start + 1])
    if run is None:
        return None
    end = start
    while end < len(rules) and run.add(end + 1, rules[end], profiles[end]):
        end += 1
    count = end - start
    if count < MIN_RUN:
        return None
    block = run.block(count)
    if block is None:  # cut the run where an entry first offers too many rules
        low, high = MIN_RUN - 1, count  # block(low) fits (or is too short), block(high) not
        while high - low > 1:
            middle = (low + high) // 2
            if run.block(middle) is None:
                high = middle
            else:
                low = middle
        if low < MIN_RUN:
            return None
        block, count = run.block(low), low
    assert block is not None
    if len(block.entries) < 2:  # one key for every rule: a lookup would only add a step
        return None
    return block, start + count


def _without(rule: Rule, name: str) -> Rule:
    """The rule without its ``name`` match, its comments and its target."""
    return replace(rule, matches=tuple(match for match in rule.matches
                                       if match.name not in (name, "comment")), target=None)


def _only(rule: Rule, name: str) -> tuple[Match | None, tuple[Any, ...]]:
    """The rule's one ``name`` match (None when it has none or several), and what tells the
    rest of two rules apart (:func:`_without` as a cheap tuple)."""
    found = [match for match in rule.matches if match.name == name]
    rest = (rule.protocol, rule.protocol_invert, rule.source, rule.source_invert,
            rule.destination, rule.destination_invert, rule.in_iface, rule.in_iface_invert,
            rule.out_iface, rule.out_iface_invert, rule.fragment,
            tuple(match for match in rule.matches if match.name not in (name, "comment")))
    return (found[0] if len(found) == 1 else None), rest


def _select_run(rules: tuple[Rule, ...], start: int) -> tuple[SelectBlock, int] | None:
    """A run of ``statistic --mode random`` rules with the same rest, optionally closed by the
    same rule without statistic (kube-proxy's last endpoint)."""
    members: list[tuple[int, Rule]] = []
    probabilities: list[int] = []
    template: tuple[Any, ...] | None = None
    for index in range(start, len(rules)):
        match, rest = _only(rules[index], "statistic")
        if template is not None and rest != template:
            break
        if match is None:
            if template is not None and not any(m.name == "statistic"
                                                for m in rules[index].matches):
                members.append((index + 1, rules[index]))
                probabilities.append(PROBABILITY_ONE)
            break
        options = match.options
        if options.mode != "random" or options.invert or any(
                m.name in STATEFUL_MATCHES for m in rest[-1]):
            break
        template = rest
        members.append((index + 1, rules[index]))
        probabilities.append(options.probability)
    if len(members) < MIN_RUN or template is None:
        return None
    return (SelectBlock(tuple(number for number, _ in members), tuple(members),
                        tuple(probabilities), _without(members[0][1], "statistic")),
            start + len(members))


def _affinity_run(rules: tuple[Rule, ...], start: int) -> tuple[AffinityBlock, int] | None:
    """A run of ``recent --rcheck`` rules differing only in the list name and target."""
    members: list[tuple[int, Rule]] = []
    names: list[str] = []
    shared: tuple[Any, tuple[Any, ...]] | None = None
    for index in range(start, len(rules)):
        match, rest = _only(rules[index], "recent")
        if match is None or match.options.command != "rcheck" or match.options.invert or any(
                m.name in STATEFUL_MATCHES for m in rest[-1]):
            break
        common = (replace(match.options, name=""), rest)
        if shared is not None and common != shared:
            break
        shared = common
        members.append((index + 1, rules[index]))
        names.append(match.options.name)
    if len(members) < MIN_RUN or shared is None:
        return None
    return (AffinityBlock(tuple(number for number, _ in members), tuple(members), tuple(names),
                          _without(members[0][1], "recent")), start + len(members))


def _single_reason(profile: KeyProfile) -> str:
    if profile.stateful:
        return "a stateful match outside a run"
    return "a run of one"


class Compiler:
    """Ruleset -> Plan, remembering chains and rules it has compiled (see the module doc)."""

    def __init__(self) -> None:
        self.profile = IdentityCache(key_profile)
        self._chains: IdentityCache[Chain, ChainPlan] = IdentityCache(
            lambda chain: self.compile_chain(chain.name, chain.policy, chain.rules))
        self._live_rules: int | None = None  # rules cached when the caches were last pruned
        self._last: Ruleset | None = None
        # (chains of the last Plan that differ from the one before, chains of that one that
        # it replaced or dropped): all translator/diff.py needs to look at
        self.last_changes: tuple[list[tuple[str, str]], list[tuple[str, str]]] | None = None
        # the Plan last_changes are relative to (the one compiled before the last), and the last
        self.previous: Plan | None = None
        self.last: Plan | None = None
        # the chains of the last compile made by patching the previous Plan's (ChainPatch)
        self.last_patches: dict[tuple[str, str], ChainPatch] = {}
        # per table name: the Table last compiled and its TablePlan
        self._tables: dict[str, tuple[Table, TablePlan]] = {}

    def chain(self, chain: Chain) -> ChainPlan:
        return self._chains(chain)

    def compile_chain(self, name: str, policy: str | None,
                      rules: tuple[Rule, ...]) -> ChainPlan:
        profiles = [self.profile(rule) for rule in rules]
        blocks: list[Block] = []
        index = 0
        while index < len(rules):
            names = profiles[index].matches
            found = ((_select_run(rules, index) if "statistic" in names else None)
                     or (_affinity_run(rules, index) if "recent" in names else None)
                     or _lookup_run(rules, profiles, index))
            if found is None:
                blocks.append(RuleBlock((index + 1,), rules[index],
                                        _single_reason(profiles[index])))
                index += 1
                continue
            blocks.append(found[0])
            index = found[1]
        return ChainPlan(name, policy, tuple(blocks))

    def table(self, table: Table) -> TablePlan:
        return TablePlan(table.name, MappingProxyType(
            {name: self.chain(chain) for name, chain in table.chains.items()}))

    def compile(self, ruleset: Ruleset) -> Plan:
        """The Plan of ``ruleset``: a table the last compile saw keeps the ChainPlans of its
        unchanged chains (only its chains that are new objects are looked at), and a chain
        that is a new object holding the same rules keeps its ChainPlan too (the restore
        parser makes a new chain for every chain a restore names, changed or not)."""
        written: list[tuple[str, str]] = []
        removed: list[tuple[str, str]] = []
        self.last_patches = {}
        with building_long_lived():
            gone: dict[str, list[str]] = {}  # per table: the chains it no longer has
            tables = {name: self._table_since(table, written, removed, gone)
                      for name, table in ruleset.tables.items()}
            plan = Plan(MappingProxyType(tables))
        for name, (old_table, _) in self._tables.items():
            if name not in ruleset.tables:
                gone[name] = list(old_table.chains.keys() - set())
            removed += [(name, chain) for chain in gone.get(name, ())]
        if self._last is not None:
            self.last_changes = (written, removed)
        self._tables = {name: (table, tables[name]) for name, table in ruleset.tables.items()}
        self._last = ruleset
        self.previous, self.last = self.last, plan
        if self._live_rules is None:  # the first compile: everything cached is live
            self._live_rules = max(len(self.profile), 1024)
        elif len(self.profile) > 2 * self._live_rules:
            self._forget(ruleset)
        return plan

    def _table_since(self, table: Table, written: list[tuple[str, str]],
                     removed: list[tuple[str, str]], gone: dict[str, list[str]]
                     ) -> TablePlan:
        """The table's plan from the one compiled last time for a table of that name; the
        chains whose ChainPlan changed go to ``written`` (and ``removed``, when the last Plan
        had one of that name), in the table's order; the chains the table lost to
        ``gone``."""
        known = self._tables.get(table.name)
        if known is None:
            table_plan = self.table(table)
            written += [(table.name, name) for name in table_plan.chains]
            return table_plan
        old_table, old_plan = known
        if old_table is table:
            return old_plan
        before = old_table.chains
        chains = old_plan.chains.copy()
        changed, lost = _changed_chains(before, table.chains)
        for name in changed:
            chain = table.chains[name]
            old = chains.get(name)
            old_chain = before.get(name)
            # a re-sent chain (a new object) is listed as changed even when it holds the same
            # rules and keeps its ChainPlan: the Plan diff orders its writes by the chains
            # listed; the analyzer and the generator skip a chain whose ChainPlan is the same
            written.append((table.name, name))
            if old is not None:
                removed.append((table.name, name))
            if (old is not None and old_chain is not None and old_chain.policy == chain.policy
                    and _same_objects(old_chain.rules, chain.rules)):
                continue
            chains[name] = self._chain_from(table.name, chain, old, old_chain)
        gone[table.name] = lost
        for name in lost:
            del chains[name]
        if lost or len(chains) != len(table.chains) or list(chains) != list(table.chains):
            chains = {name: chains[name] for name in table.chains}  # the table's order
        return TablePlan(table.name, MappingProxyType(chains))

    def _chain_from(self, table: str, chain: Chain, old: ChainPlan | None,
                    old_chain: Chain | None) -> ChainPlan:
        """The chain's plan; a chain that is the last one of its name with a few rules
        inserted or removed inside its leading LOOKUP block (kube-proxy re-sends
        KUBE-SERVICES, 10,000 rules, for every service it adds) is the old plan patched."""
        known = self._chains.get(chain)
        if known is not None:
            return known
        if old is not None and old_chain is not None and old_chain.policy == chain.policy:
            patch = _patched(old, old_chain.rules, chain.rules, self.profile)
            if patch is not None:
                self._chains.put(chain, patch.new)
                self.last_patches[(table, chain.name)] = patch
                return patch.new
        return self.chain(chain)

    def _forget(self, ruleset: Ruleset) -> None:
        """Drop what the rule set no longer holds, so the caches do not grow forever (run when
        they have doubled, so its cost is spread over the compiles)."""
        chains = [chain for table in ruleset.tables.values() for chain in table.chains.values()]
        rules = [rule for chain in chains for rule in chain.rules]
        self._chains.keep_only(chains)
        self.profile.keep_only(rules)
        self._live_rules = max(len(rules), 1024)


def _changed_chains(before: Mapping[str, Chain], after: Mapping[str, Chain]
                    ) -> tuple[list[str], list[str]]:
    """(the chains of ``after`` that are not the same object in ``before``, in ``after``'s
    order; the chains of ``before`` that ``after`` lacks). When ``after`` starts with
    ``before``'s chains (a restore adds new chains last), without a Python loop over the
    table (kube-proxy's nat table: 60,000 chains for 10,000 services)."""
    old_names, new_names = list(before), list(after)
    if new_names[:len(old_names)] != old_names:
        return ([name for name, chain in after.items() if before.get(name) is not chain],
                list(before.keys() - after.keys()))
    differ = map(operator.is_not, before.values(), after.values())  # as long as before
    return list(compress(new_names, differ)) + new_names[len(old_names):], []


def _edit(old: tuple[Rule, ...], new: tuple[Rule, ...]) -> tuple[int, int]:
    """The rules both start with and end with (by identity), as counts (prefix, suffix)."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] is new[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < limit - prefix
           and old[len(old) - 1 - suffix] is new[len(new) - 1 - suffix]):
        suffix += 1
    return prefix, suffix


def _shifted(block: Block, delta: int) -> Block:
    """The block with its rules numbered ``delta`` further."""
    if not delta:
        return block
    rules = tuple(number + delta for number in block.rules)
    if isinstance(block, RuleBlock):
        return RuleBlock(rules, block.rule, block.reason)
    if isinstance(block, LookupBlock):
        return LookupBlock(
            rules, block.key, block.variants,
            MappingProxyType({number + delta: variant
                              for number, variant in block.variant_of.items()}),
            MappingProxyType({key: tuple((number + delta, rule) for number, rule in found)
                              for key, found in block.entries.items()}),
            block.rules_by_key)
    members = tuple((number + delta, rule) for number, rule in block.members)
    return replace(block, rules=rules, members=members)


def _patched(old: ChainPlan, old_rules: tuple[Rule, ...], rules: tuple[Rule, ...],
             profile: Callable[[Rule], KeyProfile]) -> ChainPatch | None:
    """``old`` (the plan of ``old_rules``) made the plan of ``rules``, when they differ only
    inside the chain's leading hash LOOKUP block of one variant, by rules that would have
    joined it: the greedy compile_chain would have built the same block with those rules in
    or out, and the same blocks after it (they see the same rules), numbered on. None when
    that is not certain; compile the chain then."""
    if not old.blocks or not isinstance(old.blocks[0], LookupBlock):
        return None
    block = old.blocks[0]
    if block.storage != "hash" or len(block.variants) != 1:
        return None
    end = len(block.rules)  # the block holds rules 1..end (it starts the chain)
    prefix, suffix = _edit(old_rules, rules)
    gone_end = len(old_rules) - suffix  # old rules [prefix, gone_end) went
    came_end = len(rules) - suffix  # new rules [prefix, came_end) came
    # the run's start looked at rules 0 and 1; what went was inside the block
    if prefix < MIN_RUN or gone_end > end or (gone_end == prefix and came_end == prefix):
        return None
    first = profile(old_rules[0])
    field_set = first.present
    key_fields = frozenset(field.name for field in block.key)
    lengths = {name: {field.length} for field in block.key for name in (field.name,)
               if field.match == "prefix"}
    for name in PREFIX_FIELDS:
        if name in field_set and name not in lengths:
            lengths[name] = {0}
    run_variant = residual_key(old_rules[0], first, field_set)
    block_variant = residual_key(old_rules[0], first, key_fields)
    came = []
    for index in range(prefix, came_end):
        rule = rules[index]
        found = profile(rule)
        if (not _joins(field_set, found)
                or any(found.value(name)[1] not in seen for name, seen in lengths.items())
                or residual_key(rule, found, field_set) != run_variant
                or residual_key(rule, found, key_fields) != block_variant):
            return None
        came.append((index + 1, rule, tuple(found.value(field.name) for field in block.key)))
    # the run ended at old rule `end` because that rule cannot join any run of these fields
    if end < len(old_rules) and _joins(field_set, profile(old_rules[end])):
        return None
    delta = (came_end - prefix) - (gone_end - prefix)
    entries = block.entries.copy()
    by_key = block.rules_by_key.copy()
    gone = range(prefix + 1, gone_end + 1)  # rule numbers
    affected: dict[tuple[KeyValue, ...], int | None] = {}  # key -> its first rule before
    for number in gone:
        value = tuple(profile(old_rules[number - 1]).value(field.name) for field in block.key)
        affected.setdefault(value, entries[value][0][0])
    for _, _, value in came:
        found_before = entries.get(value)
        affected.setdefault(value, found_before[0][0] if found_before else None)
    if delta and gone_end < end:  # rules of the block after the change: numbered on
        entries = {value: tuple((number + delta if number > gone_end else number, rule)
                                for number, rule in found if number not in gone)
                   if value in affected else
                   tuple((number + delta if number > gone_end else number, rule)
                         for number, rule in found)
                   for value, found in entries.items()}
    else:
        for value in affected:
            if value in entries:
                entries[value] = tuple(item for item in entries[value] if item[0] not in gone)
    new_keys: list[tuple[KeyValue, ...]] = []
    for number, rule, value in came:
        if affected[value] is None and value not in entries:
            new_keys.append(value)
        entries[value] = (*entries.get(value, ()), (number, rule))
    # entries come in the order of their first rule (as lookup_entries makes them): kept
    # when no key's first rule changed and the new keys (added last) come after all others
    reorder = False
    last_first = 0  # the first rule of the last key that was there before
    for value in reversed(entries):
        if affected.get(value, 0) is not None and entries[value]:
            last_first = min(number for number, _ in entries[value])
            break
    for value, first_before in affected.items():
        found = tuple(sorted(entries[value], key=lambda item: item[0]))
        if not found:
            del entries[value]
            del by_key[value]
            continue
        if len(found) > MAX_CANDIDATES:
            return None
        entries[value] = found
        by_key[value] = tuple(rule for _, rule in found)
        if first_before is None:
            reorder = reorder or found[0][0] < last_first
        elif found[0][0] != (first_before + delta if first_before > gone_end else first_before):
            reorder = True
    if len(entries) < 2:
        return None
    if reorder:  # keys in the order their first rules come (what lookup_entries gives)
        order = sorted(entries, key=lambda value: entries[value][0][0])
        entries = {value: entries[value] for value in order}
        by_key = {value: by_key[value] for value in order}
    count = end + delta
    patched = LookupBlock(tuple(range(1, count + 1)), block.key, block.variants,
                          MappingProxyType(dict.fromkeys(range(1, count + 1), 0)),
                          MappingProxyType(entries), MappingProxyType(by_key))
    return ChainPatch(old, ChainPlan(old.name, old.policy, (
        patched, *(_shifted(other, delta) for other in old.blocks[1:]))),
        old_rules[prefix:gone_end], rules[prefix:came_end], tuple(affected))


def _same_objects(old: tuple[Rule, ...], new: tuple[Rule, ...]) -> bool:
    """Whether two chains hold the same rule objects (equal rules that are other objects may
    differ in what the datapath keeps per rule object: see bpf/ruledata.repeats)."""
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


def compile_chain(name: str, policy: str | None, rules: tuple[Rule, ...]) -> ChainPlan:
    return Compiler().compile_chain(name, policy, rules)


def compile_table(table: Table) -> TablePlan:
    return Compiler().table(table)


def compile_ruleset(ruleset: Ruleset) -> Plan:
    return Compiler().compile(ruleset)
