"""The Plan: what a Ruleset becomes for the datapath (DESIGN.md, "The Plan").

A chain is a list of blocks. A ``LOOKUP`` block replaces a run of rules that differ only in the
values of a few exact fields (protocol, destination address, destination port): one map from key
to the rules with that key, in rule order. A ``RULE`` block is one rule, matched field by field:
the fallback that is always correct. Every block names the rules it covers (1-based, as
``iptables -L --line-numbers`` counts them), so counters and traces stay per rule.

This first slice has LOOKUP over exact fields and RULE; SELECT (statistic runs), AFFINITY
(recent runs), LPM storage, families and the Shape/Data split come next (issue 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iptparse.model import Rule

# The exact fields a LOOKUP key can hold, in key order.
KEY_FIELDS = ("protocol", "destination", "dport")


@dataclass(frozen=True, slots=True)
class LookupBlock:
    """A run of rules keyed on exact values of ``key_fields``.

    ``template`` is the run's first rule: everything but the key values is the same in every
    rule of the run (comments aside, which never change what matches). ``entries`` maps a key
    to the run's rules with that key, as (rule number, rule) in rule order: a packet whose key
    is there meets exactly those rules, in that order; any other packet meets none of them.
    """

    rules: tuple[int, ...]
    key_fields: tuple[str, ...]
    template: Rule
    entries: Mapping[tuple[int, ...], tuple[tuple[int, Rule], ...]]
    kind: str = "LOOKUP"


@dataclass(frozen=True, slots=True)
class RuleBlock:
    """One rule, matched field by field; ``reason`` says why it is not part of a LOOKUP."""

    rules: tuple[int, ...]
    rule: Rule
    reason: str
    kind: str = "RULE"


Block = LookupBlock | RuleBlock


@dataclass(frozen=True, slots=True)
class ChainPlan:
    name: str
    policy: str | None  # None for user chains
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class TablePlan:
    name: str
    chains: Mapping[str, ChainPlan]


@dataclass(frozen=True, slots=True)
class Plan:
    tables: Mapping[str, TablePlan]

    def rule_blocks(self) -> int:
        return sum(1 for table in self.tables.values() for chain in table.chains.values()
                   for block in chain.blocks if block.kind == "RULE")
