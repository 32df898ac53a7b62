"""The iptables command line: argv -> :class:`Command` (with its rules expanded).

iptables reads its argv with getopt_long over a list of long options that grows as extensions
are loaded (``-m``, ``-j``, and the implicit match of ``-p``), newest extension first, with
unambiguous prefixes accepted. The dispatch below reproduces that, because which extension an
option belongs to depends on it (``-m tcp --sport 1 -m tcp --sport 2`` gives two tcp matches;
``-m multiport --dport 1`` is multiport's ``--dports``). Values are read by the grammars in
:mod:`iptparse.grammar.tokens` and by each extension.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from iptparse.errors import IptablesError, ParameterProblem
from iptparse.extensions import find_match, find_target
from iptparse.extensions.base import Extension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import (
    c_digits_value,
    check_interface,
    parse_host_mask,
    parse_protocol,
    protocol_name,
    strtoul,
)
from iptparse.model import STANDARD_TARGETS, Counters, IPv4Prefix, Match, Rule, Target

XT_EXTENSION_MAXNAMELEN = 29


class _IgnoreLine(Exception):
    """Raised inside a restore line that iptables-restore skips (``-6``)."""


class _ExitNow(Exception):
    """``-V`` / ``-h``: iptables prints and exits as soon as getopt returns them."""

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


class BadArgument(ParameterProblem):
    """``Bad argument `X'``: printed by iptables without its program/version prefix."""

    bare = True


# getopt's short option string of iptables 1.8.9 (xshared.c): 1 = required, 2 = optional arg.
_SHORT: dict[str, int] = {}
for _spec in "A: C: D: R: I: L:: S:: M: F:: Z:: N: X:: E: P: V h:: o: p: s: d: j: i: f b v w:: "\
        "W:: n t: m: x c: g: 4 6".split():
    _SHORT[_spec[0]] = 0 if len(_spec) == 1 else (1 if len(_spec) == 2 else 2)

# Core long options in iptables' order: name -> (has_arg, short letter it stands for).
_CORE_LONG: tuple[tuple[str, int, str], ...] = (
    ("append", 1, "A"), ("delete", 1, "D"), ("check", 1, "C"), ("insert", 1, "I"),
    ("replace", 1, "R"), ("list", 2, "L"), ("list-rules", 2, "S"), ("flush", 2, "F"),
    ("zero", 2, "Z"), ("new-chain", 1, "N"), ("delete-chain", 2, "X"), ("rename-chain", 1, "E"),
    ("policy", 1, "P"), ("source", 1, "s"), ("destination", 1, "d"), ("src", 1, "s"),
    ("dst", 1, "d"), ("protocol", 1, "p"), ("in-interface", 1, "i"), ("jump", 1, "j"),
    ("table", 1, "t"), ("match", 1, "m"), ("numeric", 0, "n"), ("out-interface", 1, "o"),
    ("verbose", 0, "v"), ("wait", 2, "w"), ("wait-interval", 2, "W"), ("exact", 0, "x"),
    ("fragments", 0, "f"), ("version", 0, "V"), ("help", 2, "h"), ("line-numbers", 0, "0"),
    ("modprobe", 1, "M"), ("set-counters", 1, "c"), ("goto", 1, "g"), ("ipv4", 0, "4"),
    ("ipv6", 0, "6"),
)

_CORE_EXACT: dict[str, tuple[int, Any]] = {name: (arg, letter) for name, arg, letter in _CORE_LONG}

# Commands (letter -> name used in messages) and which may be combined.
COMMAND_LETTERS = "AC D R I L S F Z N X E P".replace(" ", "")
_COMBINABLE = {frozenset("LZ"), frozenset("SZ")}

# Options each command takes (xshared.c commands_v_options): x = illegal.
_OPTION_LETTERS = "nsdpjvxio0cf"
_ILLEGAL: dict[str, str] = {
    #     nsdpjvxio0cf
    "I": "x.....x..x..",
    "D": "x.....x..xx.",
    "d": "xxxxx.xxxxxx",  # -D CHAIN RULENUM
    "R": "x.....x..x..",
    "A": "x.....x..x..",
    "L": ".xxxx..xx.xx",
    "F": "xxxxx.xxxxxx",
    "Z": "xxxxx.xxxxxx",
    "N": "xxxxx.xxxxxx",
    "X": "xxxxx.xxxxxx",
    "P": "xxxxx.xxxx.x",
    "E": "xxxxx.xxxxxx",
    "S": "xxxxx.xxxxxx",
    "C": "x.....x..xx.",
}
_OPTION_NAMES = {"0": "--line-numbers", "c": "-c"}


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed iptables invocation."""

    # "A", "C", "D" (rule), "d" (-D number), "I", "R", "L", "S", "F", "Z", "N", "X", "E", "P",
    # "V", "h"; "" for a restore line that is skipped
    action: str
    table: str = "filter"
    chain: str | None = None
    rulenum: int | None = None  # -D/-R/-I/-L/-S/-Z N
    rules: tuple[Rule, ...] = ()
    argument: str | None = None  # -E new name, -P policy
    zero: bool = False  # -Z given together with -L/-S
    verbose: int = 0
    numeric: bool = False
    exact: bool = False
    line_numbers: bool = False
    wait: float | None = None  # seconds for -w; math.inf when -w has no value
    warnings: tuple[str, ...] = ()
    wait_interval: int | None = None  # -W microseconds (deprecated: accepted, changes nothing)
    counters: Counters | None = None  # -c PKTS BYTES (of -P; rules carry their own)
    zero_rulenum: int | None = None  # -Z CHAIN N: only that rule (else -Z zeroes the chain)


@dataclass(slots=True)
class _Loaded:
    """An extension loaded by this command line, with its working parse state."""

    ext: Extension
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ExtensionEvent:
    """One extension option as the parser handed it over (for :mod:`.shapes`)."""

    loaded: _Loaded
    opt: Opt
    value: str | None
    value_index: int | None  # argv index of the value, None when attached (--opt=value)
    invert: bool
    protocol: int | None  # the rule's -p as it stood at this point of argv
    protocol_invert: bool


@dataclass(slots=True)
class ParseTrace:
    """What a parse did with each argv word, so a look-alike line can skip getopt.

    ``core_values`` maps the argv index of a core option's value to the option letter;
    ``reads_more_words`` is set when an extension read words beyond its option's value.
    """

    core_values: dict[int, str] = field(default_factory=dict)
    extension_events: list[ExtensionEvent] = field(default_factory=list)
    reads_more_words: bool = False
    parser: _Parser | None = None


class _Parser:
    """State of one command-line parse (iptables' ``struct iptables_command_state``)."""

    def __init__(self, argv: list[str], table: str, chain_exists: Callable[[str], bool],
                 restore: bool, ipsets: frozenset[str] | None = None,
                 trace: ParseTrace | None = None) -> None:
        self.argv = argv
        self.trace = trace
        self.value_index: int | None = None  # argv index of the current option's value
        self.pos = 0
        self.table = table
        self.table_given = False
        self.restore = restore
        self.chain_exists = chain_exists
        self.command = ""
        self.chain: str | None = None
        self.rulenum: int | None = None
        self.argument: str | None = None
        self.options: set[str] = set()
        self.invert = False
        self.rule = RuleInProgress(table, ipsets)
        self.sources: tuple[IPv4Prefix, ...] = ()
        self.destinations: tuple[IPv4Prefix, ...] = ()
        self.inverts: set[str] = set()
        self.in_iface: str | None = None
        self.out_iface: str | None = None
        self.fragment = False
        self.matches: list[_Loaded] = []
        self.target: _Loaded | None = None
        self.jumpto: str | None = None
        self.goto = False
        self.proto_used = False
        self.counters: Counters | None = None
        self.verbose = 0
        self.wait: float | None = None
        self.wait_interval: int | None = None
        self.warnings: list[str] = []

    # --- argv access ------------------------------------------------------------------------

    def _take(self) -> str | None:
        if self.pos < len(self.argv):
            self.pos += 1
            return self.argv[self.pos - 1]
        return None

    def _peek(self) -> str | None:
        return self.argv[self.pos] if self.pos < len(self.argv) else None

    def _take_positional(self) -> str | None:
        """The next word when it is not an option (iptables: not starting with '-' or '!')."""
        word = self._peek()
        if word is not None and word[:1] not in ("-", "!"):
            self.pos += 1
            return word
        return None

    # --- long options -----------------------------------------------------------------------

    def _long_candidates(self) -> list[tuple[str, int, Any]]:
        """The merged long option list: core, then extensions newest first (target included)."""
        merged: list[tuple[str, int, Any]] = [(n, a, letter) for n, a, letter in _CORE_LONG]
        for item in reversed(self._loaded):
            for opt in item.ext.options:
                merged.append((opt.name, 1 if opt.arg else 0, (item, opt)))
        return merged

    def _register(self, item: _Loaded) -> None:
        """An extension was loaded: its options now come first among extension options."""
        self._loaded.append(item)
        for opt in item.ext.options:
            if opt.name not in _CORE_EXACT:
                self._exact[opt.name] = (1 if opt.arg else 0, (item, opt))

    def _lookup_long(self, name: str) -> tuple[int, Any] | None | bool:
        """getopt_long's lookup: exact name first, else one unambiguous prefix.

        Returns (has_arg, what) or None when unknown, False when ambiguous.
        """
        exact = self._exact.get(name)
        if exact is not None:
            return exact
        found: tuple[int, Any] | None = None
        for opt_name, has_arg, what in self._long_candidates():
            if opt_name.startswith(name):
                if found is None:
                    found = (has_arg, what)
                elif _identity(found) != _identity((has_arg, what)):
                    return False
        return found

    # --- main loop --------------------------------------------------------------------------

    def parse(self) -> Command:
        try:
            return self._parse()
        except IptablesError as error:
            # iptables printed these before it failed
            error.warnings = tuple(self.warnings)
            raise
        except _IgnoreLine:
            return Command("", self.table)
        except _ExitNow as done:
            return Command(done.command, self.table)

    def _parse(self) -> Command:
        self._loaded: list[_Loaded] = []
        self._exact: dict[str, tuple[int, Any]] = dict(_CORE_EXACT)
        while self.pos < len(self.argv):
            word = self.argv[self.pos]
            self.pos += 1
            if word.startswith("--") and len(word) > 2:
                self._long(word)
            elif word.startswith("-") and len(word) > 1:
                self._short_cluster(word)
            else:
                if word == "!":
                    if self.invert:
                        raise ParameterProblem("multiple consecutive ! not allowed")
                    self.invert = True
                    continue
                raise BadArgument(f"Bad argument `{word}'")
        return self._finish()

    def _long(self, word: str) -> None:
        name, eq, inline = word[2:].partition("=")
        found = self._lookup_long(name)
        if found is None or found is False:
            if found is None and self._load_proto():
                self.pos -= 1
                return
            raise ParameterProblem(f'unknown option "{word}"')
        has_arg, what = found
        value: str | None = None
        self.value_index = None
        if eq:
            if has_arg == 0:
                raise ParameterProblem(f'unknown option "{word}"')
            value = inline
        elif has_arg == 1:
            value = self._take()
            if value is None:
                raise ParameterProblem(f'option "{word}" requires an argument')
            self.value_index = self.pos - 1
        if isinstance(what, str):
            if eq and what in "sd":
                value = word  # iptables reads -s/-d from argv[optind-1], the whole word
            self._core(what, value, word)
        else:
            self._extension_option(what[0], what[1], value)
        self.invert = False

    def _short_cluster(self, word: str) -> None:
        index = 1
        while index < len(word):
            letter = word[index]
            index += 1
            has_arg = _SHORT.get(letter)
            if has_arg is None:
                if self._load_proto():
                    # iptables re-runs getopt on the same word once the protocol match is loaded;
                    # a short option is never an extension option, so it stays unknown.
                    pass
                raise ParameterProblem(f'unknown option "-{letter}"')
            value: str | None = None
            self.value_index = None
            if has_arg == 1:
                if index < len(word):
                    value = word[index:]
                else:
                    value = self._take()
                    if value is None:
                        raise ParameterProblem(f'option "{word}" requires an argument')
                    self.value_index = self.pos - 1
                index = len(word)
            elif has_arg == 2 and index < len(word):
                value = word[index:]
                index = len(word)
            if letter in "sd" and value is not None and self.argv[self.pos - 1] is word:
                value = word  # attached value: iptables reads the whole argv word
            self._core(letter, value, f"-{letter}")
            self.invert = False

    # --- protocol's implicit match ----------------------------------------------------------

    def _load_proto(self) -> bool:
        """Load the match named after ``-p`` when an unknown option appears (load_proto)."""
        if self.rule.protocol is None or self.proto_used:
            return False
        ext = find_match(protocol_name(self.rule.protocol))
        if ext is None:
            return False
        self.proto_used = True
        self._add_match(ext)
        return True

    def _add_match(self, ext: Extension) -> None:
        loaded = _Loaded(ext)
        self.matches.append(loaded)
        self._register(loaded)

    # --- options of extensions --------------------------------------------------------------

    def _extension_option(self, loaded: _Loaded, opt: Opt, value: str | None) -> None:
        if self.trace is None:
            call = OptionCall(opt, value, self.invert, self.rule, self._take, self._peek,
                              self.warnings.append)
            loaded.ext.parse(loaded.state, call)
            return
        trace = self.trace
        event = ExtensionEvent(loaded, opt, value, self.value_index, self.invert,
                               self.rule.protocol, self.rule.protocol_invert)

        def peek() -> str | None:
            trace.reads_more_words = True
            return self._peek()

        def take() -> str | None:
            trace.reads_more_words = True
            return self._take()

        trace.extension_events.append(event)
        loaded.ext.parse(loaded.state, OptionCall(opt, value, self.invert, self.rule, take, peek,
                                                  self.warnings.append))

    # --- core options -----------------------------------------------------------------------

    def _set_option(self, letter: str) -> None:
        if letter in self.options:
            raise ParameterProblem(f"multiple -{letter} flags not allowed")
        self.options.add(letter)
        if self.invert:
            if letter not in "sdpiof":
                raise ParameterProblem(f"cannot have ! before -{letter}")
            self.inverts.add(letter)

    def _add_command(self, letter: str) -> None:
        if self.invert:
            raise ParameterProblem("unexpected ! flag")
        if not self.command:
            self.command = letter
            return
        if frozenset((self.command, letter)) not in _COMBINABLE:
            raise ParameterProblem(f"Cannot use -{letter} with -{self.command}")
        # -L/-S together with -Z: list, then zero.
        self.zero = True
        if letter != "Z":
            self.command = letter

    def _rulenum(self, text: str) -> int:
        number = strtoul(text) if text.isdigit() else None
        if number is None or number < 1 or number > 0x7FFFFFFF:
            raise ParameterProblem(f"Invalid rule number `{text}'")
        return number

    def _core(self, letter: str, value: str | None, word: str) -> None:
        if self.trace is not None and self.value_index is not None:
            self.trace.core_values[self.value_index] = letter
        if letter in COMMAND_LETTERS:
            self._command_option(letter, value)
            return
        if letter == "s":
            self._set_option("s")
            self.source_text = value
        elif letter == "d":
            self._set_option("d")
            self.destination_text = value
        elif letter == "p":
            self._set_option("p")
            assert value is not None
            self.rule.protocol = parse_protocol(value.lower())
            self.rule.protocol_invert = self.invert
            if self.rule.protocol == 0 and self.invert:
                raise ParameterProblem("rule would never match protocol")
        elif letter == "i":
            self._set_option("i")
            assert value is not None
            self.in_iface = check_interface(value, self.warnings.append)
        elif letter == "o":
            self._set_option("o")
            assert value is not None
            self.out_iface = check_interface(value, self.warnings.append)
        elif letter == "f":
            self._set_option("f")
            self.fragment = True
        elif letter == "j":
            self._set_option("j")
            assert value is not None
            self.jumpto = check_target_name(value)
            ext = find_target(self.jumpto)
            if ext is not None:
                self.target = _Loaded(ext)
                self._register(self.target)
        elif letter == "g":
            self._set_option("j")  # -g and -j share one flag: "multiple -j flags not allowed"
            assert value is not None
            self.jumpto = check_target_name(value)
            self.goto = True
        elif letter == "m":
            if self.invert:
                raise ParameterProblem("unexpected ! flag before --match")
            assert value is not None
            ext = find_match(value)
            if ext is None:
                raise ParameterProblem(f"Couldn't load match `{value}':No such file or directory\n")
            self._add_match(ext)
        elif letter == "t":
            if self.invert:
                raise ParameterProblem("unexpected ! flag before --table")
            if self.restore:
                raise ParameterProblem("The -t option cannot be used in iptables-restore.\n")
            assert value is not None
            self.table = value
            self.rule.table = value
            self.table_given = True
        elif letter == "n":
            self._set_option("n")
        elif letter == "v":
            if self.invert:
                raise ParameterProblem("cannot have ! before -v")
            self.options.add("v")
            self.verbose += 1
        elif letter == "x":
            self._set_option("x")
        elif letter == "0":
            self._set_option("0")
        elif letter == "c":
            self._set_option("c")
            packets = strtoul(value or "")
            if packets is None:
                raise ParameterProblem("-c packet counter not numeric")
            byte_text = self._take_positional()
            if byte_text is None:
                raise ParameterProblem("-c requires packet and byte counter")
            nbytes = strtoul(byte_text)
            if nbytes is None:
                raise ParameterProblem("-c byte counter not numeric")
            self.counters = Counters(packets, nbytes)
        elif letter == "w":
            if self.restore:
                raise ParameterProblem("You cannot use `-w' from iptables-restore")
            text = value if value is not None else self._take_positional()
            if text is None:
                self.wait = math.inf
            else:
                seconds = scan_int(text)
                if seconds is None:
                    raise ParameterProblem("wait seconds not numeric")
                self.wait = math.inf if seconds < 0 else float(seconds)
        elif letter == "W":
            text = value if value is not None else self._take_positional()
            if text is None:
                raise ParameterProblem("wait interval value required")
            self.wait_interval = parse_wait_interval(text)
            self.warnings.append("Ignoring deprecated --wait-interval option.")
        elif letter in "Vh":
            raise _ExitNow(letter)
        elif letter in "M46b":
            if letter == "6":
                if self.restore:
                    raise _IgnoreLine  # iptables-restore skips IPv6-only lines
                raise ParameterProblem("This is the IPv4 version of iptables.")
        else:  # pragma: no cover - every letter of _SHORT is handled above
            raise ParameterProblem(f'unknown option "{word}"')

    def _command_option(self, letter: str, value: str | None) -> None:
        self._add_command(letter)
        if letter in "ACIRDN EP".replace(" ", ""):
            self.chain = value
        elif value is not None:
            self.chain = value
        else:
            named = self._take_positional() if letter in "LSFZX" else None
            if named is not None or not self.zero:  # -L CHAIN -Z: the chain stays
                self.chain = named
        if letter == "D":
            word = self._take_positional()
            if word is not None:
                self.rulenum = self._rulenum(word)
                self.command = "d"
        elif letter == "R":
            word = self._take_positional()
            if word is None:
                raise ParameterProblem("-R requires a rule number")
            self.rulenum = self._rulenum(word)
        elif letter == "I":
            word = self._take_positional()
            self.rulenum = self._rulenum(word) if word is not None else 1
        elif letter in "LSZ":
            if self.chain is not None:
                word = self._take_positional()
                if word is not None:
                    self.rulenum = self._rulenum(word)
                    if letter == "Z":  # CMD_ZERO_NUM: one rule's counters, not the chain's
                        self.zero_rulenum = self.rulenum
        elif letter == "N":
            assert value is not None
            _check_new_chain_name(value)
        elif letter == "E":
            self.argument = self._take_positional()
            if self.argument is None:
                raise ParameterProblem("-E requires old-chain-name and new-chain-name")
            # -E checks only the new name's form: a clash with a target is libiptc's EEXIST
            # (ACCEPT...) or allowed (DNAT), as iptables-legacy 1.8.9 does
            _check_new_chain_name(self.argument, targets=False)
        elif letter == "P":
            self.argument = self._take_positional()
            if self.argument is None:
                raise ParameterProblem("-P requires a chain and a policy")

    # --- the end of argv --------------------------------------------------------------------

    zero = False
    zero_rulenum: int | None = None
    source_text: str | None = None
    destination_text: str | None = None

    def _finish(self) -> Command:
        # The order of these checks is iptables' (which error wins when there are several).
        if self.wait_interval is not None and self.wait is None:
            raise ParameterProblem("--wait-interval only makes sense with --wait\n")
        self._check_nat_drop()
        matches = tuple(
            Match(item.ext.name, item.ext.finish(item.state, self.rule)) for item in self.matches
        )
        target_options = (self.target.ext.finish(self.target.state, self.rule)
                          if self.target is not None else None)
        if not self.command:
            raise ParameterProblem("no command specified")
        if self.invert:
            raise ParameterProblem("nothing appropriate following !")
        if self.chain is not None and len(self.chain) >= XT_EXTENSION_MAXNAMELEN:
            raise ParameterProblem(f"chain name `{self.chain}' too long (must be under "
                                   f"{XT_EXTENSION_MAXNAMELEN} chars)")
        target = self._target(target_options)
        rules: tuple[Rule, ...] = ()
        if self.command in "ACDIR":
            rules = self._expand(matches, target)
            if self.command == "R" and len(rules) != 1:
                raise ParameterProblem("Replacement rule does not specify a unique address")
        self._check_options()
        self._check_interfaces()
        self._check_jump()
        return Command(
            self.command, self.table, self.chain, self.rulenum, rules, self.argument, self.zero,
            self.verbose, "n" in self.options, "x" in self.options, "0" in self.options,
            self.wait, tuple(self.warnings), self.wait_interval, self.counters,
            self.zero_rulenum,
        )

    def _check_options(self) -> None:
        illegal = _ILLEGAL.get(self.command)
        if illegal is None:
            return
        for index, letter in enumerate(_OPTION_LETTERS):
            if illegal[index] == "x" and letter in self.options:
                name = _OPTION_NAMES.get(letter, f"-{letter}")
                raise ParameterProblem(f"Illegal option `{name}' with this command")

    def _check_nat_drop(self) -> None:
        if self.table == "nat" and "DROP" in (self.jumpto, self.command == "P" and self.argument):
            raise ParameterProblem(
                '\nThe "nat" table is not intended for filtering, the use of DROP is therefore '
                "inhibited.\n\n"
            )

    def _check_interfaces(self) -> None:
        if self.command not in "ACDIR" or self.chain is None:
            return
        if self.chain in ("PREROUTING", "INPUT") and self.out_iface is not None:
            raise ParameterProblem(f"Can't use -o with {self.chain}\n")
        if self.chain in ("POSTROUTING", "OUTPUT") and self.in_iface is not None:
            raise ParameterProblem(f"Can't use -i with {self.chain}\n")

    def _target(self, options: Any) -> Target | None:
        if self.target is not None:
            return Target(self.target.ext.name, options)
        if self.jumpto is None:
            return None
        if not self.goto and self.jumpto in STANDARD_TARGETS:
            return Target(self.jumpto)
        return Target(self.jumpto, goto=self.goto)

    def _check_jump(self) -> None:
        """A jump to what is neither an extension nor a standard target must name a chain."""
        if (self.target is not None or self.jumpto is None or self.command not in "ACDIR"
                or (not self.goto and self.jumpto in STANDARD_TARGETS)):
            return
        if not self.chain_exists(self.jumpto):
            if self.goto:
                raise ParameterProblem(f"goto '{self.jumpto}' is not a chain")
            raise ParameterProblem(
                f"Couldn't load target `{self.jumpto}':No such file or directory\n"
            )

    def _expand(self, matches: tuple[Match, ...], target: Target | None) -> tuple[Rule, ...]:
        rule_fields = {
            "protocol": self.rule.protocol or None,
            "protocol_invert": self.rule.protocol_invert,
            "source": None,
            "source_invert": "s" in self.inverts,
            "destination": None,
            "destination_invert": "d" in self.inverts,
            "in_iface": self.in_iface,
            "in_iface_invert": "i" in self.inverts,
            "out_iface": self.out_iface,
            "out_iface_invert": "o" in self.inverts,
            "fragment": ("f" not in self.inverts) if self.fragment else None,
            "matches": matches,
            "target": target,
            "counters": self.counters or Counters(),
        }
        return expand_addresses([rule_fields[name] for name in RULE_FIELDS], self.source_text,
                                self.destination_text)


