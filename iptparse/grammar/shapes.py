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
    DESTINATION,
    RULE_FIELDS,
    SOURCE,
    XT_EXTENSION_MAXNAMELEN,
    Command,
    ParseTrace,
    check_target_name,
    expand_addresses,
    parse_command,
    parse_command_traced,
)
from iptparse.grammar.tokens import check_interface, parse_host_mask
from iptparse.model import STANDARD_TARGETS, Match, Rule, Target

# A learned shape's compiled replay: (hole values, chain_exists) -> (chain, rules).
ReplayFunction = Callable[[tuple[str, ...], Callable[[str], bool]], tuple[str, tuple[Rule, ...]]]
# What a restore line gives: a whole Command, or, for the usual ``-A`` line, (chain, rules).
ParsedLine = Command | tuple[str, tuple[Rule, ...]]

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

    holes: Callable[[list[str]], tuple[str, ...]]  # the hole words of a line of this shape
    values: Callable[[list[str]], tuple[str, ...] | None]  # them, or None: not this shape
    learned: _Shape | None
    # For ``-A`` shapes: values, then learned.run, in one call; None: not this shape.
    append: Callable[[list[str], Callable[[str], bool]], ParsedLine | None] | None

    @classmethod
    def of(cls, argv: list[str], learned: _Shape | None) -> _Pattern:
        holes, jumps = hole_positions(argv)
        append = None
        if learned is not None and learned.appends:
            append = _compile_recogniser(argv, holes, jumps, learned)
        return cls(_picker(holes), _compile_recogniser(argv, holes, jumps), learned, append)


_NOT_A_HOLE_START = frozenset({"", "-", "!"})  # a hole's first character (empty: no word)


def _compile_recogniser(argv: list[str], holes: tuple[int, ...], jumps: tuple[int, ...],
                        learned: _Shape | None = None) -> Any:
    """``values(argv)`` of a pattern as straight-line code: the literal words compared in C
    (itemgetter), then each hole's own check, unrolled; with ``learned``, ``append(argv,
    chain_exists)``, which goes on with the shape's replay (:func:`_replay_code`)."""
    literal_positions = tuple(index for index in range(len(argv)) if index not in holes)
    env: dict[str, Any] = {"literal": _picker(literal_positions),
                           "literal_words": _picker(literal_positions)(argv),
                           "holes": _picker(holes), "builtin_chains": _BUILTIN_CHAINS,
                           "not_a_hole_start": _NOT_A_HOLE_START,
                           "standard_targets": STANDARD_TARGETS, "targets": TARGETS,
                           "find_target": find_target}
    body = [f"if len(argv) != {len(argv)} or literal(argv) != literal_words: return None",
            "values = holes(argv)",
            "if not builtin_chains.isdisjoint(values): return None"]
    body += [f"if argv[{index}][:1] in not_a_hole_start: return None" for index in holes]
    for index in jumps:  # _plain_chain_name, inlined
        body += [f"word = argv[{index}]",
                 "if word in standard_targets or (word in targets",
                 "                                and find_target(word) is not None):",
                 "    return None"]
    if learned is None:
        body.append("return values")
        return _function("values", "argv", body, env)
    replay_body, replay_env = _replay_code(learned)
    return _function("append", "argv, chain_exists", body + replay_body, env | replay_env)


