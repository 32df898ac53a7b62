"""The datapath's Data, without a kernel: what the Plan diff becomes as map writes.

Family members keep their ids and rules their slots (and so their counters) while they live,
so a kube-proxy service added or removed writes its own entries and nothing else; writes of a
service come before the KUBE-SERVICES entry that sends packets to it, and its removal deletes
exactly what it wrote."""

from __future__ import annotations

import pytest

from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name
from bpf.codegen import MemberIds, generate
from bpf.ruledata import DataWriter, Environment, full_data
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import Compiler
from translator.diff import PlanDiffer
from translator.shape import ShapeAnalyzer

pytestmark = pytest.mark.unit


def test_member_ids_stay_while_chains_live() -> None:
    ids = MemberIds()
    first = ids.assign(("nat", "f"), ("B", "D"))
    second = ids.assign(("nat", "f"), ("A", "B", "C", "D"))
    assert {name: second[name] for name in first} == first
    third = ids.assign(("nat", "f"), ("A", "D"))
    assert third == {"A": second["A"], "D": second["D"]}
    assert ids.assign(("nat", "f"), ("A", "D", "E"))["E"] in {first["B"], second["C"]}


def _plans(services: int):  # type: ignore[no-untyped-def]
    restorer, compiler, analyzer = Restorer(), Compiler(), ShapeAnalyzer()
    ruleset = restorer.restore(restore_text(ClusterShape(services, 3), jumps=True), Ruleset(),
                               RestoreOptions())
    plan = compiler.compile(ruleset)
    yield plan, analyzer.analyze(plan), None
    ruleset = restorer.restore(
        partial_sync_text(ClusterShape(services + 1, 3), {service_name(services)}), ruleset,
        RestoreOptions(noflush=True, counters=True))
    plan = compiler.compile(ruleset)
    yield plan, analyzer.analyze(plan), compiler.last_changes
    ruleset = restorer.restore(
        partial_sync_text(ClusterShape(services, 3), set()), ruleset,
        RestoreOptions(noflush=True, counters=True))
    gone = sorted(set(ruleset.tables["nat"].chains) - set(Restorer().restore(
        restore_text(ClusterShape(services, 3), jumps=True), Ruleset(),
        RestoreOptions()).tables["nat"].chains))
    # as kube-proxy deletes chains: each flushed by its chain line, then -X
    ruleset = restorer.restore(
        "*nat\n" + "".join(f":{name} - [0:0]\n" for name in gone)
        + "".join(f"-X {name}\n" for name in gone) + "COMMIT\n", ruleset,
        RestoreOptions(noflush=True))
    plan = compiler.compile(ruleset)
    yield plan, analyzer.analyze(plan), compiler.last_changes


def test_a_service_added_then_removed_writes_its_own_entries_only() -> None:
    members = MemberIds()
    steps = _plans(100)
    plan, report, _ = next(steps)
    writer, ops = full_data(plan, report, generate(plan, report, members), Environment())
    everything = {(name, key) for name, key, value in ops if value is not None}
    slots_before = writer.rule_slots(plan)
    differ = PlanDiffer()
    grown, grown_report, changes = next(steps)
    writer.layout = generate(grown, grown_report, members).layout
    added = writer.operations(differ.diff(plan, report, grown, grown_report, changes).operations,
                              grown)
    assert 0 < len(added) < 30 < len(everything)
    names = [name for name, _, _ in added]
    lookup = next(name for name in names if name.startswith("lk"))
    assert all(name != lookup for name in names[:names.index(lookup)])  # the service first
    assert names.index(lookup) == len(names) - 1  # ... and the entry that leads to it last
    slots_after = writer.rule_slots(grown)
    kept = {rule: slot for rule, slot in slots_after.items() if rule[1] != "KUBE-SERVICES"
            and rule in slots_before}
    assert all(slots_before[rule] == slot for rule, slot in kept.items())
    shrunk, shrunk_report, changes = next(steps)
    writer.layout = generate(shrunk, shrunk_report, members).layout
    removed = writer.operations(
        differ.diff(grown, grown_report, shrunk, shrunk_report, changes).operations, shrunk)
    written = {(name, key) for name, key, value in added if value is not None}
    deleted = {(name, key) for name, key, value in removed if value is None}
    assert deleted == written  # exactly what adding it wrote
    assert isinstance(writer, DataWriter)
