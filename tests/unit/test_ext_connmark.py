"""``-m connmark`` and ``-j CONNMARK``: parsing, saving, listing, errors, kernel refusals.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -A``/``-C``,
``iptables-save``, ``iptables -L [-n]``) in a scratch network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.errors import KernelRejection
from iptparse.grammar.command import parse_command
from tests.unit.ext_harness import committed_table, listing_line, parameter_problem, saved_rule_spec

pytestmark = pytest.mark.unit


def _listed(words: str, numeric: bool = True) -> str:
    """What mangle PREROUTING's -L line shows after the destination column."""
    line = listing_line(words, numeric, "mangle", "PREROUTING")
    return line[line.index("0.0.0.0/0" if numeric else "anywhere", 30):].split(None, 1)[1]


@pytest.mark.parametrize(("words", "saved", "listed"), [
    ("--mark 1", "--mark 0x1", "connmark match  0x1"),
    ("! --mark 1/0xff", "! --mark 0x1/0xff", "connmark match ! 0x1/0xff"),
    ("--mark 0xffffffff/0x0", "--mark 0xffffffff/0x0", "connmark match  0xffffffff/0x0"),
    ("--mark 0/0xffffffff", "--mark 0x0", "connmark match  0x0"),
])
def test_connmark_match(words: str, saved: str, listed: str) -> None:
    assert saved_rule_spec(f"-m connmark {words}", "mangle", "PREROUTING") == f"-m connmark {saved}"
    for numeric in (True, False):
        assert _listed(f"-m connmark {words}", numeric) == listed


@pytest.mark.parametrize(("words", "message"), [
    ("", 'connmark: option "--mark" must be specified\n'),
    ("--mark 1x", 'connmark: trailing garbage after value for option "--mark".\n'),
    ("--mark -1", 'connmark: bad integer value for option "--mark", or out of range.\n'),
    ("--mark 0xfffffffff", 'connmark: bad integer value for option "--mark", or out of range.\n'),
    ("--mark 1 --mark 2", 'connmark: option "--mark" can only be used once.\n'),
])
def test_connmark_match_errors(words: str, message: str) -> None:
    assert parameter_problem(f"-m connmark {words}", "mangle", "PREROUTING") == message


@pytest.mark.parametrize(("words", "saved", "listed"), [
    ("--set-xmark 1", "--set-xmark 0x1/0xffffffff", "CONNMARK set 0x1"),
    ("--set-mark 0x10/0x1", "--set-xmark 0x10/0x11", "CONNMARK xset 0x10/0x11"),
    ("--and-mark 0xff", "--set-xmark 0x0/0xffffff00", "CONNMARK and 0xff"),
    ("--or-mark 0x4000", "--set-xmark 0x4000/0x4000", "CONNMARK or 0x4000"),
    ("--xor-mark 5", "--set-xmark 0x5/0x0", "CONNMARK xor 0x5"),
    ("--save-mark", "--save-mark --nfmask 0xffffffff --ctmask 0xffffffff", "CONNMARK save"),
    ("--restore-mark", "--restore-mark --nfmask 0xffffffff --ctmask 0xffffffff",
     "CONNMARK restore"),
    ("--save-mark --mask 0xff", "--save-mark --nfmask 0xff --ctmask 0xff",
     "CONNMARK save mask 0xff"),
    ("--save-mark --nfmask 0xf --ctmask 0xf0", "--save-mark --nfmask 0xf --ctmask 0xf0",
     "CONNMARK save nfmask 0xf ctmask ~0xf0"),
    ("--restore-mark --ctmask 0xff --nfmask 0xf", "--restore-mark --nfmask 0xf --ctmask 0xff",
     "CONNMARK restore ctmask 0xff nfmask ~0xf"),
    ("--save-mark --left-shift-mark 2",
     "--save-mark --nfmask 0xffffffff --ctmask 0xffffffff --left-shift-mark 2",
     "CONNMARK save left-shift-mark 2"),
    ("--restore-mark --mask 0xff --right-shift-mark 31",
     "--restore-mark --nfmask 0xff --ctmask 0xff --right-shift-mark 31",
     "CONNMARK restore mask 0xff right-shift-mark 31"),
    ("--and-mark 5 --right-shift-mark 3", "--set-xmark 0x0/0xfffffffa --right-shift-mark 3",
     "CONNMARK and 0x5 right-shift-mark 3"),
    ("--save-mark --left-shift-mark 1 --right-shift-mark 1",
     "--save-mark --nfmask 0xffffffff --ctmask 0xffffffff --right-shift-mark 1",
     "CONNMARK save right-shift-mark 1"),
    ("--save-mark --left-shift-mark 32 --right-shift-mark 0",
     "--save-mark --nfmask 0xffffffff --ctmask 0xffffffff", "CONNMARK save"),
    # Options apply in order: a later --ctmask/--mask overrides the mask of a set operation.
    ("--ctmask 0xff --set-mark 1", "--set-xmark 0x1/0xffffffff", "CONNMARK set 0x1"),
    ("--set-mark 0x100/0xf --ctmask 0xff", "--set-xmark 0x100/0xff", "CONNMARK xset 0x100/0xff"),
    ("--set-mark 1/0xf0 --mask 0xff", "--set-xmark 0x1/0xff", "CONNMARK xset 0x1/0xff"),
    ("--set-mark 1 --nfmask 0xff", "--set-xmark 0x1/0xffffffff", "CONNMARK set 0x1"),
    ("--nfmask 0xf --save-mark", "--save-mark --nfmask 0xf --ctmask 0xffffffff",
     "CONNMARK save nfmask 0xf ctmask ~0xffffffff"),
])
def test_connmark_target(words: str, saved: str, listed: str) -> None:
    assert saved_rule_spec(f"-j CONNMARK {words}", "mangle", "PREROUTING") == f"-j CONNMARK {saved}"
    for numeric in (True, False):
        assert _listed(f"-j CONNMARK {words}", numeric) == listed


