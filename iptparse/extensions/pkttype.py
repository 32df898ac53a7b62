"""``-m pkttype --pkt-type TYPE``: the link-layer packet type (unicast, broadcast, ...).

Names are matched without regard to case; ``host`` is another name for ``unicast``. Behaviour and
messages were read off iptables-legacy 1.8.9.
"""

from __future__ import annotations

from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.model import frozen_value

# Linux PACKET_* numbers, as the kernel compares skb->pkt_type.
PACKET_TYPES = {"unicast": 0, "broadcast": 1, "multicast": 2, "otherhost": 3}
_PARSE_NAMES = {**PACKET_TYPES, "host": 0}
_PRINT_NAMES = {number: name for name, number in PACKET_TYPES.items()}


@frozen_value
class PkttypeOptions:
    packet_type: int
    invert: bool = False

    @property
    def type_name(self) -> str:
        return _PRINT_NAMES.get(self.packet_type, str(self.packet_type))


class PkttypeMatch(MatchExtension):
    name = "pkttype"
    options = (Opt("pkt-type", invert=True, mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        number = _PARSE_NAMES.get(value.lower())
        if number is None:
            raise ParameterProblem(f"Bad packet type '{value}'")
        return number

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> PkttypeOptions:
        number, invert = state["pkt-type"]
        return PkttypeOptions(number, invert)

    def save(self, options: PkttypeOptions) -> str:
        return f"{' !' if options.invert else ''} --pkt-type {options.type_name}"

    def listing(self, options: PkttypeOptions, numeric: bool) -> str:
        return f" PKTTYPE {'!=' if options.invert else '='} {options.type_name}"


EXTENSIONS = (PkttypeMatch(),)
