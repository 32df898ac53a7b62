"""``-m iprange --src-range A[-B] --dst-range A[-B]``: addresses within inclusive ranges.

Addresses are numeric only, read the xtables way: one to four dot-separated parts, each a C
number (``010`` is octal, ``0x1`` hex) from 0 to 255, missing parts zero (``1.2`` is 1.2.0.0).
A single address is the range from it to itself. Behaviour and messages were read off
iptables-legacy 1.8.9.

A reversed range is accepted with the warning ``xt_iprange: range TEXT is reversed and will never
match``, given through ``call.warn``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import format_ipv4, numeric_ipv4
from iptparse.model import frozen_value


@lru_cache(maxsize=1024)
def parse_ip_range(text: str, option: str) -> tuple[int, int]:
    low_text, dash, high_text = text.partition("-")
    low = numeric_ipv4(low_text)
    if low is None:
        raise ParameterProblem(f'iprange: Bad value for "--{option}" option: "{low_text}"')
    if not dash:
        return low, low
    high = numeric_ipv4(high_text)
    if high is None:
        raise ParameterProblem(f'iprange: Bad value for "--{option}" option: "{high_text}"')
    return low, high


@frozen_value
class AddressRange:
    low: int
    high: int
    invert: bool = False

    def __str__(self) -> str:
        return f"{format_ipv4(self.low)}-{format_ipv4(self.high)}"


@frozen_value
class IprangeOptions:
    source: AddressRange | None = None
    destination: AddressRange | None = None


class IprangeMatch(MatchExtension):
    name = "iprange"
    options = (Opt("src-range", invert=True), Opt("dst-range", invert=True))

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        low, high = parse_ip_range(value, opt.name)
        if low > high:
            call.warn(f"xt_iprange: range {value} is reversed and will never match")
        return low, high

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> IprangeOptions:
        if not state:
            raise ParameterProblem(
                "iprange match: You must specify `--src-range' or `--dst-range'")
        ranges: list[AddressRange | None] = []
        for key in ("src-range", "dst-range"):
            if key in state:
                (low, high), invert = state[key]
                ranges.append(AddressRange(low, high, invert))
            else:
                ranges.append(None)
        return IprangeOptions(*ranges)

    def save(self, options: IprangeOptions) -> str:
        text = ""
        if options.source is not None:
            text += f"{' !' if options.source.invert else ''} --src-range {options.source}"
        if options.destination is not None:
            item = options.destination
            text += f"{' !' if item.invert else ''} --dst-range {item}"
        return text

    def listing(self, options: IprangeOptions, numeric: bool) -> str:
        text = ""
        if options.source is not None:
            text += f" source IP range {'! ' if options.source.invert else ''}{options.source}"
        if options.destination is not None:
            item = options.destination
            text += f" destination IP range {'! ' if item.invert else ''}{item}"
        return text


EXTENSIONS = (IprangeMatch(),)
