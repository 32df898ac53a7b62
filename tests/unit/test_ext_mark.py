"""``-m mark`` and ``-j MARK``: parsing, saving, listing, errors.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -A``, ``iptables-save``,
``iptables -L [-n]``) in a scratch network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.errors import KernelRejection
from iptparse.extensions.mark import parse_mark_mask_word, read_c_ulong
from iptparse.grammar.command import parse_command
from iptparse.printer import listing_lines
from tests.unit.ext_harness import committed_table, parameter_problem, saved_rule_spec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "result"), [
    ("1", (1, "")), (" +0x1F/2", (31, "/2")), ("010", (8, "")), ("08", (0, "8")),
    ("0x", (0, "x")), ("-0", (None, "-0")), ("4294967296", (None, "4294967296")), ("", (None, "")),
])
def test_c_number_reader(text: str, result: tuple[int | None, str]) -> None:
    assert read_c_ulong(text) == result


@pytest.mark.parametrize(("text", "result"), [
    ("1", (1, 0xFFFFFFFF)), ("1/ 2", (1, 2)), ("1/", "bad"), ("/1", "bad"), ("1x", "garbage"),
    ("1 /2", "garbage"), ("1/2/3", "garbage"), ("1/0x", "garbage"),
])
def test_mark_mask_word(text: str, result: object) -> None:
    assert parse_mark_mask_word(text) == result


@pytest.mark.parametrize(("words", "saved"), [
    ("-m mark --mark 1", "-m mark --mark 0x1"),
    ("-m mark ! --mark 1/0xff", "-m mark ! --mark 0x1/0xff"),
    ("-m mark --mark 0xffffffff/0xffffffff", "-m mark --mark 0xffffffff"),
    ("-m mark --mark 0/0", "-m mark --mark 0x0/0x0"),
    ("-m mark --mark 010", "-m mark --mark 0x8"),
    ("-m mark --mark ' 1'", "-m mark --mark 0x1"),
    ("-m mark --mark +1", "-m mark --mark 0x1"),
    ("-m mark --mark '1/ 2'", "-m mark --mark 0x1/0x2"),
    ("-m mark --mark 0xff/0x0f", "-m mark --mark 0xff/0xf"),
    ("-m mark --mark 4294967295", "-m mark --mark 0xffffffff"),
])
def test_mark_match_saved(words: str, saved: str) -> None:
    assert saved_rule_spec(words, "filter", "INPUT") == saved


@pytest.mark.parametrize(("words", "message"), [
    ("-m mark", 'mark: option "--mark" must be specified\n'),
    ("-m mark --mark 1/", 'mark: bad integer value for option "--mark", or out of range.\n'),
    ("-m mark --mark -0", 'mark: bad integer value for option "--mark", or out of range.\n'),
    ("-m mark --mark 4294967296",
     'mark: bad integer value for option "--mark", or out of range.\n'),
    ("-m mark --mark ! 1", 'mark: bad integer value for option "--mark", or out of range.\n'),
    ("-m mark --mark 1x", 'mark: trailing garbage after value for option "--mark".\n'),
    ("-m mark --mark 08", 'mark: trailing garbage after value for option "--mark".\n'),
    ("-m mark --mark 1 --mark 2", 'mark: option "--mark" can only be used once.\n'),
])
def test_mark_match_errors(words: str, message: str) -> None:
    assert parameter_problem(words) == message


@pytest.mark.parametrize(("words", "saved", "listed"), [
    ("--set-xmark 1", "--set-xmark 0x1/0xffffffff", "MARK set 0x1"),
    ("--set-xmark 1/0xff", "--set-xmark 0x1/0xff", "MARK xset 0x1/0xff"),
    ("--set-mark 1", "--set-xmark 0x1/0xffffffff", "MARK set 0x1"),
    ("--set-mark 0x10/0x1", "--set-xmark 0x10/0x11", "MARK xset 0x10/0x11"),
    ("--and-mark 0xff", "--set-xmark 0x0/0xffffff00", "MARK and 0xff"),
    ("--or-mark 0x4000", "--set-xmark 0x4000/0x4000", "MARK or 0x4000"),
    ("--xor-mark 5", "--set-xmark 0x5/0x0", "MARK xor 0x5"),
    ("--set-xmark 0/0", "--set-xmark 0x0/0x0", "MARK and 0xffffffff"),
    ("--set-xmark 0xffffffff/0xffffffff", "--set-xmark 0xffffffff/0xffffffff",
     "MARK or 0xffffffff"),
    ("--set-mark 0", "--set-xmark 0x0/0xffffffff", "MARK and 0x0"),
    ("--set-x 1", "--set-xmark 0x1/0xffffffff", "MARK set 0x1"),
    ("--or 010", "--set-xmark 0x8/0x8", "MARK or 0x8"),
    ("--and-mark ' 1'", "--set-xmark 0x0/0xfffffffe", "MARK and 0x1"),
])
def test_mark_target(words: str, saved: str, listed: str) -> None:
    assert saved_rule_spec(f"-j MARK {words}", "mangle", "PREROUTING") == f"-j MARK {saved}"
    table = committed_table(f"-j MARK {words}", "mangle", "PREROUTING")
    for numeric in (True, False):
        assert listing_lines(table, "PREROUTING", numeric=numeric)[2].endswith(f"  {listed}")


@pytest.mark.parametrize(("words", "message"), [
    ("", "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required"),
    ("--set-mark 1 --or-mark 2",
     'MARK: option "--set-mark" cannot be used together with "--or-mark".\n'),
    ("--xor-mark 1 --and-mark 1",
     'MARK: option "--and-mark" cannot be used together with "--xor-mark".\n'),
    ("--xor-mark 1 --and-mark 1 --or-mark 1",
     'MARK: option "--and-mark" cannot be used together with "--or-mark".\n'),
    ("--set-mark 1 --or-mark 2 --or-mark 3", 'MARK: option "--or-mark" can only be used once.\n'),
    ("--set-mark 1 --or-mark 2x",
     'MARK: bad value for option "--or-mark", or out of range (0-4294967295).\n'),
    ("--and-mark 1/2",
     'MARK: bad value for option "--and-mark", or out of range (0-4294967295).\n'),
    ("--or-mark '1 '",
     'MARK: bad value for option "--or-mark", or out of range (0-4294967295).\n'),
    ("--set-xmark 1x", 'MARK: trailing garbage after value for option "--set-xmark".\n'),
    ("--set-mark 4294967296",
     'MARK: bad integer value for option "--set-mark", or out of range.\n'),
    ("! --or-mark 1", 'MARK: option "--or-mark" cannot be inverted.\n'),
    ("--set 1", 'unknown option "--set"'),
])
def test_mark_target_errors(words: str, message: str) -> None:
    assert parameter_problem(f"-j MARK {words}", "mangle", "PREROUTING") == message


@pytest.mark.parametrize(("table", "chain"), [
    ("filter", "INPUT"), ("nat", "POSTROUTING"), ("raw", "PREROUTING"), ("security", "OUTPUT"),
    ("mangle", "FORWARD"),
])
def test_mark_target_any_table(table: str, chain: str) -> None:
    try:
        committed_table("-m mark --mark 1 -j MARK --set-mark 1", table, chain)
    except KernelRejection as error:  # pragma: no cover - the failure message
        pytest.fail(f"refused: {error}")


def test_mark_listing_numeric_and_names() -> None:
    table = committed_table("-m mark ! --mark 1/0xff -j MARK --or-mark 0x4000", "filter", "INPUT")
    assert listing_lines(table, "INPUT", numeric=True)[2] == (
        "MARK       0    --  0.0.0.0/0            0.0.0.0/0            "
        "mark match ! 0x1/0xff MARK or 0x4000")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        "MARK       all  --  anywhere             anywhere             "
        "mark match ! 0x1/0xff MARK or 0x4000")


def test_mark_rule_identity_uses_xmark_pair() -> None:
    # iptables -C finds "--or-mark 4" under "--set-xmark 4/4": both are the same kernel data.
    first = parse_command(["-A", "INPUT", "-j", "MARK", "--or-mark", "4"]).rules[0]
    second = parse_command(["-A", "INPUT", "-j", "MARK", "--set-xmark", "4/4"]).rules[0]
    assert first == second
