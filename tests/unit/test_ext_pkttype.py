"""``-m pkttype``: parsing, saving, listing and errors.

Every expected value here was read off iptables-legacy 1.8.9 (``iptables -A``, then
``iptables-save``, ``iptables -L -n`` and ``iptables -L``).
"""

from __future__ import annotations

import pytest

from iptparse.printer import listing_lines, rule_listing_text, rule_spec_text
from tests.unit.ext_harness import committed_table, first_appended_rule, parameter_problem

pytestmark = pytest.mark.unit


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
    parsed = first_appended_rule(f"-m pkttype {options}")
    assert rule_spec_text(parsed) == f" -m pkttype {saved}"
    assert rule_listing_text(parsed, numeric=True) == listed
    assert rule_listing_text(parsed, numeric=False) == listed


def test_listing_line() -> None:
    table = committed_table("-m pkttype --pkt-type broadcast")
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
    assert parameter_problem(f"-m pkttype {options}") == message
