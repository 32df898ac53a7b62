"""``-m statistic``: match a random share of packets, or every nth packet.

Facts read off iptables-legacy 1.8.9: the probability is read like C ``strtod`` (``0x0.8``,
``1e-3``, ``nan`` are accepted; out of 0-1 is refused), stored as ``round(p * 2**31)`` in 32 bits
and printed back with 11 decimals (0.2 -> 0.20000000019). The mode defaults to random for the
checks, yet ``--mode`` is mandatory. The checks at the end run in this order: the extension's own
(random needs a probability; nth needs packet <= every - 1), then xtables' generic ones option by
option (mandatory, exclusions, requirements).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_uint
from iptparse.model import frozen_value

UINT32_MAX = 0xFFFFFFFF
PROBABILITY_SCALE = 0x80000000  # the kernel compares against 2**31 random bits

# C strtod over the whole word: white space, sign, then decimal, hexadecimal, inf or nan.
_C_STRTOD = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:"
    r"(?P<hex>0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)",
    re.IGNORECASE,
)


def c_strtod(text: str) -> float | None:
    """The number C's strtod reads when it consumes the whole word, else None."""
    found = _C_STRTOD.fullmatch(text)
    if found is None:
        return None
    if found.group("hex") is not None:
        return float.fromhex(text)
    number = text.strip(" \t\n\v\f\r")
    if "n" in number.lower() and "i" not in number.lower():
        return math.nan  # nan, nan(chars): float() does not read the C form with chars
    return float(number)


def _lround(value: float) -> int:
    """C lround: halves away from zero; NaN comes out as 0 once cut to 32 bits."""
    if math.isnan(value):
        return 0
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole


@lru_cache(maxsize=256)
def parse_probability(text: str) -> int:
    """``--probability`` to the kernel's 32-bit value."""
    value = c_strtod(text)
    if value is None or value < 0 or value > 1:
        raise ParameterProblem(
            'statistic: bad value for option "--probability", or out of range (0-1).\n'
        )
    return _lround(value * PROBABILITY_SCALE) & UINT32_MAX


@lru_cache(maxsize=256)
def probability_text(stored: int) -> str:
    return f"{stored / PROBABILITY_SCALE:.11f}"


@frozen_value
class StatisticOptions:
    mode: str  # "random" or "nth"
    invert: bool = False
    probability: int = 0  # random: p * 2**31
    every: int = 0  # nth: as given (1 = every packet)
    packet: int = 0  # nth: initial counter


# Generic xtables checks, in the extension's option order: (option, excluded, required).
_COMBINATIONS = (
    ("probability", ("every", "packet"), ()),
    ("every", ("probability",), ("packet",)),
    ("packet", ("probability",), ("every",)),
)


class StatisticMatch(MatchExtension):
    name = "statistic"
    combinations = _COMBINATIONS
    options = (
        Opt("mode", mandatory=True),
        Opt("probability", invert=True),
        Opt("every", invert=True),
        Opt("packet"),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        if opt.name == "mode":
            if value not in ("random", "nth"):
                raise ParameterProblem(f'Bad mode "{value}"')
            return value
        if opt.name == "probability":
            return parse_probability(value)
        if opt.name == "every":
            every = c_uint(value, UINT32_MAX)
            if every is None or every == 0:
                raise ParameterProblem(
                    f'statistic: bad value for option "--every", or out of range '
                    f"(1-{UINT32_MAX}).\n"
                )
            return every
        packet = c_uint(value, UINT32_MAX)
        if packet is None:
            raise ParameterProblem(
                f'statistic: bad value for option "--packet", or out of range (0-{UINT32_MAX}).\n'
            )
        return packet

    def finish(self, state: dict[str, Any], rule: RuleInProgress) -> StatisticOptions:
        # The extension's own check comes before xtables' generic ones.
        mode = state["mode"][0] if "mode" in state else "random"
        if mode == "random" and "probability" not in state:
            raise ParameterProblem("--probability must be specified when using random mode")
        if mode == "nth":
            highest = state["every"][0] - 1 if "every" in state else 0
            if state.get("packet", (0,))[0] > highest:
                raise ParameterProblem("the --packet p must be 0 <= p <= n-1")
        if "mode" not in state:
            raise ParameterProblem('statistic: option "--mode" must be specified\n')
        self.check_combinations(state)
        return self.build(state, rule)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> StatisticOptions:
        mode = state["mode"][0]
        if mode == "random":
            probability, invert = state["probability"]
            return StatisticOptions(mode, invert, probability=probability)
        every, invert = state["every"]
        return StatisticOptions(mode, invert, every=every, packet=state["packet"][0])

    def save(self, options: StatisticOptions) -> str:
        mark = " !" if options.invert else ""
        if options.mode == "random":
            return f" --mode random{mark} --probability {probability_text(options.probability)}"
        return f" --mode nth{mark} --every {options.every} --packet {options.packet}"

    def listing(self, options: StatisticOptions, numeric: bool) -> str:
        mark = " !" if options.invert else ""
        if options.mode == "random":
            return (f" statistic mode random{mark} probability "
                    f"{probability_text(options.probability)}")
        text = f" statistic mode nth{mark} every {options.every}"
        if options.packet:
            text += f" packet {options.packet}"
        return text


EXTENSIONS = (StatisticMatch(),)
