"""``-m iprange``: parsing, saving, listing and errors.

Every expected value here was read off iptables-legacy 1.8.9 (``iptables -A``, then
``iptables-save``, ``iptables -L -n`` and ``iptables -L``).
"""

from __future__ import annotations

from typing import Any

import pytest

from iptparse.extensions.base import OptionCall, RuleInProgress
from iptparse.extensions.iprange import EXTENSIONS
from iptparse.grammar.tokens import numeric_ipv4
from iptparse.printer import listing_lines, rule_listing_text, rule_spec_text
from tests.unit.ext_harness import committed_table, first_appended_rule, parameter_problem

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "address"), [
    ("1.2.3.4", 0x01020304), ("1.1.1", 0x01010100), ("1.2", 0x01020000), ("1", 0x01000000),
    ("001.1.1.0010", 0x01010108), ("0x1.0x2.3.4", 0x01020304), ("+1.1.1.1", 0x01010101),
    (" 1. 1.1.1", 0x01010101), ("1..2", None), ("1.1.1.1.", None), ("1.1.1.1.1", None),
    ("1.1.1.256", None), ("1.1.1.1x", None), ("1.1.1.08", None), ("", None),
    ("0x01010101", None), ("localhost", None), ("1.1.1.1 ", None),
])
def test_address(text: str, address: int | None) -> None:
    assert numeric_ipv4(text) == address


@pytest.mark.parametrize(("options", "saved", "listed"), [
    ("--src-range 1.1.1.1-1.1.1.10", "--src-range 1.1.1.1-1.1.1.10",
     " source IP range 1.1.1.1-1.1.1.10"),
    ("! --src-range 1.1.1.1-1.1.1.10", "! --src-range 1.1.1.1-1.1.1.10",
     " source IP range ! 1.1.1.1-1.1.1.10"),
    ("--dst-range 1.1.1.1-1.1.1.10", "--dst-range 1.1.1.1-1.1.1.10",
     " destination IP range 1.1.1.1-1.1.1.10"),
    ("! --dst-range 127.0.0.1-127.0.0.2", "! --dst-range 127.0.0.1-127.0.0.2",
     " destination IP range ! 127.0.0.1-127.0.0.2"),
    ("--src-range 1.1.1.1", "--src-range 1.1.1.1-1.1.1.1", " source IP range 1.1.1.1-1.1.1.1"),
    ("--src-range 1.1.1", "--src-range 1.1.1.0-1.1.1.0", " source IP range 1.1.1.0-1.1.1.0"),
    ("--src-range 1.1.1.10-1.1.1.1", "--src-range 1.1.1.10-1.1.1.1",
     " source IP range 1.1.1.10-1.1.1.1"),
    ("--src-range ' 1.1.1.1-1.1.1.2'", "--src-range 1.1.1.1-1.1.1.2",
     " source IP range 1.1.1.1-1.1.1.2"),
    ("--dst-range 2.2.2.2-2.2.2.3 ! --src-range 1.1.1.1-1.1.1.10",
     "! --src-range 1.1.1.1-1.1.1.10 --dst-range 2.2.2.2-2.2.2.3",
     " source IP range ! 1.1.1.1-1.1.1.10 destination IP range 2.2.2.2-2.2.2.3"),
    ("--src-r 1.1.1.1-1.1.1.2", "--src-range 1.1.1.1-1.1.1.2", " source IP range 1.1.1.1-1.1.1.2"),
])
def test_saved_and_listed(options: str, saved: str, listed: str) -> None:
    parsed = first_appended_rule(f"-m iprange {options}")
    assert rule_spec_text(parsed) == f" -m iprange {saved}"
    assert rule_listing_text(parsed, numeric=True) == listed
    assert rule_listing_text(parsed, numeric=False) == listed


def test_listing_line() -> None:
    table = committed_table("-m iprange ! --dst-range 127.0.0.1-127.0.0.2")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        "           all  --  anywhere             anywhere             "
        "destination IP range ! 127.0.0.1-127.0.0.2")


def _bad(option: str, text: str) -> str:
    return f'iprange: Bad value for "--{option}" option: "{text}"'


@pytest.mark.parametrize(("options", "message"), [
    ("--src-range 1.1.1.300-1.1.1.1", _bad("src-range", "1.1.1.300")),
    ("--src-range 1.1.1.1-1.1.1.300", _bad("src-range", "1.1.1.300")),
    ("--src-range 1.1.1.1-", _bad("src-range", "")),
    ("--src-range -1.1.1.1", _bad("src-range", "")),
    ("--src-range ''", _bad("src-range", "")),
    ("--src-range localhost-1.1.1.1", _bad("src-range", "localhost")),
    ("--src-range '1.1.1.1 - 1.1.1.2'", _bad("src-range", "1.1.1.1 ")),
    ("--src-range 1.1.1.1/24", _bad("src-range", "1.1.1.1/24")),
    ("--src-range 1.1.1.1-1.1.1.2-1.1.1.3", _bad("src-range", "1.1.1.2-1.1.1.3")),
    ("--src-range 0x01010101-1.1.1.2", _bad("src-range", "0x01010101")),
    ("--dst-range 1..2", _bad("dst-range", "1..2")),
    ("--src-range 1.1.1.2-1.1.1.1 --dst-range 1.1.1.4-1.1.1.300", _bad("dst-range", "1.1.1.300")),
    ("--dst-range 2.2.2.2-2.2.2.3 --dst-range 1.1.1.1-1.1.1.10",
     'iprange: option "--dst-range" can only be used once.\n'),
    ("", "iprange match: You must specify `--src-range' or `--dst-range'"),
    # --src is the core's synonym of --source (-s), so iprange is left without options
    ("--src 1.1.1.1", "iprange match: You must specify `--src-range' or `--dst-range'"),
])
def test_errors(options: str, message: str) -> None:
    assert parameter_problem(f"-m iprange {options}") == message


def test_reversed_range_warns() -> None:
    # iptables accepts the rule and prints this on stderr.
    extension = EXTENSIONS[0]
    warnings: list[str] = []
    call = OptionCall(extension.options[0], "1.1.1.1-1.1.1", False, RuleInProgress("filter"),
                      lambda: None, lambda: None, warnings.append)
    state: dict[str, Any] = {}
    extension.parse(state, call)
    assert warnings == ["xt_iprange: range 1.1.1.1-1.1.1 is reversed and will never match"]
    assert state["src-range"] == ((0x01010101, 0x01010100), False)
