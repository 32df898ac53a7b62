"""``-m addrtype``: match the routing type of the source and/or destination address (revision 1).

Behaviour read off iptables-legacy 1.8.9 (the oracle):

* ``--src-type``/``--dst-type`` take a comma list of type names, case-insensitive, any
  non-empty prefix accepted (the first type in kernel order wins: ``U`` is UNSPEC); the list is a
  bit set, printed back in kernel order without duplicates.
* A bad item that is last prints ``bad type "ITEM"``; a bad or empty item with more after it
  prints ``bad type `REST'`` with everything from that item on.
* ``--limit-iface-in`` is refused by the kernel in OUTPUT/POSTROUTING, ``--limit-iface-out`` in
  PREROUTING/INPUT (a user chain inherits the hooks it is reached from).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import CheckContext, MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.model import frozen_value

# Kernel order (RTN_UNSPEC = bit 0 ... RTN_XRESOLVE = bit 11).
ADDRESS_TYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
                 "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")

# strncasecmp folds ASCII letters only.
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Hooks each interface limit may not be used from.
_LIMIT_IN_REFUSED = frozenset({"OUTPUT", "POSTROUTING"})
_LIMIT_OUT_REFUSED = frozenset({"PREROUTING", "INPUT"})


def _type_bit(item: str) -> int | None:
    """The bit of the first type ``item`` is a case-insensitive prefix of, or None."""
    if not item:
        return None
    wanted = item.translate(_ASCII_UPPER)
    for index, name in enumerate(ADDRESS_TYPES):
        if name.startswith(wanted):
            return 1 << index
    return None


@lru_cache(maxsize=256)
def parse_address_types(text: str) -> int:
    """A ``--src-type``/``--dst-type`` value as a bit set, else iptables' message."""
    bits = 0
    rest = text
    while "," in rest:
        item, _, after = rest.partition(",")
        bit = _type_bit(item)
        if bit is None:
            raise ParameterProblem(f"addrtype: bad type `{rest}'")
        bits |= bit
        rest = after
    bit = _type_bit(rest)
    if bit is None:
        raise ParameterProblem(f'addrtype: bad type "{rest}"')
    return bits | bit


@lru_cache(maxsize=256)
def format_address_types(bits: int) -> str:
    return ",".join(name for index, name in enumerate(ADDRESS_TYPES) if bits & (1 << index))


@frozen_value
class AddrtypeOptions:
    """The kernel's xt_addrtype_info_v1; a type set of 0 means the address is not checked."""

    source: int = 0
    destination: int = 0
    source_invert: bool = False
    destination_invert: bool = False
    limit_in: bool = False
    limit_out: bool = False


class AddrtypeMatch(MatchExtension):
    name = "addrtype"
    options = (
        Opt("src-type", invert=True),
        Opt("dst-type", invert=True),
        Opt("limit-iface-in", arg=False),
        Opt("limit-iface-out", arg=False),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        if value is None:
            return True
        return parse_address_types(value)

    def finish(self, state: dict[str, Any], rule: RuleInProgress) -> AddrtypeOptions:
        if "src-type" not in state and "dst-type" not in state:
            raise ParameterProblem("addrtype: you must specify --src-type or --dst-type")
        if "limit-iface-in" in state and "limit-iface-out" in state:
            raise ParameterProblem(
                'addrtype: option "--limit-iface-in" cannot be used together with '
                '"--limit-iface-out".\n'
            )
        return self.build(state, rule)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> AddrtypeOptions:
        source, source_invert = state.get("src-type", (0, False))
        destination, destination_invert = state.get("dst-type", (0, False))
        return AddrtypeOptions(source, destination, source_invert, destination_invert,
                               "limit-iface-in" in state, "limit-iface-out" in state)

    def save(self, options: AddrtypeOptions) -> str:
        text = ""
        if options.source:
            text += f"{' !' if options.source_invert else ''} --src-type "
            text += format_address_types(options.source)
        if options.destination:
            text += f"{' !' if options.destination_invert else ''} --dst-type "
            text += format_address_types(options.destination)
        if options.limit_in:
            text += " --limit-iface-in"
        if options.limit_out:
            text += " --limit-iface-out"
        return text

    def listing(self, options: AddrtypeOptions, numeric: bool) -> str:
        text = " ADDRTYPE match"
        if options.source:
            text += f" src-type {'!' if options.source_invert else ''}"
            text += format_address_types(options.source)
        if options.destination:
            text += f" dst-type {'!' if options.destination_invert else ''}"
            text += format_address_types(options.destination)
        if options.limit_in:
            text += " limit-in"
        if options.limit_out:
            text += " limit-out"
        return text

    def check_entry(self, options: AddrtypeOptions, ctx: CheckContext) -> None:
        if options.limit_in and ctx.hooks & _LIMIT_IN_REFUSED:
            raise KernelRejection("addrtype: --limit-iface-in in an output hook")
        if options.limit_out and ctx.hooks & _LIMIT_OUT_REFUSED:
            raise KernelRejection("addrtype: --limit-iface-out in an input hook")


EXTENSIONS = (AddrtypeMatch(),)
