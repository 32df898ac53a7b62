"""REJECT: parse, save, -L, errors, kernel refusals.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -A ...``, ``iptables-save``,
``iptables -L [-n]``) in a throwaway network namespace.
"""

from __future__ import annotations

import shlex

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import IptablesError, KernelRejection, ParameterProblem
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


@pytest.mark.parametrize(("value", "name"), [
    (None, "icmp-port-unreachable"),
    ("icmp-net-unreachable", "icmp-net-unreachable"), ("net-unreach", "icmp-net-unreachable"),
    ("icmp-host-unreachable", "icmp-host-unreachable"), ("host-unreach", "icmp-host-unreachable"),
    ("icmp-port-unreachable", "icmp-port-unreachable"), ("port-unreach", "icmp-port-unreachable"),
    ("icmp-proto-unreachable", "icmp-proto-unreachable"),
    ("proto-unreach", "icmp-proto-unreachable"),
    ("icmp-net-prohibited", "icmp-net-prohibited"), ("net-prohib", "icmp-net-prohibited"),
    ("icmp-host-prohibited", "icmp-host-prohibited"), ("host-prohib", "icmp-host-prohibited"),
    ("icmp-admin-prohibited", "icmp-admin-prohibited"), ("admin-prohib", "icmp-admin-prohibited"),
    # Case-insensitive prefixes, the first type in the kernel's order winning.
    ("", "icmp-net-unreachable"), ("i", "icmp-net-unreachable"), ("p", "icmp-proto-unreachable"),
    ("icmp-port", "icmp-port-unreachable"), ("icmp-h", "icmp-host-unreachable"),
    ("host-p", "icmp-host-prohibited"), ("a", "icmp-admin-prohibited"),
    ("ICMP-NET-UNREACHABLE", "icmp-net-unreachable"), ("hoST-pro", "icmp-host-prohibited"),
])
def test_saved_and_listed(value: str | None, name: str) -> None:
    rule = "-j REJECT" if value is None else f"-j REJECT --reject-with '{value}'"
    assert saved("filter", "INPUT", rule) == f"-j REJECT --reject-with {name}"
    assert listed("filter", "INPUT", rule, True) == (
        f"REJECT     0    --  0.0.0.0/0            0.0.0.0/0            reject-with {name}")
    assert listed("filter", "INPUT", rule, False) == (
        f"REJECT     all  --  anywhere             anywhere             reject-with {name}")


@pytest.mark.parametrize("value", ["tcp-reset", "tcp-rst", "t", "tcp-r"])
def test_tcp_reset(value: str) -> None:
    assert saved("filter", "FORWARD", f"-p tcp -j REJECT --reject-with {value}") == (
        "-p tcp -j REJECT --reject-with tcp-reset")


@pytest.mark.parametrize(("rule", "message"), [
    ("-j REJECT --reject-with foo", 'unknown reject type "foo"'),
    ("-j REJECT --reject-with icmp-port-unreachablex",
     'unknown reject type "icmp-port-unreachablex"'),
    ("-j REJECT --reject-with icmp6-port-unreachable",
     'unknown reject type "icmp6-port-unreachable"'),
    ("-j REJECT --reject-with icmp-echo-reply", 'unknown reject type "icmp-echo-reply"'),
    ("-j REJECT --reject-with port-unreach --reject-with net-unreach",
     'REJECT: option "--reject-with" can only be used once.\n'),
    ("-j REJECT ! --reject-with port-unreach",
     'REJECT: option "--reject-with" cannot be inverted.\n'),
])
def test_errors(rule: str, message: str) -> None:
    err = error("filter", "INPUT", rule)
    assert isinstance(err, ParameterProblem)
    assert err.message == message


@pytest.mark.parametrize(("table", "chain", "rule"), [
    ("filter", "INPUT", "-j REJECT --reject-with tcp-reset"),
    ("filter", "INPUT", "-p udp -j REJECT --reject-with tcp-reset"),
    ("filter", "OUTPUT", "! -p tcp -j REJECT --reject-with tcp-reset"),
    ("mangle", "INPUT", "-j REJECT"),
    ("mangle", "FORWARD", "-j REJECT"),
    ("raw", "PREROUTING", "-j REJECT"),
    ("nat", "OUTPUT", "-j REJECT"),
    ("security", "INPUT", "-j REJECT"),
])
def test_kernel_refusals(table: str, chain: str, rule: str) -> None:
    assert isinstance(error(table, chain, rule), KernelRejection)
