"""``-j NOTRACK`` and ``-j CT``: conntrack settings for a packet (raw table only).

Behaviour read off iptables-legacy 1.8.9 (see tests/unit/test_ext_notrack.py):

- NOTRACK is the kernel's CT target under another name and revision: it saves as ``-j NOTRACK``
  but ``-L`` shows ``CT`` in the target column and ``NOTRACK`` after the addresses; it is not
  the same rule as ``-j CT --notrack``.
- CT's ``--helper`` keeps 15 bytes, ``--timeout`` 4 bytes (iptables 1.8.9 cuts it there); both
  print raw, unquoted, and an empty value is no value.
- ``--ctevents`` / ``--expevents`` take comma lists of exact names; they print in bit order.
- ``--zone``, ``--zone-orig``, ``--zone-reply`` take ``mark`` (any case) or a number 0-65535 and
  share one value: the last number wins, ``mark`` sticks, and the direction flags add up
  (orig and reply together print as ``--zone``). Zone 0 without ``mark`` is not printed.
- Kernel: raw table only. Without ``--notrack`` a helper must exist for the rule's protocol
  (``-p`` given, not inverted) else ENOENT; a timeout policy never exists here (none are made),
  so a timeout fails: EINVAL without a protocol, else ENOENT.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.edit import NO_CHAIN
from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import (
    CheckContext,
    Opt,
    OptionCall,
    RuleInProgress,
    TargetExtension,
)
from iptparse.grammar.tokens import c_uint
from iptparse.model import frozen_value

HELPER_MAX_BYTES = 15
TIMEOUT_MAX_BYTES = 4

CT_EVENTS = ("new", "related", "destroy", "reply", "assured", "protoinfo", "helper", "mark",
             "natseqinfo", "secmark")
EXP_EVENTS = ("new",)

ZONE_DIR_ORIG = 1
ZONE_DIR_REPLY = 2

# Conntrack helpers the oracle's kernel finds, by (name, protocol number). Which helpers exist
# depends on the kernel's modules; this is the set iptables-legacy's kernel accepted.
KERNEL_HELPERS = frozenset({
    ("ftp", 6), ("irc", 6), ("pptp", 6), ("sane", 6), ("sip", 6), ("Q.931", 6),
    ("tftp", 17), ("sip", 17), ("amanda", 17), ("netbios-ns", 17), ("snmp", 17),
    ("snmp_trap", 17), ("RAS", 17),
})


@frozen_value
class NotrackOptions:
    """NOTRACK takes no options."""


class NotrackTarget(TargetExtension):
    name = "NOTRACK"
    # The kernel target it stands for: what -L shows in the target column.
    kernel_name = "CT"
    tables = frozenset({"raw"})

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> NotrackOptions:
        return NotrackOptions()

    def listing(self, options: NotrackOptions, numeric: bool) -> str:
        return " NOTRACK"


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "surrogateescape")


@lru_cache(maxsize=256)
def parse_events(text: str, names: tuple[str, ...]) -> int:
    mask = 0
    for word in text.split(","):
        if word not in names:
            raise ParameterProblem(f'Unknown event type "{word}"')
        mask |= 1 << names.index(word)
    return mask


def _events_text(mask: int, names: tuple[str, ...]) -> str:
    return ",".join(name for bit, name in enumerate(names) if mask & (1 << bit))


@lru_cache(maxsize=256)
def parse_zone(text: str) -> int | None:
    """A zone id, or None for ``mark``."""
    if text.lower() == "mark":
        return None
    value = c_uint(text)
    if value is None or value > 0xFFFF:
        raise ParameterProblem(f"Cannot parse {text} as a zone ID")
    return value


@frozen_value
class CtOptions:
    notrack: bool = False
    helper: str = ""
    timeout: str = ""
    ct_events: int = 0
    exp_events: int = 0
    zone: int = 0
    zone_mark: bool = False
    zone_dirs: int = 0  # ZONE_DIR_ORIG | ZONE_DIR_REPLY

    def zone_words(self) -> tuple[str, str] | None:
        if not self.zone_mark and self.zone == 0:
            return None
        if self.zone_dirs == ZONE_DIR_ORIG:
            option = "zone-orig"
        elif self.zone_dirs == ZONE_DIR_REPLY:
            option = "zone-reply"
        else:
            option = "zone"
        return option, "mark" if self.zone_mark else str(self.zone)

    def words(self) -> list[tuple[str, str | None]]:
        """(option, value) pairs in the order iptables prints them."""
        words: list[tuple[str, str | None]] = []
        if self.notrack:
            words.append(("notrack", None))
        if self.helper:
            words.append(("helper", self.helper))
        if self.timeout:
            words.append(("timeout", self.timeout))
        if self.ct_events:
            words.append(("ctevents", _events_text(self.ct_events, CT_EVENTS)))
        if self.exp_events:
            words.append(("expevents", _events_text(self.exp_events, EXP_EVENTS)))
        zone = self.zone_words()
        if zone is not None:
            words.append(zone)
        return words


_ZONE_DIRS = {"zone": 0, "zone-orig": ZONE_DIR_ORIG, "zone-reply": ZONE_DIR_REPLY}


class CtTarget(TargetExtension):
    needs_conntrack = True  # but not with --notrack: the kernel checks that first
    name = "CT"
    options = (
        Opt("notrack", arg=False),
        Opt("helper"),
        Opt("timeout"),
        Opt("ctevents"),
        Opt("expevents"),
        Opt("zone-orig"),
        Opt("zone-reply"),
        Opt("zone"),
    )
    tables = frozenset({"raw"})

    def enables_conntrack(self, options: Any) -> bool:
        return not options.notrack

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        super().parse(state, call)
        name = call.opt.name
        if name in _ZONE_DIRS:
            # The three zone options write one value, in command-line order.
            value = state[name][0]
            zone, mark, dirs = state.get("zone-value", (0, False, 0))
            if value is None:
                mark = True
            else:
                zone = value
            state["zone-value"] = (zone, mark, dirs | _ZONE_DIRS[name])

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        if opt.name == "notrack":
            return True
        assert value is not None
        if opt.name == "helper":
            return _cut(value, HELPER_MAX_BYTES)
        if opt.name == "timeout":
            return _cut(value, TIMEOUT_MAX_BYTES)
        if opt.name == "ctevents":
            return parse_events(value, CT_EVENTS)
        if opt.name == "expevents":
            return parse_events(value, EXP_EVENTS)
        return parse_zone(value)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> CtOptions:
        zone, mark, dirs = state.get("zone-value", (0, False, 0))
        return CtOptions(
            notrack="notrack" in state,
            helper=state["helper"][0] if "helper" in state else "",
            timeout=state["timeout"][0] if "timeout" in state else "",
            ct_events=state["ctevents"][0] if "ctevents" in state else 0,
            exp_events=state["expevents"][0] if "expevents" in state else 0,
            zone=zone,
            zone_mark=mark,
            zone_dirs=dirs,
        )

    def save(self, options: CtOptions) -> str:
        return "".join(
            f" --{option}" if value is None else f" --{option} {value}"
            for option, value in options.words()
        )

    def listing(self, options: CtOptions, numeric: bool) -> str:
        return " CT" + "".join(
            f" {option}" if value is None else f" {option} {value}"
            for option, value in options.words()
        )

    def check_entry(self, options: CtOptions, ctx: CheckContext) -> None:
        if options.notrack:
            return
        protocol = None if ctx.protocol_invert else ctx.protocol
        if options.helper and (options.helper, protocol) not in KERNEL_HELPERS:
            raise KernelRejection(f"CT: no helper {options.helper!r}", NO_CHAIN)
        if options.timeout:
            if not protocol:
                raise KernelRejection("CT: timeout needs a protocol")
            raise KernelRejection(f"CT: no timeout policy {options.timeout!r}", NO_CHAIN)


EXTENSIONS = (NotrackTarget(), CtTarget())
