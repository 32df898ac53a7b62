"""REJECT: parse, save, -L, errors, kernel refusals.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -A ...``, ``iptables-save``,
``iptables -L [-n]``) in a throwaway network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.errors import KernelRejection, ParameterProblem
from tests.unit.ext_harness import listing_line, raised_error, saved_rule_spec

pytestmark = pytest.mark.unit

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
    assert saved_rule_spec(rule, "filter", "INPUT") == f"-j REJECT --reject-with {name}"
    assert listing_line(rule, True, "filter", "INPUT") == (
        f"REJECT     0    --  0.0.0.0/0            0.0.0.0/0            reject-with {name}")
    assert listing_line(rule, False, "filter", "INPUT") == (
        f"REJECT     all  --  anywhere             anywhere             reject-with {name}")


@pytest.mark.parametrize("value", ["tcp-reset", "tcp-rst", "t", "tcp-r"])
def test_tcp_reset(value: str) -> None:
    assert saved_rule_spec(f"-p tcp -j REJECT --reject-with {value}", "filter", "FORWARD") == (
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
    err = raised_error(rule, "filter", "INPUT")
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
    assert isinstance(raised_error(rule, table, chain), KernelRejection)
