"""``-m pkttype``: parsing, saving, listing and errors.

Every expected value here was read off iptables-legacy 1.8.9 (``iptables -A``, then
``iptables-save``, ``iptables -L -n`` and ``iptables -L``).
"""

from __future__ import annotations

import shlex

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import ParameterProblem
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Rule, Table
from iptparse.printer import listing_lines, rule_listing_text, rule_spec_text
from iptparse.validate import validate_table

pytestmark = pytest.mark.unit


def _table(rule: str, table: str = "filter", chain: str = "INPUT") -> Table:
    draft = TableDraft(Table.empty(table))
    apply_command(draft, parse_command(["-A", chain, *shlex.split(rule)], table,
                                       draft.__contains__))
    frozen = draft.freeze()
    validate_table(frozen)
    return frozen


def _rule(rule: str) -> Rule:
    return _table(rule).chains["INPUT"].rules[0]


def _message(rule: str) -> str:
    with pytest.raises(ParameterProblem) as error:
        _table(rule)
    return error.value.message


@pytest.mark.parametrize(("options", "saved", "listed"), [
    ("--pkt-type unicast", "--pkt-type unicast", " PKTTYPE = unicast"),
    ("--pkt-type broadcast", "--pkt-type broadcast", " PKTTYPE = broadcast"),
    ("--pkt-type multicast", "--pkt-type multicast", " PKTTYPE = multicast"),
    ("--pkt-type otherhost", "--pkt-type otherhost", " PKTTYPE = otherhost"),
    ("--pkt-type host", "--pkt-type unicast", " PKTTYPE = unicast"),
    ("--pkt-type BROADCAST", "--pkt-type broadcast", " PKTTYPE = broadcast"),
    ("--pkt-type Unicast", "--pkt-type unicast", " PKTTYPE = unicast"),
    ("! --pkt-type multicast", "! --pkt-type multicast", " PKTTYPE != multicast"),
    ("--pkt multicast", "--pkt-type multicast", " PKTTYPE = multicast"),
])
def test_saved_and_listed(options: str, saved: str, listed: str) -> None:
    parsed = _rule(f"-m pkttype {options}")
    assert rule_spec_text(parsed) == f" -m pkttype {saved}"
    assert rule_listing_text(parsed, numeric=True) == listed
    assert rule_listing_text(parsed, numeric=False) == listed


def test_listing_line() -> None:
    table = _table("-m pkttype --pkt-type broadcast")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        "           all  --  anywhere             anywhere             PKTTYPE = broadcast")


@pytest.mark.parametrize(("options", "message"), [
    ("--pkt-type uni", "Bad packet type 'uni'"),
    ("--pkt-type ''", "Bad packet type ''"),
    ("--pkt-type wrong", "Bad packet type 'wrong'"),
    ("--pkt-type 0", "Bad packet type '0'"),
    ("--pkt-type outgoing", "Bad packet type 'outgoing'"),
    ("--pkt-type loopback", "Bad packet type 'loopback'"),
    ("--pkt-type PACKET_HOST", "Bad packet type 'PACKET_HOST'"),
    ("--pkt-type multicast --pkt-type unicast",
     'pkttype: option "--pkt-type" can only be used once.\n'),
    ("", 'pkttype: option "--pkt-type" must be specified\n'),
])
def test_errors(options: str, message: str) -> None:
    assert _message(f"-m pkttype {options}") == message
