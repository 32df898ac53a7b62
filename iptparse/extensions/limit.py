"""``-m limit``: token bucket rate limit.

Facts read off iptables-legacy 1.8.9 on this machine's kernel:

- ``--limit N[/UNIT]``: N is read as a decimal C ``strtol`` prefix (``3.5/sec`` is 3/sec,
  ``010`` is 10), cut to 32 bits; 0 is a "bad rate"; UNIT is any non-empty prefix, in any case,
  of second, minute, hour or day (none means per second). The kernel gets the average gap
  between packets in 1/10000 s, ``10000 * seconds_per_unit // N``; more than 10000 per second is
  "Rate too fast". Default 3/hour, burst 5.
- The rate prints back from that gap in the coarsest unit that still shows it exactly enough
  (3/min, 120/min -> 2/sec, 86401/day -> 1/sec).
- The kernel refuses (ERANGE) a burst of 0, or a rate and burst whose credit computation
  overflows (e.g. 1/day or 3/day with the default burst).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import CheckContext, MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_uint
from iptparse.model import frozen_value

SCALE = 10000  # XT_LIMIT_SCALE: the gap is kept in 1/10000 s
UINT32_MASK = 0xFFFFFFFF
LONG_MAX = (1 << 63) - 1
LONG_MIN = -(1 << 63)
BURST_MAX = 10000
DEFAULT_BURST = 5
DEFAULT_AVG = SCALE * 3600 // 3  # 3/hour

# Unit name, seconds, as iptables accepts (any prefix) and prints (the short name) them.
_UNITS = (("second", "sec", 1), ("minute", "min", 60), ("hour", "hour", 3600),
          ("day", "day", 86400))
# Kernel credit arithmetic (xt_limit): credits per jiffy times HZ on this kernel.
_CREDIT_FACTOR = 32000
ERANGE_TEXT = "Numerical result out of range"

_LEADING_NUMBER = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)")


def _strtol10(text: str) -> int:
    """C strtol(text, NULL, 10): the leading number, saturated at the 64-bit signed limits."""
    found = _LEADING_NUMBER.match(text)
    assert found is not None
    digits = found.group(2)
    if not digits:
        return 0
    value = int(digits)
    if found.group(1) == "-":
        return max(-value, LONG_MIN)
    return min(value, LONG_MAX)


@lru_cache(maxsize=256)
def parse_rate(text: str) -> int:
    """``--limit`` to the kernel's average gap (1/10000 s units)."""
    rate = _strtol10(text) & UINT32_MASK
    _, slash, unit = text.partition("/")
    seconds = 1
    if slash:
        lowered = unit.lower()
        for long_name, _short, unit_seconds in _UNITS:
            if lowered and long_name.startswith(lowered):
                seconds = unit_seconds
                break
        else:
            rate = 0
    if rate == 0:
        raise ParameterProblem(f'bad rate "{text}"\'')
    if rate > SCALE * seconds:
        raise ParameterProblem(f'Rate too fast "{text}"')
    return SCALE * seconds // rate


def rate_text(avg: int) -> str:
    """The gap as ``N/unit`` in the unit -L and iptables-save use."""
    # Walk from days to seconds and stop before a unit the gap no longer fits or that would
    # show it less precisely (a count below its own remainder).
    chosen = _UNITS[0]
    for index in range(1, len(_UNITS)):
        unit_scale = SCALE * _UNITS[-1 - index][2]
        if avg > unit_scale or unit_scale // avg < unit_scale % avg:
            chosen = _UNITS[-index]
            break
    return f"{SCALE * chosen[2] // avg}/{chosen[1]}"


def _user_to_credits(user: int) -> int:
    """The kernel's conversion of a gap to credits, in 32-bit arithmetic."""
    if user > UINT32_MASK // _CREDIT_FACTOR:
        return ((user // SCALE) * _CREDIT_FACTOR) & UINT32_MASK
    return (user * _CREDIT_FACTOR) // SCALE


@frozen_value
class LimitOptions:
    avg: int = DEFAULT_AVG
    burst: int = DEFAULT_BURST


class LimitMatch(MatchExtension):
    name = "limit"
    options = (Opt("limit"), Opt("limit-burst"))

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        if opt.name == "limit":
            return parse_rate(value)
        burst = c_uint(value, BURST_MAX)
        if burst is None:
            raise ParameterProblem(
                f'limit: bad value for option "--limit-burst", or out of range (0-{BURST_MAX}).\n'
            )
        return burst

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> LimitOptions:
        return LimitOptions(state.get("limit", (DEFAULT_AVG,))[0],
                            state.get("limit-burst", (DEFAULT_BURST,))[0])

    def save(self, options: LimitOptions) -> str:
        text = f" --limit {rate_text(options.avg)}"
        if options.burst != DEFAULT_BURST:
            text += f" --limit-burst {options.burst}"
        return text

    def listing(self, options: LimitOptions, numeric: bool) -> str:
        return f" limit: avg {rate_text(options.avg)} burst {options.burst}"

    def check_entry(self, options: LimitOptions, ctx: CheckContext) -> None:
        total = (options.avg * options.burst) & UINT32_MASK
        if options.burst == 0 or _user_to_credits(total) < _user_to_credits(options.avg):
            raise KernelRejection("limit: overflow, try a lower rate or burst", ERANGE_TEXT)


EXTENSIONS = (LimitMatch(),)
