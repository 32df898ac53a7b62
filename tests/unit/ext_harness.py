"""The shared harness of the extension tests (``test_ext_*.py``).

Each helper runs ``iptables -t TABLE -A CHAIN RULE`` against an empty table the way iptables
does: the command line is parsed (``-j NAME`` names a chain only when the table has it), the
rule is appended, and the table is committed through the kernel's checks
(:func:`iptparse.validate.validate_table`). The helpers then give back what the expected values
were read off in iptables-legacy 1.8.9: the ``iptables-save`` line, the ``iptables -L [-n]``
line, or the exact error.

A ``rule`` is either the text typed after ``-A CHAIN`` on a shell command line (split as the
shell would split it) or the list of words the shell hands over (taken word for word).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import IptablesError, ParameterProblem, error_text
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Rule, Table
from iptparse.printer import listing_lines, rule_listing_text, rule_save_text
from iptparse.validate import validate_table

RuleWords = str | list[str]
ErrorType = TypeVar("ErrorType", bound=IptablesError)

PROGRAM_PREFIX = "iptables v1.8.9 (legacy): "
HELP_HINT = "Try `iptables -h' or 'iptables --help' for more information.\n"


def committed_table(rule: RuleWords, table: str = "filter", chain: str = "INPUT") -> Table:
    """The table after ``iptables -t TABLE -A CHAIN RULE`` on it empty, kernel checks passed."""
    words = shlex.split(rule) if isinstance(rule, str) else rule
    draft = TableDraft(Table.empty(table))
    apply_command(draft, parse_command(["-A", chain, *words], table, draft.__contains__))
    committed = draft.freeze()
    validate_table(committed)
    return committed


def appended_rule(rule: RuleWords, table: str = "filter", chain: str = "INPUT") -> Rule:
    """The one rule ``iptables -t TABLE -A CHAIN RULE`` adds (a rule that expands fails)."""
    (appended,) = committed_table(rule, table, chain).chains[chain].rules
    return appended


def first_appended_rule(rule: RuleWords, table: str = "filter", chain: str = "INPUT") -> Rule:
    """The first rule ``iptables -t TABLE -A CHAIN RULE`` adds."""
    return committed_table(rule, table, chain).chains[chain].rules[0]


def save_lines(rule: RuleWords, table: str = "filter", chain: str = "INPUT") -> str:
    """The ``-A CHAIN ...`` lines ``iptables-save`` prints for the rules added, one a line."""
    appended = committed_table(rule, table, chain).chains[chain].rules
    return "\n".join(rule_save_text(chain, each) for each in appended)


def saved_rule_spec(rule: RuleWords, table: str = "filter", chain: str = "INPUT") -> str:
    """The ``iptables-save`` line of the one rule added, after its ``-A CHAIN ``."""
    return rule_save_text(chain, appended_rule(rule, table, chain))[len(f"-A {chain} "):]


def listing_line(rule: RuleWords, numeric: bool, table: str = "filter",
                 chain: str = "INPUT") -> str:
    """The first added rule's line in ``iptables -L CHAIN`` (with ``-n`` when ``numeric``)."""
    return listing_lines(committed_table(rule, table, chain), chain, numeric=numeric)[2]


def listed_matches(rule: RuleWords, numeric: bool, table: str = "filter",
                   chain: str = "INPUT") -> str:
    """What the first added rule's matches and target print on its -L line after the address
    columns (with ``-n`` when ``numeric``)."""
    return rule_listing_text(first_appended_rule(rule, table, chain), numeric)


def raised_error(rule: RuleWords, table: str = "filter", chain: str = "INPUT",
                 expected: type[ErrorType] = IptablesError) -> ErrorType:  # type: ignore[assignment]
    """The error, of type ``expected``, that ``iptables -t TABLE -A CHAIN RULE`` fails with."""
    with pytest.raises(expected) as caught:
        committed_table(rule, table, chain)
    return caught.value


def parameter_problem(rule: RuleWords, table: str = "filter", chain: str = "INPUT") -> str:
    """The message of the parameter problem that refuses the rule (no prefix, no help hint)."""
    return raised_error(rule, table, chain, ParameterProblem).message


def stderr_of_refused(rule: RuleWords) -> str:
    """What ``iptables -A INPUT RULE`` prints on stderr when it fails."""
    return error_text(raised_error(rule))


def full_stderr(message: str) -> str:
    """iptables' stderr for a message stored without its prefix and help hint."""
    if message.startswith("iptables: "):
        return message  # a kernel refusal: no prefix, no hint
    prefix = "" if message.startswith("Bad argument") else PROGRAM_PREFIX
    return f"{prefix}{message}{HELP_HINT}"


def check_accepted(rule: RuleWords, saved: str, numeric: str, names: str) -> None:
    """``iptables -A INPUT RULE`` saves as ``-A INPUT SAVED`` and lists as given (-n, names)."""
    appended = appended_rule(rule)
    assert rule_save_text("INPUT", appended) == f"-A INPUT {saved}"
    assert rule_listing_text(appended, numeric=True) == numeric
    assert rule_listing_text(appended, numeric=False) == names


def check_refused(rule: RuleWords, message: str) -> None:
    """``iptables -A INPUT RULE`` fails with ``message`` (as :func:`full_stderr` takes it)."""
    assert stderr_of_refused(rule) == full_stderr(message)


def accepted_and_refused_tests(
    accepted: Sequence[tuple[str, str, str, str]], refused: Sequence[tuple[str, str]],
) -> tuple[Callable[..., None], Callable[..., None]]:
    """``test_accepted`` over rows (rule, saved, numeric, names) for :func:`check_accepted` and
    ``test_refused`` over rows (rule, message) for :func:`check_refused`.

    A test module binds them to those names (``test_accepted, test_refused = ...``) for pytest.
    """

    @pytest.mark.parametrize(("rule_text", "saved", "numeric", "names"), accepted)
    def test_accepted(rule_text: str, saved: str, numeric: str, names: str) -> None:
        check_accepted(rule_text, saved, numeric, names)

    @pytest.mark.parametrize(("rule_text", "message"), refused)
    def test_refused(rule_text: str, message: str) -> None:
        check_refused(rule_text, message)

    return test_accepted, test_refused
