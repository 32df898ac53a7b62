"""``-m length --length MIN[:MAX]``: the IP packet's total length within a range.

Behaviour and messages were read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_strtoul
from iptparse.model import frozen_value

LENGTH_MAX = 0xFFFF


@lru_cache(maxsize=1024)
def parse_uint_range(text: str, ext: str, option: str, high: int) -> tuple[int, int]:
    """xtables' ``MIN[:MAX]`` number ranges (XTTYPE_UINT*RC), messages included.

    An empty first part means 0, an empty second part means ``high``; one part means MIN == MAX.
    """
    values: list[int] = []
    pos = 0
    end = len(text)
    while True:
        if len(values) == 2:
            raise ParameterProblem(
                f'{ext}: Too many components for option "--{option}" (max: 2)\n')
        if pos == end or text[pos] == ":":
            values.append(0 if not values else high)
        else:
            found = c_strtoul(text, pos)
            if found is None or found[0] > high:
                raise ParameterProblem(
                    f'{ext}: bad value for option "--{option}" near "{text[pos:]}", '
                    f"or out of range (0-{high}).\n")
            values.append(found[0])
            pos = found[1]
        if pos == end:
            break
        if text[pos] != ":":
            raise ParameterProblem(
                f'{ext}: Argument to "--{option}" has unexpected characters near '
                f'"{text[pos:]}".\n')
        pos += 1
    return values[0], values[-1]


@frozen_value
class LengthOptions:
    low: int
    high: int
    invert: bool = False

    @property
    def text(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}:{self.high}"


class LengthMatch(MatchExtension):
    name = "length"
    options = (Opt("length", invert=True, mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        return parse_uint_range(value, self.name, opt.name, LENGTH_MAX)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> LengthOptions:
        (low, high), invert = state["length"]
        return LengthOptions(low, high, invert)

    def save(self, options: LengthOptions) -> str:
        return f"{' !' if options.invert else ''} --length {options.text}"

    def listing(self, options: LengthOptions, numeric: bool) -> str:
        return f" length {'!' if options.invert else ''}{options.text}"


EXTENSIONS = (LengthMatch(),)
