"""``-m tos --tos VALUE[/MASK]`` or a symbolic name: the IPv4 TOS byte under a mask.

A number without a mask compares all eight bits (mask 0xff); the RFC 1349 names compare the six
DSCP-era bits (mask 0x3f). ``-L`` without ``-n`` prints the name back when value and mask fit one.
Behaviour and messages were read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_strtoul
from iptparse.model import frozen_value

TOS_MAX = 0xFF
SYMBOLIC_MASK = 0x3F
TOS_NAMES = {
    "Minimize-Cost": 0x02,
    "Maximize-Reliability": 0x04,
    "Maximize-Throughput": 0x08,
    "Minimize-Delay": 0x10,
    "Normal-Service": 0x00,
}
_BY_LOWER_NAME = {name.lower(): value for name, value in TOS_NAMES.items()}
_BY_VALUE = {value: name for name, value in TOS_NAMES.items()}


@lru_cache(maxsize=256)
def parse_tos(text: str) -> tuple[int, int]:
    """(value, mask) of a ``--tos`` argument."""
    found = c_strtoul(text)
    # A number in range is taken as numeric, then must be followed by nothing or "/MASK";
    # anything else (out of range, not a number) is looked up as a name.
    if found is not None and found[0] <= TOS_MAX:
        value, end = found
        if end == len(text):
            return value, TOS_MAX
        if text[end] == "/":
            mask = c_strtoul(text, end + 1)
            if mask is not None and mask[0] <= TOS_MAX and mask[1] == len(text):
                return value, mask[0]
        raise ParameterProblem(f'Illegal value: "{text}"')
    value = _BY_LOWER_NAME.get(text.lower())
    if value is None:
        raise ParameterProblem(f'Symbolic name "{text}" is unknown')
    return value, SYMBOLIC_MASK


@frozen_value
class TosOptions:
    value: int
    mask: int
    invert: bool = False


class TosMatch(MatchExtension):
    name = "tos"
    options = (Opt("tos", invert=True, mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        return parse_tos(value)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> TosOptions:
        (value, mask), invert = state["tos"]
        return TosOptions(value, mask, invert)

    def save(self, options: TosOptions) -> str:
        return f"{' !' if options.invert else ''} --tos 0x{options.value:02x}/0x{options.mask:02x}"

    def listing(self, options: TosOptions, numeric: bool) -> str:
        mark = "!" if options.invert else ""
        if not numeric and options.mask == SYMBOLIC_MASK and options.value in _BY_VALUE:
            return f" tos match{mark} {_BY_VALUE[options.value]}"
        return f" tos match{mark}0x{options.value:02x}/0x{options.mask:02x}"


EXTENSIONS = (TosMatch(),)
