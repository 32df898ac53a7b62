"""The agent's apply path keeps what it computed between commits (Compiler, ShapeAnalyzer,
the datapath's generate): after every change its results must be the ones computed from
scratch. Replayed: kube-proxy's fixtures (adds, deletes, a new kind of rule, an endpoint
change, a full resync), generated partial syncs, a deeper chain and a dropped table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import Compiler, compile_ruleset
from translator.plan import Plan, changed_chains
from translator.shape import ShapeAnalyzer, ShapeReport

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kube-proxy"
NOFLUSH = RestoreOptions(noflush=True, counters=True)


def _rulesets() -> Iterator[Ruleset]:
    restorer = Restorer()
    shape = ClusterShape(60, 3, node_ports=5)
    ruleset = restorer.restore(restore_text(shape, jumps=True), Ruleset(), RestoreOptions())
    yield ruleset
    for added in range(3):
        grown = ClusterShape(61 + added, 3 - added, node_ports=5)
        ruleset = restorer.restore(partial_sync_text(grown, {service_name(60 + added)}),
                                   ruleset, NOFLUSH)
        yield ruleset
    # an endpoint fewer for an existing service: its chain moves to another family
    ruleset = restorer.restore(partial_sync_text(ClusterShape(63, 2, node_ports=5),
                                                 {service_name(3)}), ruleset, NOFLUSH)
    yield ruleset
    # a deeper path: a chain under KUBE-MARK-MASQ (every endpoint's chain jumps there)
    ruleset = restorer.restore("*nat\n:KUBE-DEEP - [0:0]\n-A KUBE-DEEP -j RETURN\n"
                               "-A KUBE-MARK-MASQ -j KUBE-DEEP\nCOMMIT\n", ruleset, NOFLUSH)
    yield ruleset
    ruleset = restorer.restore("*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
                               ruleset, NOFLUSH)
    yield ruleset
    ruleset = restorer.restore(restore_text(ClusterShape(40, 3), jumps=True), Ruleset(),
                               RestoreOptions())
    yield ruleset
    # the filter table gone
    yield Ruleset(type(ruleset.tables)({"nat": ruleset.tables["nat"]}))
    if FIXTURES.is_dir():
        ruleset = Ruleset()
        for path in sorted(FIXTURES.glob("0[4-7]-*.rules")):
            ruleset = restorer.restore(path.read_text(), ruleset, NOFLUSH)
            yield ruleset


def _same_report(report: ShapeReport, plan: Plan) -> None:
    fresh = ShapeAnalyzer().analyze(plan)
    for name in ("families", "shape_hash", "rule_blocks", "max_blocks_per_packet",
                 "family_of", "chains"):
        assert getattr(report, name) == getattr(fresh, name), name


def test_the_compiler_and_analyzer_give_what_a_fresh_start_gives() -> None:
    compiler, analyzer = Compiler(), ShapeAnalyzer()
    previous: Plan | None = None
    for ruleset in _rulesets():
        plan = compiler.compile(ruleset)
        fresh = compile_ruleset(ruleset)
        assert plan == fresh
        for table in plan.tables.values():  # in the rule set's order (the diff's order)
            assert list(table.chains) == list(ruleset.tables[table.name].chains)
        if previous is not None:
            assert compiler.previous is previous
            assert compiler.last_changes is not None
            assert compiler.last_changes == changed_chains(previous, plan) or (
                sorted(compiler.last_changes[0]) == sorted(changed_chains(previous, plan)[0])
                and sorted(compiler.last_changes[1])
                == sorted(changed_chains(previous, plan)[1]))
        _same_report(analyzer.analyze(plan, compiler.last_changes, compiler.previous), plan)
        previous = plan


def test_the_analyzer_without_changes_compares_the_plans() -> None:
    compiler, analyzer = Compiler(), ShapeAnalyzer()
    for ruleset in _rulesets():
        plan = compiler.compile(ruleset)
        _same_report(analyzer.analyze(plan), plan)
        _same_report(analyzer.analyze(plan), plan)  # the same Plan again: nothing changed
