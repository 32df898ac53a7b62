"""``-m ttl --ttl-eq|--ttl-lt|--ttl-gt N``: compare the IPv4 time-to-live with N (0-255).

``--ttl`` is a hidden alias of ``--ttl-eq``; only ``--ttl-eq`` may be inverted (``!=``). The
three are exclusive, which iptables checks once all options are read. Behaviour and messages
were read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_uint
from iptparse.model import frozen_value

TTL_MAX = 0xFF

# option -> (mode word in the listing when plain, when inverted)
_LISTING = {"ttl-eq": ("==", "!="), "ttl-lt": ("<", "<"), "ttl-gt": (">", ">")}
# The pair iptables reports when two exclusive options are both given, in the order it checks.
_EXCLUSIVE = (("ttl-lt", "ttl-eq"), ("ttl-lt", "ttl-gt"), ("ttl-gt", "ttl-eq"))


@frozen_value
class TtlOptions:
    option: str  # "ttl-eq", "ttl-lt" or "ttl-gt"
    value: int
    invert: bool = False


class TtlMatch(MatchExtension):
    name = "ttl"
    options = (
        Opt("ttl-eq", invert=True),
        Opt("ttl-lt"),
        Opt("ttl-gt"),
        Opt("ttl", invert=True, key="ttl-eq"),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        number = c_uint(value, TTL_MAX)
        if number is None:
            raise ParameterProblem(
                f'{self.name}: bad value for option "--{opt.dest}", or out of range '
                f"(0-{TTL_MAX}).\n")
        return number

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        # xtables names an option by its first spelling, so "--ttl" errors say "--ttl-eq".
        opt = call.opt
        if opt.dest in state:
            raise ParameterProblem(f'{self.name}: option "--{opt.dest}" can only be used once.\n')
        if call.invert and not opt.invert:
            raise ParameterProblem(f'{self.name}: option "--{opt.dest}" cannot be inverted.\n')
        state[opt.dest] = (self.convert(opt, call.value, call), call.invert)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> TtlOptions:
        for first, second in _EXCLUSIVE:
            if first in state and second in state:
                raise ParameterProblem(
                    f'{self.name}: option "--{first}" cannot be used together with '
                    f'"--{second}".\n')
        for option in _LISTING:
            if option in state:
                value, invert = state[option]
                return TtlOptions(option, value, invert)
        raise ParameterProblem(
            "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt")

    def save(self, options: TtlOptions) -> str:
        return f"{' !' if options.invert else ''} --{options.option} {options.value}"

    def listing(self, options: TtlOptions, numeric: bool) -> str:
        mode = _LISTING[options.option][options.invert]
        return f" TTL match TTL {mode} {options.value}"


EXTENSIONS = (TtlMatch(),)
