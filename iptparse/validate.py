"""What the kernel checks when a table is committed (ip_tables' translate_table).

A table is refused when a chain can reach itself through jumps (ELOOP), or when a match or a
target refuses its place: wrong table, a hook it does not support (a user chain inherits the
hooks of the built-in chains it is reached from), or a protocol it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from iptparse.errors import KernelRejection
from iptparse.extensions import find_match, find_target
from iptparse.extensions.base import CheckContext, Extension
from iptparse.model import STANDARD_TARGETS, TABLE_BUILTINS, Chain, Rule, Table

LOOP = "Too many levels of symbolic links"


def chain_jumps(chain: Chain) -> tuple[str, ...]:
    """The names a chain's rules jump or go to, each once, in order (standard verdicts left
    out; extension targets too, once the caller keeps only the names of chains)."""
    names: dict[str, None] = {}  # ordered, each once
    for rule in chain.rules:
        target = rule.target
        if target is not None and target.name not in STANDARD_TARGETS:
            names[target.name] = None
    return tuple(names)


def _depth_first(chains: Mapping[str, Chain], roots: list[str],
                 jumps_of: Callable[[Chain], tuple[str, ...]]) -> list[str]:
    """The chains reachable from ``roots``, each after the chains it jumps to (post-order);
    a loop (a jump to a chain on the current path, as the kernel's mark_source_chains finds
    one) is refused."""
    on_path, finished = 1, 2
    state: dict[str, int] = {}
    order: list[str] = []
    for root in roots:
        if root in state:
            continue
        state[root] = on_path
        stack = [(root, iter(jumps_of(chains[root])))]
        while stack:
            name, targets = stack[-1]
            for target in targets:
                if target not in chains:
                    continue  # an extension target
                seen = state.get(target)
                if seen is None:
                    state[target] = on_path
                    stack.append((target, iter(jumps_of(chains[target]))))
                    break
                if seen == on_path:
                    raise KernelRejection("loop", LOOP)
            else:
                stack.pop()
                state[name] = finished
                order.append(name)
    return order


def chain_hooks(table: Table, jumps_of: Callable[[Chain], tuple[str, ...]] = chain_jumps,
                ) -> dict[str, frozenset[str]]:
    """For every chain, the built-in chains (hooks) it can be reached from; loops refused.

    One depth-first walk over the chains reachable from any built-in chain (a chain met again
    on the current path is a loop, as the kernel's mark_source_chains finds), then the hooks
    pushed down the chains in the reverse of the order the walk finished them (callers before
    callees). ``jumps_of``: chain_jumps, or a cache of it."""
    chains = table.chains
    builtins = [name for name in TABLE_BUILTINS.get(table.name, ())
                if (chain := chains.get(name)) is not None and chain.builtin]
    order = _depth_first(chains, builtins, jumps_of)
    # hooks as bits while pushing them down (one bit per built-in chain): sets cost more
    reached = dict.fromkeys(chains, 0)
    for bit, builtin in enumerate(builtins):
        reached[builtin] = 1 << bit
    for name in reversed(order):
        mask = reached[name]
        for target in jumps_of(chains[name]):
            if target in reached:
                reached[target] |= mask
    hook_sets = {mask: frozenset(builtin for bit, builtin in enumerate(builtins)
                                 if mask >> bit & 1) for mask in set(reached.values())}
    return {name: hook_sets[mask] for name, mask in reached.items()}


def hooks_since(table: Table, earlier: tuple[Table, dict[str, frozenset[str]]],
                jumps_of: Callable[[Chain], tuple[str, ...]] = chain_jumps,
                ) -> dict[str, frozenset[str]] | None:
    """:func:`chain_hooks` of ``table`` from those of an earlier table that passed, when the
    chains that differ only added jumps (kube-proxy adding a service: KUBE-SERVICES jumps to
    one more chain); None when a jump went away to a chain that stays (then hooks may shrink:
    the caller computes them afresh). Loops refused: a new one goes through an added jump."""
    chains, before = table.chains, earlier[0].chains
    earlier_hooks = earlier[1]
    added: list[tuple[str, str]] = []
    for name, chain in chains.items():
        old = before.get(name)
        if old is chain:
            continue
        new_targets = {target for target in jumps_of(chain) if target in chains}
        old_targets = ({target for target in jumps_of(old) if target in chains}
                       if old is not None else set())
        if old_targets - new_targets:
            return None
        added.extend((name, target) for target in new_targets - old_targets)
    for name in before.keys() - chains.keys():  # gone: did it reach a chain that stays?
        if earlier_hooks.get(name) and any(target in chains
                                           for target in jumps_of(before[name])):
            return None
    nothing: frozenset[str] = frozenset()
    hooks = {name: earlier_hooks.get(name, nothing) for name in chains}
    unions: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
    work = list(added)
    while work:  # push the callers' hooks down the added jumps, and on from what gained
        caller, target = work.pop()
        key = (hooks[target], hooks[caller])
        merged = unions.get(key)
        if merged is None:
            merged = unions[key] = key[0] | key[1]
        if merged != hooks[target]:
            hooks[target] = merged
            work.extend((target, onward) for onward in jumps_of(chains[target])
                        if onward in chains)
    # A loop now reached (none was before) is reached through an added jump from a reached
    # chain: one depth-first walk from their targets finds it (a jump back to a chain on the
    # current path), as chain_hooks' walk from the built-in chains would.
    _depth_first(chains, [root for caller, root in added if hooks[caller]], jumps_of)
    return hooks


class TableChecker:
    """:func:`validate_table` that remembers each table it passed: a commit that keeps a chain
    (the same object, reached from the same hooks) is not checked again rule by rule, since
    the kernel's answer for it cannot differ. kube-proxy's partial syncs change a few of
    60,000 chains. One per owner of a rule set (the Restorer)."""

    def __init__(self) -> None:
        self._passed: dict[str, tuple[Table, dict[str, frozenset[str]]]] = {}
        self._jumps: dict[tuple[str, str], tuple[Chain, tuple[str, ...]]] = {}  # chain_jumps

    def check(self, table: Table) -> None:
        """Raise :class:`KernelRejection` for what the kernel would refuse in this table."""
        if len(self._jumps) > 2 * sum(len(passed[0].chains) for passed in self._passed.values()
                                      ) + 1024:
            self._jumps.clear()  # chains long gone
        name = table.name
        jumps = self._jumps

        def jumps_of(chain: Chain) -> tuple[str, ...]:
            known = jumps.get((name, chain.name))
            if known is not None and known[0] is chain:
                return known[1]
            found = chain_jumps(chain)
            jumps[(name, chain.name)] = (chain, found)
            return found

        hooks = validate_table(table, self._passed.get(name), jumps_of)
        self._passed[name] = (table, hooks)


def validate_table(table: Table,
                   earlier: tuple[Table, dict[str, frozenset[str]]] | None = None,
                   jumps_of: Callable[[Chain], tuple[str, ...]] = chain_jumps,
                   ) -> dict[str, frozenset[str]]:
    """Raise :class:`KernelRejection` for what the kernel would refuse in this table; else its
    chains' hooks (:func:`chain_hooks`). ``earlier``: a table that passed before, with its
    hooks, whose chains need no check where they are unchanged (TableChecker)."""
    hooks = hooks_since(table, earlier, jumps_of) if earlier is not None else None
    if hooks is None:
        hooks = chain_hooks(table, jumps_of)
    earlier_chains: Mapping[str, Chain] = earlier[0].chains if earlier is not None else {}
    earlier_hooks = earlier[1] if earlier is not None else {}
    # The extension each match and target name is checked by, None when its check cannot
    # refuse anything (comment, statistic, a jump to a chain): most rules then cost no call.
    match_checks = _Checkers(find_match)
    target_checks = _Checkers(find_target)
    # An extension whose check ignores its options (tcp, DNAT: table, hooks and protocol
    # only) gives one answer for every rule reached from the same hooks with the same protocol.
    passed: set[tuple[Extension, frozenset[str], int | None, bool]] = set()
    chains = table.chains
    for chain in chains.values():
        reached_from = hooks[chain.name]
        if (earlier_chains.get(chain.name) is chain
                and earlier_hooks.get(chain.name) == reached_from):
            continue
        for rule in chain.rules:
            for match in rule.matches:
                ext = match_checks[match.name]
                if ext is not None and (ext, reached_from, rule.protocol,
                                        rule.protocol_invert) not in passed:
                    _check(ext, match.options, table.name, reached_from, rule, passed)
            target = rule.target
            if target is not None and not target.goto and target.name not in chains:
                ext = target_checks[target.name]
                if ext is not None and (ext, reached_from, rule.protocol,
                                        rule.protocol_invert) not in passed:
                    _check(ext, target.options, table.name, reached_from, rule, passed)
    return hooks


def _check(ext: Extension, options: object, table: str, reached_from: frozenset[str],
           rule: Rule, passed: set[tuple[Extension, frozenset[str], int | None, bool]]) -> None:
    ext.check(options, CheckContext(table, reached_from, rule.protocol, rule.protocol_invert))
    if type(ext).check_entry is Extension.check_entry:  # the options played no part
        passed.add((ext, reached_from, rule.protocol, rule.protocol_invert))


class _Checkers(dict[str, Extension | None]):
    """Extension name -> the extension when its check can refuse something, else None."""

    def __init__(self, find: Callable[[str], Extension | None]) -> None:
        super().__init__()
        self.find = find

    def __missing__(self, name: str) -> Extension | None:
        ext = self.find(name)
        self[name] = ext if ext is not None and ext.checks_anything else None
        return self[name]
