"""``-m limit``: saved text, -L text (with and without -n), refusals (parser and kernel ERANGE).

Every expected value below was read off iptables-legacy 1.8.9 (the oracle) in a network
namespace on this machine's kernel: ``iptables-legacy -A INPUT RULE``, then
``iptables-legacy-save`` and ``-L INPUT [-n]``; refusals are its exact stderr.
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
        '-m limit',
        '-m limit --limit 3/hour',
        ' limit: avg 3/hour burst 5',
        ' limit: avg 3/hour burst 5',
    ),
    (
        '-m limit --limit 1/sec',
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
    (
        '-m limit --limit 1/min',
        '-m limit --limit 1/min',
        ' limit: avg 1/min burst 5',
        ' limit: avg 1/min burst 5',
    ),
    (
        '-m limit --limit 1000/hour',
        '-m limit --limit 1000/hour',
        ' limit: avg 1000/hour burst 5',
        ' limit: avg 1000/hour burst 5',
    ),
    (
        '-m limit --limit 1000/day',
        '-m limit --limit 1000/day',
        ' limit: avg 1000/day burst 5',
        ' limit: avg 1000/day burst 5',
    ),
    (
        '-m limit --limit 1/sec --limit-burst 1',
        '-m limit --limit 1/sec --limit-burst 1',
        ' limit: avg 1/sec burst 1',
        ' limit: avg 1/sec burst 1',
    ),
    (
        '-m limit --limit 3/min --limit-burst 7',
        '-m limit --limit 3/min --limit-burst 7',
        ' limit: avg 3/min burst 7',
        ' limit: avg 3/min burst 7',
    ),
    (
        '-m limit --limit 3/m',
        '-m limit --limit 3/min',
        ' limit: avg 3/min burst 5',
        ' limit: avg 3/min burst 5',
    ),
    (
        '-m limit --limit 3/minute',
        '-m limit --limit 3/min',
        ' limit: avg 3/min burst 5',
        ' limit: avg 3/min burst 5',
    ),
    (
        '-m limit --limit 3/mi',
        '-m limit --limit 3/min',
        ' limit: avg 3/min burst 5',
        ' limit: avg 3/min burst 5',
    ),
    (
        '-m limit --limit 3/s',
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        '-m limit --limit 3/se',
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        '-m limit --limit 3/second',
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        '-m limit --limit 3/h',
        '-m limit --limit 3/hour',
        ' limit: avg 3/hour burst 5',
        ' limit: avg 3/hour burst 5',
    ),
    (
        '-m limit --limit 3',
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        '-m limit --limit 10000/sec',
        '-m limit --limit 10000/sec',
        ' limit: avg 10000/sec burst 5',
        ' limit: avg 10000/sec burst 5',
    ),
    (
        '-m limit --limit 2/day',
        '-m limit --limit 2/day',
        ' limit: avg 2/day burst 5',
        ' limit: avg 2/day burst 5',
    ),
    (
        '-m limit --limit 7/hour',
        '-m limit --limit 7/hour',
        ' limit: avg 7/hour burst 5',
        ' limit: avg 7/hour burst 5',
    ),
    (
        '-m limit --limit 59/hour',
        '-m limit --limit 59/hour',
        ' limit: avg 59/hour burst 5',
        ' limit: avg 59/hour burst 5',
    ),
    (
        '-m limit --limit 61/hour',
        '-m limit --limit 61/hour',
        ' limit: avg 61/hour burst 5',
        ' limit: avg 61/hour burst 5',
    ),
    (
        '-m limit --limit 100/min',
        '-m limit --limit 100/min',
        ' limit: avg 100/min burst 5',
        ' limit: avg 100/min burst 5',
    ),
    (
        '-m limit --limit 7/sec',
        '-m limit --limit 7/sec',
        ' limit: avg 7/sec burst 5',
        ' limit: avg 7/sec burst 5',
    ),
    (
        '-m limit --limit 1441/day',
        '-m limit --limit 1441/day',
        ' limit: avg 1441/day burst 5',
        ' limit: avg 1441/day burst 5',
    ),
    (
        '-m limit --limit 86400/day',
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
    (
        '-m limit --limit 86401/day',
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
    (
        '-m limit --limit 3600/hour',
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
    (
        '-m limit --limit 60/min',
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
    (
        '-m limit --limit 61/min',
        '-m limit --limit 61/min',
        ' limit: avg 61/min burst 5',
        ' limit: avg 61/min burst 5',
    ),
    (
        '-m limit --limit 120/min',
        '-m limit --limit 2/sec',
        ' limit: avg 2/sec burst 5',
        ' limit: avg 2/sec burst 5',
    ),
    (
        '-m limit --limit 3/MIN',
        '-m limit --limit 3/min',
        ' limit: avg 3/min burst 5',
        ' limit: avg 3/min burst 5',
    ),
    (
        '-m limit --limit 3/Sec',
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        '-m limit --limit 010/sec',
        '-m limit --limit 10/sec',
        ' limit: avg 10/sec burst 5',
        ' limit: avg 10/sec burst 5',
    ),
    (
        '-m limit --limit " 3/sec"',
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        '-m limit --limit 3.5/sec',
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        '-m limit --limit-burst 5',
        '-m limit --limit 3/hour',
        ' limit: avg 3/hour burst 5',
        ' limit: avg 3/hour burst 5',
    ),
    (
        '-m limit --limit-burst 6',
        '-m limit --limit 3/hour --limit-burst 6',
        ' limit: avg 3/hour burst 6',
        ' limit: avg 3/hour burst 6',
    ),
    (
        '-m limit --limit- 3',
        '-m limit --limit 3/hour --limit-burst 3',
        ' limit: avg 3/hour burst 3',
        ' limit: avg 3/hour burst 3',
    ),
    (
        '-m limit --limit 5/hour --limit-burst 5',
        '-m limit --limit 5/hour',
        ' limit: avg 5/hour burst 5',
        ' limit: avg 5/hour burst 5',
    ),
    (
        '-m limit --limit 13/day',
        '-m limit --limit 13/day',
        ' limit: avg 13/day burst 5',
        ' limit: avg 13/day burst 5',
    ),
    (
        '-m limit --limit 17/hour',
        '-m limit --limit 17/hour',
        ' limit: avg 17/hour burst 5',
        ' limit: avg 17/hour burst 5',
    ),
    (
        '-m limit --limit 333/min',
        '-m limit --limit 333/min',
        ' limit: avg 333/min burst 5',
        ' limit: avg 333/min burst 5',
    ),
    (
        '-m limit --limit 9999/sec',
        '-m limit --limit 10000/sec',
        ' limit: avg 10000/sec burst 5',
        ' limit: avg 10000/sec burst 5',
    ),
    (
        '-m limit --limit 4000/day',
        '-m limit --limit 4000/day',
        ' limit: avg 4000/day burst 5',
        ' limit: avg 4000/day burst 5',
    ),
    (
        '-m limit --limit 2/sec',
        '-m limit --limit 2/sec',
        ' limit: avg 2/sec burst 5',
        ' limit: avg 2/sec burst 5',
    ),
    (
        '-m limit --limit 11/sec',
        '-m limit --limit 11/sec',
        ' limit: avg 11/sec burst 5',
        ' limit: avg 11/sec burst 5',
    ),
    (
        '-m limit --limit 60/sec',
        '-m limit --limit 60/sec',
        ' limit: avg 60/sec burst 5',
        ' limit: avg 60/sec burst 5',
    ),
    (
        '-m limit --limit 119/sec',
        '-m limit --limit 119/sec',
        ' limit: avg 119/sec burst 5',
        ' limit: avg 119/sec burst 5',
    ),
    (
        '-m limit --limit 601/sec',
        '-m limit --limit 625/sec',
        ' limit: avg 625/sec burst 5',
        ' limit: avg 625/sec burst 5',
    ),
    (
        '-m limit --limit 3600/sec',
        '-m limit --limit 5000/sec',
        ' limit: avg 5000/sec burst 5',
        ' limit: avg 5000/sec burst 5',
    ),
    (
        '-m limit --limit 10000/sec',
        '-m limit --limit 10000/sec',
        ' limit: avg 10000/sec burst 5',
        ' limit: avg 10000/sec burst 5',
    ),
    (
        '-m limit --limit 2/min',
        '-m limit --limit 2/min',
        ' limit: avg 2/min burst 5',
        ' limit: avg 2/min burst 5',
    ),
    (
        '-m limit --limit 11/min',
        '-m limit --limit 11/min',
        ' limit: avg 11/min burst 5',
        ' limit: avg 11/min burst 5',
    ),
    (
        '-m limit --limit 60/min',
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
    (
        '-m limit --limit 119/min',
        '-m limit --limit 119/min',
        ' limit: avg 119/min burst 5',
        ' limit: avg 119/min burst 5',
    ),
    (
        '-m limit --limit 601/min',
        '-m limit --limit 601/min',
        ' limit: avg 601/min burst 5',
        ' limit: avg 601/min burst 5',
    ),
    (
        '-m limit --limit 3600/min',
        '-m limit --limit 60/sec',
        ' limit: avg 60/sec burst 5',
        ' limit: avg 60/sec burst 5',
    ),
    (
        '-m limit --limit 10000/min',
        '-m limit --limit 166/sec',
        ' limit: avg 166/sec burst 5',
        ' limit: avg 166/sec burst 5',
    ),
    (
        '-m limit --limit 2/hour',
        '-m limit --limit 2/hour',
        ' limit: avg 2/hour burst 5',
        ' limit: avg 2/hour burst 5',
    ),
    (
        '-m limit --limit 11/hour',
        '-m limit --limit 11/hour',
        ' limit: avg 11/hour burst 5',
        ' limit: avg 11/hour burst 5',
    ),
    (
        '-m limit --limit 60/hour',
        '-m limit --limit 1/min',
        ' limit: avg 1/min burst 5',
        ' limit: avg 1/min burst 5',
    ),
    (
        '-m limit --limit 119/hour',
        '-m limit --limit 119/hour',
        ' limit: avg 119/hour burst 5',
        ' limit: avg 119/hour burst 5',
    ),
    (
        '-m limit --limit 601/hour',
        '-m limit --limit 601/hour',
        ' limit: avg 601/hour burst 5',
        ' limit: avg 601/hour burst 5',
    ),
    (
        '-m limit --limit 3600/hour',
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
    (
        '-m limit --limit 10000/hour',
        '-m limit --limit 10000/hour',
        ' limit: avg 10000/hour burst 5',
        ' limit: avg 10000/hour burst 5',
    ),
    (
        '-m limit --limit 2/day',
        '-m limit --limit 2/day',
        ' limit: avg 2/day burst 5',
        ' limit: avg 2/day burst 5',
    ),
    (
        '-m limit --limit 11/day',
        '-m limit --limit 11/day',
        ' limit: avg 11/day burst 5',
        ' limit: avg 11/day burst 5',
    ),
    (
        '-m limit --limit 60/day',
        '-m limit --limit 60/day',
        ' limit: avg 60/day burst 5',
        ' limit: avg 60/day burst 5',
    ),
    (
        '-m limit --limit 119/day',
        '-m limit --limit 119/day',
        ' limit: avg 119/day burst 5',
        ' limit: avg 119/day burst 5',
    ),
    (
        '-m limit --limit 601/day',
        '-m limit --limit 601/day',
        ' limit: avg 601/day burst 5',
        ' limit: avg 601/day burst 5',
    ),
    (
        '-m limit --limit 3600/day',
        '-m limit --limit 150/hour',
        ' limit: avg 150/hour burst 5',
        ' limit: avg 150/hour burst 5',
    ),
    (
        '-m limit --limit 10000/day',
        '-m limit --limit 10000/day',
        ' limit: avg 10000/day burst 5',
        ' limit: avg 10000/day burst 5',
    ),
    (
        '-m limit --limit 600000/hour',
        '-m limit --limit 166/sec',
        ' limit: avg 166/sec burst 5',
        ' limit: avg 166/sec burst 5',
    ),
    (
        '-m limit --limit 600060/day',
        '-m limit --limit 25017/hour',
        ' limit: avg 25017/hour burst 5',
        ' limit: avg 25017/hour burst 5',
    ),
    (
        '-m limit --limit 5/day --limit-burst 1',
        '-m limit --limit 5/day --limit-burst 1',
        ' limit: avg 5/day burst 1',
        ' limit: avg 5/day burst 1',
    ),
    (
        '-m limit --limit 50/hour --limit-burst 1',
        '-m limit --limit 50/hour --limit-burst 1',
        ' limit: avg 50/hour burst 1',
        ' limit: avg 50/hour burst 1',
    ),
    (
        '-m limit --limit 2/day --limit-burst 2',
        '-m limit --limit 2/day --limit-burst 2',
        ' limit: avg 2/day burst 2',
        ' limit: avg 2/day burst 2',
    ),
    (
        '-m limit --limit 7/hour --limit-burst 2',
        '-m limit --limit 7/hour --limit-burst 2',
        ' limit: avg 7/hour burst 2',
        ' limit: avg 7/hour burst 2',
    ),
    (
        '-m limit --limit 1/min --limit-burst 3',
        '-m limit --limit 1/min --limit-burst 3',
        ' limit: avg 1/min burst 3',
        ' limit: avg 1/min burst 3',
    ),
    (
        '-m limit --limit 1000/day --limit-burst 3',
        '-m limit --limit 1000/day --limit-burst 3',
        ' limit: avg 1000/day burst 3',
        ' limit: avg 1000/day burst 3',
    ),
    (
        '-m limit --limit 3/hour --limit-burst 4',
        '-m limit --limit 3/hour --limit-burst 4',
        ' limit: avg 3/hour burst 4',
        ' limit: avg 3/hour burst 4',
    ),
    (
        '-m limit --limit 100/day --limit-burst 4',
        '-m limit --limit 100/day --limit-burst 4',
        ' limit: avg 100/day burst 4',
        ' limit: avg 100/day burst 4',
    ),
    (
        '-m limit --limit 1/sec --limit-burst 6',
        '-m limit --limit 1/sec --limit-burst 6',
        ' limit: avg 1/sec burst 6',
        ' limit: avg 1/sec burst 6',
    ),
    (
        '-m limit --limit 10/day --limit-burst 6',
        '-m limit --limit 10/day --limit-burst 6',
        ' limit: avg 10/day burst 6',
        ' limit: avg 10/day burst 6',
    ),
    (
        '-m limit --limit 10000/sec --limit-burst 6',
        '-m limit --limit 10000/sec --limit-burst 6',
        ' limit: avg 10000/sec burst 6',
        ' limit: avg 10000/sec burst 6',
    ),
    (
        '-m limit --limit 5/day --limit-burst 10',
        '-m limit --limit 5/day --limit-burst 10',
        ' limit: avg 5/day burst 10',
        ' limit: avg 5/day burst 10',
    ),
    (
        '-m limit --limit 50/hour --limit-burst 10',
        '-m limit --limit 50/hour --limit-burst 10',
        ' limit: avg 50/hour burst 10',
        ' limit: avg 50/hour burst 10',
    ),
    (
        '-m limit --limit 7/hour --limit-burst 50',
        '-m limit --limit 7/hour --limit-burst 50',
        ' limit: avg 7/hour burst 50',
        ' limit: avg 7/hour burst 50',
    ),
    (
        '-m limit --limit 1/min --limit-burst 100',
        '-m limit --limit 1/min --limit-burst 100',
        ' limit: avg 1/min burst 100',
        ' limit: avg 1/min burst 100',
    ),
    (
        '-m limit --limit 1000/day --limit-burst 100',
        '-m limit --limit 1000/day --limit-burst 100',
        ' limit: avg 1000/day burst 100',
        ' limit: avg 1000/day burst 100',
    ),
    (
        '-m limit --limit 3/hour --limit-burst 500',
        '-m limit --limit 3/hour --limit-burst 500',
        ' limit: avg 3/hour burst 500',
        ' limit: avg 3/hour burst 500',
    ),
    (
        '-m limit --limit 100/day --limit-burst 500',
        '-m limit --limit 100/day --limit-burst 500',
        ' limit: avg 100/day burst 500',
        ' limit: avg 100/day burst 500',
    ),
    (
        '-m limit --limit 1/sec --limit-burst 1000',
        '-m limit --limit 1/sec --limit-burst 1000',
        ' limit: avg 1/sec burst 1000',
        ' limit: avg 1/sec burst 1000',
    ),
    (
        '-m limit --limit 10/day --limit-burst 1000',
        '-m limit --limit 10/day --limit-burst 1000',
        ' limit: avg 10/day burst 1000',
        ' limit: avg 10/day burst 1000',
    ),
    (
        '-m limit --limit 10000/sec --limit-burst 1000',
        '-m limit --limit 10000/sec --limit-burst 1000',
        ' limit: avg 10000/sec burst 1000',
        ' limit: avg 10000/sec burst 1000',
    ),
    (
        '-m limit --limit 5/day --limit-burst 5000',
        '-m limit --limit 5/day --limit-burst 5000',
        ' limit: avg 5/day burst 5000',
        ' limit: avg 5/day burst 5000',
    ),
    (
        '-m limit --limit 50/hour --limit-burst 5000',
        '-m limit --limit 50/hour --limit-burst 5000',
        ' limit: avg 50/hour burst 5000',
        ' limit: avg 50/hour burst 5000',
    ),
    (
        '-m limit --limit 2/day --limit-burst 9999',
        '-m limit --limit 2/day --limit-burst 9999',
        ' limit: avg 2/day burst 9999',
        ' limit: avg 2/day burst 9999',
    ),
    (
        '-m limit --limit 7/hour --limit-burst 9999',
        '-m limit --limit 7/hour --limit-burst 9999',
        ' limit: avg 7/hour burst 9999',
        ' limit: avg 7/hour burst 9999',
    ),
    (
        '-m limit --limit 1/min --limit-burst 10000',
        '-m limit --limit 1/min --limit-burst 10000',
        ' limit: avg 1/min burst 10000',
        ' limit: avg 1/min burst 10000',
    ),
    (
        '-m limit --limit 1000/day --limit-burst 10000',
        '-m limit --limit 1000/day --limit-burst 10000',
        ' limit: avg 1000/day burst 10000',
        ' limit: avg 1000/day burst 10000',
    ),
    (
        "-m limit --limit '3x'",
        '-m limit --limit 3/sec',
        ' limit: avg 3/sec burst 5',
        ' limit: avg 3/sec burst 5',
    ),
    (
        "-m limit --limit '4294967297/sec'",
        '-m limit --limit 1/sec',
        ' limit: avg 1/sec burst 5',
        ' limit: avg 1/sec burst 5',
    ),
]

REFUSED = [
    ('-m limit --limit 3/minutes', 'bad rate "3/minutes"\'\n'),
    ('-m limit --limit 3/d', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 3/x', 'bad rate "3/x"\'\n'),
    ('-m limit --limit 3/', 'bad rate "3/"\'\n'),
    ('-m limit --limit 0/sec', 'bad rate "0/sec"\'\n'),
    ('-m limit --limit 10001/sec', 'Rate too fast "10001/sec"\n'),
    ('-m limit --limit 100000/sec', 'Rate too fast "100000/sec"\n'),
    ('-m limit --limit 1/day', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit a/sec', 'bad rate "a/sec"\'\n'),
    ('-m limit --limit -1/sec', 'Rate too fast "-1/sec"\n'),
    ('-m limit --limit 0x10/sec', 'bad rate "0x10/sec"\'\n'),
    ('-m limit --limit 4294967296/sec', 'bad rate "4294967296/sec"\'\n'),
    ('-m limit --limit ""', 'bad rate ""\'\n'),
    ('-m limit --limit-burst 0', 'iptables: Numerical result out of range.\n'),
    (
        '-m limit --limit-burst 10001',
        'limit: bad value for option "--limit-burst", or out of range (0-10000).\n\n',
    ),
    ('-m limit --limit-burst 10000', 'iptables: Numerical result out of range.\n'),
    (
        '-m limit --limit-burst -1',
        'limit: bad value for option "--limit-burst", or out of range (0-10000).\n\n',
    ),
    (
        '-m limit --limit-burst a',
        'limit: bad value for option "--limit-burst", or out of range (0-10000).\n\n',
    ),
    (
        '-m limit --limit-burst 4294967295',
        'limit: bad value for option "--limit-burst", or out of range (0-10000).\n\n',
    ),
    (
        '-m limit --limit-burst 4294967296',
        'limit: bad value for option "--limit-burst", or out of range (0-10000).\n\n',
    ),
    ('-m limit ! --limit 3/sec', 'limit: option "--limit" cannot be inverted.\n\n'),
    ('-m limit ! --limit-burst 4', 'limit: option "--limit-burst" cannot be inverted.\n\n'),
    ('-m limit --limit 3/sec --limit 4/sec', 'limit: option "--limit" can only be used once.\n\n'),
    (
        '-m limit --limit-burst 3 --limit-burst 4',
        'limit: option "--limit-burst" can only be used once.\n\n',
    ),
    ('-m limit --limit 3/sec/min', 'bad rate "3/sec/min"\'\n'),
    ('-m limit --lim 3/sec', 'unknown option "--lim"\n'),
    ('-m limit --limit 86399/sec', 'Rate too fast "86399/sec"\n'),
    ('-m limit --limit 86400/sec', 'Rate too fast "86400/sec"\n'),
    ('-m limit --limit 86401/sec', 'Rate too fast "86401/sec"\n'),
    ('-m limit --limit 1/day', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 3/day', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 600001/min', 'Rate too fast "600001/min"\n'),
    ('-m limit --limit 600059/min', 'Rate too fast "600059/min"\n'),
    ('-m limit --limit 600060/min', 'Rate too fast "600060/min"\n'),
    ('-m limit --limit 36000000/min', 'Rate too fast "36000000/min"\n'),
    ('-m limit --limit 36000001/min', 'Rate too fast "36000001/min"\n'),
    ('-m limit --limit 36000001/hour', 'Rate too fast "36000001/hour"\n'),
    ('-m limit --limit 864000000/min', 'Rate too fast "864000000/min"\n'),
    ('-m limit --limit 864000000/hour', 'Rate too fast "864000000/hour"\n'),
    ('-m limit --limit 864000001/min', 'Rate too fast "864000001/min"\n'),
    ('-m limit --limit 864000001/hour', 'Rate too fast "864000001/hour"\n'),
    ('-m limit --limit 864000001/day', 'Rate too fast "864000001/day"\n'),
    ('-m limit --limit 4294967295/min', 'Rate too fast "4294967295/min"\n'),
    ('-m limit --limit 4294967295/hour', 'Rate too fast "4294967295/hour"\n'),
    ('-m limit --limit 4294967295/day', 'Rate too fast "4294967295/day"\n'),
    ('-m limit --limit 2/day --limit-burst 4', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 2/day --limit-burst 10', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 2/day --limit-burst 50', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 5/day --limit-burst 50', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 10/day --limit-burst 50', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 2/day --limit-burst 100', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 5/day --limit-burst 100', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 10/day --limit-burst 100', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 3/hour --limit-burst 10000', 'iptables: Numerical result out of range.\n'),
    ('-m limit --limit 5/day --limit-burst 10000', 'iptables: Numerical result out of range.\n'),
    ("-m limit --limit 'abc3/sec'", 'bad rate "abc3/sec"\'\n'),
    ("-m limit --limit '-99999999999999999999/sec'", 'bad rate "-99999999999999999999/sec"\'\n'),
    ("-m limit --limit '99999999999999999999/sec'", 'Rate too fast "99999999999999999999/sec"\n'),
    ("-m limit --limit '18446744073709551616/sec'", 'Rate too fast "18446744073709551616/sec"\n'),
    ("-m limit --limit '3/Seconds'", 'bad rate "3/Seconds"\'\n'),
    ("-m limit --limit '3//sec'", 'bad rate "3//sec"\'\n'),
    ("-m limit --limit '/sec'", 'bad rate "/sec"\'\n'),
    ("-m limit --limit '3/ sec'", 'bad rate "3/ sec"\'\n'),
    ("-m limit --limit '3/min '", 'bad rate "3/min "\'\n'),
    ("-m limit --limit '0'", 'bad rate "0"\'\n'),
    ("-m limit --limit '0x3'", 'bad rate "0x3"\'\n'),
]


@pytest.mark.parametrize(("rule_text", "saved", "numeric", "names"), ACCEPTED)
def test_accepted(rule_text: str, saved: str, numeric: str, names: str) -> None:
    _check_accepted(rule_text, saved, numeric, names)


@pytest.mark.parametrize(("rule_text", "message"), REFUSED)
def test_refused(rule_text: str, message: str) -> None:
    assert _stderr(rule_text) == _full_stderr(message)
