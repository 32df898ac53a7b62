"""The reference model's chain walk: first match, jumps, gotos, returns, policies, hook order.

The same semantics are checked against the kernel in tests/differential/test_model_vs_kernel.py.
"""

from __future__ import annotations

import pytest

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Chain, Match, Rule, Ruleset, Table
from translator.model.evaluate import run_hook
from translator.model.packet import Host, Packet, address
from translator.model.semantics import Context, UnsupportedExtension

pytestmark = pytest.mark.unit

RULES = """*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A INPUT -s 198.18.0.0/24 -j A
-A INPUT -p udp -j ACCEPT
-A INPUT -i lo
-A A -d 198.18.1.1 -g B
-A A -j RETURN
-A B -p tcp -j RETURN
-A B -j ACCEPT
-A FORWARD -i n+ ! -o n1 -j DROP
COMMIT
"""


def _ruleset(text: str = RULES) -> Ruleset:
    return Restorer().restore(text, Ruleset(), RestoreOptions())


def _walk(packet: Packet, hook: str = "INPUT") -> tuple[str, list[tuple[str, int | None, bool]]]:
    result = run_hook(_ruleset(), hook, packet, Context(Host(), hook))
    return result.verdict, [(visit.chain, visit.rule, visit.matched) for visit in result.visits]


def test_goto_returns_to_the_last_jump_not_to_the_goto() -> None:
    verdict, visits = _walk(Packet(address("198.18.0.1"), address("198.18.1.1")))
    assert verdict == "DROP"
    assert visits == [("INPUT", 1, True), ("A", 1, True), ("B", 1, True), ("INPUT", 2, False),
                      ("INPUT", 3, False), ("INPUT", None, True)]


def test_fall_through_a_user_chain_then_first_match() -> None:
    verdict, visits = _walk(Packet(address("198.18.0.1"), address("198.18.1.2"), protocol=17))
    assert verdict == "ACCEPT"
    assert visits[-1] == ("INPUT", 2, True)


def test_rule_without_target_is_counted_and_falls_through() -> None:
    packet = Packet(address("198.18.5.1"), address("198.18.1.2"), protocol=1, in_iface="lo")
    verdict, visits = _walk(packet)
    assert verdict == "DROP" and ("INPUT", 3, True) in visits


@pytest.mark.parametrize(("in_iface", "out_iface", "verdict"), [
    ("n0", "n2", "DROP"), ("n0", "n1", "ACCEPT"), ("eth0", "n2", "ACCEPT"), ("n", "x", "DROP")])
def test_interface_wildcards_and_negation(in_iface: str, out_iface: str, verdict: str) -> None:
    packet = Packet(1, 2, in_iface=in_iface, out_iface=out_iface)
    assert _walk(packet, "FORWARD")[0] == verdict


def test_tables_run_in_hook_order_and_drop_stops_the_hook() -> None:
    text = """*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j DROP
COMMIT
*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING
COMMIT
"""
    result = run_hook(_ruleset(text), "PREROUTING", Packet(1, 2), Context(Host(), "PREROUTING"))
    assert result.verdict == "DROP"
    assert [visit.table for visit in result.visits] == ["raw", "raw", "mangle"]


def test_an_extension_without_meaning_is_refused() -> None:
    table = Table.empty("filter")
    chains = dict(table.chains)
    chains["INPUT"] = Chain("INPUT", "ACCEPT", (Rule(matches=(Match("no-such-match"),)),))
    ruleset = Ruleset().with_table(table.with_chains(chains))
    with pytest.raises(UnsupportedExtension):
        run_hook(ruleset, "INPUT", Packet(1, 2), Context(Host(), "INPUT"))
