"""``iptables``, ``iptables-save`` and ``iptables-restore`` executed in memory, as 1.8.9 (legacy).

:func:`run` is a pure function of (program, argv, stdin) and a :class:`CommandHost` (the rule set,
the counters to show, the xtables lock): it returns what the command prints, its exit code, the
new rule set when the command changed it, and which datapath counters must restart at 0.

What the oracle showed and this reproduces:

- iptables parses its whole argv first (parse errors never wait for the lock), then takes the
  xtables lock, then opens the table (unknown table: exit 3), then checks ``-j NAME`` against
  the table's chains (``Couldn't load target`` comes after the lock).
- iptables-restore takes the lock at its first ``*table`` line; iptables-save takes none.
- A table exists from the first command that touched it (even a listing); ``iptables-save``
  without ``-t`` prints the existing tables newest first (the kernel's list of table names).
- ``-P`` sets a policy's counters to 0 (``-c`` on ``-P`` does not set them); ``-Z`` zeroes.
"""

from __future__ import annotations

import os
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from iptparse.edit import TableDraft, TableError
from iptparse.errors import VERSION, IptablesError, ParameterProblem, error_text
from iptparse.extensions import find_target
from iptparse.grammar.command import Command, parse_command
from iptparse.grammar.restore import RestoreError, RestoreOptions, Restorer, apply_command
from iptparse.grammar.tokens import CHAIN_PROTOS
from iptparse.model import (
    STANDARD_TARGETS,
    TABLE_BUILTINS,
    Chain,
    Rule,
    Ruleset,
    Table,
)
from iptparse.printer import (
    _address_listing,
    _target_column,
    list_rules_lines,
    listing_lines,
    rule_listing_text,
    table_save_lines,
)
from iptparse.validate import TableChecker
from shim.xtables_lock import DEFAULT_LOCK_PATH, LockFailed, XtablesLock

PROGRAMS = ("iptables", "iptables-save", "iptables-restore")


@dataclass(frozen=True)
class Outcome:
    """What a command printed and its exit code."""

    stdout: str
    stderr: str
    exit_code: int


@dataclass(frozen=True)
class CounterRestart:
    """Datapath counts that must restart at 0 once the new rule set is applied.

    - ``CounterRestart(table)``: every rule and every policy of the table;
    - ``CounterRestart(table, chain)``: every rule of the chain and its policy;
    - ``CounterRestart(table, chain, rule=N)``: the chain's rule number N (1-based, numbered in
      the new rule set);
    - ``CounterRestart(table, chain, policy_only=True)``: the built-in chain's policy only.

    Displayed counter = the model's (base) counter + the datapath's count since its restart.
    """

    table: str
    chain: str | None = None
    rule: int | None = None
    policy_only: bool = False


@dataclass(frozen=True)
class Effect:
    outcome: Outcome
    ruleset: Ruleset | None = None  # the new committed rule set when the command changed it
    restart: tuple[CounterRestart, ...] = ()


class CommandHost(Protocol):
    """What :func:`run` needs from whoever holds the rule set (the agent, or MemoryHost)."""

    ruleset: Ruleset  # committed rules; model counters are the base counters
    cwd: str  # the caller's working directory (a restore FILE argument is relative to it)
    ipsets: frozenset[str] | None  # the ipsets that exist, for -m set (None: any name)
    restorer: Restorer  # one per agent: its line cache makes a repeated restore cheap

    def counted(self, table: str) -> Table:
        """That table with the counters to show (base + datapath)."""

    def take_lock(self, wait: float | None, interval: float | None) -> list[str]:
        """Take the xtables lock for this command (raises LockFailed when not obtained)."""

    def release_lock(self) -> None:
        """Release the lock taken by :meth:`take_lock`, if any (end of the command)."""


@dataclass
class MemoryHost:
    """A CommandHost with no datapath: the counters shown are the model's."""

    ruleset: Ruleset = field(default_factory=Ruleset)
    cwd: str = "/"
    lock_file: str = DEFAULT_LOCK_PATH
    ipsets: frozenset[str] | None = None
    restorer: Restorer = field(default_factory=Restorer, repr=False)
    _lock: XtablesLock | None = field(default=None, init=False, repr=False)

    def counted(self, table: str) -> Table:
        return self.ruleset.table(table)

    def take_lock(self, wait: float | None, interval: float | None) -> list[str]:
        if self._lock is None:
            self._lock = XtablesLock(self.lock_file)
        return self._lock.acquire(wait, interval)

    def release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def execute(self, program: str, argv: list[str], stdin: str = "") -> Outcome:
        """:func:`run`, then keep the new rule set: what the agent does with no datapath."""
        effect = run(program, argv, stdin, self)
        if effect.ruleset is not None:
            self.ruleset = effect.ruleset
        return effect.outcome


