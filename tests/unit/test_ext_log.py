"""LOG: parse, save, -L, errors.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -A ...``, ``iptables-save``,
``iptables -L [-n]``) in a throwaway network namespace.
"""

from __future__ import annotations

import shlex

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import IptablesError, ParameterProblem
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Table
from iptparse.printer import listing_lines, rule_save_text
from iptparse.validate import validate_table

pytestmark = pytest.mark.unit

def _table(table: str, chain: str, rule: str) -> Table:
    draft = TableDraft(Table.empty(table))
    command = parse_command(["-A", chain, *shlex.split(rule)], table, draft.__contains__)
    apply_command(draft, command)
    result = draft.freeze()
    validate_table(result)
    return result


def saved(table: str, chain: str, rule: str) -> str:
    result = _table(table, chain, rule)
    return rule_save_text(chain, result.chains[chain].rules[0])[len(f"-A {chain} "):]


def listed(table: str, chain: str, rule: str, numeric: bool) -> str:
    return listing_lines(_table(table, chain, rule), chain, numeric=numeric)[2]


def error(table: str, chain: str, rule: str) -> IptablesError:
    with pytest.raises(IptablesError) as caught:
        _table(table, chain, rule)
    return caught.value


@pytest.mark.parametrize(("rule", "save"), [
    ("-j LOG", "="),
    ('-j LOG --log-prefix "test: "', "="),
    ('-j LOG --log-prefix "test: " --log-level 1', "="),
    ('-j LOG --log-prefix "test: " --log-level alert',
     '-j LOG --log-prefix "test: " --log-level 1'),
    ("-j LOG --log-level emerg", "-j LOG --log-level 0"),
    ("-j LOG --log-level panic", "-j LOG --log-level 0"),
    ("-j LOG --log-level crit", "-j LOG --log-level 2"),
    ("-j LOG --log-level error", "-j LOG --log-level 3"),
    ("-j LOG --log-level warning", "-j LOG"),
    ("-j LOG --log-level 4", "-j LOG"),
    ("-j LOG --log-level notice", "-j LOG --log-level 5"),
    ("-j LOG --log-level info", "-j LOG --log-level 6"),
    ("-j LOG --log-level debug", "-j LOG --log-level 7"),
    ("-j LOG --log-level 0x3", "-j LOG --log-level 3"),
    ("-j LOG --log-level 03", "-j LOG --log-level 3"),
    ("-j LOG --log-level ' +3'", "-j LOG --log-level 3"),
    ("-j LOG --log-macdecode --log-uid --log-ip-options --log-tcp-options --log-tcp-sequence",
     "-j LOG --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode"),
    ("-j LOG --log-uid --log-level 2 --log-p x", "-j LOG --log-prefix x --log-level 2 --log-uid"),
    ("-j LOG --log-prefix 'a\"b'", '-j LOG --log-prefix "a\\"b"'),
    ("-j LOG --log-prefix \"it's\"", "-j LOG --log-prefix \"it\\'s\""),
    ("-j LOG --log-prefix 'a\\b'", '-j LOG --log-prefix "a\\\\b"'),
    ("-j LOG --log-prefix 1234567890123456789012345678901234567890",
     "-j LOG --log-prefix 12345678901234567890123456789"),
])
def test_saved(rule: str, save: str) -> None:
    assert saved("filter", "INPUT", rule) == (rule if save == "=" else save)


def test_prefix_cut_inside_a_character() -> None:
    # 29 bytes end in the middle of the 15th "é": the half byte is kept, as in the kernel.
    text = saved("filter", "INPUT", "-j LOG --log-prefix " + "é" * 15)
    assert text.encode("utf-8", "surrogateescape") == (
        b'-j LOG --log-prefix "' + "é".encode() * 14 + b'\xc3"')


@pytest.mark.parametrize(("rule", "message"), [
    ("-j LOG --log-level bad", 'log level "bad" unknown\n'),
    ("-j LOG --log-level err", 'log level "err" unknown\n'),
    ("-j LOG --log-level warn", 'log level "warn" unknown\n'),
    ("-j LOG --log-level ALERT", 'log level "ALERT" unknown\n'),
    ("-j LOG --log-level 8", 'log level "8" unknown\n'),
    ("-j LOG --log-level 010", 'log level "010" unknown\n'),
    ("-j LOG --log-level -0", 'log level "-0" unknown\n'),
    ("-j LOG --log-level '3 '", 'log level "3 " unknown\n'),
    ("-j LOG --log-level ''", 'log level "" unknown\n'),
    ("-j LOG --log-prefix", 'option "--log-prefix" requires an argument'),
    ("-j LOG --log-prefix ''", "Argument must have a minimum length of 1 characters\n"),
    ("-j LOG --log-prefix 'a\nb'", "Newlines not allowed in --log-prefix"),
    ("-j LOG --log-uid --log-uid", 'LOG: option "--log-uid" can only be used once.\n'),
    ("-j LOG ! --log-uid", 'LOG: option "--log-uid" cannot be inverted.\n'),
    ("-j LOG --log-t x", 'unknown option "--log-t"'),
])
def test_errors(rule: str, message: str) -> None:
    err = error("filter", "INPUT", rule)
    assert isinstance(err, ParameterProblem)
    assert err.message == message


@pytest.mark.parametrize(("rule", "numeric", "names"), [
    ("-j LOG", "LOG flags 0 level 4", "LOG level warn"),
    ('-j LOG --log-prefix "test: " --log-level 1', 'LOG flags 0 level 1 prefix "test: "',
     'LOG level alert prefix "test: "'),
    ("-j LOG --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode "
     "--log-level 2 --log-prefix x", 'LOG flags 47 level 2 prefix "x"',
     'LOG level crit tcp-sequence tcp-options ip-options uid macdecode prefix "x"'),
    ("-j LOG --log-level error --log-macdecode", "LOG flags 32 level 3", "LOG level err macdecode"),
    ("-j LOG --log-prefix 'a\"b'", 'LOG flags 0 level 4 prefix "a"b"',
     'LOG level warn prefix "a"b"'),
])
def test_listing(rule: str, numeric: str, names: str) -> None:
    assert listed("filter", "INPUT", rule, True) == (
        "LOG        0    --  0.0.0.0/0            0.0.0.0/0            " + numeric)
    assert listed("filter", "INPUT", rule, False) == (
        "LOG        all  --  anywhere             anywhere             " + names)


@pytest.mark.parametrize(("table", "chain"), [
    ("nat", "PREROUTING"), ("raw", "OUTPUT"), ("mangle", "POSTROUTING"), ("security", "INPUT"),
])
def test_any_table(table: str, chain: str) -> None:
    assert saved(table, chain, "-j LOG") == "-j LOG"
