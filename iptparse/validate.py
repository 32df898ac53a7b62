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
from iptparse.model import STANDARD_TARGETS, Chain, Rule, Table

LOOP = "Too many levels of symbolic links"


def chain_hooks(table: Table) -> dict[str, frozenset[str]]:
    """For every chain, the built-in chains (hooks) it can be reached from; loops refused."""
    chains = table.chains
    builtins = [chain.name for chain in chains.values() if chain.builtin]
    # hooks as bits while walking (one bit per built-in chain): 60,000 sets cost more
    reached = dict.fromkeys(chains, 0)
    for bit, builtin in enumerate(builtins):
        mask = 1 << bit
        # Depth-first walk with the path on a stack: a chain met again on the path is a loop.
        stack: list[tuple[str, int]] = [(builtin, 0)]
        on_path = [builtin]
        done: set[str] = set()
        while stack:
            name, index = stack.pop()
            reached[name] |= mask
            rules = chains[name].rules
            while index < len(rules):
                target = rules[index].target
                index += 1
                if target is None or target.name not in chains:
                    continue
                if target.name in STANDARD_TARGETS:
                    continue
                if target.name in on_path:
                    raise KernelRejection("loop", LOOP)
                if target.name in done:
                    continue
                stack.append((name, index))
                stack.append((target.name, 0))
                on_path.append(target.name)
                break
            else:
                done.add(on_path.pop())
    hook_sets = {mask: frozenset(builtin for bit, builtin in enumerate(builtins)
                                 if mask >> bit & 1) for mask in set(reached.values())}
    return {name: hook_sets[mask] for name, mask in reached.items()}


class TableChecker:
    """:func:`validate_table` that remembers each table it passed: a commit that keeps a chain
    (the same object, reached from the same hooks) is not checked again rule by rule, since
    the kernel's answer for it cannot differ. kube-proxy's partial syncs change a few of
    60,000 chains. One per owner of a rule set (the Restorer)."""

    def __init__(self) -> None:
        self._passed: dict[str, tuple[Table, dict[str, frozenset[str]]]] = {}

    def check(self, table: Table) -> None:
        """Raise :class:`KernelRejection` for what the kernel would refuse in this table."""
        hooks = validate_table(table, self._passed.get(table.name))
        self._passed[table.name] = (table, hooks)


def validate_table(table: Table,
                   earlier: tuple[Table, dict[str, frozenset[str]]] | None = None,
                   ) -> dict[str, frozenset[str]]:
    """Raise :class:`KernelRejection` for what the kernel would refuse in this table; else its
    chains' hooks (:func:`chain_hooks`). ``earlier``: a table that passed before, with its
    hooks, whose chains need no check where they are unchanged (TableChecker)."""
    hooks = chain_hooks(table)
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
