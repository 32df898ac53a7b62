"""Operations on a table, with libiptc's semantics and errors (what ``iptables`` commands do).

A :class:`TableDraft` is what libiptc calls a handle: a mutable working copy of one table that
commands change in place and that is frozen back into an immutable :class:`Table` at COMMIT.
Copy-on-write per chain keeps a one-rule change to a 200,000-rule table cheap. Failures raise
:class:`TableError` carrying libiptc's message (``iptables: <message>.`` on the command line;
``line N failed`` in a restore).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from operator import is_
from types import MappingProxyType

from iptparse.errors import OtherProblem
from iptparse.model import (
    POLICIES,
    STANDARD_TARGETS,
    TABLE_BUILTINS,
    ZERO_COUNTERS,
    Chain,
    Counters,
    Rule,
    Table,
)

# libiptc's iptc_strerror texts.
NO_CHAIN = "No chain/target/match by that name"
CHAIN_EXISTS = "Chain already exists"
NOT_EMPTY = "Directory not empty"
REFERENCED = "Too many links"
BAD_BUILTIN = "Bad built-in chain name"
BAD_POLICY = "Bad policy name. Run `dmesg' for more information"
BAD_RULE = "Bad rule (does a matching rule exist in that chain?)"
INVALID = "Invalid argument. Run `dmesg' for more information"
FILE_EXISTS = "File exists"
CHAIN_LABEL_SIZE = 32  # ipt_chainlabel: a name and its NUL


class TableError(OtherProblem):
    """A libiptc failure; ``message`` is its text without the trailing period."""


def _jump_name(rule: Rule) -> str | None:
    target = rule.target
    if target is None or (target.name in STANDARD_TARGETS and not target.goto):
        return None
    return target.name


def _absent(rule: Rule) -> str:
    """libiptc's message for a rule not found in an existing chain: a rule whose target is
    an extension or a chain fails on that target's lookup first."""
    target = rule.target
    if target is None or (target.name in STANDARD_TARGETS and not target.goto):
        return BAD_RULE
    return NO_CHAIN


