"""``-m physdev``: parsing, iptables-save text, -L text, errors and kernel refusals.

Every expected value below was read off iptables-legacy 1.8.9 (``iptables-legacy -A``,
``iptables-legacy-save``, ``iptables-legacy -L [-n]``) in a throwaway network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Table
from iptparse.printer import listing_lines
from iptparse.validate import validate_table
from tests.unit.ext_harness import committed_table, raised_error, saved_rule_spec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("rule", "saved"), [
    ("-m physdev --physdev-in lo", "-m physdev --physdev-in lo"),
    ("-m physdev ! --physdev-in lo ! --physdev-is-in ! --physdev-is-bridged",
     "-m physdev ! --physdev-is-in ! --physdev-in lo ! --physdev-is-bridged"),
    ("-m physdev --physdev-is-bridged --physdev-is-out --physdev-is-in --physdev-out eth0 "
     "--physdev-in eth1",
     "-m physdev --physdev-is-in --physdev-in eth1 --physdev-is-out --physdev-out eth0 "
     "--physdev-is-bridged"),
    ("-m physdev --physdev-out lo", "-m physdev --physdev-out lo"),
    ("-m physdev --physdev-is-out", "-m physdev --physdev-is-out"),
    ("-m physdev --physdev-in eth+", "-m physdev --physdev-in eth+"),
    ("-m physdev --physdev-in 0123456789abcde", "-m physdev --physdev-in 0123456789abcde"),
    ("-m physdev --physdev-in=lo", "-m physdev --physdev-in lo"),
    ("-m physdev --physdev-in !", "-m physdev --physdev-in !"),
    ("-m physdev --physdev-in ééééééé", "-m physdev --physdev-in ééééééé"),
    ("-m physdev --physdev-in lo -m physdev --physdev-in eth0",
     "-m physdev --physdev-in lo -m physdev --physdev-in eth0"),
])
def test_saved(rule: str, saved: str) -> None:
    assert saved_rule_spec(rule.split()) == saved


def test_names_print_raw() -> None:
    assert saved_rule_spec(["-m", "physdev", "--physdev-in", "a b", "--physdev-out", '"x']) == (
        '-m physdev --physdev-in a b --physdev-out "x')
    assert saved_rule_spec(["-m", "physdev", "--physdev-in", ""]) == "-m physdev --physdev-in "


@pytest.mark.parametrize(("rule", "message"), [
    ("-m physdev", "PHYSDEV: no physdev option specified"),
    ("-m physdev --physdev-in lo --physdev-in lo",
     'physdev: option "--physdev-in" can only be used once.\n'),
    ("-m physdev --physdev-is-in --physdev-is-in",
     'physdev: option "--physdev-is-in" can only be used once.\n'),
    ("-m physdev --physdev-in 0123456789abcdef",
     "interface name `0123456789abcdef' must be shorter than IFNAMSIZ (15)"),
    ("-m physdev --physdev-in éééééééé",
     "interface name `éééééééé' must be shorter than IFNAMSIZ (15)"),
    ("-m physdev --physdev-in", 'option "--physdev-in" requires an argument'),
    ("-m physdev --physdev-i lo", 'unknown option "--physdev-i"'),
    ("-m physdev --physdev-is lo", 'unknown option "--physdev-is"'),
    ("-m physdev --physdev-is-in=x", 'unknown option "--physdev-is-in=x"'),
    ("-m physdev --physdev-in ! lo", "Bad argument `lo'"),
    ("-m physdev ! ! --physdev-in lo", "multiple consecutive ! not allowed"),
])
def test_errors(rule: str, message: str) -> None:
    error = raised_error(rule.split())
    assert isinstance(error, ParameterProblem)
    assert error.message == message


@pytest.mark.parametrize(("table", "chain", "rule"), [
    ("filter", "OUTPUT", "-m physdev --physdev-out lo"),
    ("filter", "OUTPUT", "-m physdev --physdev-is-out"),
    ("filter", "OUTPUT", "-m physdev ! --physdev-is-out"),
    ("filter", "OUTPUT", "-m physdev --physdev-out lo ! --physdev-is-bridged"),
    ("nat", "OUTPUT", "-m physdev --physdev-out lo"),
    ("mangle", "OUTPUT", "-m physdev --physdev-out lo"),
])
def test_kernel_refuses_out_from_output_unless_bridged(table: str, chain: str, rule: str) -> None:
    assert isinstance(raised_error(rule.split(), table, chain), KernelRejection)


@pytest.mark.parametrize(("table", "chain", "rule"), [
    ("filter", "FORWARD", "-m physdev --physdev-out lo"),
    ("filter", "FORWARD", "-m physdev --physdev-out lo ! --physdev-is-bridged"),
    ("filter", "OUTPUT", "-m physdev --physdev-out lo --physdev-is-bridged"),
    ("filter", "OUTPUT", "-m physdev --physdev-is-out --physdev-is-bridged"),
    ("filter", "OUTPUT", "-m physdev --physdev-in lo"),
    ("mangle", "POSTROUTING", "-m physdev --physdev-out lo"),
    ("nat", "PREROUTING", "-m physdev --physdev-is-out"),
    ("raw", "OUTPUT", "-m physdev --physdev-in eth0"),
])
def test_kernel_accepts(table: str, chain: str, rule: str) -> None:
    assert saved_rule_spec(rule.split(), table, chain)


def test_user_chain_reached_from_output_is_refused() -> None:
    draft = TableDraft(Table.empty("filter"))
    draft.new_chain("U")
    for chain, words in (("U", ["-m", "physdev", "--physdev-out", "x"]), ("OUTPUT", ["-j", "U"])):
        apply_command(draft, parse_command(["-A", chain, *words], "filter", draft.__contains__))
    with pytest.raises(KernelRejection):
        validate_table(draft.freeze())


@pytest.mark.parametrize(("rule", "listed"), [
    ("-m physdev --physdev-in lo", "PHYSDEV match --physdev-in lo"),
    ("-m physdev ! --physdev-in lo --physdev-is-bridged",
     "PHYSDEV match ! --physdev-in lo --physdev-is-bridged"),
    ("-m physdev --physdev-in lo -m physdev --physdev-in eth0",
     "PHYSDEV match --physdev-in lo PHYSDEV match --physdev-in eth0"),
])
def test_listing(rule: str, listed: str) -> None:
    table = committed_table(rule.split())
    numeric = listing_lines(table, "INPUT", numeric=True)[2]
    named = listing_lines(table, "INPUT", numeric=False)[2]
    assert numeric == f"           0    --  0.0.0.0/0            0.0.0.0/0            {listed}"
    assert named == f"           all  --  anywhere             anywhere             {listed}"
