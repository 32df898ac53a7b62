"""LOG: parse, save, -L, errors.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -A ...``, ``iptables-save``,
``iptables -L [-n]``) in a throwaway network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.errors import ParameterProblem
from tests.unit.ext_harness import listing_line, raised_error, saved_rule_spec

pytestmark = pytest.mark.unit

@pytest.mark.parametrize(("rule", "save"), [
    ("-j LOG", "="),
    ('-j LOG --log-prefix "test: "', "="),
    ('-j LOG --log-prefix "test: " --log-level 1', "="),
    ('-j LOG --log-prefix "test: " --log-level alert',
     '-j LOG --log-prefix "test: " --log-level 1'),
    ("-j LOG --log-level emerg", "-j LOG --log-level 0"),
    ("-j LOG --log-level panic", "-j LOG --log-level 0"),
    ("-j LOG --log-level crit", "-j LOG --log-level 2"),
    ("-j LOG --log-level error", "-j LOG --log-level 3"),
    ("-j LOG --log-level warning", "-j LOG"),
    ("-j LOG --log-level 4", "-j LOG"),
    ("-j LOG --log-level notice", "-j LOG --log-level 5"),
    ("-j LOG --log-level info", "-j LOG --log-level 6"),
    ("-j LOG --log-level debug", "-j LOG --log-level 7"),
    ("-j LOG --log-level 0x3", "-j LOG --log-level 3"),
    ("-j LOG --log-level 03", "-j LOG --log-level 3"),
    ("-j LOG --log-level ' +3'", "-j LOG --log-level 3"),
    ("-j LOG --log-macdecode --log-uid --log-ip-options --log-tcp-options --log-tcp-sequence",
     "-j LOG --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode"),
    ("-j LOG --log-uid --log-level 2 --log-p x", "-j LOG --log-prefix x --log-level 2 --log-uid"),
    ("-j LOG --log-prefix 'a\"b'", '-j LOG --log-prefix "a\\"b"'),
    ("-j LOG --log-prefix \"it's\"", "-j LOG --log-prefix \"it\\'s\""),
    ("-j LOG --log-prefix 'a\\b'", '-j LOG --log-prefix "a\\\\b"'),
    ("-j LOG --log-prefix 1234567890123456789012345678901234567890",
     "-j LOG --log-prefix 12345678901234567890123456789"),
])
def test_saved(rule: str, save: str) -> None:
    assert saved_rule_spec(rule, "filter", "INPUT") == (rule if save == "=" else save)


def test_prefix_cut_inside_a_character() -> None:
    # 29 bytes end in the middle of the 15th "é": the half byte is kept, as in the kernel.
    text = saved_rule_spec("-j LOG --log-prefix " + "é" * 15, "filter", "INPUT")
    assert text.encode("utf-8", "surrogateescape") == (
        b'-j LOG --log-prefix "' + "é".encode() * 14 + b'\xc3"')


@pytest.mark.parametrize(("rule", "message"), [
    ("-j LOG --log-level bad", 'log level "bad" unknown\n'),
    ("-j LOG --log-level err", 'log level "err" unknown\n'),
    ("-j LOG --log-level warn", 'log level "warn" unknown\n'),
    ("-j LOG --log-level ALERT", 'log level "ALERT" unknown\n'),
    ("-j LOG --log-level 8", 'log level "8" unknown\n'),
    ("-j LOG --log-level 010", 'log level "010" unknown\n'),
    ("-j LOG --log-level -0", 'log level "-0" unknown\n'),
    ("-j LOG --log-level '3 '", 'log level "3 " unknown\n'),
    ("-j LOG --log-level ''", 'log level "" unknown\n'),
    ("-j LOG --log-prefix", 'option "--log-prefix" requires an argument'),
    ("-j LOG --log-prefix ''", "Argument must have a minimum length of 1 characters\n"),
    ("-j LOG --log-prefix 'a\nb'", "Newlines not allowed in --log-prefix"),
    ("-j LOG --log-uid --log-uid", 'LOG: option "--log-uid" can only be used once.\n'),
    ("-j LOG ! --log-uid", 'LOG: option "--log-uid" cannot be inverted.\n'),
    ("-j LOG --log-t x", 'unknown option "--log-t"'),
])
def test_errors(rule: str, message: str) -> None:
    err = raised_error(rule, "filter", "INPUT")
    assert isinstance(err, ParameterProblem)
    assert err.message == message


@pytest.mark.parametrize(("rule", "numeric", "names"), [
    ("-j LOG", "LOG flags 0 level 4", "LOG level warn"),
    ('-j LOG --log-prefix "test: " --log-level 1', 'LOG flags 0 level 1 prefix "test: "',
     'LOG level alert prefix "test: "'),
    ("-j LOG --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode "
     "--log-level 2 --log-prefix x", 'LOG flags 47 level 2 prefix "x"',
     'LOG level crit tcp-sequence tcp-options ip-options uid macdecode prefix "x"'),
    ("-j LOG --log-level error --log-macdecode", "LOG flags 32 level 3", "LOG level err macdecode"),
    ("-j LOG --log-prefix 'a\"b'", 'LOG flags 0 level 4 prefix "a"b"',
     'LOG level warn prefix "a"b"'),
])
def test_listing(rule: str, numeric: str, names: str) -> None:
    assert listing_line(rule, True, "filter", "INPUT") == (
        "LOG        0    --  0.0.0.0/0            0.0.0.0/0            " + numeric)
    assert listing_line(rule, False, "filter", "INPUT") == (
        "LOG        all  --  anywhere             anywhere             " + names)


@pytest.mark.parametrize(("table", "chain"), [
    ("nat", "PREROUTING"), ("raw", "OUTPUT"), ("mangle", "POSTROUTING"), ("security", "INPUT"),
])
def test_any_table(table: str, chain: str) -> None:
    assert saved_rule_spec("-j LOG", table, chain) == "-j LOG"
