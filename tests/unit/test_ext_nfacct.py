"""``-m nfacct``: saved text, -L text (with and without -n), refusals.

Expected values were read off iptables-legacy 1.8.9 (the oracle) in a network namespace where
``nfacct add`` had created the objects X, "a b", 'q"x' and 0123456789012345678901234567890.
Without the object the kernel refuses the rule ("iptables: No chain/target/match by that name.",
exit 1); bpftables cannot see the kernel's nfacct objects, so it accepts any name
(``test_unknown_object_accepted``).
"""

from __future__ import annotations

import shlex

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import IptablesError, error_text
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Rule, Table
from iptparse.printer import rule_listing_text, rule_save_text
from iptparse.validate import validate_table

pytestmark = pytest.mark.unit


def _append(rule_text: str) -> Rule:
    """``iptables -A INPUT RULE`` on an empty filter table, committed; the rule added."""
    draft = TableDraft(Table.empty("filter"))
    apply_command(draft, parse_command(["-A", "INPUT", *shlex.split(rule_text)], "filter",
                                       draft.__contains__))
    table = draft.freeze()
    validate_table(table)
    (rule,) = table.chains["INPUT"].rules
    return rule


def _stderr(rule_text: str) -> str:
    """What ``iptables -A INPUT RULE`` prints on stderr when it fails."""
    with pytest.raises(IptablesError) as error:
        _append(rule_text)
    return error_text(error.value)


def _full_stderr(message: str) -> str:
    """iptables' stderr for a message stored without its prefix and help hint."""
    if message.startswith("iptables: "):
        return message  # a kernel refusal: no prefix, no hint
    prefix = "" if message.startswith("Bad argument") else "iptables v1.8.9 (legacy): "
    return f"{prefix}{message}Try `iptables -h' or 'iptables --help' for more information.\n"


def _check_accepted(rule_text: str, saved: str, numeric: str, names: str) -> None:
    rule = _append(rule_text)
    assert rule_save_text("INPUT", rule) == f"-A INPUT {saved}"
    assert rule_listing_text(rule, numeric=True) == numeric
    assert rule_listing_text(rule, numeric=False) == names


ACCEPTED = [
    (
        '-m nfacct --nfacct-name X',
        '-m nfacct --nfacct-name  X',
        ' nfacct-name  X',
        ' nfacct-name  X',
    ),
    (
        "-m nfacct --nfacct-name 'a b'",
        '-m nfacct --nfacct-name  "a b"',
        ' nfacct-name  "a b"',
        ' nfacct-name  "a b"',
    ),
    (
        '-m nfacct --nfacct-name \'q"x\'',
        '-m nfacct --nfacct-name  "q\\"x"',
        ' nfacct-name  "q\\"x"',
        ' nfacct-name  "q\\"x"',
    ),
    (
        '-m nfacct --nfacct-name 0123456789012345678901234567890123456789',
        '-m nfacct --nfacct-name  0123456789012345678901234567890',
        ' nfacct-name  0123456789012345678901234567890',
        ' nfacct-name  0123456789012345678901234567890',
    ),
    (
        "-m nfacct --nfacct-name X -m nfacct --nfacct-name 'a b'",
        '-m nfacct --nfacct-name  X -m nfacct --nfacct-name  "a b"',
        ' nfacct-name  X nfacct-name  "a b"',
        ' nfacct-name  X nfacct-name  "a b"',
    ),
]

REFUSED = [
    ("-m nfacct --nfacct-name ''", 'Argument must have a minimum length of 1 characters\n\n'),
    ('-m nfacct', 'nfacct: option "--nfacct-name" must be specified\n\n'),
    ('-m nfacct ! --nfacct-name X', 'nfacct: option "--nfacct-name" cannot be inverted.\n\n'),
    (
        '-m nfacct --nfacct-name X --nfacct-name X',
        'nfacct: option "--nfacct-name" can only be used once.\n\n',
    ),
]


@pytest.mark.parametrize(("rule_text", "saved", "numeric", "names"), ACCEPTED)
def test_accepted(rule_text: str, saved: str, numeric: str, names: str) -> None:
    _check_accepted(rule_text, saved, numeric, names)


@pytest.mark.parametrize(("rule_text", "message"), REFUSED)
def test_refused(rule_text: str, message: str) -> None:
    assert _stderr(rule_text) == _full_stderr(message)


def test_unknown_object_accepted() -> None:
    # The kernel would refuse a name with no nfacct object; bpftables has no way to know.
    rule = _append("-m nfacct --nfacct-name no-such-object")
    assert rule_save_text("INPUT", rule) == "-A INPUT -m nfacct --nfacct-name  no-such-object"
