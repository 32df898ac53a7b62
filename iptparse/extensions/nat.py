"""The NAT targets: ``DNAT``, ``SNAT``, ``MASQUERADE`` and ``REDIRECT`` (nat table only).

Behaviour read off iptables-legacy 1.8.9 (see tests/unit/test_ext_nat.py):

- ``--to-destination`` / ``--to-source`` take ``[IP[-IP]][:PORT[-PORT[/BASE]]]``, once each.
  Two or more colons make the whole value an address (``Bad IP address "..."``). Addresses are
  strict dotted quads (inet_pton). Ports are read like C's ``strtoul(.., 0)`` (``0x10``, ``020``)
  with what follows checked by hand, or as one service name for the whole first port.
- ``--to-ports`` (MASQUERADE, REDIRECT) takes ``PORT[-PORT[/BASE]]``.
- A port needs ``-p`` tcp, udp, sctp, dccp or icmp given *before* the option (inversion is
  not looked at), else ``Need TCP, UDP, SCTP or DCCP with port specification``.
- The ``/BASE`` port shift survives only in DNAT; SNAT and MASQUERADE keep the flag but lose the
  value (saved as ``/0``); REDIRECT refuses it.
- Kernel: nat table only; DNAT and REDIRECT in PREROUTING/OUTPUT, SNAT in POSTROUTING/INPUT,
  MASQUERADE in POSTROUTING.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import Opt, OptionCall, RuleInProgress, TargetExtension
from iptparse.grammar.tokens import c_strtoul, format_ipv4, parse_port_value
from iptparse.model import frozen_value

# Protocols whose rules may carry a port (icmp's "port" is its id).
PORT_PROTOCOLS = frozenset({6, 17, 33, 132, 1})
NEED_PORT_PROTOCOL = "Need TCP, UDP, SCTP or DCCP with port specification"



@frozen_value
class NatRange:
    """One ``nf_nat_range``: addresses (None: none given), ports (None: none), shift base."""

    ips: tuple[int, int] | None = None
    ports: tuple[int, int] | None = None
    base: int | None = None  # None: no shift; 0 when the target cannot carry the value

    def ports_text(self) -> str:
        assert self.ports is not None
        low, high = self.ports
        text = str(low) if low == high else f"{low}-{high}"
        if self.base is not None:
            text += f"/{self.base}"
        return text

    def text(self) -> str:
        """``IP[-IP][:PORTS]`` as iptables prints it after ``--to-*`` and ``to:``."""
        return _range_text(self)


_NO_RANGE = NatRange()


@lru_cache(maxsize=8192)
def _range_text(spec: NatRange) -> str:
    """NatRange.text, cached: a restore prints the same ranges again and again."""
    text = ""
    if spec.ips is not None:
        low, high = spec.ips
        text = format_ipv4(low) if low == high else f"{format_ipv4(low)}-{format_ipv4(high)}"
    if spec.ports is not None:
        text += ":" + spec.ports_text()
    return text


def _port_invalid(text: str) -> ParameterProblem:
    return ParameterProblem(f"Port `{text}' not valid")


def _port_number(text: str) -> tuple[int, int] | None:
    """A leading number of ``text`` as a port: (port, consumed), None when no digits."""
    found = c_strtoul(text)  # a minus sign reads as no number: then no service matches either
    if found is None:
        return None
    if found[0] > 0xFFFF:
        raise _port_invalid(text)
    return found


def _service_port(text: str) -> int:
    value = parse_port_value(text)
    if value is None:
        raise _port_invalid(text)
    return value


@lru_cache(maxsize=4096)
def parse_ports(text: str) -> NatRange:
    """``PORT[-PORT[/BASE]]``: a range with ports (and base) only."""
    first = _port_number(text)
    if first is None:
        # Not a number: the whole text names one service ("ftp-data" is one port).
        port = _service_port(text)
        return NatRange(ports=(port, port))
    low, consumed = first
    rest = text[consumed:]
    if not rest:
        return NatRange(ports=(low, low))
    if rest[0] == ":":
        raise ParameterProblem("Invalid port:port syntax - use dash")
    if rest[0] != "-":
        raise ParameterProblem(f"Garbage after port value: `{rest}'")
    high_text = rest[1:]
    second = _port_number(high_text)
    if second is None:
        raise _port_invalid(high_text)
    high, consumed = second
    if high < low:
        raise ParameterProblem(f"Port range `{high_text}' funky")
    rest = high_text[consumed:]
    if not rest:
        return NatRange(ports=(low, high))
    if rest[0] != "/":
        raise ParameterProblem(f"Garbage after port range: `{rest}'")
    base_text = rest[1:]
    parsed = _port_number(base_text)
    # What follows the base number is ignored, as iptables does.
    base = parsed[0] if parsed is not None else _service_port(base_text)
    if base == 0:
        raise _port_invalid(base_text)
    return NatRange(ports=(low, high), base=base)


def _address(text: str) -> int:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        raise ParameterProblem(f'Bad IP address "{text}"') from None


def parse_nat_spec(text: str, ports_allowed: bool) -> NatRange:
    """``[IP[-IP]][:PORTS]`` of ``--to-destination`` / ``--to-source``."""
    address_text, colon, port_text = text.partition(":")
    if colon and ":" in port_text:
        # More colons: iptables takes the whole value as an address (and fails on it).
        address_text, colon, port_text = text, "", ""
    ports = _NO_RANGE
    if colon:
        if not ports_allowed:
            raise ParameterProblem(NEED_PORT_PROTOCOL)
        ports = parse_ports(port_text)
        if not address_text:
            return ports
    low_text, dash, high_text = address_text.partition("-")
    low = _address(low_text)
    high = _address(high_text) if dash else low
    return NatRange((low, high), ports.ports, ports.base)


def _ports_allowed(rule: RuleInProgress) -> bool:
    return rule.protocol in PORT_PROTOCOLS


def _flag(state: dict[str, Any], name: str) -> bool:
    return name in state


class _NatTarget(TargetExtension):
    needs_conntrack = True
    tables = frozenset({"nat"})
    # Whether the kernel structure this target uses keeps the /BASE value.
    keeps_base = True

    def _range(self, text: str, call: OptionCall) -> NatRange:
        spec = parse_nat_spec(text, _ports_allowed(call.rule))
        if spec.base is not None and not self.keeps_base:
            return NatRange(spec.ips, spec.ports, 0)
        return spec

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        """The address range of the one option with a value (``--to-*``); True for a flag."""
        if opt.arg:
            assert value is not None
            return self._range(value, call)
        return True

    def _flag_words(self, options: Any, dashes: str) -> str:
        """The flags (options without a value) set in ``options``, in the order declared, each
        as `` --NAME`` (``dashes="--"``, iptables-save) or `` NAME`` (``dashes=""``, -L)."""
        return "".join(f" {dashes}{opt.name}" for opt in self.options
                       if not opt.arg and getattr(options, opt.name.replace("-", "_")))


def _ports_words(ports: NatRange | None, label: str) -> str:
    """``label`` and the port range, or nothing when there is no range."""
    return "" if ports is None else label + ports.ports_text()


@frozen_value
class DnatOptions:
    to: NatRange
    random: bool = False
    persistent: bool = False


class DnatTarget(_NatTarget):
    name = "DNAT"
    options = (
        Opt("to-destination", mandatory=True),
        Opt("random", arg=False),
        Opt("persistent", arg=False),
    )
    hooks = frozenset({"PREROUTING", "OUTPUT"})

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> DnatOptions:
        return DnatOptions(state["to-destination"][0], _flag(state, "random"),
                           _flag(state, "persistent"))

    def parse_one(self, opt: Opt, value: str, rule: RuleInProgress) -> DnatOptions | None:
        if opt.name != "to-destination":
            return None
        return DnatOptions(parse_nat_spec(value, _ports_allowed(rule)))

    def save(self, options: DnatOptions) -> str:
        return " --to-destination " + options.to.text() + self._flag_words(options, "--")

    def listing(self, options: DnatOptions, numeric: bool) -> str:
        return " to:" + options.to.text() + self._flag_words(options, "")


@frozen_value
class SnatOptions:
    to: NatRange
    random: bool = False
    random_fully: bool = False
    persistent: bool = False


class SnatTarget(_NatTarget):
    name = "SNAT"
    options = (
        Opt("to-source", mandatory=True),
        Opt("random", arg=False),
        Opt("random-fully", arg=False),
        Opt("persistent", arg=False),
    )
    hooks = frozenset({"POSTROUTING", "INPUT"})
    keeps_base = False

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> SnatOptions:
        return SnatOptions(state["to-source"][0], _flag(state, "random"),
                           _flag(state, "random-fully"), _flag(state, "persistent"))

    def save(self, options: SnatOptions) -> str:
        return " --to-source " + options.to.text() + self._flag_words(options, "--")

    def listing(self, options: SnatOptions, numeric: bool) -> str:
        return " to:" + options.to.text() + self._flag_words(options, "")


@frozen_value
class MasqueradeOptions:
    ports: NatRange | None = None
    random: bool = False
    random_fully: bool = False


class MasqueradeTarget(_NatTarget):
    name = "MASQUERADE"
    options = (
        Opt("to-ports"),
        Opt("random", arg=False),
        Opt("random-fully", arg=False),
    )
    hooks = frozenset({"POSTROUTING"})

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        if opt.name == "to-ports":
            assert value is not None
            if not _ports_allowed(call.rule):
                raise ParameterProblem(NEED_PORT_PROTOCOL)
            ports = parse_ports(value)
            # The compat range keeps the shift flag but not its value.
            return ports if ports.base is None else NatRange(None, ports.ports, 0)
        return True

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> MasqueradeOptions:
        ports = state["to-ports"][0] if "to-ports" in state else None
        return MasqueradeOptions(ports, _flag(state, "random"), _flag(state, "random-fully"))

    def save(self, options: MasqueradeOptions) -> str:
        return _ports_words(options.ports, " --to-ports ") + self._flag_words(options, "--")

    def listing(self, options: MasqueradeOptions, numeric: bool) -> str:
        return _ports_words(options.ports, " masq ports: ") + self._flag_words(options, "")


@frozen_value
class RedirectOptions:
    ports: NatRange | None = None
    random: bool = False


class RedirectTarget(_NatTarget):
    name = "REDIRECT"
    options = (
        Opt("to-ports"),
        Opt("random", arg=False),
    )
    hooks = frozenset({"PREROUTING", "OUTPUT"})

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        if opt.name == "to-ports":
            assert value is not None
            if not _ports_allowed(call.rule):
                raise ParameterProblem(NEED_PORT_PROTOCOL)
            ports = parse_ports(value)
            if ports.base is not None:
                raise ParameterProblem("Shifted portmap ranges not supported with this kernel")
            return ports
        return True

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> RedirectOptions:
        ports = state["to-ports"][0] if "to-ports" in state else None
        return RedirectOptions(ports, _flag(state, "random"))

    def save(self, options: RedirectOptions) -> str:
        return _ports_words(options.ports, " --to-ports ") + self._flag_words(options, "--")

    def listing(self, options: RedirectOptions, numeric: bool) -> str:
        return _ports_words(options.ports, " redir ports ") + self._flag_words(options, "")


EXTENSIONS = (DnatTarget(), SnatTarget(), MasqueradeTarget(), RedirectTarget())
