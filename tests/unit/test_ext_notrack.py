"""NOTRACK and CT: parse, save, -L, errors, kernel refusals.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -t raw -A ...``,
``iptables-save``, ``iptables -L [-n]``) in a throwaway network namespace. Which conntrack
helpers exist is the oracle kernel's (modules it could load).
"""

from __future__ import annotations

import pytest

from iptparse.edit import NO_CHAIN
from iptparse.errors import EINVAL_TEXT, KernelRejection, ParameterProblem
from iptparse.extensions import find_target
from tests.unit.ext_harness import committed_table, listing_line, raised_error, saved_rule_spec

pytestmark = pytest.mark.unit

@pytest.mark.parametrize(("rule", "save"), [
    ("-j NOTRACK", "="),
    ("-j CT", "="),
    ("-j CT --notrack", "="),
    ("-j CT --ctevents new,related,destroy,reply,assured,protoinfo,helper,mark", "="),
    ("-j CT --ctevents secmark,natseqinfo,mark,new,new",
     "-j CT --ctevents new,mark,natseqinfo,secmark"),
    ("-j CT --expevents new,new", "-j CT --expevents new"),
    ("-j CT --zone 0", "-j CT"),
    ("-j CT --zone 65535", "="),
    ("-j CT --zone 0x10", "-j CT --zone 16"),
    ("-j CT --zone ' +5'", "-j CT --zone 5"),
    ("-j CT --zone MARK", "-j CT --zone mark"),
    ("-j CT --zone-orig 5", "="),
    ("-j CT --zone-reply mark", "="),
    ("-j CT --zone-orig 0", "-j CT"),
    ("-j CT --zone 1 --zone-orig 2", "-j CT --zone-orig 2"),
    ("-j CT --zone-orig 2 --zone 1", "-j CT --zone-orig 1"),
    ("-j CT --zone-orig 1 --zone-reply 2", "-j CT --zone 2"),
    ("-j CT --zone-orig mark --zone 5", "-j CT --zone-orig mark"),
    ("-j CT --zone-orig mark --zone-reply mark", "-j CT --zone mark"),
    ("-j CT --helper ''", "-j CT"),
    ("-j CT --timeout ''", "-j CT"),
    ("-j CT --zone 5 --expevents new --ctevents new --helper ftp --notrack --timeout xx",
     "-j CT --notrack --helper ftp --timeout xx --ctevents new --expevents new --zone 5"),
    ("-j CT --notrack --helper 12345678901234567890", "-j CT --notrack --helper 123456789012345"),
    ("-j CT --notrack --timeout abcdefgh", "-j CT --notrack --timeout abcd"),
    ("-j CT --notrack --helper 'a b'", "-j CT --notrack --helper a b"),
    ("-p tcp -j CT --helper ftp", "="),
    ("-p udp -j CT --helper tftp", "="),
    ("-p 6 -j CT --helper Q.931", "-p tcp -j CT --helper Q.931"),
])
def test_saved(rule: str, save: str) -> None:
    assert saved_rule_spec(rule, "raw", "PREROUTING") == (rule if save == "=" else save)


@pytest.mark.parametrize(("rule", "message"), [
    ("-j CT --ctevents foo", 'Unknown event type "foo"'),
    ("-j CT --ctevents NEW", 'Unknown event type "NEW"'),
    ("-j CT --ctevents new,,related", 'Unknown event type ""'),
    ("-j CT --ctevents new,", 'Unknown event type ""'),
    ("-j CT --expevents related", 'Unknown event type "related"'),
    ("-j CT --zone 65536", "Cannot parse 65536 as a zone ID"),
    ("-j CT --zone -1", "Cannot parse -1 as a zone ID"),
    ("-j CT --zone -0", "Cannot parse -0 as a zone ID"),
    ("-j CT --zone 5x", "Cannot parse 5x as a zone ID"),
    ("-j CT --zone ''", "Cannot parse  as a zone ID"),
    ("-j CT --zone marks", "Cannot parse marks as a zone ID"),
    ("-j CT --zone-orig 65536", "Cannot parse 65536 as a zone ID"),
    ("-j CT --zone mark --zone 5", 'CT: option "--zone" can only be used once.\n'),
    ("-j CT --notrack --notrack", 'CT: option "--notrack" can only be used once.\n'),
    ("-j CT ! --notrack", 'CT: option "--notrack" cannot be inverted.\n'),
])
def test_errors(rule: str, message: str) -> None:
    err = raised_error(rule, "raw", "PREROUTING")
    assert isinstance(err, ParameterProblem)
    assert err.message == message


@pytest.mark.parametrize(("table", "chain", "rule", "errno_text"), [
    ("filter", "INPUT", "-j NOTRACK", EINVAL_TEXT),
    ("mangle", "PREROUTING", "-j CT --notrack", EINVAL_TEXT),
    ("nat", "OUTPUT", "-j CT", EINVAL_TEXT),
    ("raw", "PREROUTING", "-j CT --helper ftp", NO_CHAIN),
    ("raw", "PREROUTING", "-p udp -j CT --helper ftp", NO_CHAIN),
    ("raw", "PREROUTING", "! -p tcp -j CT --helper ftp", NO_CHAIN),
    ("raw", "PREROUTING", "-p tcp -j CT --helper FTP", NO_CHAIN),
    ("raw", "PREROUTING", "-j CT --timeout test", EINVAL_TEXT),
    ("raw", "PREROUTING", "! -p tcp -j CT --timeout test", EINVAL_TEXT),
    ("raw", "PREROUTING", "-p tcp -j CT --timeout test", NO_CHAIN),
    ("raw", "PREROUTING", "-p tcp -j CT --helper ftp --timeout test", NO_CHAIN),
])
def test_kernel_refusals(table: str, chain: str, rule: str, errno_text: str) -> None:
    err = raised_error(rule, table, chain)
    assert isinstance(err, KernelRejection)
    assert err.errno_text == errno_text


@pytest.mark.parametrize(("rule", "after"), [
    ("-j CT", "CT"),
    ("-j CT --notrack", "CT notrack"),
    ("-j CT --notrack --helper ftp --zone mark --zone-orig 3",
     "CT notrack helper ftp zone-orig mark"),
    ("-j CT --zone 5 --expevents new --ctevents new,mark --helper ftp --notrack --timeout xx",
     "CT notrack helper ftp timeout xx ctevents new,mark expevents new zone 5"),
    ("-j NOTRACK", "NOTRACK"),
])
def test_listing(rule: str, after: str) -> None:
    # The target column is the kernel's name: CT for NOTRACK too (see kernel_name).
    assert listing_line(rule, True, "raw", "PREROUTING").endswith("0.0.0.0/0            " + after)
    assert listing_line(rule, False, "raw", "PREROUTING").endswith("anywhere             " + after)


def test_notrack_is_ct_in_the_kernel() -> None:
    assert getattr(find_target("NOTRACK"), "kernel_name", None) == "CT"
    notrack = committed_table("-j NOTRACK", "raw", "PREROUTING").chains["PREROUTING"].rules
    ct = committed_table("-j CT --notrack", "raw", "PREROUTING").chains["PREROUTING"].rules
    assert notrack != ct  # iptables -D of one does not find the other