# Rule's fields in order: rules are built positionally from a list on the hot paths.
RULE_FIELDS = tuple(item.name for item in fields(Rule))
SOURCE, DESTINATION = RULE_FIELDS.index("source"), RULE_FIELDS.index("destination")
_SOURCE_INVERT = RULE_FIELDS.index("source_invert")
_DESTINATION_INVERT = RULE_FIELDS.index("destination_invert")


def expand_addresses(rule_fields: list[Any], source_text: str | None,
                     destination_text: str | None) -> tuple[Rule, ...]:
    """One rule per source x destination address of ``-s``/``-d`` lists, as iptables adds them.

    ``rule_fields`` are the values of :data:`RULE_FIELDS`, in a fresh list this function fills
    in with the addresses (positional: this is a hot path).
    """
    sources = parse_host_mask(source_text) if source_text is not None else _NO_ADDRESS
    destinations = (parse_host_mask(destination_text) if destination_text is not None
                    else _NO_ADDRESS)
    if len(sources) == 1 and len(destinations) == 1:
        rule_fields[SOURCE] = sources[0]
        rule_fields[DESTINATION] = destinations[0]
        return (Rule(*rule_fields),)
    if ((len(sources) > 1 or len(destinations) > 1)
            and (rule_fields[_SOURCE_INVERT] or rule_fields[_DESTINATION_INVERT])):
        raise ParameterProblem("! not allowed with multiple source or destination IP addresses")
    rules = []
    for source in sources:
        for destination in destinations:
            rule_fields[SOURCE] = source
            rule_fields[DESTINATION] = destination
            rules.append(Rule(*rule_fields))
    return tuple(rules)


