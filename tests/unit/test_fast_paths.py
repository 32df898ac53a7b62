"""The parser's fast paths give exactly what the slow, literal paths give.

- tokenizer: the regex/split shortcuts against add_param_to_argv's character loop;
- shapes: a line replayed through a learned shape against the full getopt parse, on lines
  generated from kube-proxy's vocabulary and on the repo's kube-proxy generator;
- whole-table recall: a restore answered from memory against a fresh restore.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.kube_gen import ClusterShape, restore_text
from iptparse.errors import IptablesError
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import (
    RestoreOptions,
    Restorer,
    tokenize_quoted_line,
    tokenize_rule_line,
)
from iptparse.grammar.shapes import RuleShapes
from iptparse.model import Ruleset

pytestmark = pytest.mark.unit


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=' a"\\\t-', max_size=14))
def test_tokenizer_shortcuts_match_the_character_loop(text: str) -> None:
    assert tokenize_rule_line(text + "\n", 1) == tokenize_quoted_line(text + "\n")


CHAINS = ["KUBE-SVC-AAAA", "KUBE-SEP-BBBB", "KUBE-MARK-MASQ", "NOPE", "PREROUTING", "OUTPUT",
          "INPUT"]
VALUE_WORDS = ["INPUT", "PREROUTING", "10.0.0.1", "10.0.0.0/8", "1.2.3.4,5.6.7.8", "eth0", "80",
               "0x4000/0x4000",
               "ns/svc:p80", "0.20000000019", "KUBE-SVC-AAAA", "KUBE-SEP-BBBB", "DROP", "DNAT",
               "10.1.1.1:8080", "", "a b", "NEW", "LOCAL", "tcp", "x" * 40, "65536", "SYN"]
OPTION_WORDS = ["-s", "-d", "-i", "-o", "-i", "-o", "-p", "-j", "-g", "-m", "!", "--comment",
                "--dport",
                "--to-destination", "--probability", "--mark", "--or-mark", "--ctstate",
                "--dst-type", "--mode", "--name", "--set", "--rcheck", "--seconds", "-A", "-I",
                "--src", "--dest", "--tcp-flags", "--match-set"]
MATCH_HEADS = [["-m", "comment"], ["-m", "tcp", "-p", "tcp"], ["-p", "udp"], ["-m", "mark"],
               ["-m", "statistic", "--mode", "random"], ["-m", "recent"], ["-m", "conntrack"],
               ["-m", "addrtype"], ["-m", "set"], ["-m", "multiport", "-p", "tcp"]]


@st.composite
def rule_argv(draw: st.DrawFn) -> list[str]:
    argv = [draw(st.sampled_from(["-A", "-I", "-D", "-C"])), draw(st.sampled_from(CHAINS))]
    for head in draw(st.lists(st.sampled_from(MATCH_HEADS), max_size=2)):
        argv += head
    for _ in range(draw(st.integers(0, 6))):
        argv.append(draw(st.sampled_from(OPTION_WORDS)))
        if draw(st.integers(0, 4)):
            argv.append(draw(st.sampled_from(VALUE_WORDS)))
    return argv


def _outcome(parse, argv: list[str], table: str) -> object:
    try:
        return parse(argv, table, lambda name: name in CHAINS[:3] or name in CHAINS[4:])
    except IptablesError as error:
        return (type(error), error.message)


@settings(max_examples=int(os.environ.get("BPFTABLES_EXAMPLES", "600")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(lines=st.lists(rule_argv(), min_size=2, max_size=6),
       table=st.sampled_from(["nat", "filter"]))
@example(lines=[["-A", "PREROUTING", "-i", "eth0"], ["-A", "OUTPUT", "-i", "eth0"]],
         table="mangle")
def test_shapes_replay_like_the_full_parser(lines: list[list[str]], table: str) -> None:
    shapes = RuleShapes()
    for argv in lines + lines[::-1]:
        full = _outcome(lambda a, t, c: parse_command(a, t, c, restore=True), argv, table)
        assert _outcome(shapes.parse, argv, table) == full, argv


def test_kube_proxy_restore_through_shapes_equals_full_parse() -> None:
    text = restore_text(ClusterShape(300, 3))
    fast = Restorer().restore(text, Ruleset(), RestoreOptions())
    slow_restorer = Restorer()
    slow_restorer.shapes.parse = (  # type: ignore[method-assign]
        lambda argv, table, chain_exists, restore=True, ipsets=None:
        parse_command(argv, table, chain_exists, restore, ipsets))
    assert fast == slow_restorer.restore(text, Ruleset(), RestoreOptions())


@pytest.mark.parametrize("noflush", [False, True])
def test_a_recalled_table_is_what_a_fresh_restore_builds(noflush: bool) -> None:
    text = restore_text(ClusterShape(50, 2))
    options = RestoreOptions(noflush=noflush)
    restorer = Restorer()
    first = restorer.restore(text, Ruleset(), options)
    again = restorer.restore(text, first, options)
    third = restorer.restore(text, again, options)
    assert first == again == third == Restorer().restore(text, first, options)
    if noflush:
        assert third.tables["nat"] is again.tables["nat"]  # recognised, not rebuilt
    changed = text.replace("COMMIT\n", "-A KUBE-SERVICES -j ACCEPT\nCOMMIT\n", 1)
    assert restorer.restore(changed, third, options) == Restorer().restore(changed, third,
                                                                           options)
