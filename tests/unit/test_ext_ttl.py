"""``-m ttl``: parsing, saving, listing and errors.

Every expected value here was read off iptables-legacy 1.8.9 (``iptables -A``, then
``iptables-save``, ``iptables -L -n`` and ``iptables -L``).
"""

from __future__ import annotations

import pytest

from iptparse.printer import listing_lines, rule_listing_text, rule_spec_text
from tests.unit.ext_harness import committed_table, first_appended_rule, parameter_problem

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("options", "saved", "listed"), [
    ("--ttl-eq 0", "--ttl-eq 0", " TTL match TTL == 0"),
    ("--ttl-eq 255", "--ttl-eq 255", " TTL match TTL == 255"),
    ("! --ttl-eq 5", "! --ttl-eq 5", " TTL match TTL != 5"),
    ("--ttl-lt 5", "--ttl-lt 5", " TTL match TTL < 5"),
    ("--ttl-gt 5", "--ttl-gt 5", " TTL match TTL > 5"),
    ("--ttl 5", "--ttl-eq 5", " TTL match TTL == 5"),
    ("! --ttl 5", "! --ttl-eq 5", " TTL match TTL != 5"),
    ("--ttl-eq 0x10", "--ttl-eq 16", " TTL match TTL == 16"),
    ("--ttl-eq 010", "--ttl-eq 8", " TTL match TTL == 8"),
    ("--ttl-eq +5", "--ttl-eq 5", " TTL match TTL == 5"),
    ("--ttl-eq ' 5'", "--ttl-eq 5", " TTL match TTL == 5"),
    ("--ttl-l 5", "--ttl-lt 5", " TTL match TTL < 5"),
])
def test_saved_and_listed(options: str, saved: str, listed: str) -> None:
    parsed = first_appended_rule(f"-m ttl {options}")
    assert rule_spec_text(parsed) == f" -m ttl {saved}"
    assert rule_listing_text(parsed, numeric=True) == listed
    assert rule_listing_text(parsed, numeric=False) == listed


def test_listing_line() -> None:
    table = committed_table("-m ttl --ttl-gt 5")
    assert listing_lines(table, "INPUT", numeric=True)[2] == (
        "           0    --  0.0.0.0/0            0.0.0.0/0            TTL match TTL > 5")


def _bad(option: str) -> str:
    return f'ttl: bad value for option "--{option}", or out of range (0-255).\n'


@pytest.mark.parametrize(("options", "message"), [
    ("--ttl-eq 256", _bad("ttl-eq")), ("--ttl-eq -1", _bad("ttl-eq")),
    ("--ttl-eq ''", _bad("ttl-eq")), ("--ttl-eq abc", _bad("ttl-eq")),
    ("--ttl-eq 5x", _bad("ttl-eq")), ("--ttl-eq '5 '", _bad("ttl-eq")),
    ("--ttl-eq 08", _bad("ttl-eq")), ("--ttl 256", _bad("ttl-eq")),
    ("--ttl-lt abc", _bad("ttl-lt")), ("--ttl-eq 1 --ttl-gt 256", _bad("ttl-gt")),
    ("! --ttl-lt 5", 'ttl: option "--ttl-lt" cannot be inverted.\n'),
    ("! --ttl-gt 5", 'ttl: option "--ttl-gt" cannot be inverted.\n'),
    ("--ttl-eq 5 --ttl-eq 6", 'ttl: option "--ttl-eq" can only be used once.\n'),
    ("--ttl 5 --ttl-eq 6", 'ttl: option "--ttl-eq" can only be used once.\n'),
    ("--ttl-eq 5 --ttl 6", 'ttl: option "--ttl-eq" can only be used once.\n'),
    ("--ttl-lt 5 ! --ttl-lt 6", 'ttl: option "--ttl-lt" can only be used once.\n'),
    ("--ttl-eq 5 --ttl-lt 6", 'ttl: option "--ttl-lt" cannot be used together with "--ttl-eq".\n'),
    ("--ttl-lt 5 --ttl-eq 6", 'ttl: option "--ttl-lt" cannot be used together with "--ttl-eq".\n'),
    ("--ttl-lt 5 --ttl 6", 'ttl: option "--ttl-lt" cannot be used together with "--ttl-eq".\n'),
    ("--ttl-lt 5 --ttl-gt 6", 'ttl: option "--ttl-lt" cannot be used together with "--ttl-gt".\n'),
    ("--ttl-gt 5 --ttl-lt 6", 'ttl: option "--ttl-lt" cannot be used together with "--ttl-gt".\n'),
    ("--ttl-eq 5 --ttl-gt 6", 'ttl: option "--ttl-gt" cannot be used together with "--ttl-eq".\n'),
    ("--ttl-gt 5 --ttl-eq 6", 'ttl: option "--ttl-gt" cannot be used together with "--ttl-eq".\n'),
    ("--ttl-eq 1 --ttl-gt 2 --ttl-lt 3",
     'ttl: option "--ttl-lt" cannot be used together with "--ttl-eq".\n'),
    ("--ttl-eq 1 --ttl-gt 2 --foo", 'unknown option "--foo"'),
    ("--ttl- 5", 'unknown option "--ttl-"'),
    ("--tt 5", 'unknown option "--tt"'),
    ("", "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt"),
])
def test_errors(options: str, message: str) -> None:
    assert parameter_problem(f"-m ttl {options}") == message
