"""Walk a packet through the tables of one hook as netfilter does (``ipt_do_table``).

First match wins; rules without a target and non-terminal targets fall through to the next rule;
``-j CHAIN`` pushes a return point, ``-g CHAIN`` does not, ``RETURN`` and the end of a user chain
pop it, the end of a built-in chain applies its policy. Extensions get their meaning from
:mod:`translator.model.semantics`; every rule looked at is recorded in the trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iptparse.model import Rule, Ruleset, Table
from translator.model.matchers import MATCHERS
from translator.model.packet import HOOK_TABLES, Packet
from translator.model.semantics import Context, TargetOutcome, UnsupportedExtension
from translator.model.targets import TARGETS


@dataclass(frozen=True, slots=True)
class Visit:
    """One rule looked at (``rule`` is 1-based; None for a chain's policy)."""

    table: str
    chain: str
    rule: int | None
    matched: bool
    action: str = ""


@dataclass(frozen=True, slots=True)
class TableVerdict:
    """How one table left the packet: ACCEPT (go on), DROP, or a terminal target's outcome."""

    verdict: str
    packet: Packet
    outcome: TargetOutcome | None = None
    visits: tuple[Visit, ...] = ()


@dataclass(frozen=True, slots=True)
class HookVerdict:
    verdict: str
    packet: Packet
    outcomes: tuple[tuple[str, TargetOutcome], ...] = ()  # (table, outcome) of terminal targets
    visits: tuple[Visit, ...] = field(default=())


def _iface_matches(pattern: str | None, invert: bool, name: str | None) -> bool:
    if pattern is None:
        return True
    actual = name or ""
    hit = actual.startswith(pattern[:-1]) if pattern.endswith("+") else actual == pattern
    return hit != invert


def core_matches(rule: Rule, packet: Packet) -> bool:
    """The fixed part of a rule (``struct ipt_ip``): protocol, addresses, interfaces, -f."""
    if rule.protocol and (packet.protocol == rule.protocol) == rule.protocol_invert:
        return False
    if rule.source is not None and rule.source.contains(packet.src) == rule.source_invert:
        return False
    if (rule.destination is not None
            and rule.destination.contains(packet.dst) == rule.destination_invert):
        return False
    if not _iface_matches(rule.in_iface, rule.in_iface_invert, packet.in_iface):
        return False
    if not _iface_matches(rule.out_iface, rule.out_iface_invert, packet.out_iface):
        return False
    return rule.fragment is None or (packet.fragment_offset != 0) == rule.fragment


def match_semantics(name: str) -> Callable[..., bool]:
    function = MATCHERS.get(name)
    if function is None:
        raise UnsupportedExtension(f"the reference model has no meaning for match {name!r}")
    return function


def target_semantics(name: str) -> Callable[..., TargetOutcome]:
    function = TARGETS.get(name)
    if function is None:
        raise UnsupportedExtension(f"the reference model has no meaning for target {name!r}")
    return function


def rule_matches(rule: Rule, packet: Packet, ctx: Context) -> bool:
    if not core_matches(rule, packet):
        return False
    return all(match_semantics(match.name)(match.options, packet, ctx) for match in rule.matches)


# What a chain step offers a packet: the (rule number, rule) pairs it may meet, in order.
Candidates = Callable[[Any, Packet], Sequence[tuple[int, Rule]]]


def _each_rule(step: Any, packet: Packet) -> Sequence[tuple[int, Rule]]:
    return (step,)


def run_table(table: Table, hook: str, packet: Packet, ctx: Context,
              on_hit: Callable[[str, str, int | None], None] | None = None) -> TableVerdict:
    """Evaluate ``table``'s built-in chain ``hook``; ``on_hit(table, chain, rule)`` counts hits."""
    chains = {name: (chain.policy, tuple(enumerate(chain.rules, 1)))
              for name, chain in table.chains.items()}
    return walk_table(table.name, chains, hook, packet, ctx, _each_rule, on_hit)


def walk_table(table: str, chains: Mapping[str, tuple[str | None, Sequence[Any]]], hook: str,
               packet: Packet, ctx: Context, candidates: Candidates,
               on_hit: Callable[[str, str, int | None], None] | None = None) -> TableVerdict:
    """ipt_do_table over chains made of steps: a step offers ``candidates`` (one rule, or the
    rules a lookup finds for this packet), each matched in turn, first match wins.

    ``chains`` maps a chain to (policy or None for a user chain, steps). The reference model's
    steps are single rules; a Plan's are its blocks (translator/interp.py), so both share this
    walk and differ only in which rules a packet meets.
    """
    visits: list[Visit] = []
    returns: list[tuple[str, int, int]] = []  # (chain, step, candidate) to resume at
    chain_name, step, sub = hook, 0, 0
    while True:
        policy, steps = chains[chain_name]
        if step >= len(steps):
            if policy is not None:
                visits.append(Visit(table, chain_name, None, True, f"policy {policy}"))
                if on_hit:
                    on_hit(table, chain_name, None)
                return TableVerdict(policy, packet, None, tuple(visits))
            chain_name, step, sub = returns.pop() if returns else (hook, len(chains[hook][1]), 0)
            continue
        found = candidates(steps[step], packet)
        if sub >= len(found):
            step, sub = step + 1, 0
            continue
        number, rule = found[sub]
        sub += 1
        if not rule_matches(rule, packet, ctx):
            visits.append(Visit(table, chain_name, number, False))
            continue
        if on_hit:
            on_hit(table, chain_name, number)
        target = rule.target
        if target is None:
            visits.append(Visit(table, chain_name, number, True))
            continue
        name = target.name
        visits.append(Visit(table, chain_name, number, True,
                            ("goto " if target.goto else "") + name))
        if name in ("ACCEPT", "DROP"):
            return TableVerdict(name, packet, None, tuple(visits))
        if name == "QUEUE":  # no queue reader in this model: the kernel then drops
            return TableVerdict("DROP", packet, None, tuple(visits))
        if name == "RETURN":
            if not returns:
                # RETURN from a built-in chain applies its policy
                chain_name, step, sub = hook, len(chains[hook][1]), 0
                continue
            chain_name, step, sub = returns.pop()
            continue
        if name in chains:
            if not target.goto:
                returns.append((chain_name, step, sub))
            chain_name, step, sub = name, 0, 0
            continue
        outcome = target_semantics(name)(target.options, packet, ctx)
        packet = outcome.packet
        if outcome.verdict != "CONTINUE":
            return TableVerdict(outcome.verdict, packet, outcome, tuple(visits))


def run_hook(ruleset: Ruleset, hook: str, packet: Packet, ctx: Context,
             on_hit: Callable[[str, str, int | None], None] | None = None,
             skip_tables: frozenset[str] = frozenset()) -> HookVerdict:
    """All tables of ``hook`` in netfilter's order; the first non-ACCEPT verdict ends the hook."""
    visits: list[Visit] = []
    outcomes: list[tuple[str, TargetOutcome]] = []
    for name in HOOK_TABLES[hook]:
        table = ruleset.tables.get(name)
        if table is None or name in skip_tables or hook not in table.chains:
            continue
        result = run_table(table, hook, packet, ctx, on_hit)
        visits.extend(result.visits)
        packet = result.packet
        if result.outcome is not None:
            outcomes.append((name, result.outcome))
        if result.verdict != "ACCEPT":
            return HookVerdict(result.verdict, packet, tuple(outcomes), tuple(visits))
    return HookVerdict("ACCEPT", packet, tuple(outcomes), tuple(visits))