@pytest.mark.parametrize(("words", "message"), [
    ("", "CONNMARK target: No operation specified"),
    ("--mask 0xff --nfmask 1", "CONNMARK target: No operation specified"),
    ("--left-shift-mark 2", "CONNMARK target: No operation specified"),
    ("--set-xmark 1 --save-mark",
     'CONNMARK: option "--set-xmark" cannot be used together with "--save-mark".\n'),
    ("--save-mark --restore-mark",
     'CONNMARK: option "--save-mark" cannot be used together with "--restore-mark".\n'),
    ("--save-mark --set-mark 1",
     'CONNMARK: option "--set-mark" cannot be used together with "--save-mark".\n'),
    ("--xor-mark 1 --restore-mark",
     'CONNMARK: option "--xor-mark" cannot be used together with "--restore-mark".\n'),
    ("--save-mark --restore-mark --set-mark 1",
     'CONNMARK: option "--set-mark" cannot be used together with "--save-mark".\n'),
    ("--set-xmark 1 --and-mark 1 --save-mark",
     'CONNMARK: option "--set-xmark" cannot be used together with "--save-mark".\n'),
    ("--set-xmark 1 --and-mark 1 --set-mark 1",
     'CONNMARK: option "--set-xmark" cannot be used together with "--set-mark".\n'),
    ("--save-mark --mask 1 --nfmask 2",
     'CONNMARK: option "--nfmask" cannot be used together with "--mask".\n'),
    ("--save-mark --mask 1 --nfmask 1 --ctmask 1",
     'CONNMARK: option "--ctmask" cannot be used together with "--mask".\n'),
    ("--save-mark --save-mark", 'CONNMARK: option "--save-mark" can only be used once.\n'),
    ("! --save-mark", 'CONNMARK: option "--save-mark" cannot be inverted.\n'),
    ("--save-mark --mask 1/2",
     'CONNMARK: bad value for option "--mask", or out of range (0-4294967295).\n'),
    ("--set-mark 1x", 'CONNMARK: trailing garbage after value for option "--set-mark".\n'),
    ("--save-mark --left-shift-mark 33",
     'CONNMARK: bad value for option "--left-shift-mark", or out of range (0-32).\n'),
])
def test_connmark_target_errors(words: str, message: str) -> None:
    assert parameter_problem(f"-j CONNMARK {words}", "mangle", "PREROUTING") == message


def test_connmark_shift_of_32_bits_is_refused_by_the_kernel() -> None:
    with pytest.raises(KernelRejection):
        committed_table("-j CONNMARK --save-mark --right-shift-mark 32", "mangle", "PREROUTING")
    committed_table("-j CONNMARK --save-mark --left-shift-mark 31", "mangle", "PREROUTING")


@pytest.mark.parametrize(("table", "chain"), [
    ("filter", "INPUT"), ("nat", "OUTPUT"), ("raw", "PREROUTING"), ("security", "FORWARD"),
])
def test_connmark_any_table(table: str, chain: str) -> None:
    committed_table("-m connmark --mark 1 -j CONNMARK --restore-mark", table, chain)


@pytest.mark.parametrize(("first", "second", "same"), [
    # Values the save format hides still tell rules apart (iptables -C).
    ("--set-mark 1 --nfmask 5", "--set-mark 1", False),
    ("--nfmask 5 --set-xmark 1", "--set-xmark 1 --nfmask 5", True),
    ("--save-mark --left-shift-mark 0", "--save-mark", True),
    ("--save-mark --right-shift-mark 0", "--save-mark", False),
    ("--and-mark 1", "--set-xmark 0/0xfffffffe", True),
])
def test_connmark_rule_identity(first: str, second: str, same: bool) -> None:
    def rule(words: str) -> object:
        return parse_command(["-A", "X", "-j", "CONNMARK", *words.split()]).rules[0]

    assert (rule(first) == rule(second)) is same