def run(program: str, argv: list[str], stdin: str, host: CommandHost) -> Effect:
    """Execute ``program argv`` (argv without the program name) with ``stdin``."""
    runners: dict[str, Callable[[list[str], str, CommandHost], Effect]] = {
        "iptables": _iptables, "iptables-save": _save, "iptables-restore": _restore,
    }
    runner = runners.get(program)
    if runner is None:
        return Effect(Outcome("", f"{program}: not a supported command\n", 1))
    try:
        return runner(argv, stdin, host)
    finally:
        host.release_lock()


# --- shared helpers -------------------------------------------------------------------------


def _with_tables(ruleset: Ruleset, names: list[str]) -> Ruleset:
    """The rule set with these tables existing (created empty, in this order, when new)."""
    for name in names:
        if name not in ruleset.tables:
            ruleset = ruleset.with_table(Table.empty(name))
    return ruleset


def _counted(host: CommandHost, name: str) -> Table:
    return host.counted(name) if name in host.ruleset.tables else Table.empty(name)


def _lines(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _warnings(warnings: tuple[str, ...]) -> str:
    return "".join(line + "\n" for line in warnings)


def _changed(before: Ruleset, after: Ruleset) -> Ruleset | None:
    return None if after is before else after


# --- iptables -------------------------------------------------------------------------------

_CANT_INIT = ("iptables {version}: can't initialize iptables table `{table}': {reason}\n"
              "Perhaps iptables or your kernel needs to be upgraded.\n")
_NO_TABLE = "Table does not exist (do you need to insmod?)"


def _jump_error(command: Command, table: Table) -> ParameterProblem | None:
    """``-j NAME`` that is neither a standard target, an extension nor a chain of the table."""
    if command.action not in "ACDIR":
        return None
    for rule in command.rules:
        target = rule.target
        if target is None or target.name in table.chains:
            continue
        if target.goto:
            return ParameterProblem(f"goto '{target.name}' is not a chain")
        if target.name in STANDARD_TARGETS or find_target(target.name) is not None:
            continue
        return ParameterProblem(f"Couldn't load target `{target.name}':No such file or directory\n")
    return None


def rule_print_text(rule: Rule) -> str:
    """The line ``iptables -v`` prints for each rule it adds, checks or deletes."""
    names = {value: name for name, value in CHAIN_PROTOS.items()}
    number = rule.protocol or 0
    protocol = names.get(number, str(number))
    fragment = "--" if rule.fragment is None else ("-f" if rule.fragment else "!f")
    in_name = ("!" if rule.in_iface_invert else "") + (rule.in_iface or "*")
    out_name = ("!" if rule.out_iface_invert else "") + (rule.out_iface or "*")
    source = _address_listing(rule.source, rule.source_invert, True).rstrip()
    destination = _address_listing(rule.destination, rule.destination_invert, True).rstrip()
    dest_mark, dest_text = destination[0], destination[1:]
    goto = "[goto] " if rule.target is not None and rule.target.goto else ""
    return (f"{_target_column(rule)} {'!' if rule.protocol_invert else ' '}{protocol} "
            f"opt {fragment} in {in_name} out {out_name} {source} {dest_mark}-> {dest_text}  "
            f"{goto}{rule_listing_text(rule, True)}\n")


def _iptables(argv: list[str], stdin: str, host: CommandHost) -> Effect:
    del stdin
    try:
        command = parse_command(argv, "filter", ipsets=host.ipsets)
    except IptablesError as error:
        return Effect(Outcome("", _warnings(error.warnings) + error_text(error), error.exit_code))
    warnings = _warnings(command.warnings)
    if command.action == "V":
        return Effect(Outcome(f"iptables {VERSION}\n", warnings, 0))
    if command.action == "h":
        return Effect(Outcome(_help_text(), warnings, 0))
    try:
        warnings += _warnings(tuple(host.take_lock(command.wait, command.wait_interval)))
    except LockFailed as failed:
        return Effect(Outcome("", warnings + failed.stderr, failed.exit_code))
    if command.table not in TABLE_BUILTINS:
        text = _CANT_INIT.format(version=VERSION, table=command.table, reason=_NO_TABLE)
        return Effect(Outcome("", warnings + text, 3))
    before = host.ruleset
    ruleset = _with_tables(before, [command.table])
    table = ruleset.table(command.table)
    jump_error = _jump_error(command, table)
    if jump_error is not None:
        return Effect(Outcome("", warnings + error_text(jump_error), 2), _changed(before, ruleset))
    out: list[str] = []
    try:
        new_table, restart = _execute(command, table, host, out)
    except IptablesError as error:
        return Effect(Outcome("".join(out), warnings + error_text(error), error.exit_code),
                      _changed(before, ruleset))
    if new_table is not None:
        ruleset = ruleset.with_table(new_table)
    return Effect(Outcome("".join(out), warnings, 0), _changed(before, ruleset), restart)


def _execute(command: Command, table: Table, host: CommandHost, out: list[str],
             ) -> tuple[Table | None, tuple[CounterRestart, ...]]:
    """Run one parsed command on ``table``: (the changed table or None, counter restarts)."""
    action = command.action
    name = table.name
    if action in "LS":
        if command.chain is not None and command.chain not in table.chains:
            raise TableError("No chain/target/match by that name")
        if command.zero:
            # iptables checks the chain and rule number of -Z before it lists anything
            TableDraft(table).zero(command.chain, command.zero_rulenum)
        shown = _counted(host, name) if name in host.ruleset.tables else table
        if action == "L":
            lines = listing_lines(shown, command.chain, command.rulenum, command.numeric,
                                  bool(command.verbose), command.exact, command.line_numbers)
        else:
            lines = list_rules_lines(shown, command.chain, command.rulenum,
                                     bool(command.verbose))
        out.append(_lines(lines))
        if not command.zero:
            return None, ()
        return _zeroed(command, table, out, host.restorer.checker)
    if action == "Z":
        return _zeroed(command, table, out, host.restorer.checker)
    draft = TableDraft(table)
    restart: list[CounterRestart] = []
    chain = command.chain or ""
    if action in "ACDIR":
        if command.verbose:
            # iptables prints each rule before it applies it; an error stops it there
            for index, rule in enumerate(command.rules):
                out.append(rule_print_text(rule))
                apply_command(draft, _one_rule(command, index))
        else:
            apply_command(draft, command)
        if action in "AIR":
            restart = _new_rule_restarts(command, draft, name)
    elif action == "F":
        if command.verbose:
            names = draft.chain_names() if command.chain is None else [command.chain]
            if command.chain is None or command.chain in draft:
                out.extend(f"Flushing chain `{item}'\n" for item in _ordered(table, names))
        apply_command(draft, command)
    elif action == "X":
        names = [item.name for item in table.ordered_chains() if not item.builtin] \
            if command.chain is None else [command.chain]
        for item in names:
            if command.verbose:
                out.append(f"Deleting chain `{item}'\n")
            draft.delete_chain(item)
    elif action == "P":
        draft.set_policy(chain, command.argument or "", command.counters)
    else:
        apply_command(draft, command)
    if action == "C":
        return None, ()
    return _commit(draft, restart, host.restorer.checker)


def _commit(draft: TableDraft, restart: list[CounterRestart], checker: TableChecker,
            ) -> tuple[Table, tuple[CounterRestart, ...]]:
    """The draft committed: kernel checks, and policy counters as a commit leaves them (every
    policy's datapath count restarts)."""
    draft.commit_policies()
    table = draft.freeze()
    checker.check(table)
    restart.extend(CounterRestart(table.name, chain.name, policy_only=True)
                   for chain in table.ordered_chains() if chain.builtin)
    return table, tuple(restart)


def _ordered(table: Table, names: list[str]) -> list[str]:
    order = [chain.name for chain in table.ordered_chains()]
    return [item for item in order if item in names]


def _one_rule(command: Command, index: int) -> Command:
    from dataclasses import replace

    rulenum = command.rulenum
    if command.action == "I":
        rulenum = (command.rulenum or 1) + index
    return replace(command, rules=(command.rules[index],), rulenum=rulenum)


def _new_rule_restarts(command: Command, draft: TableDraft, table: str,
                       ) -> list[CounterRestart]:
    chain = command.chain or ""
    count = len(draft.rules(chain))
    if command.action == "A":
        first = count - len(command.rules) + 1
    elif command.action == "I":
        first = command.rulenum or 1
    else:
        first = command.rulenum or 1
    numbers = range(first, first + (1 if command.action == "R" else len(command.rules)))
    return [CounterRestart(table, chain, rule=number) for number in numbers]


def _zeroed(command: Command, table: Table, out: list[str], checker: TableChecker,
            ) -> tuple[Table, tuple[CounterRestart, ...]]:
    """``-Z [CHAIN [N]]``: the model's counters at 0, and the datapath's restarted."""
    draft = TableDraft(table)
    draft.zero(command.chain, command.zero_rulenum)
    name = table.name
    if command.zero_rulenum is not None:
        restart = [CounterRestart(name, command.chain, rule=command.zero_rulenum)]
    elif command.chain is not None:
        restart = [CounterRestart(name, command.chain)]
    else:
        restart = [CounterRestart(name)]
    if command.verbose and command.zero_rulenum is None:
        names = [command.chain] if command.chain is not None else list(table.chains)
        out.extend(f"Zeroing chain `{item}'\n" for item in _ordered(table, names))
    return _commit(draft, restart, checker)


def _help_text() -> str:
    from pathlib import Path

    return (Path(__file__).with_name("iptables_help.txt")).read_text()


# --- getopt for iptables-save and iptables-restore -----------------------------------------


@dataclass(frozen=True)
class _LongOption:
    name: str
    has_arg: int  # 0 none, 1 required, 2 optional
    letter: str


class _GetoptError(Exception):
    pass


def _getopt(program: str, argv: list[str], short: str, longs: tuple[_LongOption, ...],
            operands: list[str], next_word_optional: str = "",
            ) -> Iterator[tuple[str, str | None]]:
    """glibc getopt_long with argv permutation, one option at a time, in argv order.

    Non-option words go to ``operands``. Letters in ``next_word_optional`` take the next word
    as their value when they have none and it does not start with ``-`` or ``!`` (iptables'
    ``xs_has_arg``). Raises _GetoptError with glibc's message where glibc stops.
    """
    spec: dict[str, int] = {}
    index = 0
    while index < len(short):
        letter = short[index]
        colons = 0
        while index + 1 + colons < len(short) and short[index + 1 + colons] == ":":
            colons += 1
        spec[letter] = colons
        index += 1 + colons
    position = 0

    def optional_next(letter: str, value: str | None) -> str | None:
        nonlocal position
        if (value is None and letter in next_word_optional and position < len(argv)
                and argv[position][:1] not in ("-", "!")):
            position += 1
            return argv[position - 1]
        return value

    while position < len(argv):
        word = argv[position]
        position += 1
        if word == "--":
            operands.extend(argv[position:])
            return
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            exact = [item for item in longs if item.name == name]
            found = exact or [item for item in longs if item.name.startswith(name)]
            if not found:
                raise _GetoptError(f"{program}: unrecognized option '--{name}'\n")
            if len(found) > 1:
                names = " ".join(f"'--{item.name}'" for item in found)
                raise _GetoptError(f"{program}: option '--{name}' is ambiguous; "
                                   f"possibilities: {names}\n")
            option = found[0]
            if eq and option.has_arg == 0:
                raise _GetoptError(f"{program}: option '--{option.name}' doesn't allow an "
                                   "argument\n")
            argument: str | None = value if eq else None
            if option.has_arg == 1 and not eq:
                if position >= len(argv):
                    raise _GetoptError(f"{program}: option '--{option.name}' requires an "
                                       "argument\n")
                argument = argv[position]
                position += 1
            yield option.letter, optional_next(option.letter, argument)
            continue
        if word.startswith("-") and len(word) > 1:
            letters = word[1:]
            at = 0
            while at < len(letters):
                letter = letters[at]
                at += 1
                colons = spec.get(letter)
                if colons is None:
                    raise _GetoptError(f"{program}: invalid option -- '{letter}'\n")
                if colons == 0:
                    yield letter, optional_next(letter, None) if at == len(letters) else None
                    continue
                if at < len(letters):
                    yield letter, letters[at:]
                elif colons == 1:
                    if position >= len(argv):
                        raise _GetoptError(
                            f"{program}: option requires an argument -- '{letter}'\n")
                    position += 1
                    yield letter, argv[position - 1]
                else:
                    yield letter, optional_next(letter, None)
                break
            continue
        operands.append(word)


# --- iptables-save --------------------------------------------------------------------------

_SAVE_LONG = (
    _LongOption("dump", 0, "d"), _LongOption("counters", 0, "c"), _LongOption("version", 0, "V"),
    _LongOption("table", 1, "t"), _LongOption("modprobe", 1, "M"), _LongOption("file", 1, "f"),
    _LongOption("binary", 0, "b"),
)
_SAVE_HINT = "Look at manual page `iptables-save.8' for more information.\n"


def save_header(moment: float | None = None) -> tuple[str, str]:
    """iptables-save's ``# Generated by`` and ``# Completed on`` lines (C ctime format)."""
    stamp = time.ctime(moment)
    return (f"# Generated by iptables-save v1.8.9 on {stamp}\n", f"# Completed on {stamp}\n")


@dataclass
class _SaveArgs:
    counters: bool = False
    table: str | None = None
    file: str | None = None
    err: str = ""


def _save_args(argv: list[str]) -> _SaveArgs | Outcome:
    """iptables-save's options, or the Outcome that ends the command right there."""
    program = "iptables-save"
    args = _SaveArgs()
    operands: list[str] = []
    try:
        for letter, value in _getopt(program, argv, "bcdt:M:f:V", _SAVE_LONG, operands):
            if letter == "V":
                return Outcome(f"{program} {VERSION}\n", args.err, 0)
            if letter == "b":
                args.err += "-b/--binary option is not implemented\n"
            elif letter == "c":
                args.counters = True
            elif letter == "t":
                args.table = value
            elif letter == "f":
                args.file = value
    except _GetoptError as error:
        return Outcome("", args.err + str(error) + _SAVE_HINT, 1)
    if operands:
        return Outcome("", args.err + "Unknown arguments found on commandline\n", 1)
    return args


def _save(argv: list[str], stdin: str, host: CommandHost) -> Effect:
    del stdin
    args = _save_args(argv)
    if isinstance(args, Outcome):
        return Effect(args)
    before = host.ruleset
    if args.table is not None:
        if args.table not in TABLE_BUILTINS:
            return Effect(Outcome("", args.err + f"iptables-save {VERSION}: Cannot initialize: "
                                  f"{_NO_TABLE}\n", 1))
        names = [args.table]
        ruleset = _with_tables(before, names)
    else:
        ruleset = before
        names = list(reversed(list(ruleset.tables)))
    out: list[str] = []
    for name in names:
        generated, completed = save_header()
        out.append(generated)
        out.append(_lines(table_save_lines(_counted(host, name), args.counters)))
        out.append(completed)
    text = "".join(out)
    if args.file is not None:
        with open(os.path.join(host.cwd, args.file), "w", encoding="utf-8") as handle:
            handle.write(text)
        text = ""
    return Effect(Outcome(text, args.err, 0), _changed(before, ruleset))


# --- iptables-restore -----------------------------------------------------------------------

_RESTORE_LONG = (
    _LongOption("binary", 0, "b"), _LongOption("counters", 0, "c"),
    _LongOption("verbose", 0, "v"), _LongOption("version", 0, "V"), _LongOption("test", 0, "t"),
    _LongOption("help", 0, "h"), _LongOption("noflush", 0, "n"), _LongOption("modprobe", 1, "M"),
    _LongOption("table", 1, "T"), _LongOption("wait", 2, "w"),
    _LongOption("wait-interval", 2, "W"),
)
_RESTORE_HINT = "Try `iptables-restore -h' for more information.\n"
_RESTORE_USAGE = (
    "Usage: iptables-restore [-c] [-v] [-V] [-t] [-h] [-n] [-w secs] [-W usecs] [-T table] "
    "[-M command] [file]\n"
    "\t   [ --counters ]\n\t   [ --verbose ]\n\t   [ --version]\n\t   [ --test ]\n"
    "\t   [ --help ]\n\t   [ --noflush ]\n\t   [ --wait=<seconds>\n\t   [ --table=<TABLE> ]\n"
    "\t   [ --modprobe=<command> ]\n"
)
_RESTORE_PARAM = ("iptables-restore {version}: {message}\nError occurred at line: 0\n"
                  "Try `iptables-restore -h' or 'iptables-restore --help' for more information.\n")


@dataclass
class _RestoreArgs:
    options: RestoreOptions = RestoreOptions()
    verbose: bool = False
    wait: float | None = None
    interval: int | None = None
    file: str | None = None
    err: str = ""  # what option parsing printed on stderr


def _restore_args(argv: list[str]) -> _RestoreArgs | Outcome:
    """iptables-restore's options, or the Outcome that ends the command right there."""
    from iptparse.grammar.command import parse_wait_interval, scan_int

    args = _RestoreArgs()
    flags = {"noflush": False, "counters": False, "test": False}
    table: str | None = None
    operands: list[str] = []
    options = _getopt("iptables-restore", argv, "bcvVthnwWM:T:", _RESTORE_LONG, operands, "wW")
    while True:
        try:
            letter, value = next(options)
        except StopIteration:
            break
        except _GetoptError as error:
            return Outcome("", args.err + str(error) + _RESTORE_HINT, 1)
        if letter == "V":
            return Outcome(f"iptables-restore {VERSION}\n", args.err, 0)
        if letter == "h":
            return Outcome("", args.err + _RESTORE_USAGE, 0)
        if letter == "b":
            args.err += "-b/--binary option is not implemented\n"
        elif letter == "c":
            flags["counters"] = True
        elif letter == "v":
            args.verbose = True
        elif letter == "t":
            flags["test"] = True
        elif letter == "n":
            flags["noflush"] = True
        elif letter == "T":
            table = value
        elif letter in "wW":
            try:
                if letter == "w":
                    if value is None:
                        args.wait = float("inf")
                    else:
                        seconds = scan_int(value)
                        if seconds is None:
                            raise ParameterProblem("wait seconds not numeric")
                        args.wait = float("inf") if seconds < 0 else float(seconds)
                else:
                    if value is None:
                        raise ParameterProblem("wait interval value required")
                    args.interval = parse_wait_interval(value)
                    args.err += "Ignoring deprecated --wait-interval option.\n"
            except ParameterProblem as error:
                return Outcome("", args.err + _RESTORE_PARAM.format(version=VERSION,
                                                                    message=error.message), 2)
    err = args.err
    pending = operands
    if args.interval is not None and args.wait is None:
        return Outcome("", err + "Option --wait-interval requires option --wait\n", 1)
    if len(pending) > 1:
        return Outcome("", err + "Unknown arguments found on commandline\n", 1)
    args.file = pending[0] if pending else None
    args.options = RestoreOptions(noflush=flags["noflush"], counters=flags["counters"],
                                  test=flags["test"], table=table)
    args.err = err
    return args


_LINE_NUMBER = re.compile(r"line:? (\d+)")


def _first_table_line(lines: list[str]) -> tuple[int | None, bool]:
    """(index of the first ``*`` line, whether a line that fails comes before it)."""
    for index, raw in enumerate(lines):
        if raw[:1] in ("\n", "#") or raw == "":
            continue
        if raw[:1] == "*":
            return index, False
        return None, True
    return None, False


@dataclass
class _RestoreScan:
    """What a restore's lines did, up to the line it stopped at (None: all of them)."""

    reached: list[str] = field(default_factory=list)  # tables whose *table line was reached
    committed: list[str] = field(default_factory=list)  # tables whose COMMIT was reached
    declared: dict[str, set[str]] = field(default_factory=dict)  # table -> chain lines


def _scan_restore(lines: list[str], stop: int | None, options: RestoreOptions) -> _RestoreScan:
    """One pass over the lines, following iptables-restore's table state (-T skips tables)."""
    scan = _RestoreScan()
    current: str | None = None
    declared: set[str] = set()
    end = len(lines) if stop is None else min(stop, len(lines) + 1) - 1
    for index in range(end):
        raw = lines[index]
        first = raw[:1]
        if first == "-" or first == "[" or first == "#" or first == "\n":
            continue
        if first == ":":
            if current is not None:
                words = raw[1:].split(None, 1)
                if words:
                    declared.add(words[0])
        elif raw == "COMMIT\n":
            if current is not None:
                scan.committed.append(current)
            current = None
        elif first == "*" and current is None:
            words = raw[1:].split()
            name = words[0] if words else ""
            if name in TABLE_BUILTINS and (options.table is None or options.table == name):
                current = name
                declared = scan.declared.setdefault(name, set())
                if name not in scan.reached:
                    scan.reached.append(name)
    return scan


def _restore(argv: list[str], stdin: str, host: CommandHost) -> Effect:
    parsed = _restore_args(argv)
    if isinstance(parsed, Outcome):
        return Effect(parsed)
    err = parsed.err
    text = stdin
    if parsed.file is not None:
        path = os.path.join(host.cwd, parsed.file)
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except OSError as error:
            return Effect(Outcome("", err + f"Can't open {parsed.file}: "
                                  f"{os.strerror(error.errno or 0)}\n", 1))
    lines = text.splitlines(keepends=True)
    first, fails_before = _first_table_line(lines)
    if first is not None and not fails_before:
        try:
            err += _warnings(tuple(host.take_lock(parsed.wait, parsed.interval)))
        except LockFailed as failed:
            return Effect(Outcome("", err + failed.stderr, failed.exit_code))
    before = host.ruleset
    try:
        after = host.restorer.restore(text, before, parsed.options)
    except RestoreError as error:
        found = _LINE_NUMBER.search(error.text)
        stop = int(found.group(1)) if found else None
        scan = _scan_restore(lines, stop, parsed.options)
        ruleset = _with_tables(error.ruleset, scan.reached)
        restart = _restore_restarts(before, ruleset, scan, parsed.options)
        stdout = (_restore_verbose(lines, before, parsed, stop, "failed" in error.text)
                  if parsed.verbose else "")
        return Effect(Outcome(stdout, err + error.text, error.exit_code),
                      _changed(before, ruleset), restart)
    scan = _scan_restore(lines, None, parsed.options)
    ruleset = _with_tables(after, scan.reached)
    restart = _restore_restarts(before, ruleset, scan, parsed.options)
    stdout = _restore_verbose(lines, before, parsed, None, False) if parsed.verbose else ""
    return Effect(Outcome(stdout, err, 0), _changed(before, ruleset), restart)


def _restore_restarts(before: Ruleset, after: Ruleset, scan: _RestoreScan,
                      options: RestoreOptions) -> tuple[CounterRestart, ...]:
    """The datapath counts a restore's COMMITs replaced: whole tables it flushed; with
    ``--noflush``, the user chains it declared, every policy (a commit zeroes them) and the
    rules it added elsewhere."""
    if options.test:
        return ()
    restart: list[CounterRestart] = []
    for name in scan.committed:
        old = before.tables.get(name)
        table = after.tables.get(name)
        if table is None:
            continue
        if not options.noflush or old is None:
            restart.append(CounterRestart(name))
            continue
        declared = scan.declared.get(name, set())
        old_chains = old.chains
        for chain_name, chain in table.chains.items():
            if chain.policy is not None:
                restart.append(CounterRestart(name, chain_name, policy_only=True))
            elif chain_name in declared:
                # a user chain line flushes the chain: every rule in it is new
                restart.append(CounterRestart(name, chain_name))
                continue
            previous = old_chains.get(chain_name)
            if previous is not None and previous.rules is chain.rules:
                continue
            restart.extend(CounterRestart(name, chain_name, rule=number)
                           for number in _new_rule_numbers(previous, chain))
    return tuple(restart)


def _new_rule_numbers(old: Chain | None, new: Chain) -> list[int]:
    """Positions (1-based) of ``new``'s rules that are not ``old``'s rules carried over.

    A rule carried over is the same object, in the same relative order (what a restore keeps
    of a chain it did not flush).
    """
    if old is None:
        return list(range(1, len(new.rules) + 1))
    positions: dict[int, list[int]] = {}
    for index, rule in enumerate(old.rules):
        positions.setdefault(id(rule), []).append(index)
    numbers: list[int] = []
    at = 0
    for number, rule in enumerate(new.rules, 1):
        candidates = positions.get(id(rule), ())
        found = bisect_left(candidates, at)
        if found < len(candidates):
            at = candidates[found] + 1
        else:
            numbers.append(number)
    return numbers


def _restore_verbose(lines: list[str], before: Ruleset, args: _RestoreArgs,
                     stop: int | None, applied_at_stop: bool) -> str:
    """What ``iptables-restore -v`` prints on stdout, up to the line that failed.

    Rules are printed as they are applied (a line that failed to parse prints nothing), and
    only by a flushing restore (``--noflush -v`` prints none: checked with the oracle).
    """
    out: list[str] = []
    options = args.options
    in_table = False
    table_name = ""
    committed = before
    for number, raw in enumerate(lines, 1):
        if stop is not None and number > stop:
            break
        if raw[:1] == "#":
            out.append(raw)
        elif raw == "COMMIT\n" and in_table:
            in_table = False
        elif raw[:1] == "*" and not in_table:
            words = raw[1:].split()
            table_name = words[0] if words else ""
            if options.table is not None and options.table != table_name:
                continue
            in_table = True
            if table_name in TABLE_BUILTINS and not options.noflush:
                table = committed.table(table_name)
                out.extend(f"Flushing chain `{chain.name}'\n" for chain in table.ordered_chains())
                out.extend(f"Deleting chain `{chain.name}'\n" for chain in table.ordered_chains()
                           if not chain.builtin)
        elif in_table and raw[:1] not in (":", "\n") and not options.noflush:
            if number != stop or applied_at_stop:
                out.extend(_rule_lines_printed(raw, table_name))
    return "".join(out)


def _rule_lines_printed(raw: str, table: str) -> list[str]:
    from iptparse.grammar.restore import tokenize_rule_line

    text = raw
    if text[:1] == "[":
        text = text[text.find("]") + 1:]
    try:
        command = parse_command(tokenize_rule_line(text, 0), table, restore=True)
    except IptablesError:
        return []
    if command.action not in "ACDIR":
        return []
    return [rule_print_text(rule) for rule in command.rules]


# --- non-root callers -----------------------------------------------------------------------


def permission_denied(program: str, argv: list[str], stdin: str = "",
                      lock_file: str = DEFAULT_LOCK_PATH, lock_openable: bool = False,
                      ) -> Outcome:
    """What iptables-legacy prints when a non-root user runs it.

    Everything before the first privileged step still happens (``-V``, parse errors, a restore
    with no table); then iptables fails to open the lock file (root's, mode 0600:
    ``lock_openable`` False) or, when it could open it, the table.
    """
    host = _DeniedHost(lock_file, lock_openable)
    if program == "iptables-save":
        return _save_denied(argv)
    if program == "iptables-restore":
        return _restore_denied(argv, stdin, host)
    return _iptables_denied(argv, host)


@dataclass
class _DeniedHost:
    """A host on which taking the lock fails as it does for a non-root caller."""

    lock_file: str
    lock_openable: bool

    def take_lock(self, wait: float | None, interval: float | None) -> list[str]:
        if not self.lock_openable:
            raise LockFailed(f"Fatal: can't open lock file {self.lock_file}: Permission denied\n")
        return []


def _iptables_denied(argv: list[str], host: _DeniedHost) -> Outcome:
    try:
        command = parse_command(argv, "filter")
    except IptablesError as error:
        return Outcome("", _warnings(error.warnings) + error_text(error), error.exit_code)
    warnings = _warnings(command.warnings)
    if command.action == "V":
        return Outcome(f"iptables {VERSION}\n", warnings, 0)
    if command.action == "h":
        return Outcome(_help_text(), warnings, 0)
    try:
        host.take_lock(command.wait, command.wait_interval)
    except LockFailed as failed:
        return Outcome("", warnings + failed.stderr, 4)
    reason = "Permission denied (you must be root)"
    return Outcome("", warnings + _CANT_INIT.format(version=VERSION, table=command.table,
                                                   reason=reason), 3)


def _save_denied(argv: list[str]) -> Outcome:
    args = _save_args(argv)
    if isinstance(args, Outcome):
        return args
    if args.table is not None:
        return Outcome("", args.err + f"iptables-save {VERSION}: Cannot initialize: Permission "
                       "denied (you must be root)\n", 1)
    return Outcome("", args.err + "Failed to list table names in /proc/net/ip_tables_names: "
                   "Permission denied\n", 1)


def _restore_denied(argv: list[str], stdin: str, host: _DeniedHost) -> Outcome:
    parsed = _restore_args(argv)
    if isinstance(parsed, Outcome):
        return parsed
    err = parsed.err
    lines = stdin.splitlines(keepends=True)
    first, fails_before = _first_table_line(lines)
    if first is None or fails_before:
        effect = _restore(argv, stdin, MemoryHost())
        return effect.outcome
    try:
        host.take_lock(parsed.wait, parsed.interval)
    except LockFailed as failed:
        return Outcome("", err + failed.stderr, 4)
    words = lines[first][1:].split()
    name = words[0] if words else ""
    return Outcome("", err + f"iptables-restore {VERSION}: iptables-restore: unable to "
                   f"initialize table '{name}'\nError occurred at line: {first + 1}\n"
                   "Try `iptables-restore -h' or 'iptables-restore --help' for more "
                   "information.\n", 2)
