"""Look-alike rule lines parsed without getopt: learn a line's shape once, then fill in values.

kube-proxy writes tens of thousands of rule lines from a handful of templates; they differ only
in values (chain names, addresses, ports, comments, probabilities). A line's *shape* is its argv
with every value that cannot change how iptables reads the rest replaced by a hole. The first
line of a shape is parsed the full way (:func:`~iptparse.grammar.command.parse_command_traced`),
which says what each hole fed: the chain, ``-s``/``-d``/``-i``/``-o``, the jump target, or an
extension option. Later lines of the same shape replay only that: each extension parses its own
options again (cached by value), then the same address expansion builds the rules.

The replay is exact because a hole is only ever consumed as the value of the option word just
before it, and the words that steer iptables' parsing (options, ``-m``/``-p``/``-t`` values,
extension targets, ``!``) are part of the shape. Whatever the replay cannot vouch for (an
error, a warning, a jump to a missing chain, an extension reading extra words) goes back to the
full parser, which then reports exactly what iptables reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from iptparse.errors import IptablesError
from iptparse.extensions import find_target
from iptparse.extensions.base import Extension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.command import (
    Command,
    ParseTrace,
    check_target_name,
    expand_addresses,
    parse_command_traced,
)
from iptparse.grammar.tokens import check_interface
from iptparse.model import STANDARD_TARGETS, Match, Rule, Target

# Short options whose value is a plain value (chain, address, interface, target).
_SHORT_VALUE_OPTIONS = frozenset({"-A", "-I", "-D", "-R", "-C", "-s", "-d", "-i", "-o"})
_JUMP_OPTIONS = frozenset({"-j", "--jump", "-g", "--goto"})
# Long options whose value steers parsing (or is not a rule value); their prefixes too.
_STEERING_LONG = ("match", "protocol", "table", "jump", "goto", "set-counters", "wait",
                  "wait-interval", "modprobe", "list", "list-rules", "flush", "zero",
                  "new-chain", "delete-chain", "rename-chain", "policy", "help")
# Core letters whose value a hole may carry.
_HOLE_LETTERS = frozenset("ACDIRsdiojg")
_HOLE = "\0"
_BUILTIN_CHAINS = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})
_CACHE_LIMIT = 100_000


def _steering(word: str) -> bool:
    name = word[2:].partition("=")[0]
    return any(long_name.startswith(name) for long_name in _STEERING_LONG)


@lru_cache(maxsize=4096)
def _takes_value(previous: str) -> str:
    """What the word after ``previous`` is: "jump" target, "value" (a hole) or "" (literal)."""
    if previous in _JUMP_OPTIONS:
        return "jump"
    if previous in _SHORT_VALUE_OPTIONS:
        return "value"
    if previous.startswith("--") and "=" not in previous and not _steering(previous):
        return "value"
    return ""


@lru_cache(maxsize=4096)
def _plain_chain_name(word: str) -> bool:
    return find_target(word) is None and word not in STANDARD_TARGETS


def shape_of(argv: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the argv with holes, the hole values in order).

    Built-in chain names stay in the shape: iptables checks ``-i``/``-o`` against them.
    """
    shape: list[str] = []
    values: list[str] = []
    kind = ""
    for word in argv:
        if (kind and word and word[0] not in "-!" and word not in _BUILTIN_CHAINS
                and (kind == "value" or _plain_chain_name(word))):
            shape.append(_HOLE)
            values.append(word)
        else:
            shape.append(word)
        kind = _takes_value(word)
    return tuple(shape), tuple(values)


class _Fallback(Exception):
    """The replay cannot vouch for this line: parse it the full way."""


def _no_more_words() -> str | None:
    raise _Fallback


@dataclass(frozen=True, slots=True)
class _Event:
    """One option of one extension: its value is literal or the hole numbered ``hole``."""

    opt: Opt
    value: str | None
    hole: int | None
    invert: bool
    protocol: int | None
    protocol_invert: bool


@dataclass(slots=True)
class _Slot:
    """One extension of the line, with its options by hole values already seen."""

    ext: Extension
    events: tuple[_Event, ...]
    holes: tuple[int, ...]
    protocol: int | None  # the rule's -p at the end of argv (what finish() sees)
    protocol_invert: bool
    table: str
    ipsets: frozenset[str] | None
    is_target: bool
    built: dict[Any, Match | Target] = field(default_factory=dict)

    def build(self, values: tuple[str, ...]) -> Match | Target:
        """The Match (or Target) this extension gives with these hole values."""
        holes = self.holes
        key: Any = values[holes[0]] if len(holes) == 1 else tuple(values[h] for h in holes)
        found = self.built.get(key)
        if found is not None:
            return found
        rule = RuleInProgress(self.table, self.ipsets)
        state: dict[str, Any] = {}
        warnings: list[str] = []
        for event in self.events:
            rule.protocol, rule.protocol_invert = event.protocol, event.protocol_invert
            value = event.value if event.hole is None else values[event.hole]
            self.ext.parse(state, OptionCall(event.opt, value, event.invert, rule,
                                             _no_more_words, _no_more_words, warnings.append))
        rule.protocol, rule.protocol_invert = self.protocol, self.protocol_invert
        options = self.ext.finish(state, rule)
        if warnings:
            raise _Fallback
        if len(self.built) >= _CACHE_LIMIT:
            self.built.clear()
        found = Target(self.ext.name, options) if self.is_target else Match(self.ext.name, options)
        self.built[key] = found
        return found