_NO_ADDRESS = (None,)

_SCANF_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_SCANF_UNSIGNED = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")


def scan_int(text: str) -> int | None:
    """C ``sscanf(text, "%i")``: a leading integer (hex, octal or decimal), None if none."""
    found = _SCANF_INT.match(text)
    if found is None:
        return None
    sign, digits = found.groups()
    value = c_digits_value(digits)
    value = -value if sign == "-" else value
    # an int: wraps like glibc's conversion to 32 bits
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def parse_wait_interval(text: str) -> int:
    """``-W USECS`` as 1.8.9 checks it (``sscanf("%u")``, at most 999999)."""
    found = _SCANF_UNSIGNED.match(text)
    if found is None:
        raise ParameterProblem("wait interval not numeric")
    sign, digits = found.groups()
    usec = (-int(digits) if sign == "-" else int(digits)) & 0xFFFFFFFF
    if usec > 999999:
        raise ParameterProblem(f"too long usec wait {usec} > 999999 usec")
    return usec


def _identity(found: tuple[int, Any]) -> tuple[Any, ...]:
    has_arg, what = found
    if isinstance(what, str):
        return (has_arg, what)
    loaded, opt = what
    return (has_arg, id(loaded), opt.dest)


_C_SPACE = re.compile(r"[ \t\n\v\f\r]")  # C isspace()


