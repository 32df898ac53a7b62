"""``-m tcp``: source/destination port ranges, TCP flags (``--tcp-flags``, ``--syn``), an option.

iptables parses tcp the old way, with messages of its own (``Only one `--source-port'
allowed``), so :meth:`TcpMatch.parse` replaces xtables' generic checks. Numbers are read like
xtables' ``strtoui`` (C ``strtoul`` base 0: leading blanks and ``+`` accepted, ``-`` refused, the
whole word used); service names through ``getservbyname(name, "tcp")``. The kernel accepts the
match only on ``-p tcp`` (not inverted). Every behaviour here was read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_uint, parse_port_range, port_service_name
from iptparse.model import frozen_value

IPPROTO_TCP = 6
FULL_PORT_RANGE = (0, 0xFFFF)

def save_ports(option: str, ports: tuple[int, int], invert: bool) -> str:
    """`` [!] --sport LOW[:HIGH]`` as iptables-save prints it; nothing for the full range."""
    if ports == FULL_PORT_RANGE:
        return ""  # even inverted: iptables-save drops it, -L still shows it
    low, high = ports
    text = str(low) if low == high else f"{low}:{high}"
    return f"{' !' if invert else ''} --{option} {text}"


def list_ports(label: str, ports: tuple[int, int], invert: bool, numeric: bool,
               proto: str) -> str:
    """`` spt:PORT`` / `` spts:LOW:HIGH`` as ``-L`` prints it (service names without -n)."""
    if ports == FULL_PORT_RANGE and not invert:
        return ""
    mark = "!" if invert else ""

    def name(port: int) -> str:
        if numeric:
            return str(port)
        return port_service_name(port, proto) or str(port)

    low, high = ports
    if low == high:
        return f" {label}:{mark}{name(low)}"
    return f" {label}s:{mark}{name(low)}:{name(high)}"


# TCP header flag bits in the order iptables prints them.
TCP_FLAG_BITS: tuple[tuple[str, int], ...] = (
    ("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10), ("URG", 0x20),
)
_FLAG_WORDS = {**dict(TCP_FLAG_BITS), "ALL": 0x3F, "NONE": 0}
SYN_MASK = 0x17  # --syn: FIN,SYN,RST,ACK ...
SYN_COMPARE = 0x02  # ... with only SYN set


@lru_cache(maxsize=256)
def parse_tcp_flags(text: str) -> int:
    """A comma list of flag names (case-insensitive, ALL, NONE; empty items skipped)."""
    bits = 0
    for word in text.split(","):
        if not word:
            continue
        # strcasecmp folds ASCII only; str.upper would also fold e.g. U+017F to "S".
        value = _FLAG_WORDS.get(word.upper()) if word.isascii() else None
        if value is None:
            raise ParameterProblem(f"Unknown TCP flag `{word}'")
        bits |= value
    return bits


@lru_cache(maxsize=64)
def tcp_flag_names(bits: int) -> str:
    """Flags as iptables prints them: ``FIN,SYN``; ``NONE`` when there are none (never ALL)."""
    names = [name for name, bit in TCP_FLAG_BITS if bits & bit]
    return ",".join(names) if names else "NONE"


@frozen_value
class TcpOptions:
    """struct xt_tcp: port ranges, the TCP option wanted (0: none), flags mask and value."""

    sport: tuple[int, int] = FULL_PORT_RANGE
    dport: tuple[int, int] = FULL_PORT_RANGE
    option: int = 0
    flag_mask: int = 0
    flag_compare: int = 0
    sport_invert: bool = False
    dport_invert: bool = False
    option_invert: bool = False
    flags_invert: bool = False


_NO_OPTIONS = TcpOptions()


class TcpMatch(MatchExtension):
    name = "tcp"
    # getopt order of libxt_tcp; aliases share a key (same getopt value).
    options = (
        Opt("source-port", invert=True, key="sport"),
        Opt("sport", invert=True, key="sport"),
        Opt("destination-port", invert=True, key="dport"),
        Opt("dport", invert=True, key="dport"),
        Opt("syn", arg=False, invert=True),
        Opt("tcp-flags", invert=True),
        Opt("tcp-option", invert=True),
    )
    proto = IPPROTO_TCP

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        key = call.opt.dest
        if key == "sport" or key == "dport":
            if key in state:
                long_name = "source-port" if key == "sport" else "destination-port"
                raise ParameterProblem(f"Only one `--{long_name}' allowed")
            assert call.value is not None
            state[key] = (parse_port_range(call.value, "tcp"), call.invert)
        elif key == "syn" or key == "tcp-flags":
            if "flags" in state:
                raise ParameterProblem("Only one of `--syn' or `--tcp-flags'  allowed")
            if key == "syn":
                state["flags"] = ((SYN_MASK, SYN_COMPARE), call.invert)
                return
            # The compared flags are the next argv word, which must not look like an option.
            compare_text = call.peek_word()
            if compare_text is None or compare_text[:1] in ("-", "!"):
                raise ParameterProblem("--tcp-flags requires two args.")
            call.take_word()
            assert call.value is not None
            mask = parse_tcp_flags(call.value)
            state["flags"] = ((mask, parse_tcp_flags(compare_text)), call.invert)
        else:
            if "tcp-option" in state:
                raise ParameterProblem("Only one `--tcp-option' allowed")
            assert call.value is not None
            number = c_uint(call.value)
            if number is None or not 1 <= number <= 255:
                raise ParameterProblem(f'Bad TCP option "{call.value}"')
            state["tcp-option"] = (number, call.invert)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> TcpOptions:
        if not state:
            return _NO_OPTIONS
        sport, sport_invert = state.get("sport", (FULL_PORT_RANGE, False))
        dport, dport_invert = state.get("dport", (FULL_PORT_RANGE, False))
        option, option_invert = state.get("tcp-option", (0, False))
        (mask, compare), flags_invert = state.get("flags", ((0, 0), False))
        return TcpOptions(sport, dport, option, mask, compare, sport_invert, dport_invert,
                          option_invert, flags_invert)

    def save(self, options: TcpOptions) -> str:
        return _tcp_save(options)

    def listing(self, options: TcpOptions, numeric: bool) -> str:
        text = " tcp"
        text += list_ports("spt", options.sport, options.sport_invert, numeric, "tcp")
        text += list_ports("dpt", options.dport, options.dport_invert, numeric, "tcp")
        if options.option or options.option_invert:
            text += f" option={'!' if options.option_invert else ''}{options.option}"
        if options.flag_mask or options.flags_invert:
            text += f" flags:{'!' if options.flags_invert else ''}"
            if numeric:
                text += f"0x{options.flag_mask:02X}/0x{options.flag_compare:02X}"
            else:
                text += (f"{tcp_flag_names(options.flag_mask)}/"
                         f"{tcp_flag_names(options.flag_compare)}")
        return text


@lru_cache(maxsize=4096)
def _tcp_save(options: TcpOptions) -> str:
    # Rules repeat the same few port sets (kube-proxy), so the text is worth caching.
    text = save_ports("sport", options.sport, options.sport_invert)
    text += save_ports("dport", options.dport, options.dport_invert)
    if options.option:
        text += f"{' !' if options.option_invert else ''} --tcp-option {options.option}"
    if options.flag_mask or options.flags_invert:
        text += (f"{' !' if options.flags_invert else ''} --tcp-flags "
                 f"{tcp_flag_names(options.flag_mask)} {tcp_flag_names(options.flag_compare)}")
    return text


EXTENSIONS = (TcpMatch(),)
