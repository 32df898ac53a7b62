"""``-m length``, and the C-number readers that live in its module.

Every expected value here was read off iptables-legacy 1.8.9 (``iptables -A``, then
``iptables-save``, ``iptables -L -n`` and ``iptables -L``).
"""

from __future__ import annotations

import pytest

from iptparse.grammar.tokens import c_strtoul, c_uint
from iptparse.printer import listing_lines, rule_listing_text, rule_spec_text
from tests.unit.ext_harness import committed_table, first_appended_rule, parameter_problem

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "result"), [
    ("10", (10, 2)), ("0x10", (16, 4)), ("010", (8, 3)), ("08", (0, 1)), ("0x", (0, 1)),
    (" +5", (5, 3)), ("5x", (5, 1)), ("-0", None), (" -1", None), ("", None), ("abc", None),
    ("18446744073709551615", (2**64 - 1, 20)), ("18446744073709551616", None),
    ("0" * 30 + "1", (1, 31)), ("9" * 5000, None),
])
def test_c_strtoul(text: str, result: tuple[int, int] | None) -> None:
    assert c_strtoul(text) == result


def test_c_uint() -> None:
    assert c_uint("255", 255) == 255
    assert c_uint("256", 255) is None
    assert c_uint("5 ", 255) is None
    assert c_uint(" 5", 255) == 5


@pytest.mark.parametrize(("value", "saved"), [
    ("1", "1"), (":2", "0:2"), ("0:3", "0:3"), ("4:", "4:65535"), ("0:65535", "0:65535"),
    ("5:3", "5:3"), ("3:3", "3"), ("0x10", "16"), ("010", "8"), ("+5", "5"), ("' 5'", "5"),
    ("''", "0"), (":", "0:65535"), (":5", "0:5"), ("1:0x10", "1:16"), ("'5: 6'", "5:6"),
])
def test_saved(value: str, saved: str) -> None:
    parsed = first_appended_rule(f"-m length --length {value}")
    assert rule_spec_text(parsed) == f" -m length --length {saved}"


def test_inverted() -> None:
    parsed = first_appended_rule("-m length ! --length 10:20")
    assert rule_spec_text(parsed) == " -m length ! --length 10:20"
    assert rule_listing_text(parsed, numeric=True) == " length !10:20"
    assert rule_listing_text(parsed, numeric=False) == " length !10:20"


@pytest.mark.parametrize(("value", "listed"), [("1", " length 1"), ("4:", " length 4:65535"),
                                               ("3:3", " length 3"), ("5:3", " length 5:3")])
def test_listing(value: str, listed: str) -> None:
    parsed = first_appended_rule(f"-m length --length {value}")
    assert rule_listing_text(parsed, numeric=True) == listed
    assert rule_listing_text(parsed, numeric=False) == listed


def test_listing_line() -> None:
    table = committed_table("-m length --length :2")
    assert listing_lines(table, "INPUT", numeric=True)[2] == (
        "           0    --  0.0.0.0/0            0.0.0.0/0            length 0:2")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        "           all  --  anywhere             anywhere             length 0:2")


def _bad(near: str) -> str:
    return f'length: bad value for option "--length" near "{near}", or out of range (0-65535).\n'


def _unexpected(near: str) -> str:
    return f'length: Argument to "--length" has unexpected characters near "{near}".\n'


TOO_MANY = 'length: Too many components for option "--length" (max: 2)\n'


@pytest.mark.parametrize(("value", "message"), [
    ("0:65536", _bad("65536")), ("-1:65535", _bad("-1:65535")), ("65536", _bad("65536")),
    ("abc", _bad("abc")), ("5:abc", _bad("abc")), ("-", _bad("-")), ("-0", _bad("-0")),
    ("' -0'", _bad(" -0")), ("99999999999999999999", _bad("99999999999999999999")),
    ("abc:2:3", _bad("abc:2:3")),
    ("5-6", _unexpected("-6")), ("5x", _unexpected("x")), ("0x", _unexpected("x")),
    ("'5 '", _unexpected(" ")), ("0x:5", _unexpected("x:5")), ("08", _unexpected("8")),
    ("1:2:3", TOO_MANY), (":5:", TOO_MANY), ("::", TOO_MANY), ("1:2:abc", TOO_MANY),
    ("1:2:", TOO_MANY), ("1::", TOO_MANY),
])
def test_bad_values(value: str, message: str) -> None:
    assert parameter_problem(f"-m length --length {value}") == message


def test_option_errors() -> None:
    assert parameter_problem("-m length") == 'length: option "--length" must be specified\n'
    assert parameter_problem("-m length --length 1 --length 2") == (
        'length: option "--length" can only be used once.\n')
