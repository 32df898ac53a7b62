"""The compiler's blocks, example by example: LOOKUP keys (hash and LPM), the bounds that cut a
run, SELECT thresholds, AFFINITY lists, and the Compiler's reuse of what it compiled before.
(That every Plan means what its rules mean is tests/unit/test_plan_vs_model.py.)"""

from __future__ import annotations

from fractions import Fraction

import pytest

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import Compiler, compile_table
from translator.model.packet import address
from translator.plan import (
    MAX_CANDIDATES,
    MAX_VARIANTS,
    PROBABILITY_ONE,
    KeyField,
    select_thresholds,
)

pytestmark = pytest.mark.unit


def _chain(lines: list[str], table: str = "filter", chain: str = "X"):  # type: ignore[no-untyped-def]
    text = "\n".join([f"*{table}", f":{chain} - [0:0]", *(f"-A {chain} {line}" for line in lines),
                      "COMMIT", ""])
    ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    return compile_table(ruleset.tables[table]).chains[chain]


def _kinds(chain) -> list[tuple[str, tuple[int, ...]]]:  # type: ignore[no-untyped-def]
    return [(block.kind, block.rules) for block in chain.blocks]


def test_node_ports_alternating_prefix_and_none_are_one_lpm_lookup() -> None:
    lines = []
    for port in (30000, 30001, 30002):
        lines += [f"-p tcp -m tcp --dport {port} -d 127.0.0.0/8 -m nfacct --nfacct-name n "
                  f"-j ACCEPT", f"-p tcp -m tcp --dport {port} -j RETURN"]
    chain = _chain(lines, "nat")
    assert _kinds(chain) == [("LOOKUP", (1, 2, 3, 4, 5, 6))]
    block = chain.blocks[0]
    assert block.storage == "lpm" and len(block.variants) == 2
    assert block.key == (KeyField("protocol"), KeyField("dport"), KeyField("destination", "lpm"))
    local = (6, 30001, (address("127.0.0.0"), 8))
    assert [number for number, _ in block.entries[local]] == [3, 4]
    assert [number for number, _ in block.entries[(6, 30001, (0, 0))]] == [4]


def test_prefixes_of_one_length_are_hashed_and_mixed_lengths_use_lpm() -> None:
    same = _chain([f"-s 198.18.{n}.0/24 -j DROP" for n in range(5)])
    assert same.blocks[0].storage == "hash"
    assert same.blocks[0].key == (KeyField("source", "prefix", 24),)
    mixed = _chain(["-s 198.18.1.0/24 -j DROP", "-s 198.18.0.0/16 -j ACCEPT",
                    "-s 198.18.1.7/32 -j DROP"])
    block = mixed.blocks[0]
    assert block.storage == "lpm"
    # the /32 lists every prefix containing it, in rule order
    host = ((address("198.18.1.7"), 32),)
    assert [number for number, _ in block.entries[host]] == [1, 2, 3]


def test_a_catch_all_rule_stays_a_rule_and_negations_are_not_keys() -> None:
    chain = _chain(["-d 198.18.0.1 -j ACCEPT", "-d 198.18.0.2 -j ACCEPT", "-j DROP",
                    "! -d 198.18.0.3 -j DROP", "! -d 198.18.0.4 -j DROP"])
    assert _kinds(chain) == [("LOOKUP", (1, 2)), ("RULE", (3,)), ("RULE", (4,)), ("RULE", (5,))]


def test_a_run_is_cut_where_an_entry_would_offer_too_many_rules() -> None:
    pair = ["-d 198.18.0.1 -j ACCEPT", "-d 198.18.0.2 -j ACCEPT"]
    chain = _chain(pair * (MAX_CANDIDATES + 3))
    assert [len(block.rules) for block in chain.blocks] == [2 * MAX_CANDIDATES, 6]


def test_rules_with_one_key_stay_rules() -> None:
    chain = _chain(["-p tcp ! -s 198.18.0.1 -j ACCEPT", "-p tcp ! -s 198.18.0.2 -j DROP"])
    assert _kinds(chain) == [("RULE", (1,)), ("RULE", (2,))]


def test_a_run_keeps_at_most_max_variants_residual_shapes() -> None:
    residuals = ["", "-m mark --mark 1", "-i veth0", "-o veth1", "-m ttl --ttl-eq 3",
                 "-m length --length 10"]
    chain = _chain([f"-d 198.18.0.{n} {extra} -j ACCEPT" for n, extra in enumerate(residuals)])
    assert [len(block.rules) for block in chain.blocks] == [MAX_VARIANTS, 2]


def test_select_thresholds_give_the_kernel_distribution() -> None:
    probabilities = (round(PROBABILITY_ONE / 3), PROBABILITY_ONE // 2, PROBABILITY_ONE)
    thresholds = select_thresholds(probabilities)
    miss, low = Fraction(1), 0
    for probability, high in zip(probabilities, thresholds, strict=True):
        exact = miss * Fraction(probability, PROBABILITY_ONE)  # earlier rules missed, this hits
        miss -= exact
        assert abs(Fraction(high - low, 1 << 32) - exact) <= Fraction(1, 1 << 32)
        low = high
    assert thresholds[-1] == 1 << 32


def test_kube_service_endpoints_are_one_select_and_affinity_one_lookup() -> None:
    chain = _chain(['-m comment --comment "a" -m recent --name SEP-A --rcheck --seconds 10800 '
                    '--reap -j ACCEPT',
                    '-m comment --comment "b" -m recent --name SEP-B --rcheck --seconds 10800 '
                    '--reap -j RETURN',
                    "-m statistic --mode random --probability 0.3333333333 -j ACCEPT",
                    "-m statistic --mode random --probability 0.5000000000 -j RETURN",
                    "-j RETURN",
                    "-m statistic --mode nth --every 2 --packet 0 -j ACCEPT",
                    "-m statistic --mode nth --every 2 --packet 0 -j ACCEPT"], "nat")
    assert _kinds(chain) == [("AFFINITY", (1, 2)), ("SELECT", (3, 4, 5)), ("RULE", (6,)),
                             ("RULE", (7,))]
    assert chain.blocks[0].names == ("SEP-A", "SEP-B")
    assert chain.blocks[1].probabilities[-1] == PROBABILITY_ONE


def test_the_compiler_reuses_unchanged_chains() -> None:
    text = "*filter\n:X - [0:0]\n-A X -d 198.18.0.1 -j ACCEPT\n-A X -d 198.18.0.2 -j DROP\nCOMMIT\n"
    ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    compiler = Compiler()
    first = compiler.compile(ruleset)
    again = compiler.compile(ruleset)
    assert again.tables["filter"].chains["X"] is first.tables["filter"].chains["X"]
