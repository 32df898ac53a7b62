"""Plan diff: kube-proxy's churn is a few ordered map writes, not new code.

Fixtures 04 -> 05 -> 06 -> 07 are replayed as kube-proxy sends them (``--noflush``): adding and
deleting a service is data only, a handful of writes; a first REJECT rule in filter's
KUBE-SERVICES is a new kind of rule, so the shape changes. Writes come callees first, deletes
callers first, so no entry ever points at a chain that is not there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.kube_gen import (
    TOP_NAT_CHAINS,
    ClusterShape,
    chain_suffix,
    partial_sync_text,
    restore_text,
    service_name,
)
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import Compiler, compile_ruleset
from translator.diff import (
    MapDelete,
    MapWrite,
    PlanDiff,
    PlanDiffer,
    changed_chains,
    diff_plans,
)
from translator.plan import really_changed
from translator.shape import ShapeAnalyzer, analyze

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kube-proxy"


def _chain(key: tuple) -> str:
    return key[3] if key[0] == "member" else key[2]


def _jumps(value: object) -> set[str]:
    rules = value if isinstance(value, tuple) else (value,)
    return {rule.target.name for rule in rules if getattr(rule, "target", None) is not None
            and rule.target.options is None}


def _assert_safe_order(diff: PlanDiff) -> None:
    written: list[str] = []
    pending = {_chain(op.key) for op in diff.operations if isinstance(op, MapWrite)}
    for op in diff.operations:
        if isinstance(op, MapWrite):
            for target in _jumps(op.value):
                assert target not in pending or target in written, op.key
            written.append(_chain(op.key))
    deleted = [_chain(op.key) for op in diff.operations if isinstance(op, MapDelete)]
    assert deleted == sorted(deleted, key=deleted.index)  # grouped, callers first by height


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
def test_kube_proxy_syncs_are_data_only_until_a_new_kind_of_rule() -> None:
    restorer = Restorer()
    ruleset = Ruleset()
    results = []
    previous = None
    for name in ("04-repeated-1-full-initial.rules", "05-repeated-2-partial-add-service.rules",
                 "06-repeated-3-partial-delete-service.rules",
                 "07-repeated-4-partial-new-service-no-endpoints-reject.rules"):
        ruleset = restorer.restore((FIXTURES / name).read_text(), ruleset,
                                   RestoreOptions(noflush=True, counters=True))
        plan = compile_ruleset(ruleset)
        report = analyze(plan)
        if previous is not None:
            diff = diff_plans(*previous, plan, report)
            _assert_safe_order(diff)
            results.append((diff.shape_changed, len(diff.operations)))
        previous = (plan, report)
    assert results[0] == (False, 7)  # a service: its lookup entry, chains and endpoint
    assert results[1] == (False, 7)  # the same one away
    assert results[2][0] is True  # filter's first REJECT for a service without endpoints


def test_one_more_service_among_many_is_one_service_of_writes() -> None:
    shape = ClusterShape(500, 3)
    text = restore_text(shape, jumps=True)
    grown = restore_text(ClusterShape(501, 3), jumps=True)
    plans = []
    for version in (text, grown):
        plan = compile_ruleset(Restorer().restore(version, Ruleset(), RestoreOptions()))
        plans.append((plan, analyze(plan)))
    diff = diff_plans(*plans[0], *plans[1])
    _assert_safe_order(diff)
    assert not diff.shape_changed
    changed_chains = {_chain(op.key) for op in diff.operations}
    assert len(changed_chains) == 1 + 1 + 3  # KUBE-SERVICES, the service, its endpoints
    assert all(isinstance(op, MapWrite) for op in diff.operations)


def test_a_partial_sync_is_compiled_and_diffed_in_proportion_to_the_change() -> None:
    """kube-proxy's partial --noflush restore adding one service: the Compiler reuses every
    untouched chain, so the diff looks at the re-sent top-level chains and the new service
    only."""
    restorer, compiler, analyzer = Restorer(), Compiler(), ShapeAnalyzer()
    shape = ClusterShape(300, 3, node_ports=20)
    ruleset = restorer.restore(restore_text(shape, jumps=True), Ruleset(), RestoreOptions())
    plan = compiler.compile(ruleset)
    report = analyzer.analyze(plan)
    grown_shape = ClusterShape(301, 3, node_ports=20)
    ruleset = restorer.restore(partial_sync_text(grown_shape, {service_name(300)}), ruleset,
                               RestoreOptions(noflush=True, counters=True))
    grown = compiler.compile(ruleset)
    grown_report = analyzer.analyze(grown)
    written, removed = changed_chains(plan, grown)
    assert len(written) <= 6 + len(TOP_NAT_CHAINS) + 1 + 3  # filter's, nat's top, the service
    # the compiler knows the same chains without comparing the Plans (it also lists re-sent
    # chains holding the same rules, whose ChainPlan it kept)
    assert compiler.last_changes is not None
    really = really_changed(plan, grown, compiler.last_changes)
    assert sorted(really[0]) == sorted(written)
    assert sorted(really[1]) == sorted(removed)
    differ = PlanDiffer()
    assert differ.diff(plan, report, grown, grown_report, compiler.last_changes) == diff_plans(
        plan, report, grown, grown_report)
    diff = diff_plans(plan, report, grown, grown_report)
    _assert_safe_order(diff)
    assert not diff.shape_changed
    assert {_chain(op.key) for op in diff.operations} == {
        "KUBE-SERVICES", "KUBE-SVC-" + chain_suffix(service_name(300), "tcp"),
        *("KUBE-SEP-" + chain_suffix(service_name(300), "tcp", f"10.0.3.{n}")
          for n in (133, 134, 135))}
