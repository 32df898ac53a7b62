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
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from iptparse.memory import building_long_lived
from iptparse.model import STANDARD_TARGETS, IPv4Prefix, Rule
from translator.cache import IdentityCache
from translator.plan import Block, ChainPlan, LookupBlock, Plan, RuleBlock, block_members

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
        first, last = min(self.members), max(self.members)
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


class ShapeAnalyzer:
    """Plan -> ShapeReport, remembering each ChainPlan's shape: a chain the compiler reused
    (the same ChainPlan object) is not looked at again."""

    def __init__(self) -> None:
        self.chain = IdentityCache(chain_shape)

    def analyze(self, plan: Plan) -> ShapeReport:
        with building_long_lived():
            return self._analyze(plan)

    def _analyze(self, plan: Plan) -> ShapeReport:
        shapes = {(table.name, name): self.chain(chain) for table in plan.tables.values()
                  for name, chain in table.chains.items()}
        if len(self.chain) > 2 * len(shapes):
            self.chain.keep_only(chain for table in plan.tables.values()
                                 for chain in table.chains.values())
        found: dict[tuple[str, str], list[str]] = {}
        for table in plan.tables.values():
            for name, chain in table.chains.items():
                if chain.policy is None:
                    found.setdefault((table.name, shapes[(table.name, name)].digest),
                                     []).append(name)
        family_list = tuple(
            Family(table, digest, tuple(sorted(members)), shapes[(table, members[0])].signature)
            for (table, digest), members in sorted(found.items()))
        shape: dict[str, Any] = {}
        rule_blocks = 0
        for table in plan.tables.values():
            builtins = {name: shapes[(table.name, name)].signature
                        for name, chain in table.chains.items() if chain.policy is not None}
            rule_blocks += sum(1 for signature in builtins.values() for block in signature
                               if block[0] == "RULE")
            shape[table.name] = (sorted(builtins.items()),
                                 sorted(family.signature_hash for family in family_list
                                        if family.table == table.name))
        rule_blocks += sum(1 for family in family_list for block in family.signature
                           if block[0] == "RULE")
        family_of = {(family.table, member): family.signature_hash for family in family_list
                     for member in family.members}
        return ShapeReport(family_list, _digest(sorted(shape.items()))[:16], rule_blocks,
                           max_blocks_per_packet(plan, shapes), MappingProxyType(family_of),
                           MappingProxyType(shapes))


def analyze(plan: Plan) -> ShapeReport:
    return ShapeAnalyzer().analyze(plan)


def jump_targets(block: Block) -> set[str]:
    """The chains a block's rules jump or go to."""
    return {rule.target.name for _, rule in block_members(block)
            if rule.target is not None and rule.target.options is None
            and rule.target.name not in STANDARD_TARGETS}


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