@lru_cache(maxsize=65536)
def check_target_name(name: str) -> str:
    if not name:
        raise ParameterProblem("Invalid target name (too short)")
    if len(name) >= XT_EXTENSION_MAXNAMELEN:
        raise ParameterProblem(
            f"Invalid target name `{name}' ({XT_EXTENSION_MAXNAMELEN - 1} chars max)"
        )
    if _C_SPACE.search(name):
        raise ParameterProblem(f"Invalid target name `{name}'")
    return name


def _check_new_chain_name(name: str, targets: bool = True) -> None:
    if name[:1] in ("-", "!"):
        raise ParameterProblem(f"chain name not allowed to start with `{name[0]}'")
    if not targets:
        return
    if find_target(name) is not None or name in STANDARD_TARGETS:
        raise ParameterProblem("chain name may not clash with target name")
    if len(name) >= XT_EXTENSION_MAXNAMELEN:
        raise ParameterProblem(
            f"chain name `{name}' too long (must be under {XT_EXTENSION_MAXNAMELEN} chars)"
        )


def parse_command(argv: list[str], table: str = "filter",
                  chain_exists: Callable[[str], bool] = lambda name: True,
                  restore: bool = False, ipsets: frozenset[str] | None = None) -> Command:
    """Parse iptables' argv (without the program name).

    ``chain_exists`` decides whether ``-j NAME`` names a chain (else it is an unknown target);
    ``restore`` applies iptables-restore's restrictions (no ``-t``, no ``-w``); ``ipsets`` are
    the sets ``-m set`` may name (None: any).
    """
    return _Parser(argv, table, chain_exists, restore, ipsets).parse()


def parse_command_traced(argv: list[str], table: str, chain_exists: Callable[[str], bool],
                         restore: bool = False, ipsets: frozenset[str] | None = None,
                         ) -> tuple[Command, ParseTrace]:
    """:func:`parse_command` that also says what it did with each word (for shapes.py)."""
    trace = ParseTrace()
    parser = _Parser(argv, table, chain_exists, restore, ipsets, trace)
    trace.parser = parser
    return parser.parse(), trace


def parse_rule_spec(argv: list[str], table: str = "filter") -> list[Rule]:
    """Rules from a rule specification alone, as ``iptables -t TABLE -A CHAIN argv`` reads it."""
    return list(parse_command(["-A", "CHAIN", *argv], table).rules)
