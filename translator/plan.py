"""The Plan: what a Ruleset becomes for the datapath (DESIGN.md, "The Plan").

A chain is a list of blocks; every block names the rules it covers (1-based, as
``iptables -L --line-numbers`` counts them), so counters and traces stay per rule.

- ``LOOKUP``: a run of rules keyed on the same fields (protocol, destination port: exact; source,
  destination: prefixes). One map from key to the run's rules that can match a packet with that
  key, in rule order. Prefixes of one length are hashed; one field whose prefix lengths vary is
  an LPM trie, each stored prefix listing the rules of every prefix that contains it, so the
  longest match offers exactly the rules whose prefixes hold the address. What the key does not
  cover (the *residual*: other matches, negations) is checked per rule; a block has at most
  ``MAX_VARIANTS`` residual shapes and an entry at most ``MAX_CANDIDATES`` rules.
- ``SELECT``: a run of ``statistic --mode random`` rules (a service's endpoints), optionally
  closed by the same rule without statistic. The datapath draws once against cumulative
  thresholds (:func:`select_thresholds`); if the chosen rule's target comes back, the rules after
  it draw one by one, as the kernel's would.
- ``AFFINITY``: a run of ``recent --rcheck`` rules that differ only in the list name (session
  affinity): one lookup of the packet's source in the block's lists.
- ``RULE``: one rule, matched field by field; the fallback that is always correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iptparse.model import Rule

# How many rules one LOOKUP entry may offer, and how many residual shapes one block may have:
# both size the datapath's code and map values.
MAX_CANDIDATES = 8
MAX_VARIANTS = 4

# The statistic match's probability scale (xt_statistic compares a 31-bit random number).
PROBABILITY_ONE = 1 << 31


@dataclass(frozen=True, slots=True)
class KeyField:
    """One field of a LOOKUP key. ``protocol`` and ``dport`` are ``exact``; ``source`` and
    ``destination`` are ``prefix`` (every rule of the block has the same prefix ``length``) or
    ``lpm`` (lengths vary; at most one such field, the last bits of an LPM trie's key)."""

    name: str
    match: str = "exact"
    length: int = 0

    @property
    def lpm(self) -> bool:
        return self.match == "lpm"


# A key value per field: an int for exact fields, (masked address, prefix length) for prefixes.
KeyValue = int | tuple[int, int]
Candidates = tuple[tuple[int, Rule], ...]


@dataclass(frozen=True, slots=True)
class LookupBlock:
    """A run of rules keyed on ``key``; ``variants`` are the distinct residual rules (the rule
    with its key fields, comments and target taken out), ``variant_of`` gives each rule's.
    ``entries`` maps a key to the rules a packet with that key meets, as (rule number, rule) in
    rule order; a packet whose key is absent meets none of the run's rules."""

    rules: tuple[int, ...]
    key: tuple[KeyField, ...]
    variants: tuple[Rule, ...]
    variant_of: Mapping[int, int]
    entries: Mapping[tuple[KeyValue, ...], Candidates]
    # the entries without rule numbers: what a map entry holds, compared by the Plan diff
    # (an insertion renumbers the rules after it, it does not change their entries)
    rules_by_key: Mapping[tuple[KeyValue, ...], tuple[Rule, ...]]
    kind: str = "LOOKUP"

    @property
    def storage(self) -> str:
        return "lpm" if any(field.lpm for field in self.key) else "hash"

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.key)


@dataclass(frozen=True, slots=True)
class SelectBlock:
    """A run of random statistic rules; ``probabilities`` are the kernel's (p * 2**31, with
    ``PROBABILITY_ONE`` for a closing rule without statistic); ``template`` the shared rest."""

    rules: tuple[int, ...]
    members: Candidates
    probabilities: tuple[int, ...]
    template: Rule
    kind: str = "SELECT"


@dataclass(frozen=True, slots=True)
class AffinityBlock:
    """A run of ``recent --rcheck`` rules over the lists ``names`` (one per rule, in order);
    ``template`` is the shared rest (list name and target taken out)."""

    rules: tuple[int, ...]
    members: Candidates
    names: tuple[str, ...]
    template: Rule
    kind: str = "AFFINITY"


@dataclass(frozen=True, slots=True)
class RuleBlock:
    """One rule, matched field by field; ``reason`` says why it is not part of a bigger block."""

    rules: tuple[int, ...]
    rule: Rule
    reason: str
    kind: str = "RULE"


Block = LookupBlock | SelectBlock | AffinityBlock | RuleBlock


def block_members(block: Block) -> Candidates:
    """Every (rule number, rule) a block covers, in rule order."""
    if isinstance(block, RuleBlock):
        return ((block.rules[0], block.rule),)
    if isinstance(block, LookupBlock):
        seen = {number: rule for found in block.entries.values() for number, rule in found}
        return tuple(sorted(seen.items(), key=lambda item: item[0]))
    return block.members


def select_thresholds(probabilities: tuple[int, ...]) -> tuple[int, ...]:
    """Cumulative 32-bit thresholds for one draw ``r``: rule i is chosen when ``r`` is below
    threshold i and not below threshold i-1. Rule i's chance is that of the kernel's draws:
    every earlier rule missing and rule i hitting, to within 2**-32."""
    thresholds = []
    miss_num, miss_den = 1, 1  # the exact chance that every rule so far missed
    for probability in probabilities:
        miss_num *= PROBABILITY_ONE - min(probability, PROBABILITY_ONE)
        miss_den *= PROBABILITY_ONE
        thresholds.append((1 << 32) - ((miss_num << 32) + miss_den // 2) // miss_den)
    return tuple(thresholds)


@dataclass(frozen=True, slots=True)
class ChainPlan:
    name: str
    policy: str | None  # None for user chains
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class ChainPatch:
    """How the compiler made ``new`` from ``old`` (translator/compile.py, _patched): the rules
    ``gone`` left and the rules ``came`` joined ``old``'s first block (a hash LOOKUP), whose
    entries changed at ``keys`` only; every other block is the old one numbered on. What was
    derived from ``old`` can be updated with these instead of computed again."""

    old: ChainPlan
    new: ChainPlan
    gone: tuple[Rule, ...]
    came: tuple[Rule, ...]
    keys: tuple[tuple[KeyValue, ...], ...]


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


def really_changed(old: Plan | None, new: Plan,
                   changes: tuple[list[tuple[str, str]], list[tuple[str, str]]]
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``changes`` without the chains whose ChainPlan is the same object in both Plans (the
    compiler lists re-sent chains it did not need to compile again)."""
    if old is None:
        return changes
    written, removed = changes
    same = set()
    for key in written:
        before = old.tables.get(key[0])
        if before is not None and before.chains.get(key[1]) is new.tables[key[0]].chains[key[1]]:
            same.add(key)
    if not same:
        return changes
    return ([key for key in written if key not in same],
            [key for key in removed if key not in same])
