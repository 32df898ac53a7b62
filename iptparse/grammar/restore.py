"""The restore/save file format: ``*table``, ``:CHAIN POLICY [p:b]``, rule lines, ``COMMIT``.

Reproduces iptables-restore 1.8.9 (legacy): its line loop, its tokenizer (double quotes with
backslash escapes, ``#`` only at the start of a line), its flushing of a table at ``*table``,
and each table's COMMIT all-or-nothing, with the kernel's commit-time checks.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

import pyparsing as pp

from iptparse.edit import TableDraft, TableError
from iptparse.errors import IptablesError, KernelRejection, ParameterProblem
from iptparse.grammar.command import XT_EXTENSION_MAXNAMELEN, Command
from iptparse.grammar.shapes import ParsedLine, RuleShapes
from iptparse.memory import building_long_lived
from iptparse.model import STANDARD_TARGETS, TABLE_BUILTINS, Counters, Ruleset, Table
from iptparse.validate import TableChecker

PROGRAM = "iptables-restore"

# ``[packets:bytes]`` in front of a rule or after a policy.
COUNTER_PAIR = (
    pp.Suppress("[") + pp.Word(pp.nums) + pp.Suppress(":") + pp.Word(pp.nums) + pp.Suppress("]")
).set_parse_action(lambda t: Counters(int(t[0]), int(t[1])))


class RestoreError(Exception):
    """iptables-restore failed: ``text`` is what it prints on stderr, ``ruleset`` what stayed."""

    def __init__(self, text: str, exit_code: int, ruleset: Ruleset) -> None:
        super().__init__(text)
        self.text = text
        self.exit_code = exit_code
        self.ruleset = ruleset


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    noflush: bool = False
    counters: bool = False
    test: bool = False
    table: str | None = None  # -T: restore only this table


# Words are separated by space, tab and newline only (add_param_to_argv).
_PLAIN_WORD = re.compile(r"[^ \t\n]+")
# The other characters str.split() takes as blanks: without them, str.split() (much faster than
# the regex) splits exactly as add_param_to_argv does.
OTHER_SPLIT_BLANKS = ("\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
                      "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_OTHER_SPLIT_BLANK = re.compile(f"[{OTHER_SPLIT_BLANKS}]")
_ASCII_OTHER_SPLIT_BLANKS = [blank for blank in OTHER_SPLIT_BLANKS if blank.isascii()]


def _without_other_split_blanks(text: str) -> bool:
    """Whether ``text`` has none of OTHER_SPLIT_BLANKS (isascii is free, a regex over a
    whole restore is not)."""
    if text.isascii():
        return not any(blank in text for blank in _ASCII_OTHER_SPLIT_BLANKS)
    return _OTHER_SPLIT_BLANK.search(text) is None


# A word with a double-quoted part: unquoted prefix + quoted text, ended by the closing quote.
_QUOTED_OR_PLAIN = re.compile(r'([^ \t\n"]*)"([^"\\]*)"|([^ \t\n"]+)')


def tokenize_rule_line(text: str, line: int, no_other_blanks: bool = False) -> list[str]:
    """Split a rule line into argv words as iptables-restore does (add_param_to_argv).

    ``no_other_blanks``: the caller knows the line has none of OTHER_SPLIT_BLANKS.
    """
    # A printable line has no blank but spaces (and the tabs and newlines checked for here).
    if (no_other_blanks or text.rstrip("\n").isprintable()
            or _OTHER_SPLIT_BLANK.search(text) is None):
        split = str.split
    else:
        split = _PLAIN_WORD.findall
    if '"' not in text:
        return split(text)
    if "\\" not in text:
        parts = text.split('"')
        if (len(parts) == 3 and (not parts[0] or parts[0][-1] in " \t\n")
                and (not parts[2] or parts[2][0] in " \t\n")):
            # one quoted word standing alone (a kube-proxy comment): split around it
            words = split(parts[0])
            words.append(parts[1])
            words += split(parts[2])
            return words
        if len(parts) % 2 == 1:  # quotes in pairs
            return [prefix + quoted if plain == "" else plain
                    for prefix, quoted, plain in _QUOTED_OR_PLAIN.findall(text)]
    return tokenize_quoted_line(text)


def tokenize_quoted_line(text: str) -> list[str]:
    """add_param_to_argv's character loop: quotes, backslash escapes inside quotes."""
    words: list[str] = []
    buffer: list[str] = []
    quote_open = escaped = False
    for char in text:
        if quote_open:
            if escaped:
                buffer.append(char)
                escaped = False
                continue
            if char == "\\":
                escaped = True
                continue
            if char != '"':
                buffer.append(char)
                continue
            quote_open = False
            words.append("".join(buffer))
            buffer = []
            continue
        if char == '"':
            quote_open = True
            continue
        if char in " \t\n":
            if buffer:
                words.append("".join(buffer))
                buffer = []
            continue
        buffer.append(char)
    if buffer:
        words.append("".join(buffer))
    return words


