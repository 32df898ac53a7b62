"""``-m icmp --icmp-type {NAME | TYPE[/CODE]}``: an ICMP type and code range.

Names are matched case-insensitively by unique prefix in iptables' list (``iptables -p icmp -h``
order, aliases right after their name). Numbers read like C's strtoul base 0 (blanks and ``+``
accepted, ``-`` refused); ``TYPE:TYPE`` and ``CODE:CODE`` ranges are read, but a type range of
more than one type is refused, after the trailing-character check. ``--icmp-type`` is
mandatory once ``-m icmp`` is given; the kernel accepts the match only on ``-p icmp`` (not
inverted). Every behaviour here was read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_strtoul
from iptparse.model import frozen_value

IPPROTO_ICMP = 1
ANY_TYPE = 0xFF
ALL_CODES = (0, 0xFF)

# (name, type, lowest code, highest code), in iptables' order.
ICMP_NAMES: tuple[tuple[str, int, int, int], ...] = (
    ("any", 0xFF, 0, 0xFF),
    ("echo-reply", 0, 0, 0xFF),
    ("pong", 0, 0, 0xFF),
    ("destination-unreachable", 3, 0, 0xFF),
    ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1),
    ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5),
    ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9),
    ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11),
    ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13),
    ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15),
    ("source-quench", 4, 0, 0xFF),
    ("redirect", 5, 0, 0xFF),
    ("network-redirect", 5, 0, 0),
    ("host-redirect", 5, 1, 1),
    ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3),
    ("echo-request", 8, 0, 0xFF),
    ("ping", 8, 0, 0xFF),
    ("router-advertisement", 9, 0, 0xFF),
    ("router-solicitation", 10, 0, 0xFF),
    ("time-exceeded", 11, 0, 0xFF),
    ("ttl-exceeded", 11, 0, 0xFF),
    ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 0xFF),
    ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xFF),
    ("timestamp-reply", 14, 0, 0xFF),
    ("address-mask-request", 17, 0, 0xFF),
    ("address-mask-reply", 18, 0, 0xFF),
)


def _ascii_lower(text: str) -> str:
    # strncasecmp folds ASCII letters only.
    return "".join(chr(ord(ch) + 32) if "A" <= ch <= "Z" else ch for ch in text)


@lru_cache(maxsize=1)
def _lowered_names() -> tuple[str, ...]:
    return tuple(_ascii_lower(entry[0]) for entry in ICMP_NAMES)


def _byte(text: str, start: int) -> tuple[int, int] | None:
    read = c_strtoul(text, start)
    if read is None or read[0] > 0xFF:
        return None
    return read


def _number_range(text: str, start: int) -> tuple[int, int, int] | None:
    """``N`` or ``N:M`` at ``start``: (low, high, end), or None when a side is not a byte."""
    read = _byte(text, start)
    if read is None:
        return None
    low, end = read
    high = low
    if text[end:end + 1] == ":":
        read = _byte(text, end + 1)
        if read is None:
            return None
        high, end = read
    return low, high, end


@lru_cache(maxsize=512)
def parse_icmp_type(text: str) -> tuple[int, int, int]:
    """``--icmp-type`` value -> (type, lowest code, highest code)."""
    lowered = _ascii_lower(text)
    found: int | None = None
    for index, name in enumerate(_lowered_names()):
        if name.startswith(lowered):
            if found is not None:
                raise ParameterProblem(
                    f"Ambiguous ICMP type `{text}': `{ICMP_NAMES[found][0]}' or "
                    f"`{ICMP_NAMES[index][0]}'?"
                )
            found = index
    if found is not None:
        _, icmp_type, code_low, code_high = ICMP_NAMES[found]
        return icmp_type, code_low, code_high

    types = _number_range(text, 0)
    if types is None:
        raise ParameterProblem(f"Unknown ICMP type `{text}'")
    type_low, type_high, end = types
    code_low, code_high = ALL_CODES
    if text[end:end + 1] == "/":
        codes = _number_range(text, end + 1)
        if codes is None:
            raise ParameterProblem(f"Unknown ICMP code `{text}'")
        code_low, code_high, end = codes
    if end < len(text):
        raise ParameterProblem(f"unknown character {text[end]}")
    if type_low != type_high:
        raise ParameterProblem("ICMP type range not supported")
    return type_low, code_low, code_high


@frozen_value
class IcmpOptions:
    """struct ipt_icmp: type, code range, inversion."""

    icmp_type: int
    code_low: int = 0
    code_high: int = 0xFF
    invert: bool = False


@lru_cache(maxsize=256)
def icmp_type_name(icmp_type: int, code_low: int, code_high: int) -> str | None:
    """The first name of exactly this type and code range, as ``-L`` shows it without -n."""
    for name, entry_type, entry_low, entry_high in ICMP_NAMES:
        if (entry_type, entry_low, entry_high) == (icmp_type, code_low, code_high):
            return name
    return None


class IcmpMatch(MatchExtension):
    name = "icmp"
    options = (Opt("icmp-type", invert=True, mandatory=True),)
    proto = IPPROTO_ICMP

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        return parse_icmp_type(value)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> IcmpOptions:
        (icmp_type, code_low, code_high), invert = state["icmp-type"]
        return IcmpOptions(icmp_type, code_low, code_high, invert)

    def save(self, options: IcmpOptions) -> str:
        text = f"{' !' if options.invert else ''} --icmp-type "
        if options.icmp_type == ANY_TYPE:
            return text + "any"  # whatever the codes
        text += str(options.icmp_type)
        if (options.code_low, options.code_high) != ALL_CODES:
            text += f"/{options.code_low}"  # iptables-save drops the high end of a code range
        return text

    def listing(self, options: IcmpOptions, numeric: bool) -> str:
        if not numeric:
            name = icmp_type_name(options.icmp_type, options.code_low, options.code_high)
            if name is not None:
                return f" icmp {'!' if options.invert else ''}{name}"
        text = f" icmp{' !' if options.invert else ''}type {options.icmp_type}"
        if options.code_low == options.code_high:
            text += f" code {options.code_low}"
        elif (options.code_low, options.code_high) != ALL_CODES:
            text += f" codes {options.code_low}-{options.code_high}"
        return text


EXTENSIONS = (IcmpMatch(),)
