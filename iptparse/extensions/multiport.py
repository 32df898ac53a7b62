"""``-m multiport --sports|--dports|--ports LIST``: up to 15 ports, ``A:B`` ranges taking two.

Needs ``-p`` tcp, udp, udplite, sctp or dccp given before it (iptables checks the protocol while
reading each option). Service names are looked up for that protocol. Saved and listed as
``--sports``/``--dports``/``--ports`` whatever alias was typed; ``-L`` without ``-n`` shows
service names. Behaviour and messages were read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from typing import Any

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import (
    CheckContext,
    MatchExtension,
    Opt,
    OptionCall,
    RuleInProgress,
)
from iptparse.grammar.tokens import c_uint, port_service_name
from iptparse.model import frozen_value

MULTI_PORTS = 15  # XT_MULTI_PORTS: slots in the kernel structure
PORT_MAX = 0xFFFF
PROTOCOLS = {6: "tcp", 17: "udp", 136: "udplite", 132: "sctp", 33: "dccp"}

SOURCE, DESTINATION, BOTH = "source-ports", "destination-ports", "ports"
# canonical option -> word printed by iptables-save (after "--") and by -L
_PRINTED = {SOURCE: "sports", DESTINATION: "dports", BOTH: "ports"}
# The pair iptables reports when exclusive options are given together, in the order it checks.
_EXCLUSIVE = ((SOURCE, DESTINATION), (SOURCE, BOTH), (DESTINATION, BOTH))

PortItem = tuple[int, int | None]  # (port, None) or (low, high) for a range


@lru_cache(maxsize=4096)
def _port(text: str, proto: str) -> int:
    """xtables_parse_port: a C number 0-65535, else a service name for ``proto``."""
    if len(text) <= 5 and text.isascii() and text.isdigit() and text[0] != "0":
        number = int(text)  # plain decimal, the usual case: no regex
        if number <= PORT_MAX:
            return number
    value = c_uint(text, PORT_MAX)
    if value is not None:
        return value
    try:
        return socket.getservbyname(text, proto)
    except (OSError, UnicodeError, ValueError):
        raise ParameterProblem(f"invalid port/service `{text}' specified") from None


@lru_cache(maxsize=4096)
def parse_port_list(text: str, proto: str) -> tuple[PortItem, ...]:
    items: list[PortItem] = []
    slots = 0
    for element in text.split(","):
        if slots >= MULTI_PORTS:
            raise ParameterProblem("too many ports specified")
        low_text, colon, high_text = element.partition(":")
        if not colon:
            items.append((_port(element, proto), None))
            slots += 1
            continue
        if slots >= MULTI_PORTS - 1:  # a range needs two slots
            raise ParameterProblem("too many ports specified")
        low = _port(low_text, proto)
        high = _port(high_text, proto)
        if low >= high:
            raise ParameterProblem("invalid portrange specified")
        items.append((low, high))
        slots += 2
    return tuple(items)


@frozen_value
class MultiportOptions:
    direction: str  # SOURCE, DESTINATION or BOTH
    ports: tuple[PortItem, ...]
    invert: bool = False
    proto: str = "tcp"  # for service names in -L

    @property
    def ports_text(self) -> str:
        return ",".join(str(low) if high is None else f"{low}:{high}" for low, high in self.ports)


def _service(port: int, proto: str) -> str:
    name = port_service_name(port, proto)
    return str(port) if name is None else name


class MultiportMatch(MatchExtension):
    name = "multiport"
    options = (
        Opt(SOURCE, invert=True),
        Opt("sports", invert=True, key=SOURCE),
        Opt(DESTINATION, invert=True),
        Opt("dports", invert=True, key=DESTINATION),
        Opt(BOTH, invert=True),
    )

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        dest = call.opt.dest
        if dest in state:
            raise ParameterProblem(f'{self.name}: option "--{dest}" can only be used once.\n')
        rule = call.rule
        if not rule.protocol:
            raise ParameterProblem(
                "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
        proto = PROTOCOLS.get(rule.protocol)
        if proto is None or rule.protocol_invert:
            raise ParameterProblem("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")
        assert call.value is not None
        state[dest] = (parse_port_list(call.value, proto), call.invert, proto)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> MultiportOptions:
        if not state:
            raise ParameterProblem("multiport expection an option")
        for first, second in _EXCLUSIVE:
            if first in state and second in state:
                raise ParameterProblem(
                    f'{self.name}: option "--{first}" cannot be used together with '
                    f'"--{second}".\n')
        ((direction, (ports, invert, proto)),) = state.items()
        return MultiportOptions(direction, ports, invert, proto)

    def save(self, options: MultiportOptions) -> str:
        return (f"{' !' if options.invert else ''} --{_PRINTED[options.direction]} "
                f"{options.ports_text}")

    def listing(self, options: MultiportOptions, numeric: bool) -> str:
        if numeric:
            ports = options.ports_text
        else:
            proto = options.proto
            ports = ",".join(
                _service(low, proto) if high is None
                else f"{_service(low, proto)}:{_service(high, proto)}"
                for low, high in options.ports
            )
        mark = " !" if options.invert else ""
        return f" multiport {_PRINTED[options.direction]} {mark}{ports}"

    def check_entry(self, options: MultiportOptions, ctx: CheckContext) -> None:
        # The kernel's own check; iptables refuses these first, so only hand-made rules reach it.
        if ctx.protocol not in PROTOCOLS or ctx.protocol_invert:
            raise KernelRejection("multiport: needs tcp, udp, udplite, sctp or dccp")


EXTENSIONS = (MultiportMatch(),)
