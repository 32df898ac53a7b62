"""``-m conntrack`` (connection tracking state and tuple) and ``-m state`` (the older state match).

Both live here because they share the state names. Facts (accepted values, saved order, messages,
listing) were read off iptables-legacy 1.8.9:

- ``--ctorigsrc`` and friends take ``ADDRESS[/MASK]``: the address is resolved with getaddrinfo
  (``1.2.3`` is ``1.2.0.3``, host names resolve, one address only); the mask is a prefix length
  0-32 (C ``strtoul`` syntax, whole word) or else a numeric address (``255.255.0.0``,
  ``0xffffff00``). The address is kept unmasked; a contiguous mask shorter than 32 prints as
  ``/N``, any other mask prints nothing.
- ports are ``PORT[:PORT]`` where each side is what getaddrinfo makes of a service (so ``65536``
  wraps to 0 and ``0x50`` is refused); an empty side is 0 on the left, 65535 on the right.
- ``--ctexpire`` is ``N[:N]`` in C ``strtoul`` syntax, unchecked order (``10:5`` is kept).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import (
    address_name,
    c_strtoul_rest,
    c_uint,
    format_ipv4,
    parse_protocol,
    resolve_address,
)
from iptparse.model import frozen_value

# Conntrack state bits in the order iptables prints them.
CTSTATE_NAMES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
# The state match knows the first five only.
STATE_NAMES = CTSTATE_NAMES[:5]
# Conntrack status bits in print order (NONE is the empty set).
CTSTATUS_NAMES = ("EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
DIRECTIONS = ("ORIGINAL", "REPLY")

UINT32_MAX = 0xFFFFFFFF
PORT_MAX = 0xFFFF


# --- value parsers --------------------------------------------------------------------------


def _parse_flag_list(text: str, names: tuple[str, ...], none_ok: bool,
                     empty_last: str | None = None) -> int | str:
    """Comma-separated names (any case) to a bit set, or the text iptables reports as bad.

    A bad item is reported with the rest of the list from that item on (``wrong,NEW``). When
    ``empty_last`` is given, an empty last item raises that message instead.
    """
    bits = 0
    rest = text
    while True:
        item, comma, after = rest.partition(",")
        if not comma and not item and empty_last is not None:
            raise ParameterProblem(empty_last)
        upper = item.upper()
        if none_ok and upper == "NONE":
            pass
        elif upper in names:
            bits |= 1 << names.index(upper)
        else:
            return rest
        if not comma:
            return bits
        rest = after


@lru_cache(maxsize=256)
def parse_ctstate(text: str) -> int:
    """``--ctstate`` list to bits (bit i is CTSTATE_NAMES[i])."""
    result = _parse_flag_list(text, CTSTATE_NAMES, none_ok=False)
    if isinstance(result, str):
        raise ParameterProblem(f'Bad ctstate "{result}"')
    return result


@lru_cache(maxsize=256)
def parse_state(text: str) -> int:
    """``--state`` list to bits; unlike ``--ctstate`` an empty last item has its own message."""
    result = _parse_flag_list(
        text, STATE_NAMES, none_ok=False,
        empty_last='"--state" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED',
    )
    if isinstance(result, str):
        raise ParameterProblem(f'Bad state "{result}"')
    return result


@lru_cache(maxsize=64)
def parse_ctstatus(text: str) -> int:
    result = _parse_flag_list(text, CTSTATUS_NAMES, none_ok=True)
    if isinstance(result, str):
        raise ParameterProblem(f'Bad ctstatus "{result}"')
    return result


def flag_names(bits: int, names: tuple[str, ...]) -> str:
    return ",".join(name for index, name in enumerate(names) if bits >> index & 1)


def split_range(name: str, text: str, high: int,
                parse_one: Callable[[str], tuple[int, str]]) -> tuple[int, int]:
    """``N[:N]`` as xtables reads ranges: empty sides default to 0 and ``high``.

    ``parse_one(rest)`` reads one value at the start of ``rest`` and returns it with the text
    after it (empty, or starting with ":"). No component at all (an empty word) gives (0, 0);
    one gives (N, N); a third is refused.
    """
    values: list[int] = []
    rest = text
    while True:
        if len(values) == 2:
            raise ParameterProblem(
                f'conntrack: Too many components for option "--{name}" (max: 2)\n'
            )
        if rest == "":
            if values:
                values.append(high)
            break
        if rest[0] == ":":
            values.append(0 if not values else high)
            rest = rest[1:]
            continue
        value, after = parse_one(rest)
        values.append(value)
        if after == "":
            break
        rest = after[1:]  # after starts with ':'
    if not values:
        return 0, 0
    if len(values) == 1:
        return values[0], values[0]
    return values[0], values[1]


@lru_cache(maxsize=1024)
def parse_expire(text: str) -> tuple[int, int]:
    """``--ctexpire`` value (seconds, inclusive range)."""
    name = "ctexpire"

    def one(rest: str) -> tuple[int, str]:
        parsed = c_strtoul_rest(rest)
        if parsed is None or parsed[0] > UINT32_MAX:
            raise ParameterProblem(
                f'conntrack: bad value for option "--{name}" near "{rest}", or out of range '
                f"(0-{UINT32_MAX}).\n"
            )
        value, after = parsed
        if after and after[0] != ":":
            raise ParameterProblem(
                f'conntrack: Argument to "--{name}" has unexpected characters near "{after}".\n'
            )
        return value, after

    return split_range(name, text, UINT32_MAX, one)


@lru_cache(maxsize=4096)
def service_port(text: str) -> int:
    """A port as getaddrinfo reads a service: numbers wrap at 16 bits, names from services."""
    try:
        infos = socket.getaddrinfo(None, text, socket.AF_INET)
    except (OSError, UnicodeError):
        raise ParameterProblem(f'Port "{text}" does not resolve to anything.\n') from None
    return infos[0][4][1]


@lru_cache(maxsize=4096)
def parse_ct_ports(name: str, text: str) -> tuple[int, int]:
    def one(rest: str) -> tuple[int, str]:
        item, colon, after = rest.partition(":")
        return service_port(item), colon + after

    return split_range(name, text, PORT_MAX, one)


@lru_cache(maxsize=1024)
@lru_cache(maxsize=4096)
def parse_ct_hostmask(name: str, text: str) -> tuple[int, int]:
    """``ADDRESS[/MASK]`` of the ct address options: (address, mask), address unmasked."""
    host, slash, mask_text = text.partition("/")
    address = resolve_address(host)
    if not slash:
        return address, UINT32_MAX
    bits = c_uint(mask_text, 32)
    if bits is not None:
        return address, (UINT32_MAX << (32 - bits)) & UINT32_MAX
    try:
        return address, resolve_address(mask_text, numeric_only=True)
    except ParameterProblem:
        raise ParameterProblem(
            f'conntrack: bad value for option "--{name}", neither a valid network mask nor '
            "valid CIDR (0-32).\n"
        ) from None


def mask_suffix(mask: int) -> str:
    """``/N`` for a contiguous mask shorter than 32 bits; nothing for any other mask."""
    if mask == UINT32_MAX:
        return ""
    inverted = ~mask & UINT32_MAX
    if inverted & (inverted + 1):
        return ""  # not contiguous: iptables prints no mask at all
    return f"/{32 - inverted.bit_length()}"


def address_listing(value: tuple[int, int], numeric: bool) -> str:
    address, mask = value
    if numeric:
        return format_ipv4(address) + mask_suffix(mask)
    if address == 0:
        return "anywhere"
    return address_name(address) + mask_suffix(mask)


def range_text(value: tuple[int, int]) -> str:
    low, high = value
    return str(low) if low == high else f"{low}:{high}"


# --- conntrack ------------------------------------------------------------------------------


@frozen_value
class ConntrackOptions:
    """Each field is None when not given; ``*_invert`` is the ``!`` before that option."""

    state: int | None = None
    state_invert: bool = False
    proto: int | None = None
    proto_invert: bool = False
    origsrc: tuple[int, int] | None = None
    origsrc_invert: bool = False
    origdst: tuple[int, int] | None = None
    origdst_invert: bool = False
    replsrc: tuple[int, int] | None = None
    replsrc_invert: bool = False
    repldst: tuple[int, int] | None = None
    repldst_invert: bool = False
    origsrcport: tuple[int, int] | None = None
    origsrcport_invert: bool = False
    origdstport: tuple[int, int] | None = None
    origdstport_invert: bool = False
    replsrcport: tuple[int, int] | None = None
    replsrcport_invert: bool = False
    repldstport: tuple[int, int] | None = None
    repldstport_invert: bool = False
    status: int | None = None
    status_invert: bool = False
    expire: tuple[int, int] | None = None
    expire_invert: bool = False
    direction: str | None = None


_ADDRESS_FIELDS = ("origsrc", "origdst", "replsrc", "repldst")
_PORT_FIELDS = ("origsrcport", "origdstport", "replsrcport", "repldstport")
# Option name -> field, in the order iptables saves and lists them.
_FIELD_ORDER = ("state", "proto", *_ADDRESS_FIELDS, *_PORT_FIELDS, "status", "expire")


def _conntrack_words(options: ConntrackOptions, numeric: bool) -> list[tuple[str, str, bool]]:
    """(option without "ct", value text, inverted) in the order iptables prints them."""
    words: list[tuple[str, str, bool]] = []
    for field in _FIELD_ORDER:
        value = getattr(options, field)
        if value is None:
            continue
        invert = getattr(options, field + "_invert")
        if field == "state":
            text = flag_names(value, CTSTATE_NAMES)
        elif field == "proto":
            text = str(value)
        elif field in _ADDRESS_FIELDS:
            text = address_listing(value, numeric)
        elif field == "status":
            text = flag_names(value, CTSTATUS_NAMES) or "NONE"
        else:
            text = range_text(value)
        words.append((field, text, invert))
    if options.direction is not None:
        words.append(("dir", options.direction, False))
    return words


@lru_cache(maxsize=1024)
def _conntrack_save(options: ConntrackOptions) -> str:
    # kube-proxy rule sets repeat a handful of conntrack matches thousands of times.
    return "".join(
        f"{' !' if invert else ''} --ct{field} {text}"
        for field, text, invert in _conntrack_words(options, numeric=True)
    )


class ConntrackMatch(MatchExtension):
    needs_conntrack = True
    name = "conntrack"
    options = (
        Opt("ctstate", invert=True),
        Opt("ctproto", invert=True),
        Opt("ctorigsrc", invert=True),
        Opt("ctorigdst", invert=True),
        Opt("ctreplsrc", invert=True),
        Opt("ctrepldst", invert=True),
        Opt("ctorigsrcport", invert=True),
        Opt("ctorigdstport", invert=True),
        Opt("ctreplsrcport", invert=True),
        Opt("ctrepldstport", invert=True),
        Opt("ctstatus", invert=True),
        Opt("ctexpire", invert=True),
        Opt("ctdir"),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        field = opt.name[2:]
        if field == "state":
            return parse_ctstate(value)
        if field == "proto":
            return parse_protocol(value)
        if field in _ADDRESS_FIELDS:
            return parse_ct_hostmask(opt.name, value)
        if field in _PORT_FIELDS:
            return parse_ct_ports(opt.name, value)
        if field == "status":
            return parse_ctstatus(value)
        if field == "expire":
            return parse_expire(value)
        upper = value.upper()
        if upper not in DIRECTIONS:
            raise ParameterProblem(f'conntrack: Bad value for "--ctdir" option: "{value}"')
        return upper

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> ConntrackOptions:
        if not state:
            raise ParameterProblem("conntrack: At least one option is required")
        fields: dict[str, Any] = {}
        for key, (value, invert) in state.items():
            field = key[2:]
            if field == "dir":
                fields["direction"] = value
            else:
                fields[field] = value
                fields[field + "_invert"] = invert
        return ConntrackOptions(**fields)

    def save(self, options: ConntrackOptions) -> str:
        return _conntrack_save(options)

    def listing(self, options: ConntrackOptions, numeric: bool) -> str:
        return "".join(
            f"{' !' if invert else ''} ct{field} {text}"
            for field, text, invert in _conntrack_words(options, numeric)
        )


# --- state ----------------------------------------------------------------------------------


@frozen_value
class StateOptions:
    states: int
    invert: bool = False


class StateMatch(MatchExtension):
    needs_conntrack = True
    name = "state"
    options = (Opt("state", invert=True, mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        return parse_state(value)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> StateOptions:
        states, invert = state["state"]
        return StateOptions(states, invert)

    def save(self, options: StateOptions) -> str:
        return f"{' !' if options.invert else ''} --state {flag_names(options.states, STATE_NAMES)}"

    def listing(self, options: StateOptions, numeric: bool) -> str:
        return f"{' !' if options.invert else ''} state {flag_names(options.states, STATE_NAMES)}"


EXTENSIONS = (ConntrackMatch(), StateMatch())
