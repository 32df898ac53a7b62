"""``-m udp``: source and destination port ranges.

Unlike tcp, udp uses xtables' generic option parser (port-range type), so its messages are the
generic ones, always naming the option's first spelling (``--destination-port`` for ``--dport``).
Each side of ``LOW:HIGH`` is resolved by ``getaddrinfo(NULL, side)``, as xtables does: that
reads decimal only (``010`` is 10, ``0x50`` a name), keeps the low 16 bits (``70000`` is 4464),
and looks names up for any protocol. ``LOW > HIGH`` is kept as given. Every behaviour here was
read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.extensions.tcp import FULL_PORT_RANGE, list_ports, save_ports
from iptparse.model import frozen_value

IPPROTO_UDP = 17

_LONG_NAMES = {"sport": "source-port", "dport": "destination-port"}


@lru_cache(maxsize=65536)
def resolve_port(text: str) -> int:
    """xtables_getportbyname: the port getaddrinfo finds for the service ``text``."""
    if text.isascii() and text.isdigit() and len(text) <= 9:
        # What getaddrinfo does with a small decimal, without its cost (it dominates a restore).
        return int(text) & 0xFFFF
    try:
        found = socket.getaddrinfo(None, text)
    except (OSError, UnicodeError, ValueError):
        found = []
    if not found:
        raise ParameterProblem(f'Port "{text}" does not resolve to anything.\n')
    return found[0][4][1]


@lru_cache(maxsize=65536)
def parse_udp_port_range(text: str, option: str) -> tuple[int, int]:
    """``PORT``, ``LOW:HIGH``, ``:HIGH``, ``LOW:``, ``:``; an empty side is 0 / 65535."""
    parts = text.split(":")
    values = list(FULL_PORT_RANGE)
    for index, part in enumerate(parts):
        if index >= 2:
            raise ParameterProblem(
                f'udp: Too many components for option "--{option}" (max: 2)\n'
            )
        if part:
            values[index] = resolve_port(part)
        elif len(parts) == 1:
            values[index] = 0
    if len(parts) == 1:
        return values[0], values[0]
    return values[0], values[1]


@frozen_value
class UdpOptions:
    """struct xt_udp: port ranges and their inversions."""

    sport: tuple[int, int] = FULL_PORT_RANGE
    dport: tuple[int, int] = FULL_PORT_RANGE
    sport_invert: bool = False
    dport_invert: bool = False


_NO_OPTIONS = UdpOptions()


class UdpMatch(MatchExtension):
    name = "udp"
    options = (
        Opt("source-port", invert=True, key="sport"),
        Opt("sport", invert=True, key="sport"),
        Opt("destination-port", invert=True, key="dport"),
        Opt("dport", invert=True, key="dport"),
    )
    proto = IPPROTO_UDP

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        key = call.opt.dest
        long_name = _LONG_NAMES[key]
        if key in state:
            raise ParameterProblem(f'udp: option "--{long_name}" can only be used once.\n')
        assert call.value is not None
        state[key] = (parse_udp_port_range(call.value, long_name), call.invert)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> UdpOptions:
        if not state:
            return _NO_OPTIONS
        sport, sport_invert = state.get("sport", (FULL_PORT_RANGE, False))
        dport, dport_invert = state.get("dport", (FULL_PORT_RANGE, False))
        return UdpOptions(sport, dport, sport_invert, dport_invert)

    def save(self, options: UdpOptions) -> str:
        return _udp_save(options)

    def listing(self, options: UdpOptions, numeric: bool) -> str:
        return (" udp"
                + list_ports("spt", options.sport, options.sport_invert, numeric, "udp")
                + list_ports("dpt", options.dport, options.dport_invert, numeric, "udp"))


@lru_cache(maxsize=4096)
def _udp_save(options: UdpOptions) -> str:
    return (save_ports("sport", options.sport, options.sport_invert)
            + save_ports("dport", options.dport, options.dport_invert))


EXTENSIONS = (UdpMatch(),)
