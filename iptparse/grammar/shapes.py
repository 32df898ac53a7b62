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

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any

from iptparse.errors import IptablesError
from iptparse.extensions import TARGETS, find_target
from iptparse.extensions.base import Extension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.command import (
    RULE_FIELDS,
    Command,
    ParseTrace,
    check_target_name,
    expand_addresses,
    parse_command,
    parse_command_traced,
)
from iptparse.grammar.tokens import check_interface
from iptparse.model import STANDARD_TARGETS, Match, Target

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
_MATCHES, _TARGET = RULE_FIELDS.index("matches"), RULE_FIELDS.index("target")
_BUCKET_LIMIT = 8  # patterns tried per bucket; a dropped one is recomputed when met again


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


def _plain_chain_name(word: str) -> bool:
    # TARGETS first: most words are chain names, which need no lookup in the loaded extensions
    return (word not in TARGETS or find_target(word) is None) and word not in STANDARD_TARGETS


def hole_positions(argv: list[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the argv indexes that are holes, those of them that are jump targets).

    A word is a hole when the option before it takes a plain value, unless it looks like an
    option itself or names a built-in chain (iptables checks ``-i``/``-o`` against those); a
    jump target is a hole only when it names a chain (not a verdict, not an extension).
    """
    holes: list[int] = []
    jumps: list[int] = []
    kind = ""
    for index, word in enumerate(argv):
        if (kind and word and word[0] not in "-!" and word not in _BUILTIN_CHAINS
                and (kind == "value" or _plain_chain_name(word))):
            holes.append(index)
            if kind == "jump":
                jumps.append(index)
        kind = _takes_value(word)
    return tuple(holes), tuple(jumps)


def shape_of(argv: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the argv with holes, the hole values in order)."""
    holes, _ = hole_positions(argv)
    shape = list(argv)
    for index in holes:
        shape[index] = _HOLE
    return tuple(shape), tuple(argv[index] for index in holes)


def _picker(positions: tuple[int, ...]) -> Callable[[list[str]], tuple[str, ...]]:
    """The words at ``positions`` as a tuple, picked in C (itemgetter)."""
    if not positions:
        return lambda argv: ()
    if len(positions) == 1:
        index = positions[0]
        return lambda argv: (argv[index],)
    return itemgetter(*positions)


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity (moved within a bucket)
class _Pattern:
    """Recognises the lines of one shape without computing their shape.

    A line has this shape exactly when its literal words are these and each hole word would be
    taken as a hole (:func:`hole_positions`): the word before a hole is always literal (holes
    never start with ``-``), so it reads the same, and so does the word after a hole.
    """

    size: int
    literal: Callable[[list[str]], tuple[str, ...]]
    literal_words: tuple[str, ...]
    holes: Callable[[list[str]], tuple[str, ...]]
    jumps: tuple[int, ...]  # indexes into the hole values of jump targets
    learned: _Shape | None

    @classmethod
    def of(cls, argv: list[str], learned: _Shape | None) -> _Pattern:
        holes, jumps = hole_positions(argv)
        literal = _picker(tuple(index for index in range(len(argv)) if index not in holes))
        return cls(len(argv), literal, literal(argv), _picker(holes),
                   tuple(holes.index(index) for index in jumps), learned)

    def values(self, argv: list[str]) -> tuple[str, ...] | None:
        """The hole values when ``argv`` has this shape, else None."""
        if len(argv) != self.size or self.literal(argv) != self.literal_words:
            return None
        values = self.holes(argv)
        if not _BUILTIN_CHAINS.isdisjoint(values):
            return None
        for value in values:
            if not value or value[0] in "-!":
                return None
        for index in self.jumps:
            if not _plain_chain_name(values[index]):
                return None
        return values


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
    """One extension of the line, with its options by hole values already seen.

    ``built`` is shared by every slot with the same events (kube-proxy repeats a service's
    comment and port match on several lines of different shapes).
    """

    ext: Extension
    events: tuple[_Event, ...]
    key_of: Callable[[tuple[str, ...]], Any]  # the hole values this extension reads
    protocol: int | None  # the rule's -p at the end of argv (what finish() sees)
    protocol_invert: bool
    table: str
    ipsets: frozenset[str] | None
    is_target: bool
    built: dict[Any, Match | Target]

    def build(self, values: tuple[str, ...]) -> Match | Target:
        """The Match (or Target) this extension gives with these hole values."""
        key = self.key_of(values)
        found = self.built.get(key)
        if found is None:
            found = self._parse(values, key)
        return found

    def _parse(self, values: tuple[str, ...], key: Any) -> Match | Target:
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


def _key_picker(holes: tuple[int, ...]) -> Callable[[tuple[str, ...]], Any]:
    """The value (one hole) or tuple of values (several) a slot's result depends on."""
    if not holes:
        return lambda values: ()
    return itemgetter(*holes)


def _slot_signature(slot: _Slot) -> tuple[Any, ...]:
    """What a slot's result depends on besides its hole values (holes numbered within it)."""
    holes = [event.hole for event in slot.events if event.hole is not None]
    return (slot.ext.kind, slot.ext.name, slot.is_target, slot.protocol, slot.protocol_invert,
            slot.table, slot.ipsets,
            tuple((event.opt, event.value, None if event.hole is None else holes.index(
                event.hole), event.invert, event.protocol, event.protocol_invert)
                  for event in slot.events))


@dataclass(slots=True)
class _Shape:
    """A learned line shape: the full parse of its first line and where each hole goes."""

    command: Command
    base: list[Any]  # the first rule's fields (RULE_FIELDS); the holes' are filled in per line
    chain_hole: int | None
    jump_hole: int | None
    goto: bool
    source_hole: int | None
    destination_hole: int | None
    iface_holes: tuple[tuple[int, int], ...]  # (RULE_FIELDS index of in/out_iface, hole)
    source_text: str | None
    destination_text: str | None
    match_slots: tuple[_Slot, ...]
    target_slot: _Slot | None
    jump_targets: dict[str, Target] = field(default_factory=dict)  # by the jump hole's value
    command_tail: tuple[Any, ...] = ()  # the command's fields after ``rules``, as they were

    def __post_init__(self) -> None:
        command = self.command
        self.command_tail = (command.argument, command.zero, command.verbose, command.numeric,
                             command.exact, command.line_numbers, command.wait, command.warnings)


def _learn(argv: list[str], shape: tuple[str, ...], command: Command, trace: ParseTrace,
           table: str, ipsets: frozenset[str] | None,
           built: dict[tuple[Any, ...], dict[Any, Match | Target]]) -> _Shape | None:
    """The shape of ``argv`` learned from its full parse, or None when it cannot be replayed.

    ``built`` holds the results of every slot learned so far, by :func:`_slot_signature`.
    """
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
        learned = _Slot(item.ext, events, _key_picker(holes), parser.rule.protocol,
                        parser.rule.protocol_invert, table, ipsets, is_target, {})
        learned.built = built.setdefault(_slot_signature(learned), {})
        return learned

    first = command.rules[0]
    chain_holes = [core_holes[letter] for letter in "ACDIR" if letter in core_holes]
    return _Shape(
        command=command,
        base=[getattr(first, name) for name in RULE_FIELDS],
        chain_hole=chain_holes[0] if chain_holes else None,
        jump_hole=core_holes.get("j", core_holes.get("g")),
        goto="g" in core_holes,
        source_hole=core_holes.get("s"),
        destination_hole=core_holes.get("d"),
        iface_holes=tuple((RULE_FIELDS.index(name), core_holes[letter])
                          for letter, name in (("i", "in_iface"), ("o", "out_iface"))
                          if letter in core_holes),
        source_text=parser.source_text,
        destination_text=parser.destination_text,
        match_slots=tuple(slot(item, False) for item in parser.matches),
        target_slot=slot(parser.target, True) if parser.target is not None else None,
    )


class RuleShapes:
    """Shapes learned from the lines parsed so far (one per Restorer, so they live on).

    Lines are first sorted into buckets by a few words that look alike within a shape (length,
    first and third word); a bucket's patterns then tell in C whether a line has their shape.
    Only a line no pattern recognises has its shape computed word by word.
    """

    def __init__(self) -> None:
        self._shapes: dict[tuple[Any, ...], _Shape | None] = {}
        self._buckets: dict[tuple[Any, ...], list[_Pattern]] = {}
        self._built: dict[tuple[Any, ...], dict[Any, Match | Target]] = {}

    def parse(self, argv: list[str], table: str, chain_exists, restore: bool = True,
              ipsets: frozenset[str] | None = None) -> Command:
        """What :func:`parse_command` returns for ``argv``, through a learned shape if any."""
        size = len(argv)
        bucket_key = (table, restore, ipsets, size, argv[0] if size else "",
                      argv[2] if size > 2 else "")
        bucket = self._buckets.get(bucket_key)
        if bucket is None:
            if len(self._buckets) >= _CACHE_LIMIT:
                self._buckets.clear()
            bucket = self._buckets[bucket_key] = []
        for pattern in bucket:
            values = pattern.values(argv)
            if values is not None:
                if pattern is not bucket[0]:  # most recently met first: shapes come in runs
                    bucket.remove(pattern)
                    bucket.insert(0, pattern)
                break
        else:
            pattern, command = self._new_pattern(argv, table, chain_exists, restore, ipsets)
            if len(bucket) >= _BUCKET_LIMIT:
                bucket.pop()  # the least recently met
            bucket.insert(0, pattern)
            if command is not None:
                return command
            values = pattern.holes(argv)
        if pattern.learned is not None:
            try:
                return _replay(pattern.learned, values, chain_exists)
            except (_Fallback, IptablesError):
                pass
        return parse_command(argv, table, chain_exists, restore, ipsets)

    def _new_pattern(self, argv: list[str], table: str, chain_exists, restore: bool,
                     ipsets: frozenset[str] | None) -> tuple[_Pattern, Command | None]:
        """The pattern of ``argv``'s shape, and the full parse of ``argv`` when the shape was
        new (then learned from it)."""
        shape, _ = shape_of(argv)
        key = (table, restore, ipsets, shape)
        command = None
        if key not in self._shapes:
            command, trace = parse_command_traced(argv, table, chain_exists, restore, ipsets)
            if len(self._shapes) >= _CACHE_LIMIT:
                self._shapes.clear()
            if len(self._built) >= _CACHE_LIMIT:
                self._built.clear()
            self._shapes[key] = _learn(argv, shape, command, trace, table, ipsets, self._built)
        return _Pattern.of(argv, self._shapes[key]), command


def _replay(shape: _Shape, values: tuple[str, ...], chain_exists) -> Command:
    rule_fields = shape.base.copy()
    matches = []
    for slot in shape.match_slots:  # Slot.build, inlined for the common case (already built)
        found = slot.built.get(slot.key_of(values))
        matches.append(found if found is not None else slot.build(values))
    rule_fields[_MATCHES] = tuple(matches)
    if shape.target_slot is not None:
        rule_fields[_TARGET] = shape.target_slot.build(values)
    elif shape.jump_hole is not None:
        name = values[shape.jump_hole]
        target = shape.jump_targets.get(name)
        if target is None:
            target = Target(check_target_name(name), None, shape.goto)
            if len(shape.jump_targets) >= _CACHE_LIMIT:
                shape.jump_targets.clear()
            shape.jump_targets[name] = target
        if not chain_exists(name):
            raise _Fallback
        rule_fields[_TARGET] = target
    if shape.iface_holes:
        warnings: list[str] = []
        for field_index, hole in shape.iface_holes:
            rule_fields[field_index] = check_interface(values[hole], warnings.append)
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
                   *shape.command_tail)