@dataclass
class LineCache:
    """Parsed rule lines by table and text: a restore that repeats lines re-parses none."""

    tables: dict[str, dict[str, ParsedLine]] = field(default_factory=dict)
    limit: int = 1_000_000  # lines per table

    def lines(self, table: str) -> dict[str, ParsedLine]:
        """The table's lines (the restore loop reads and fills this dict directly)."""
        lines = self.tables.get(table)
        if lines is None or len(lines) >= self.limit:
            lines = self.tables[table] = {}
        return lines


def _format_error(error: IptablesError, line: int) -> tuple[str, int]:
    if isinstance(error, ParameterProblem):
        prefix = "" if getattr(error, "bare", False) else f"{PROGRAM} v1.8.9 (legacy): "
        text = (f"{prefix}{error.message}\nError occurred at line: {line}\n"
                f"Try `{PROGRAM} -h' or '{PROGRAM} --help' for more information.\n")
        return text, error.exit_code
    return f"{PROGRAM} v1.8.9 (legacy): {error.message}\n", error.exit_code


def _line_failed(line: int) -> str:
    return f"{PROGRAM}: line {line} failed\n"


@dataclass(frozen=True, slots=True)
class _Block:
    """One table's lines of a restore, what they were applied to, and what they made."""

    prior: Table
    lines: list[str]
    noflush: bool
    counters: bool
    result: Table


def _builtin_state(table: Table) -> list[tuple[str | None, Counters]]:
    return [(chain.policy, chain.counters) for chain in table.chains.values() if chain.builtin]


def _identical(one: Table, other: Table) -> bool:
    """Equal including every counter (table equality leaves counters out, as iptables does)."""
    if one is other:
        return True
    if one != other:
        return False
    for name, chain in one.chains.items():
        twin = other.chains[name]
        if chain.counters != twin.counters:
            return False
        if any(rule.counters != twin_rule.counters
               for rule, twin_rule in zip(chain.rules, twin.rules, strict=True)):
            return False
    return True


