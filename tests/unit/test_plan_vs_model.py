"""Compiling keeps the meaning: a Plan run by the interpreter does what the reference model does.

Hypothesis builds chains mixing runs a LOOKUP may key (protocol, destination port, source and
destination prefixes of mixed lengths, so hash and LPM storage; duplicate keys, rules without a
target, non-terminal targets, jumps and returns), statistic runs (SELECT), recent lists set and
checked (AFFINITY), and rules that cannot be any of those (negations, port ranges), and packets
aimed at the same few addresses and ports. For every packet the verdict, the packet after the
table (marks) and every rule and policy counter must be equal. ``BPFTABLES_EXAMPLES`` raises
the count.
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
    """A rule a LOOKUP may key: protocol, destination port, source and destination prefixes."""
    words = [f"-A {chain}"]
    destination = draw(st.sampled_from([*ADDRESSES, "198.18.5.0/24", "198.18.0.0/15", None]))
    if destination:
        words.append(f"-d {destination}")
    if draw(st.integers(0, 3)) == 0:
        words.append(f"-s {draw(st.sampled_from(SOURCES))}")
    proto = draw(st.sampled_from(["tcp", "udp", None]))
    if proto:
        words.append(f"-p {proto}")
        if draw(st.integers(0, 4)):
            words.append(f"-m {proto} --dport {draw(st.sampled_from(PORTS))}")
    if draw(st.integers(0, 3)) == 0:
        words.append(f'-m comment --comment "c{draw(st.integers(0, 9))}"')
    if draw(st.integers(0, 5)) == 0:
        words.append("-m mark --mark 0x4000")
    words.append(draw(st.sampled_from(_targets(chain))))
    return " ".join(word for word in words if word)


def _targets(chain: str) -> list[str]:
    return [t for t in TARGETS if not t.endswith(chain) and not (chain == "B" and t == "-j A")]


@st.composite
def select_run(draw: st.DrawFn, chain: str) -> list[str]:
    """A service's endpoints: random statistic rules, maybe closed by a plain rule."""
    rest = draw(st.sampled_from(["", "-p tcp "]))
    probabilities = st.sampled_from(["0.25", "0.5", "0.75"])
    lines = [f"-A {chain} {rest}-m statistic --mode random --probability "
             f"{draw(probabilities)} {draw(st.sampled_from(_targets(chain)))}"
             for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        lines.append(f"-A {chain} {rest}{draw(st.sampled_from(_targets(chain)))}")
    return lines


@st.composite
def affinity_run(draw: st.DrawFn, chain: str) -> list[str]:
    """Session affinity: lists set for some sources, then rcheck rules over the lists."""
    lines = [f"-A {chain} -s {draw(st.sampled_from(SOURCES))} -m recent --name L{n} --set"
             for n in range(draw(st.integers(0, 2)))]
    lines += [f"-A {chain} -m recent --name L{n} --rcheck --seconds 60 "
              f"{draw(st.sampled_from(_targets(chain)))}" for n in range(draw(st.integers(1, 3)))]
    return lines


SOURCES = ["198.18.0.0/24", "198.18.0.2/32", "198.18.0.0/16"]
OTHER_RULES = ["-s 198.18.0.0/24 -j RETURN", "! -d 198.18.5.1/32 -j DROP",
               "-p tcp -m tcp --dport 80:443 -j ACCEPT", "-d 198.18.5.0/24 -m mark --mark 0x4000",
               "-m statistic --mode random --probability 0.5 -j ACCEPT", "-d 198.18.5.2"]


@st.composite
def table_text(draw: st.DrawFn) -> str:
    lines = ["*filter", f":FORWARD {draw(st.sampled_from(['ACCEPT', 'DROP']))} [0:0]",
             ":A - [0:0]", ":B - [0:0]"]
    for chain in ["FORWARD", *CHAINS]:
        for _ in range(draw(st.integers(0, 9))):
            kind = draw(st.integers(0, 9))
            if kind < 6:
                lines.append(draw(keyed_rule(chain)))
            elif kind == 6:
                lines += draw(select_run(chain))
            elif kind == 7:
                lines += draw(affinity_run(chain))
            else:
                lines.append(f"-A {chain} " + draw(st.sampled_from(OTHER_RULES)))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


PACKETS = st.builds(
    lambda src, dst, proto, port, mark: Packet(address(src), address(dst), proto, 40000,
                                               port, mark=mark),
    st.sampled_from(["198.18.0.2", "198.18.0.9", "198.18.7.1"]),
    st.sampled_from([*ADDRESSES, "198.18.5.9", "198.18.6.1", "198.19.0.1"]),
    st.sampled_from([IPPROTO_TCP, IPPROTO_UDP]),
    st.sampled_from([*PORTS, 8080]), st.sampled_from([0, 0x4000]))


def _walk(walker, table, hook: str, packet: Packet, seed: int,
          recent: dict[str, dict[int, list[float]]]) -> tuple[object, ...]:
    counts: Counter = Counter()
    ctx = Context(Host(), hook, rng=random.Random(seed), recent=recent)
    verdict = walker(table, hook, packet, ctx,
                     lambda name, chain, rule: counts.update([(chain, rule)]))
    return verdict.verdict, verdict.packet, verdict.outcome, counts


def _same(text: str, packets: list[Packet], name: str = "filter", hook: str = "FORWARD",
          seed: int = 1) -> None:
    table = Restorer().restore(text, Ruleset(), RestoreOptions()).tables[name]
    plan = compile_table(table)
    model_lists: dict[str, dict[int, list[float]]] = {}  # recent lists live across packets
    plan_lists: dict[str, dict[int, list[float]]] = {}
    for packet in packets:
        assert _walk(run_table, table, hook, packet, seed, model_lists) == _walk(
            run_table_plan, plan, hook, packet, seed, plan_lists), (text, packet)


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
