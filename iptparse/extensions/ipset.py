"""``-m set``: match against a kernel ipset (revision 4, what iptables 1.8.9 uses on this kernel).

Behaviour read off iptables-legacy 1.8.9 with ipset sets created in a test namespace:

* ``[!] --match-set NAME src|dst[,src|dst...]`` (at most 6 directions) is required and may be
  given once; ``--set`` is its deprecated alias (iptables warns on stderr, then saves it as
  ``--match-set``).
* ``--return-nomatch`` (not invertible, may repeat); ``[!] --update-counters`` and
  ``[!] --update-subcounters`` (only the negated form changes anything, and once negated it stays
  negated); ``[!] --packets-eq N``, ``--packets-lt N``, ``--packets-gt N`` and the same for bytes
  (one of each family; only ``-eq`` may be negated; N is a 64-bit counter).
* iptables looks the set up in the kernel while parsing (``Set NAME doesn't exist.``, exit 2, from
  iptables and iptables-restore alike). bpftables cannot see the kernel's sets at parse time, so
  it accepts any set name of at most 31 bytes, unless the rule in progress carries ``ipsets``
  (the names that exist), when it refuses the others as iptables does.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_digits_value
from iptparse.model import frozen_value

IPSET_MAXNAMELEN = 32  # NUL included
IPSET_DIM_MAX = 6
COUNTER_MAX = 0xFFFFFFFFFFFFFFFF

# C's strtoull(text, &end, 0) consuming everything: leading white space, an optional '+', then
# hex, octal or decimal ("08" stops at the 8 and so is refused).
_C_ULL = re.compile(r"[ \t\n\v\f\r]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")

# Counter comparisons in save order, per family: option suffix.
_COUNTER_OPS = ("eq", "lt", "gt")


@lru_cache(maxsize=256)
def parse_counter(text: str) -> int:
    """A ``--packets-*`` / ``--bytes-*`` value; iptables refuses any minus sign."""
    match = _C_ULL.fullmatch(text) if "-" not in text else None
    value = None
    if match is not None:
        value = c_digits_value(match.group(1))
    if value is None or value > COUNTER_MAX:
        raise ParameterProblem(f"Cannot parse {text} as a counter value")
    return value


@lru_cache(maxsize=256)
def parse_directions(text: str) -> tuple[str, ...]:
    """``src,dst,...``: each item exactly ``src`` or ``dst``, at most six."""
    directions: list[str] = []
    for item in text.split(","):
        if len(directions) >= IPSET_DIM_MAX:
            raise ParameterProblem(f"Can't be more src/dst options than {IPSET_DIM_MAX}.")
        if item not in ("src", "dst"):
            # iptables' own spelling.
            raise ParameterProblem(
                "You must spefify (the comma separated list of) 'src' or 'dst'."
            )
        directions.append(item)
    return tuple(directions)


@frozen_value
class CounterTest:
    """One ``--packets-OP N`` / ``--bytes-OP N`` comparison."""

    op: str  # "eq", "lt" or "gt"
    value: int
    invert: bool = False  # only for "eq"


@frozen_value
class SetOptions:
    set_name: str
    directions: tuple[str, ...]
    invert: bool = False
    return_nomatch: bool = False
    no_update_counters: bool = False
    no_update_subcounters: bool = False
    packets: CounterTest | None = None
    bytes: CounterTest | None = None


def _counter_save(family: str, test: CounterTest | None, dashes: str) -> str:
    if test is None:
        return ""
    return f"{' !' if test.invert else ''} {dashes}{family}-{test.op} {test.value}"


class SetMatch(MatchExtension):
    name = "set"
    options = (
        Opt("match-set", invert=True, multi=True),
        Opt("set", invert=True, multi=True, key="match-set"),
        Opt("return-nomatch", arg=False, invert=True, multi=True),
        Opt("update-counters", arg=False, invert=True, multi=True),
        Opt("update-subcounters", arg=False, invert=True, multi=True),
        # Distinct options (no shared key): getopt finds "--packets" ambiguous.
        *(Opt(f"{family}-{op}", invert=True, multi=True)
          for family in ("packets", "bytes") for op in _COUNTER_OPS),
    )

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        # libxt_set parses its options itself: its messages, and its order of checks.
        name = call.opt.name
        if name in ("match-set", "set"):
            self._parse_match_set(state, call)
        elif name == "return-nomatch":
            if call.invert:
                raise ParameterProblem("--return-nomatch flag cannot be inverted")
            state["return-nomatch"] = True
        elif name in ("update-counters", "update-subcounters"):
            if call.invert:
                state[name] = True  # "no update" wins over any later positive form
        else:
            family, _, op = name.partition("-")
            if family in state:
                raise ParameterProblem(f"only one of the --{family}-[eq|lt|gt] is allowed")
            if call.invert and op != "eq":
                raise ParameterProblem(f"--{name} option cannot be inverted")
            assert call.value is not None
            state[family] = CounterTest(op, parse_counter(call.value), call.invert)

    def _parse_match_set(self, state: dict[str, Any], call: OptionCall) -> None:
        if call.opt.name == "set":
            call.warn("--set option deprecated, please use --match-set")
        if "match-set" in state:
            raise ParameterProblem("--match-set can be specified only once")
        following = call.peek_word()
        if following is None or following[:1] in ("-", "!"):
            raise ParameterProblem("--match-set requires two args.")
        call.take_word()
        set_name = call.value
        assert set_name is not None
        if len(set_name.encode()) >= IPSET_MAXNAMELEN:
            raise ParameterProblem(
                f"setname `{set_name}' too long, max {IPSET_MAXNAMELEN - 1} characters."
            )
        # iptables now asks the kernel whether the set exists. bpftables accepts any name unless
        # the caller says which sets exist (a ``ipsets`` collection on the rule in progress).
        known_sets = call.rule.ipsets
        if known_sets is not None and set_name not in known_sets:
            raise ParameterProblem(f"Set {set_name} doesn't exist.\n")
        state["match-set"] = (set_name, parse_directions(following), call.invert)

    def finish(self, state: dict[str, Any], rule: RuleInProgress) -> SetOptions:
        if "match-set" not in state:
            raise ParameterProblem("You must specify `--match-set' with proper arguments")
        return self.build(state, rule)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> SetOptions:
        set_name, directions, invert = state["match-set"]
        return SetOptions(
            set_name, directions, invert,
            return_nomatch=state.get("return-nomatch", False),
            no_update_counters=state.get("update-counters", False),
            no_update_subcounters=state.get("update-subcounters", False),
            packets=state.get("packets"),
            bytes=state.get("bytes"),
        )

    def _text(self, options: SetOptions, dashes: str) -> str:
        # iptables-save and -L print the same words; -L drops the leading dashes.
        parts = [
            f"{' !' if options.invert else ''} {dashes}match-set {options.set_name} "
            f"{','.join(options.directions)}"
        ]
        if options.return_nomatch:
            parts.append(f" {dashes}return-nomatch")
        if options.no_update_counters:
            parts.append(f" ! {dashes}update-counters")
        if options.no_update_subcounters:
            parts.append(f" ! {dashes}update-subcounters")
        parts.append(_counter_save("packets", options.packets, dashes))
        parts.append(_counter_save("bytes", options.bytes, dashes))
        return "".join(parts)

    def save(self, options: SetOptions) -> str:
        return self._text(options, "--")

    def listing(self, options: SetOptions, numeric: bool) -> str:
        return self._text(options, "")


EXTENSIONS = (SetMatch(),)