class Restorer:
    """Applies restore input to a Ruleset; one object per agent so its line cache lives on."""

    def __init__(self, cache: LineCache | None = None) -> None:
        self.cache = cache if cache is not None else LineCache()
        self.shapes = RuleShapes()
        self.checker = TableChecker()  # commit checks, skipping chains that passed unchanged
        self._blocks: dict[str, _Block] = {}

    def restore(self, text: str, ruleset: Ruleset, options: RestoreOptions = RestoreOptions(),
                ) -> Ruleset:
        """Apply ``text``; returns the new Ruleset or raises :class:`RestoreError`."""
        with building_long_lived():
            return self._restore(text, ruleset, options)

    def _restore(self, text: str, ruleset: Ruleset, options: RestoreOptions) -> Ruleset:
        committed = ruleset
        table: TableDraft | None = None
        table_name = ""
        lines = text.splitlines(keepends=True)
        commits = [index for index, raw in enumerate(lines) if raw == "COMMIT\n"]
        block_start = 0
        block_prior: Table | None = None
        line = 0
        parse_line = self.shapes.parse_line
        cached: dict[str, ParsedLine] = {}
        chain_exists = None
        # Without quotes or the blanks only str.split() takes, a line's words are its split().
        plain_text = _without_other_split_blanks(text)
        numbered = enumerate(lines, 1)  # line N is lines[N - 1]; lines[N:] follow it
        for line, raw in numbered:
            first = raw[:1]
            try:
                # a rule line (most lines: tested first, and inlined), "-A ..." usually; not a
                # chain, blank, comment or COMMIT line (an empty first: the text's end)
                if table is not None and (first == "-" or (first not in ":\n#"
                                                           and raw != "COMMIT\n")):
                    rule_text: str | None = raw
                    if first != "-":
                        rule_text = self._rule_text(table, table_name, raw, line, options)
                        if rule_text is None:
                            continue
                    parsed = cached.get(rule_text)
                    if parsed is None or not _jumps_resolve(parsed, chain_exists):
                        parsed = parse_line(
                            rule_text.split() if plain_text and '"' not in rule_text
                            else tokenize_rule_line(rule_text, line, plain_text), table_name,
                            chain_exists)
                        cached[rule_text] = parsed
                    if type(parsed) is tuple:
                        table.append(parsed[0], *parsed[1])
                    else:
                        apply_command(table, parsed)
                elif first == "\n" or first == "#" or first == "":
                    continue
                elif raw == "COMMIT\n" and table is not None:
                    if options.table is None or options.table == table_name:
                        table.commit_policies()
                        frozen = table.freeze()
                        try:
                            self.checker.check(frozen)
                        except KernelRejection as error:
                            raise RestoreError(_line_failed(line), 1, committed) from error
                        if block_prior is not None:
                            frozen = self._remember(table_name, block_prior,
                                                    lines[block_start:line - 1], frozen, options)
                        if not options.test:
                            committed = committed.with_table(frozen)
                    table = None
                elif first == "*" and table is None:
                    words = raw[1:].split()
                    if not words:
                        raise ParameterProblem(f"{PROGRAM}: line {line} table name invalid")
                    table_name = words[0]
                    if options.table is not None and table_name != options.table:
                        continue  # -T: another table's lines are skipped, never parsed
                    if table_name not in TABLE_BUILTINS:
                        raise ParameterProblem(
                            f"{PROGRAM}: unable to initialize table '{table_name}'"
                        )
                    prior = committed.table(table_name)
                    block_start = line
                    block_prior = prior if options.table is None else None
                    end = bisect.bisect_left(commits, line)
                    if block_prior is not None and end < len(commits):
                        result = self._recall(table_name, prior, lines[line:commits[end]],
                                              options)
                        if result is not None:
                            # the same lines on the same table: the same result, already checked
                            if not options.test:
                                committed = committed.with_table(result)
                            # skip to after its COMMIT (line commits[end] + 1)
                            skipped = commits[end] + 1 - line
                            next(islice(numbered, skipped, skipped), None)
                            continue
                    table = TableDraft(prior)
                    chain_exists = table.chain_exists
                    cached = self.cache.lines(table_name)
                    if not options.noflush:
                        table.flush_and_delete_all()
                elif first == ":" and table is not None:
                    words = raw[1:].split()
                    if (len(words) > 1 and words[1] == "-" and words[0] not in table
                            and len(words[0]) < XT_EXTENSION_MAXNAMELEN):
                        table.new_chain(words[0])  # a user chain (what _chain_line does)
                    else:
                        self._chain_line(table, raw, line, options)
                elif options.table is None:  # -T: whatever is outside that table is skipped
                    raise RestoreError(_line_failed(line), 1, committed)
            except TableError as error:
                raise RestoreError(_line_failed(line), 1, committed) from error
            except IptablesError as error:
                message, code = _format_error(error, line)
                raise RestoreError(message, code, committed) from error
        if table is not None:  # --test too (checked with iptables-legacy-restore --test)
            raise RestoreError(f"{PROGRAM}: COMMIT expected at line {line + 1}\n", 1, committed)
        return committed

    # --- whole tables restored again --------------------------------------------------------

    def _recall(self, name: str, prior: Table, lines: list[str], options: RestoreOptions,
                ) -> Table | None:
        """The table a previous restore built from these lines on this table, if any."""
        block = self._blocks.get(name)
        if block is None or (block.noflush, block.counters) != (options.noflush,
                                                                options.counters):
            return None
        if options.noflush:
            same_start = prior is block.prior
        else:
            # a flushing restore keeps only the built-in chains' policies and counters
            same_start = prior is block.prior or _builtin_state(prior) == _builtin_state(
                block.prior)
        if same_start and block.lines == lines:
            return block.result
        return None

    def _remember(self, name: str, prior: Table, lines: list[str], result: Table,
                  options: RestoreOptions) -> Table:
        """Keep a table's block for :meth:`_recall`; returns the table to commit.

        When a restore leaves a table exactly as it was (kube-proxy resending the same full
        sync), the old object is kept, so the next identical restore is recognised by identity.
        """
        if options.noflush and _identical(result, prior):
            result = prior
        self._blocks[name] = _Block(prior, lines, options.noflush, options.counters, result)
        return result

    def _chain_line(self, table: TableDraft, raw: str, line: int, options: RestoreOptions,
                    ) -> None:
        words = raw[1:].split()
        if not words:
            raise ParameterProblem(f"{PROGRAM}: line {line} chain name invalid")
        chain = words[0]
        if len(chain) >= XT_EXTENSION_MAXNAMELEN:
            raise ParameterProblem(
                f"Invalid chain name `{chain}' ({XT_EXTENSION_MAXNAMELEN - 1} chars max)"
            )
        if chain not in table or not table.is_builtin(chain):
            if options.noflush and chain in table:
                table.flush(chain)
            else:
                if chain in table:
                    raise ParameterProblem(f"error creating chain '{chain}':File exists")
                table.new_chain(chain)
        if len(words) < 2:
            raise ParameterProblem(f"{PROGRAM}: line {line} policy invalid")
        policy = words[1]
        if policy != "-":
            counters = Counters()
            if options.counters:
                try:
                    counters = COUNTER_PAIR.parse_string(words[2] if len(words) > 2 else "",
                                                         parse_all=True)[0]
                except pp.ParseException as error:
                    raise ParameterProblem(
                        f"invalid policy counters for chain '{chain}'"
                    ) from error
            try:
                table.set_policy(chain, policy, counters)
            except TableError as error:
                raise IptablesError(
                    f"Can't set policy `{policy}' on `{chain}' line {line}: "
                    f"{error.message.split('.')[0]}"
                ) from error

    def _rule_text(self, table: TableDraft, table_name: str, raw: str, line: int,
                   options: RestoreOptions) -> str | None:
        """A rule line that does not start with ``-``: without its ``[packets:bytes]``, for the
        line cache; None when those counters were kept (--counters: a rule of its own, applied
        here, not cached). Anything else goes to the parser as it is."""
        if raw[:1] != "[":
            return raw
        end = raw.find("]")
        if end < 0:
            raise ParameterProblem(f"Bad line {line}: need ]")
        packets, colon, nbytes = raw[1:end].partition(":")
        if not colon:
            # strtok(":") takes the whole rest, then strtok("]") finds nothing
            raise ParameterProblem(f"Bad line {line}: need ]")
        text = raw[end + 1:]
        if not options.counters:
            return text
        command = self.shapes.parse(["--set-counters", packets, nbytes,
                                     *tokenize_rule_line(text, line)], table_name,
                                    table.chain_exists)
        apply_command(table, command)
        return None


