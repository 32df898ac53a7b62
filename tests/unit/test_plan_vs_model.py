"""Compiling keeps the meaning: a Plan run by the interpreter does what the reference model does.

Hypothesis builds chains mixing kube-proxy-like runs (one destination address and port per rule,
duplicate keys, rules without a target, non-terminal targets, jumps and returns) with rules
that cannot be lookups (prefixes, negations, port ranges, statistic), and packets aimed at the
same few addresses and ports. For every packet the verdict, the packet after the table (marks)
and every rule and policy counter must be equal. ``BPFTABLES_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.kube_gen import ClusterShape, restore_text
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import compile_table
from translator.interp import run_table_plan
from translator.model.evaluate import run_table
from translator.model.packet import IPPROTO_TCP, IPPROTO_UDP, Host, Packet, address
from translator.model.semantics import Context

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("BPFTABLES_EXAMPLES", "300"))
ADDRESSES = ["198.18.5.1", "198.18.5.2", "198.18.5.3"]
PORTS = [80, 443]
CHAINS = ["A", "B"]
TARGETS = ["-j ACCEPT", "-j DROP", "-j RETURN", "", "-j MARK --or-mark 0x4000", "-j LOG",
           "-j A", "-j B", "-g B"]


@st.composite
def keyed_rule(draw: st.DrawFn, chain: str) -> str:
    proto = draw(st.sampled_from(["tcp", "udp"]))
    words = [f"-A {chain}", f"-d {draw(st.sampled_from(ADDRESSES))}/32", f"-p {proto}"]
    if draw(st.booleans()):
        words.append(f'-m comment --comment "c{draw(st.integers(0, 9))}"')
    if draw(st.integers(0, 4)):
        words.append(f"-m {proto} --dport {draw(st.sampled_from(PORTS))}")
    targets = [t for t in TARGETS if not t.endswith(chain) and not (chain == "B" and t == "-j A")]
    words.append(draw(st.sampled_from(targets)))
    return " ".join(word for word in words if word)


OTHER_RULES = ["-s 198.18.0.0/24 -j RETURN", "! -d 198.18.5.1/32 -j DROP",
               "-p tcp -m tcp --dport 80:443 -j ACCEPT", "-d 198.18.5.0/24 -m mark --mark 0x4000",
               "-m statistic --mode random --probability 0.5 -j ACCEPT", "-d 198.18.5.2"]


@st.composite
def table_text(draw: st.DrawFn) -> str:
    lines = ["*filter", f":FORWARD {draw(st.sampled_from(['ACCEPT', 'DROP']))} [0:0]",
             ":A - [0:0]", ":B - [0:0]"]
    for chain in ["FORWARD", *CHAINS]:
        for _ in range(draw(st.integers(0, 9))):
            if draw(st.integers(0, 3)):
                lines.append(draw(keyed_rule(chain)))
            else:
                lines.append(f"-A {chain} " + draw(st.sampled_from(OTHER_RULES)))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


PACKETS = st.builds(
    lambda dst, proto, port, mark: Packet(address("198.18.0.2"), address(dst), proto, 40000,
                                          port, mark=mark),
    st.sampled_from([*ADDRESSES, "198.18.5.9"]), st.sampled_from([IPPROTO_TCP, IPPROTO_UDP]),
    st.sampled_from([*PORTS, 8080]), st.sampled_from([0, 0x4000]))


def _walk(walker, table, hook: str, packet: Packet, seed: int) -> tuple[object, ...]:
    counts: Counter = Counter()
    ctx = Context(Host(), hook, rng=random.Random(seed))
    verdict = walker(table, hook, packet, ctx,
                     lambda name, chain, rule: counts.update([(chain, rule)]))
    return verdict.verdict, verdict.packet, verdict.outcome, counts


def _same(text: str, packets: list[Packet], name: str = "filter", hook: str = "FORWARD",
          seed: int = 1) -> None:
    table = Restorer().restore(text, Ruleset(), RestoreOptions()).tables[name]
    plan = compile_table(table)
    for packet in packets:
        assert _walk(run_table, table, hook, packet, seed) == _walk(
            run_table_plan, plan, hook, packet, seed), (text, packet)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=table_text(), packets=st.lists(PACKETS, min_size=1, max_size=6))
def test_plan_does_what_the_model_does(text: str, packets: list[Packet]) -> None:
    _same(text, packets)


def test_kube_services_become_one_lookup_and_mean_the_same() -> None:
    text = restore_text(ClusterShape(200, 2), jumps=True)
    ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    plan = compile_table(ruleset.tables["nat"])
    services = plan.chains["KUBE-SERVICES"].blocks
    assert [block.kind for block in services] == ["LOOKUP", "RULE"]
    assert len(services[0].rules) == 200
    packets = [Packet(address("198.18.0.2"), address(f"172.30.0.{n}"), IPPROTO_TCP, 40000 + n,
                      port) for n in range(1, 60) for port in (80, 81)]
    _same(text, packets, "nat", "PREROUTING")
