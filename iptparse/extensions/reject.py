"""``-j REJECT [--reject-with TYPE]``: drop and answer with an ICMP error or a TCP reset.

Behaviour read off iptables-legacy 1.8.9 (see tests/unit/test_ext_reject.py): TYPE is matched
case-insensitively as a prefix of a name or its alias, the first entry in the kernel's order
winning (so ``p`` is proto-unreachable, ``""`` net-unreachable); the type is always saved, the
default being icmp-port-unreachable. The kernel allows REJECT only in the filter table's INPUT,
FORWARD and OUTPUT, and tcp-reset only on ``-p tcp`` not inverted.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import (
    CheckContext,
    Opt,
    OptionCall,
    RuleInProgress,
    TargetExtension,
)
from iptparse.model import frozen_value

# (name, alias) in the kernel's ipt_reject_with order, which is also the order of the search.
REJECT_TYPES: tuple[tuple[str, str], ...] = (
    ("icmp-net-unreachable", "net-unreach"),
    ("icmp-host-unreachable", "host-unreach"),
    ("icmp-proto-unreachable", "proto-unreach"),
    ("icmp-port-unreachable", "port-unreach"),
    ("icmp-net-prohibited", "net-prohib"),
    ("icmp-host-prohibited", "host-prohib"),
    ("tcp-reset", "tcp-rst"),
    ("icmp-admin-prohibited", "admin-prohib"),
)
DEFAULT_TYPE = "icmp-port-unreachable"
TCP_RESET = "tcp-reset"


@lru_cache(maxsize=64)
def parse_reject_type(text: str) -> str:
    """The canonical name of a ``--reject-with`` value."""
    lowered = text.lower()
    for name, alias in REJECT_TYPES:
        if name.startswith(lowered) or alias.startswith(lowered):
            return name
    raise ParameterProblem(f'unknown reject type "{text}"')


@frozen_value
class RejectOptions:
    reject_with: str = DEFAULT_TYPE


class RejectTarget(TargetExtension):
    name = "REJECT"
    options = (Opt("reject-with"),)
    tables = frozenset({"filter"})
    hooks = frozenset({"INPUT", "FORWARD", "OUTPUT"})

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        return parse_reject_type(value)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> RejectOptions:
        if "reject-with" in state:
            return RejectOptions(state["reject-with"][0])
        return RejectOptions()

    def save(self, options: RejectOptions) -> str:
        return " --reject-with " + options.reject_with

    def listing(self, options: RejectOptions, numeric: bool) -> str:
        return " reject-with " + options.reject_with

    def check_entry(self, options: RejectOptions, ctx: CheckContext) -> None:
        if options.reject_with == TCP_RESET and (ctx.protocol != 6 or ctx.protocol_invert):
            raise KernelRejection("REJECT: tcp-reset needs -p tcp")


EXTENSIONS = (RejectTarget(),)