def _jumps_resolve(parsed: ParsedLine, chain_exists: Callable[[object], bool]) -> bool:
    """A cached parse holds only if every chain it jumps to still exists."""
    for rule in parsed[1] if type(parsed) is tuple else parsed.rules:
        target = rule.target
        if target is not None and target.options is None and target.name not in STANDARD_TARGETS:
            if not chain_exists(target.name):
                return False
    return True


def apply_command(table: TableDraft, command: Command) -> None:
    """Apply a parsed table-changing command (not a listing) to a draft table."""
    action = command.action
    chain = command.chain or ""
    if action == "A":
        table.append(chain, *command.rules)
    elif action == "I":
        number = command.rulenum or 1
        for offset, rule in enumerate(command.rules):
            table.insert(chain, number + offset, rule)
    elif action == "R":
        table.replace(chain, command.rulenum or 0, command.rules[0])
    elif action == "D":
        for rule in command.rules:
            table.delete_rule(chain, rule)
    elif action == "d":
        table.delete_number(chain, command.rulenum or 0)
    elif action == "C":
        for rule in command.rules:
            table.check_rule(chain, rule)
    elif action == "F":
        table.flush(command.chain)
    elif action == "Z":
        table.zero(command.chain, command.zero_rulenum)
    elif action == "N":
        table.new_chain(chain)
    elif action == "X":
        table.delete_chain(command.chain)
    elif action == "E":
        table.rename_chain(chain, command.argument or "")
    elif action == "P":
        table.set_policy(chain, command.argument or "", command.counters)