@dataclass(slots=True)
class _Shape:
    """A learned line shape: the full parse of its first line and where each hole goes."""

    command: Command
    base: dict[str, Any]  # the first rule's fields; the holes' fields are filled in per line
    chain_hole: int | None
    jump_hole: int | None
    goto: bool
    source_hole: int | None
    destination_hole: int | None
    iface_holes: tuple[tuple[str, int], ...]  # ("in_iface" | "out_iface", hole)
    source_text: str | None
    destination_text: str | None
    match_slots: tuple[_Slot, ...]
    target_slot: _Slot | None


def _learn(argv: list[str], shape: tuple[str, ...], command: Command, trace: ParseTrace,
           table: str, ipsets: frozenset[str] | None) -> _Shape | None:
    parser = trace.parser
    if (parser is None or command.action not in ("A", "C", "D", "I", "R") or not command.rules
            or command.warnings or trace.reads_more_words):
        return None
    hole_numbers = {}
    for index, word in enumerate(shape):
        if word == _HOLE:
            hole_numbers[index] = len(hole_numbers)
    core_holes: dict[str, int] = {}
    fed: set[int] = set()
    for index, letter in trace.core_values.items():
        if index in hole_numbers:
            if letter not in _HOLE_LETTERS or letter in core_holes:
                return None
            core_holes[letter] = hole_numbers[index]
            fed.add(index)
    by_loaded: dict[int, list[_Event]] = {}
    for event in trace.extension_events:
        hole = None
        if event.value_index is not None and event.value_index in hole_numbers:
            if event.value_index in fed:
                return None
            fed.add(event.value_index)
            hole = hole_numbers[event.value_index]
        by_loaded.setdefault(id(event.loaded), []).append(
            _Event(event.opt, event.value if hole is None else None, hole, event.invert,
                   event.protocol, event.protocol_invert))
    if fed != set(hole_numbers) or ("j" in core_holes and "g" in core_holes):
        return None
    def slot(item: Any, is_target: bool) -> _Slot:
        events = tuple(by_loaded.get(id(item), ()))
        holes = tuple(event.hole for event in events if event.hole is not None)
        return _Slot(item.ext, events, holes, parser.rule.protocol, parser.rule.protocol_invert,
                     table, ipsets, is_target)

    first = command.rules[0]
    chain_holes = [core_holes[letter] for letter in "ACDIR" if letter in core_holes]
    return _Shape(
        command=command,
        base={item.name: getattr(first, item.name) for item in fields(Rule)},
        chain_hole=chain_holes[0] if chain_holes else None,
        jump_hole=core_holes.get("j", core_holes.get("g")),
        goto="g" in core_holes,
        source_hole=core_holes.get("s"),
        destination_hole=core_holes.get("d"),
        iface_holes=tuple((name, core_holes[letter])
                          for letter, name in (("i", "in_iface"), ("o", "out_iface"))
                          if letter in core_holes),
        source_text=parser.source_text,
        destination_text=parser.destination_text,
        match_slots=tuple(slot(item, False) for item in parser.matches),
        target_slot=slot(parser.target, True) if parser.target is not None else None,
    )


class RuleShapes:
    """Shapes learned from the lines parsed so far (one per Restorer, so they live on)."""

    def __init__(self) -> None:
        self._shapes: dict[tuple[Any, ...], _Shape | None] = {}

    def parse(self, argv: list[str], table: str, chain_exists, restore: bool = True,
              ipsets: frozenset[str] | None = None) -> Command:
        """What :func:`parse_command` returns for ``argv``, through a learned shape if any."""
        shape, values = shape_of(argv)
        key = (table, restore, ipsets, shape)
        learned = self._shapes.get(key)
        if learned is not None:
            try:
                return _replay(learned, values, chain_exists)
            except (_Fallback, IptablesError):
                pass
        command, trace = parse_command_traced(argv, table, chain_exists, restore, ipsets)
        if key not in self._shapes:
            if len(self._shapes) >= _CACHE_LIMIT:
                self._shapes.clear()
            self._shapes[key] = _learn(argv, shape, command, trace, table, ipsets)
        return command


def _replay(shape: _Shape, values: tuple[str, ...], chain_exists) -> Command:
    rule_fields = shape.base.copy()
    rule_fields["matches"] = tuple([slot.build(values) for slot in shape.match_slots])
    if shape.target_slot is not None:
        rule_fields["target"] = shape.target_slot.build(values)
    elif shape.jump_hole is not None:
        name = check_target_name(values[shape.jump_hole])
        if not chain_exists(name):
            raise _Fallback
        rule_fields["target"] = Target(name, None, shape.goto)
    if shape.iface_holes:
        warnings: list[str] = []
        for name, hole in shape.iface_holes:
            rule_fields[name] = check_interface(values[hole], warnings.append)
        if warnings:
            raise _Fallback
    rules = expand_addresses(
        rule_fields,
        shape.source_text if shape.source_hole is None else values[shape.source_hole],
        shape.destination_text if shape.destination_hole is None else values[
            shape.destination_hole],
    )
    command = shape.command
    chain = command.chain if shape.chain_hole is None else values[shape.chain_hole]
    return Command(command.action, command.table, chain, command.rulenum, rules,
                   command.argument, command.zero, command.verbose, command.numeric,
                   command.exact, command.line_numbers, command.wait, command.warnings)