class TableDraft:
    """A mutable working copy of a table (libiptc's handle)."""

    def __init__(self, table: Table) -> None:
        self.name = table.name
        self._before = table.chains  # what the draft started from
        self._chains: dict[str, Chain] = dict(table.chains)
        self._rules: dict[str, list[Rule]] = {}  # chains changed so far, as lists
        self._refs: Counter[str] | None = None  # jump counts per chain, built on first use
        self.policies_set: set[str] = set()  # built-in chains whose policy this draft set

    # --- reading ----------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._chains

    @property
    def chain_exists(self) -> Callable[[object], bool]:
        """``name in draft`` as a C function (the chains dict is changed in place only), for
        parsers that ask it of every jump."""
        return self._chains.__contains__

    def chain_names(self) -> list[str]:
        return list(self._chains)

    def is_builtin(self, name: str) -> bool:
        return self._chain(name).builtin

    def rules(self, name: str) -> list[Rule]:
        """The chain's rules as a list this draft owns (copied on first change)."""
        rules = self._rules.get(name)
        if rules is None:
            rules = list(self._chain(name).rules)
            self._rules[name] = rules
        return rules

    def references(self, name: str) -> int:
        if self._refs is None:
            self._refs = Counter()
            for chain in self._chains:
                for rule in self._rules.get(chain, self._chains[chain].rules):
                    jump = _jump_name(rule)
                    if jump is not None:
                        self._refs[jump] += 1
        return self._refs[name]

    def freeze(self) -> Table:
        """The table as it now stands. A chain rebuilt with the very same rule objects (a
        restore resending a chain: its lines come from the line cache) is the chain it was,
        so what compares chains by identity (commit checks, the compiler) sees no change."""
        chains = dict(self._chains)
        for name, rules in self._rules.items():
            current = chains.get(name)
            if current is None:
                continue
            before = self._before.get(name)
            if (before is not None and before.policy == current.policy
                    and before.counters == current.counters and len(before.rules) == len(rules)
                    and all(map(is_, before.rules, rules))):
                chains[name] = before
            else:
                chains[name] = Chain(name, current.policy, tuple(rules), current.counters)
        return Table(self.name, MappingProxyType(chains))

    # --- helpers ----------------------------------------------------------------------------

    def _chain(self, name: str) -> Chain:
        chain = self._chains.get(name)
        if chain is None:
            raise TableError(NO_CHAIN)
        return chain

    def _count(self, rule: Rule, delta: int) -> None:
        if self._refs is not None:
            jump = _jump_name(rule)
            if jump is not None:
                self._refs[jump] += delta

    def _check_jump(self, rule: Rule) -> None:
        jump = _jump_name(rule)
        if jump is not None and jump in self._chains and self._chains[jump].builtin:
            raise TableError(INVALID)

    # --- rule commands ----------------------------------------------------------------------

    def append(self, chain: str, *rules: Rule) -> None:
        """``-A``: the rules (one per address of ``-s``/``-d``) at the end of the chain.

        The per-rule checks of :meth:`_check_jump` and :meth:`_count` are inlined: a restore
        appends every rule of a table through here.
        """
        listed = self._rules.get(chain)
        if listed is None:
            listed = self.rules(chain)
        chains = self._chains
        for rule in rules:
            target = rule.target
            if target is not None and (target.goto or target.name not in STANDARD_TARGETS):
                jumped = chains.get(target.name)
                if jumped is not None and jumped.policy is not None:  # a built-in chain
                    raise TableError(INVALID)
                if self._refs is not None:
                    self._refs[target.name] += 1
            listed.append(rule)

    def insert(self, chain: str, rulenum: int, rule: Rule) -> None:
        rules = self.rules(chain)
        if rulenum > len(rules) + 1:
            raise TableError("Index of insertion too big")
        self._check_jump(rule)
        rules.insert(rulenum - 1, rule)
        self._count(rule, 1)

    def replace(self, chain: str, rulenum: int, rule: Rule) -> None:
        rules = self.rules(chain)
        if rulenum > len(rules):
            raise TableError("Index of replacement too big")
        self._check_jump(rule)
        self._count(rules[rulenum - 1], -1)
        rules[rulenum - 1] = rule
        self._count(rule, 1)

    def delete_number(self, chain: str, rulenum: int) -> None:
        rules = self.rules(chain)
        if rulenum > len(rules):
            raise TableError("Index of deletion too big")
        self._count(rules.pop(rulenum - 1), -1)

    def delete_rule(self, chain: str, rule: Rule) -> None:
        if chain not in self._chains:
            raise TableError(BAD_RULE)
        rules = self.rules(chain)
        try:
            index = rules.index(rule)
        except ValueError:
            raise TableError(_absent(rule)) from None
        self._count(rules.pop(index), -1)

    def check_rule(self, chain: str, rule: Rule) -> None:
        if chain not in self._chains:
            raise TableError(BAD_RULE)
        if rule not in self._rules.get(chain, self._chain(chain).rules):
            raise TableError(_absent(rule))

    # --- chain commands ---------------------------------------------------------------------

    def flush_and_delete_all(self) -> None:
        """``-F`` then ``-X`` (what iptables-restore does to a table it does not --noflush):
        the built-in chains empty, every user chain gone. Once all is flushed no chain is
        referenced, so no deletion can fail; done at once, not chain by chain."""
        for name, chain in list(self._chains.items()):
            if chain.builtin:
                self._rules[name] = []
            else:
                del self._chains[name]
                self._rules.pop(name, None)
        self._refs = None

    def flush(self, chain: str | None = None) -> None:
        names = list(self._chains) if chain is None else [self._chain(chain).name]
        for name in names:
            for rule in self._rules.get(name, self._chains[name].rules):
                self._count(rule, -1)
            self._rules[name] = []

    def zero(self, chain: str | None = None, rulenum: int | None = None) -> None:
        names = list(self._chains) if chain is None else [self._chain(chain).name]
        for name in names:
            rules = self.rules(name)
            if rulenum is not None:
                if rulenum > len(rules):
                    raise TableError("Index of counter too big")
                rules[rulenum - 1] = rules[rulenum - 1].with_counters(ZERO_COUNTERS)
                continue
            rules[:] = [rule.with_counters(ZERO_COUNTERS) for rule in rules]
            current = self._chains[name]
            self._chains[name] = Chain(name, current.policy, current.rules, ZERO_COUNTERS)

    def new_chain(self, name: str) -> None:
        if name in self._chains:
            raise TableError(CHAIN_EXISTS)
        self._chains[name] = Chain(name)
        self._rules[name] = []

    def delete_chain(self, name: str | None = None) -> None:
        """``-X [CHAIN]``: one empty, unreferenced user chain, or every user chain."""
        if name is None:
            for chain in sorted(self._chains):
                if not self._chains[chain].builtin:
                    self.delete_chain(chain)
            return
        chain = self._chain(name)
        if chain.builtin:
            raise TableError(INVALID)
        if self.references(name):
            raise TableError(REFERENCED)
        if self._rules.get(name, chain.rules):
            raise TableError(NOT_EMPTY)
        del self._chains[name]
        self._rules.pop(name, None)

    def rename_chain(self, old: str, new: str) -> None:
        # libiptc checks the new name first, and treats a built-in old name as missing
        if new in self._chains or new in STANDARD_TARGETS:
            raise TableError(FILE_EXISTS)
        chain = self._chain(old)
        if chain.builtin:
            raise TableError(NO_CHAIN)
        if len(new) >= CHAIN_LABEL_SIZE:
            raise TableError(INVALID)
        rules = self.rules(old)
        del self._chains[old]
        del self._rules[old]
        self._chains[new] = Chain(new, None, (), chain.counters)
        self._rules[new] = rules
        for name in list(self._chains):
            current = self._rules.get(name, self._chains[name].rules)
            if any(rule.target is not None and rule.target.name == old for rule in current):
                self._rules[name] = [
                    replace(rule, target=replace(rule.target, name=new))
                    if rule.target is not None and rule.target.name == old else rule
                    for rule in current
                ]
        self._refs = None

    def commit_policies(self) -> None:
        """What a commit does to policy counters: iptables-legacy 1.8.9 (libiptc) leaves every
        built-in chain's policy counters at 0, traffic counts included, except those this
        commit set (checked with the oracle, with real packets)."""
        for name in TABLE_BUILTINS.get(self.name, ()):  # not every chain: there may be 60,000
            chain = self._chains.get(name)
            if (chain is not None and chain.builtin and name not in self.policies_set
                    and chain.counters != ZERO_COUNTERS):
                self._chains[name] = Chain(name, chain.policy, chain.rules, ZERO_COUNTERS)

    def set_policy(self, name: str, policy: str, counters: Counters | None = None) -> None:
        """``-P``: the policy, with its counters set (0 when not given)."""
        chain = self._chains.get(name)
        if chain is None or not chain.builtin:
            raise TableError(BAD_BUILTIN)
        if policy not in POLICIES:
            raise TableError(BAD_POLICY)
        self._chains[name] = Chain(name, policy, chain.rules, counters or ZERO_COUNTERS)
        self.policies_set.add(name)
