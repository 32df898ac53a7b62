"""Ruleset -> Plan: runs of look-alike rules become lookups, everything else stays a rule.

A rule is *keyable* when its destination is one address (``-d A/32``, not inverted) and, if it
has a tcp or udp match, that match asks only for one destination port. Consecutive keyable rules
with the same *signature* (the rule with the key values, comments and target taken out) form a
run; a run of two or more rules becomes one LOOKUP block whose entries keep, per key, the run's
rules with that key in rule order, so first-match order, duplicate keys, rules without a target
and non-terminal targets inside a run mean exactly what they meant. Rules with stateful matches
(statistic, recent, limit) never join a run: skipping them would change their state.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from iptparse.model import Match, Rule, Ruleset, Table
from translator.plan import KEY_FIELDS, ChainPlan, LookupBlock, Plan, RuleBlock, TablePlan

STATEFUL_MATCHES = frozenset({"statistic", "recent", "limit"})
PORT_MATCHES = frozenset({"tcp", "udp"})
FULL_PORTS = (0, 0xFFFF)


def _port_key(match: Match) -> int | None:
    """The one destination port a tcp/udp match asks for, or None when it asks more."""
    options = match.options
    if options.dport_invert or options.dport[0] != options.dport[1]:
        return None
    if options.sport != FULL_PORTS or options.sport_invert:
        return None
    if match.name == "tcp" and (options.flag_mask or options.option):
        return None
    return options.dport[0]


def rule_key(rule: Rule) -> tuple[tuple[int, ...], Any] | None:
    """(key values, signature) of a keyable rule, or None."""
    if any(match.name in STATEFUL_MATCHES for match in rule.matches):
        return None
    destination = rule.destination
    if destination is None or destination.mask != 0xFFFFFFFF or rule.destination_invert:
        return None
    key = [destination.addr]
    matches = []
    for match in rule.matches:
        if match.name == "comment":
            continue  # never changes what matches
        if match.name in PORT_MATCHES and len(key) == 1:
            port = _port_key(match)
            if port is None:
                return None
            key.append(port)
            matches.append(Match(match.name, replace(match.options, dport=(0, 0))))
            continue
        matches.append(match)
    fields = KEY_FIELDS[1:len(key) + 1]
    signature = (fields, replace(rule, destination=None, matches=tuple(matches), target=None))
    return tuple(key), signature


def compile_chain(name: str, policy: str | None, rules: tuple[Rule, ...],
                  min_run: int = 2) -> ChainPlan:
    blocks: list[LookupBlock | RuleBlock] = []
    run: list[tuple[int, Rule, tuple[int, ...]]] = []
    run_signature: Any = None

    def close_run() -> None:
        if len(run) >= min_run:
            entries: dict[tuple[int, ...], list[tuple[int, Rule]]] = {}
            for number, rule, key in run:
                entries.setdefault(key, []).append((number, rule))
            blocks.append(LookupBlock(
                tuple(number for number, _, _ in run), run_signature[0], run[0][1],
                MappingProxyType({key: tuple(found) for key, found in entries.items()})))
        else:
            blocks.extend(RuleBlock((number,), rule, "a run of one") for number, rule, _ in run)
        run.clear()

    for number, rule in enumerate(rules, 1):
        keyed = rule_key(rule)
        if keyed is not None and run and keyed[1] == run_signature:
            run.append((number, rule, keyed[0]))
            continue
        close_run()
        if keyed is None:
            blocks.append(RuleBlock((number,), rule, "not a lookup of exact fields"))
            continue
        run_signature = keyed[1]
        run.append((number, rule, keyed[0]))
    close_run()
    return ChainPlan(name, policy, tuple(blocks))


def compile_table(table: Table) -> TablePlan:
    chains = {name: compile_chain(name, chain.policy, chain.rules)
              for name, chain in table.chains.items()}
    return TablePlan(table.name, MappingProxyType(chains))


def compile_ruleset(ruleset: Ruleset) -> Plan:
    return Plan(MappingProxyType({name: compile_table(table)
                                  for name, table in ruleset.tables.items()}))
