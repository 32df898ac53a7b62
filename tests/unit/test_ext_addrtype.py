"""``-m addrtype``: parsing, saving, listing, errors, kernel hook refusals.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -A``, ``iptables-save``,
``iptables -L [-n]``) in a scratch network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import KernelRejection
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Table
from iptparse.printer import listing_lines, rule_save_text
from iptparse.validate import validate_table
from tests.unit.ext_harness import committed_table, parameter_problem

pytestmark = pytest.mark.unit

ALL_TYPES = ("UNSPEC,UNICAST,LOCAL,BROADCAST,ANYCAST,MULTICAST,BLACKHOLE,UNREACHABLE,PROHIBIT,"
             "THROW,NAT,XRESOLVE")


def _addrtype_table(words: str, table: str = "filter", chain: str = "INPUT") -> Table:
    """The table after ``iptables -t TABLE -A CHAIN -m addrtype WORDS``, committed."""
    return committed_table(f"-m addrtype {words}", table, chain)


@pytest.mark.parametrize(("words", "saved", "listed"), [
    ("--src-type LOCAL", "--src-type LOCAL", "ADDRTYPE match src-type LOCAL"),
    ("! --src-type LOCAL", "! --src-type LOCAL", "ADDRTYPE match src-type !LOCAL"),
    ("--dst-type LOCAL,UNICAST", "--dst-type UNICAST,LOCAL",
     "ADDRTYPE match dst-type UNICAST,LOCAL"),
    (f"! --dst-type {ALL_TYPES}", f"! --dst-type {ALL_TYPES}",
     f"ADDRTYPE match dst-type !{ALL_TYPES}"),
    ("--src-type local", "--src-type LOCAL", "ADDRTYPE match src-type LOCAL"),
    ("--src-type LOC", "--src-type LOCAL", "ADDRTYPE match src-type LOCAL"),
    ("--src-type U", "--src-type UNSPEC", "ADDRTYPE match src-type UNSPEC"),
    ("--src-type N", "--src-type NAT", "ADDRTYPE match src-type NAT"),
    ("--dst-type LOCAL,LOCAL", "--dst-type LOCAL", "ADDRTYPE match dst-type LOCAL"),
    ("--dst-type LOCAL --src-type BROADCAST", "--src-type BROADCAST --dst-type LOCAL",
     "ADDRTYPE match src-type BROADCAST dst-type LOCAL"),
    ("--src-type LOCAL ! --dst-type BROADCAST", "--src-type LOCAL ! --dst-type BROADCAST",
     "ADDRTYPE match src-type LOCAL dst-type !BROADCAST"),
    ("--limit-iface-in --src-type LOCAL", "--src-type LOCAL --limit-iface-in",
     "ADDRTYPE match src-type LOCAL limit-in"),
])
def test_addrtype(words: str, saved: str, listed: str) -> None:
    table = _addrtype_table(words)
    (rule,) = table.chains["INPUT"].rules
    assert rule_save_text("INPUT", rule) == f"-A INPUT -m addrtype {saved}"
    assert listing_lines(table, "INPUT", numeric=True)[2] == (
        f"           0    --  0.0.0.0/0            0.0.0.0/0            {listed}")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        f"           all  --  anywhere             anywhere             {listed}")


def test_addrtype_limit_out_listing() -> None:
    table = _addrtype_table("--limit-iface-out ! --src-type LOCAL,BLACKHOLE ! --dst-type UNICAST",
                            chain="OUTPUT")
    (rule,) = table.chains["OUTPUT"].rules
    assert rule_save_text("OUTPUT", rule) == (
        "-A OUTPUT -m addrtype ! --src-type LOCAL,BLACKHOLE ! --dst-type UNICAST "
        "--limit-iface-out")
    assert listing_lines(table, "OUTPUT", numeric=True)[2].endswith(
        "ADDRTYPE match src-type !LOCAL,BLACKHOLE dst-type !UNICAST limit-out")


@pytest.mark.parametrize(("words", "message"), [
    ("", "addrtype: you must specify --src-type or --dst-type"),
    ("--limit-iface-in --limit-iface-out", "addrtype: you must specify --src-type or --dst-type"),
    ("--src-type LOCAL --limit-iface-in --limit-iface-out",
     'addrtype: option "--limit-iface-in" cannot be used together with "--limit-iface-out".\n'),
    ("--src-type wrong", 'addrtype: bad type "wrong"'),
    ("--src-type LOCALX", 'addrtype: bad type "LOCALX"'),
    ("--src-type ''", 'addrtype: bad type ""'),
    ("--src-type LOCAL,", 'addrtype: bad type ""'),
    ("--src-type ' LOCAL'", 'addrtype: bad type " LOCAL"'),
    ("--src-type LOCAL,,UNICAST", "addrtype: bad type `,UNICAST'"),
    ("--src-type FOO,LOCAL", "addrtype: bad type `FOO,LOCAL'"),
    ("--src-type LOCAL,FOO,BAR", "addrtype: bad type `FOO,BAR'"),
    ("--src-type LOCAL,FOO", 'addrtype: bad type "FOO"'),
    ("--src-type ! LOCAL", 'addrtype: bad type "!"'),
    ("--src-type x --src-type y", 'addrtype: option "--src-type" can only be used once.\n'),
    ("! --limit-iface-in --src-type LOCAL",
     'addrtype: option "--limit-iface-in" cannot be inverted.\n'),
])
def test_addrtype_errors(words: str, message: str) -> None:
    assert parameter_problem(f"-m addrtype {words}") == message


@pytest.mark.parametrize(("table", "chain", "limit", "accepted"), [
    ("filter", "INPUT", "in", True), ("filter", "INPUT", "out", False),
    ("filter", "FORWARD", "in", True), ("filter", "FORWARD", "out", True),
    ("filter", "OUTPUT", "in", False), ("filter", "OUTPUT", "out", True),
    ("mangle", "PREROUTING", "out", False), ("mangle", "POSTROUTING", "in", False),
    ("nat", "PREROUTING", "in", True), ("nat", "POSTROUTING", "out", True),
    ("nat", "INPUT", "out", False), ("raw", "OUTPUT", "in", False),
    ("raw", "PREROUTING", "in", True),
])
def test_addrtype_limit_hooks(table: str, chain: str, limit: str, accepted: bool) -> None:
    words = f"--dst-type LOCAL --limit-iface-{limit}"
    if accepted:
        _addrtype_table(words, table, chain)
    else:
        with pytest.raises(KernelRejection):
            _addrtype_table(words, table, chain)


def test_addrtype_limit_in_user_chain_reached_from_output() -> None:
    draft = TableDraft(Table.empty("filter"))
    draft.new_chain("X")
    for argv in (["-A", "X", "-m", "addrtype", "--dst-type", "LOCAL", "--limit-iface-in"],
                 ["-A", "INPUT", "-j", "X"]):
        apply_command(draft, parse_command(argv, "filter", draft.__contains__))
    validate_table(draft.freeze())
    apply_command(draft, parse_command(["-A", "OUTPUT", "-j", "X"], "filter", draft.__contains__))
    with pytest.raises(KernelRejection):
        validate_table(draft.freeze())