def _function(name: str, parameters: str, body: list[str], env: dict[str, Any]) -> Any:
    """A function of ``body`` lines, compiled once, reading ``env``'s names as its globals."""
    source_code = f"def {name}({parameters}):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source_code, f"<bpftables shape {name}>", "exec"), env)  # noqa: S102
    return env[name]


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
    protocol: int | None  # the rule's -p at the end of argv (what finish() sees)
    protocol_invert: bool
    table: str
    ipsets: frozenset[str] | None
    is_target: bool
    built: dict[Any, Match | Target]
    # The one option, its hole and the rule as it stands there, when that is all this
    # extension reads (Extension.parse_one may then answer without the generic path).
    one: tuple[Opt, int, RuleInProgress] | None = None

    def __post_init__(self) -> None:
        event = self.events[0] if len(self.events) == 1 else None
        if (event is not None and event.hole is not None and not event.invert
                and type(self.ext).parse_one is not Extension.parse_one):
            rule = RuleInProgress(self.table, self.ipsets)
            rule.protocol, rule.protocol_invert = event.protocol, event.protocol_invert
            self.one = (event.opt, event.hole, rule)

    def parse(self, values: tuple[str, ...], key: Any) -> Match | Target:
        """The Match (or Target) this extension gives with these hole values, not built yet
        (``key``: the values it reads, what ``built`` keeps it by; see _key_expression)."""
        options = None
        if self.one is not None:
            opt, hole, at_option = self.one
            options = self.ext.parse_one(opt, values[hole], at_option)
        if options is None:
            options = self._parse_generic(values)
        if len(self.built) >= _CACHE_LIMIT:
            self.built.clear()
        found = Target(self.ext.name, options) if self.is_target else Match(self.ext.name, options)
        self.built[key] = found
        return found

    def _parse_generic(self, values: tuple[str, ...]) -> Any:
        """The extension's options through its parse and finish, as the full parser runs them."""
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
        return options


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
    run: ReplayFunction = field(init=False)  # values, chain_exists -> (chain, rules)
    appends: bool = field(init=False)  # the lines are ``-A CHAIN ...`` (a restore's usual line)

    def __post_init__(self) -> None:
        command = self.command
        self.command_tail = (command.argument, command.zero, command.verbose, command.numeric,
                             command.exact, command.line_numbers, command.wait, command.warnings)
        self.run = _compile(self)
        self.appends = command.action == "A"


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
        learned = _Slot(item.ext, events, parser.rule.protocol,
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
        # (table, restore, ipsets) -> (size, first word, third word) -> patterns
        self._buckets: dict[tuple[Any, ...], dict[tuple[int, str, str], list[_Pattern]]] = {}
        self._line_buckets: dict[str, dict[tuple[int, str, str], list[_Pattern]]] = {}  # restore
        self._built: dict[tuple[Any, ...], dict[Any, Match | Target]] = {}

    def parse(self, argv: list[str], table: str, chain_exists, restore: bool = True,
              ipsets: frozenset[str] | None = None) -> Command:
        """What :func:`parse_command` returns for ``argv``, through a learned shape if any."""
        parsed = self._parse(argv, table, chain_exists, restore, ipsets, False)
        assert isinstance(parsed, Command)
        return parsed

    def parse_line(self, argv: list[str], table: str, chain_exists) -> ParsedLine:
        """A restore's rule line: what :meth:`parse` returns, except that a replayed ``-A``
        line gives only (chain, rules), which is all a restore applies (no Command built)."""
        buckets = self._line_buckets.get(table)
        if buckets is not None:
            size = len(argv)
            bucket = buckets.get((size, argv[0] if size else "", argv[2] if size > 2 else ""))
            for pattern in bucket or ():  # each a call (what _parse does, in one)
                if pattern.append is None:
                    break
                try:
                    parsed = pattern.append(argv, chain_exists)
                except (_Fallback, IptablesError):
                    return parse_command(argv, table, chain_exists, True, None)
                if parsed is not None:
                    if pattern is not bucket[0]:  # most recently met first
                        bucket.remove(pattern)
                        bucket.insert(0, pattern)
                    return parsed
        return self._parse(argv, table, chain_exists, True, None, True)

    def _parse(self, argv: list[str], table: str, chain_exists, restore: bool,
               ipsets: frozenset[str] | None, bare_appends: bool) -> ParsedLine:
        size = len(argv)
        buckets = self._buckets.get((table, restore, ipsets))
        if buckets is None:
            buckets = self._buckets[table, restore, ipsets] = {}
            if restore and ipsets is None:
                self._line_buckets[table] = buckets
        bucket_key = (size, argv[0] if size else "", argv[2] if size > 2 else "")
        bucket = buckets.get(bucket_key)
        if bucket is None:
            if len(buckets) >= _CACHE_LIMIT:
                buckets.clear()
            bucket = buckets[bucket_key] = []
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
        shape = pattern.learned
        if shape is not None:
            try:
                if bare_appends and shape.appends:
                    return shape.run(values, chain_exists)
                return _replay(shape, values, chain_exists)
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
    chain, rules = shape.run(values, chain_exists)
    command = shape.command
    return Command(command.action, command.table, chain, command.rulenum, rules,
                   *shape.command_tail)


def _new_jump(shape: _Shape, name: str) -> Target:
    # a printable name has no C isspace() character: check_target_name's length check is
    # then all that applies (it is a cache per name, and most names are met once)
    if not (len(name) < XT_EXTENSION_MAXNAMELEN and name.isprintable()):
        check_target_name(name)
    target = Target(name, None, shape.goto)
    if len(shape.jump_targets) >= _CACHE_LIMIT:
        shape.jump_targets.clear()
    shape.jump_targets[name] = target
    return target


def _key_expression(slot: _Slot) -> str:
    """Python for the hole values a slot reads: one value bare, several a tuple, none ()."""
    holes = [event.hole for event in slot.events if event.hole is not None]
    if len(holes) == 1:
        return f"values[{holes[0]}]"
    return "(" + "".join(f"values[{hole}], " for hole in holes) + ")"


def _address_expression(shape: _Shape, hole: int | None, text: str | None, field_index: int,
                        ) -> tuple[str, bool]:
    """(Python for the hole's or literal's address text, whether it needs reading per line).

    A literal that reads as one prefix is already in ``base`` (the first line had it too)."""
    if hole is not None:
        return f"values[{hole}]", True
    if text is None:
        return "None", False
    try:
        prefixes = parse_host_mask(text)
    except IptablesError:
        prefixes = ()
    return repr(text), not (len(prefixes) == 1 and prefixes[0] == shape.base[field_index])


def _slot_code(slot: _Slot, name: str, env: dict[str, Any]) -> list[str]:
    """Lines setting ``name`` to the slot's Match (or Target) for the line's values: known
    values from ``built``, new ones through _Slot.parse."""
    env[f"{name}_slot"], env[f"{name}_built"] = slot, slot.built
    key = _key_expression(slot)
    return [f"{name} = {name}_built.get({key})",
            f"if {name} is None: {name} = {name}_slot.parse(values, {key})"]


def _compile(shape: _Shape) -> ReplayFunction:
    """The replay of one shape as straight-line code, written and compiled once per shape (as
    dataclasses writes ``__init__``): a kube-proxy line then costs a few dict lookups and one
    Rule, with no loop over the shape's parts. Anything it cannot vouch for raises _Fallback.
    """
    body, env = _replay_code(shape)
    return _function("replay", "values, chain_exists", body, env)


def _replay_code(shape: _Shape) -> tuple[list[str], dict[str, Any]]:
    """The lines of :func:`_compile`'s function, from ``values`` and ``chain_exists``, and the
    names they read."""
    env: dict[str, Any] = {"shape": shape, "Rule": Rule, "_Fallback": _Fallback,
                           "new_jump": _new_jump, "check_interface": check_interface,
                           "parse_host_mask": parse_host_mask,
                           "expand_addresses": expand_addresses}
    # Rule's arguments: the first line's values (base0, base1, ...) unless a hole sets them.
    arguments = [f"base{index}" for index in range(len(shape.base))]
    env.update((f"base{index}", value) for index, value in enumerate(shape.base))
    body = []
    matches = []
    for number, slot in enumerate(shape.match_slots):
        body += _slot_code(slot, f"m{number}", env)
        matches.append(f"m{number}, ")
    arguments[_MATCHES] = f"({''.join(matches)})"
    if shape.target_slot is not None:
        body += _slot_code(shape.target_slot, "target", env)
        arguments[_TARGET] = "target"
    elif shape.jump_hole is not None:
        env["jump_targets"] = shape.jump_targets
        body += [f"name = values[{shape.jump_hole}]",
                 "target = jump_targets.get(name)",
                 "if target is None: target = new_jump(shape, name)",
                 "if not chain_exists(name): raise _Fallback"]
        arguments[_TARGET] = "target"
    if shape.iface_holes:
        body.append("warnings = []")
        for field_index, hole in shape.iface_holes:
            body.append(f"iface{field_index} = check_interface(values[{hole}], warnings.append)")
            arguments[field_index] = f"iface{field_index}"
        body.append("if warnings: raise _Fallback")
    source, source_varies = _address_expression(shape, shape.source_hole, shape.source_text,
                                                 SOURCE)
    destination, destination_varies = _address_expression(
        shape, shape.destination_hole, shape.destination_text, DESTINATION)
    chain = repr(shape.command.chain) if shape.chain_hole is None else (
        f"values[{shape.chain_hole}]")
    several = (f"return {chain}, expand_addresses([{', '.join(arguments)}], {source}, "
               f"{destination})")
    for varies, text, name, field_index in ((source_varies, source, "sources", SOURCE),
                                            (destination_varies, destination, "destinations",
                                             DESTINATION)):
        if varies:  # one address is the rule's; several make a rule each (expand_addresses)
            body += [f"{name} = parse_host_mask({text})",
                     f"if len({name}) != 1: {several}"]
            arguments[field_index] = f"{name}[0]"
    body.append(f"return {chain}, (Rule({', '.join(arguments)}),)")
    return body, env
