"""What the kernel checks when a table is committed (ip_tables' translate_table).

A table is refused when a chain can reach itself through jumps (ELOOP), or when a match or a
target refuses its place: wrong table, a hook it does not support (a user chain inherits the
hooks of the built-in chains it is reached from), or a protocol it needs.
"""

from __future__ import annotations

from iptparse.errors import KernelRejection
from iptparse.extensions import find_match, find_target
from iptparse.extensions.base import CheckContext
from iptparse.model import STANDARD_TARGETS, Table

LOOP = "Too many levels of symbolic links"


def chain_hooks(table: Table) -> dict[str, frozenset[str]]:
    """For every chain, the built-in chains (hooks) it can be reached from; loops refused."""
    hooks: dict[str, set[str]] = {name: set() for name in table.chains}
    for chain in table.chains.values():
        if not chain.builtin:
            continue
        # Depth-first walk with the path on a stack: a chain met again on the path is a loop.
        stack: list[tuple[str, int]] = [(chain.name, 0)]
        on_path = [chain.name]
        done: set[str] = set()
        while stack:
            name, index = stack.pop()
            hooks[name].add(chain.name)
            rules = table.chains[name].rules
            while index < len(rules):
                target = rules[index].target
                index += 1
                if target is None or target.name not in table.chains:
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
    return {name: frozenset(value) for name, value in hooks.items()}


def validate_table(table: Table) -> None:
    """Raise :class:`KernelRejection` for what the kernel would refuse in this table."""
    hooks = chain_hooks(table)
    for chain in table.chains.values():
        for rule in chain.rules:
            ctx = CheckContext(table.name, hooks[chain.name], rule.protocol,
                               rule.protocol_invert)
            for match in rule.matches:
                ext = find_match(match.name)
                if ext is not None:
                    ext.check(match.options, ctx)
            if rule.target is not None and not rule.target.goto:
                ext = find_target(rule.target.name)
                if ext is not None:
                    ext.check(rule.target.options, ctx)
