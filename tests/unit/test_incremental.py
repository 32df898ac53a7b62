"""The agent's apply path keeps what it computed between commits (Compiler, ShapeAnalyzer,
the datapath's generate): after every change its results must be the ones computed from
scratch. Replayed: kube-proxy's fixtures (adds, deletes, a new kind of rule, an endpoint
change, a full resync), generated partial syncs, a deeper chain and a dropped table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name
from bpf.codegen import Generator, MemberIds, generate
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import Compiler, compile_ruleset
from translator.diff import PlanDiffer
from translator.plan import LookupBlock, Plan, changed_chains, really_changed
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
    last_ruleset = Ruleset()
    patched = 0
    for ruleset in _rulesets():
        plan = compiler.compile(ruleset)
        patched += len(compiler.last_patches)
        fresh = compile_ruleset(ruleset)
        assert plan == fresh
        for table in plan.tables.values():  # in the rule set's order (the diff's order)
            assert list(table.chains) == list(ruleset.tables[table.name].chains)
        if previous is not None:
            assert compiler.previous is previous
            assert compiler.last_changes is not None
            # the chains that are new objects (what the diff orders its writes by), of which
            # those with a new ChainPlan are the ones a comparison of the Plans finds
            assert compiler.last_changes == _new_chain_objects(last_ruleset, ruleset)
            found = really_changed(previous, plan, compiler.last_changes)
            assert [sorted(keys) for keys in found] == [
                sorted(keys) for keys in changed_chains(previous, plan)]
        _same_report(analyzer.analyze(plan, compiler.last_changes, compiler.previous,
                                  compiler.last_patches), plan)
        previous = plan
        last_ruleset = ruleset
    assert patched >= 3  # KUBE-SERVICES, one service more


def test_the_analyzer_without_changes_compares_the_plans() -> None:
    compiler, analyzer = Compiler(), ShapeAnalyzer()
    for ruleset in _rulesets():
        plan = compiler.compile(ruleset)
        _same_report(analyzer.analyze(plan), plan)
        _same_report(analyzer.analyze(plan), plan)  # the same Plan again: nothing changed


def test_the_generator_keeps_the_layout_as_a_fresh_layout_would_be() -> None:
    """Layout, members' ids and map sizes kept between Plans of the same Shape equal a layout
    made from scratch with the same member-id history."""
    compiler, analyzer, generator, members = Compiler(), ShapeAnalyzer(), Generator(), MemberIds()
    kept = 0
    for ruleset in _rulesets():
        plan = compiler.compile(ruleset)
        report = analyzer.analyze(plan, compiler.last_changes, compiler.previous,
                                  compiler.last_patches)
        before = generator._last
        generated = generator.generate(plan, report, compiler.last_changes, compiler.previous)
        fresh = generate(plan, report, members)
        assert generated.layout == fresh.layout
        assert generated.defines == fresh.defines
        if before is not None and before.report.shape_hash == report.shape_hash:
            kept += 1
    assert kept >= 4


def _services_chain(restorer: Restorer, lines: list[str]) -> Ruleset:
    text = "*nat\n:KUBE-SERVICES - [0:0]\n" + "".join(
        f":{target} - [0:0]\n" for target in sorted({line.split()[-1] for line in lines})
    ) + "".join(f"-A KUBE-SERVICES {line}\n" for line in lines) + "COMMIT\n"
    return restorer.restore(text, Ruleset(), RestoreOptions())


def test_a_lookup_block_patched_is_the_block_compiled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Random insertions, deletions and replacements in a KUBE-SERVICES-like chain (repeated
    keys, a rule that cannot join at the end, rules of another shape): each patched plan is
    the one compile_chain gives, entries and their order included."""
    import random

    import translator.compile
    from translator.compile import compile_chain

    rng = random.Random(7)
    outcomes: list[bool] = []
    patch = translator.compile._patched

    def counted(*args: object) -> object:
        result = patch(*args)  # type: ignore[arg-type]
        outcomes.append(result is not None)
        return result

    monkeypatch.setattr(translator.compile, "_patched", counted)

    def service(number: int) -> str:
        protocol = "udp" if number % 7 == 0 else "tcp"
        return (f"-d 172.30.0.{number % 40}/32 -p {protocol} -m {protocol} "
                f"--dport {80 + number % 3} -j KUBE-SVC-{number}")

    other = ["-s 10.0.0.0/8 -j KUBE-MARK-MASQ", "-p tcp -m tcp --sport 7 -j KUBE-SVC-X",
             "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"]
    lines = [service(number) for number in range(30)] + [other[2]]
    compiler, restorer, analyzer = Compiler(), Restorer(), ShapeAnalyzer()
    for _ in range(300):
        edited = list(lines)
        for _ in range(rng.choice((1, 1, 2))):
            where = rng.randrange(0, len(edited) + 1)
            kind = rng.random()
            if kind < 0.45:
                edited.insert(where, service(rng.randrange(200)))
            elif kind < 0.85 and where < len(edited) and len(edited) > 3:
                del edited[where]
            elif kind < 0.9:
                edited.insert(where, rng.choice(other))
            elif where < len(edited):
                edited[where] = service(rng.randrange(200))
        ruleset = _services_chain(restorer, edited)
        chain = ruleset.tables["nat"].chains["KUBE-SERVICES"]
        whole = compiler.compile(ruleset)
        _same_report(analyzer.analyze(whole, compiler.last_changes, compiler.previous,
                                      compiler.last_patches), whole)
        plan = whole.tables["nat"].chains["KUBE-SERVICES"]
        fresh = compile_chain(chain.name, chain.policy, chain.rules)
        assert plan == fresh
        for got, want in zip(plan.blocks, fresh.blocks, strict=True):
            if isinstance(want, LookupBlock):
                assert list(got.entries.items()) == list(want.entries.items())
                assert list(got.rules_by_key.items()) == list(want.rules_by_key.items())
        lines = edited if rng.random() < 0.8 and len(edited) < 60 else lines
    assert sum(outcomes) > 15 and not all(outcomes)


def test_the_diff_of_changed_and_patched_chains_is_the_whole_diff() -> None:
    """The Plan diff told what changed (and what was patched) gives the operations, in their
    order, of a diff that compares the Plans itself."""
    compiler, analyzer, differ = Compiler(), ShapeAnalyzer(), PlanDiffer()
    previous = None
    last_ruleset = Ruleset()
    for ruleset in _rulesets():
        plan = compiler.compile(ruleset)
        report = analyzer.analyze(plan, compiler.last_changes, compiler.previous,
                                  compiler.last_patches)
        if previous is not None:
            told = differ.diff(*previous, plan, report, compiler.last_changes,
                               compiler.last_patches)
            assert told == PlanDiffer().diff(*previous, plan, report,
                                             _new_chain_objects(last_ruleset, ruleset))
        previous = (plan, report)
        last_ruleset = ruleset


def _new_chain_objects(old: Ruleset, new: Ruleset
                       ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The chains the compiler lists as changed: those that are new objects (its older
    version's way, kept as the reference for the diff's order)."""
    written: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    for name, table in new.tables.items():
        before = old.tables[name].chains if name in old.tables else {}
        for chain_name, chain in table.chains.items():
            if before.get(chain_name) is not chain:
                written.append((name, chain_name))
                if chain_name in before:
                    removed.append((name, chain_name))
    for name, table in old.tables.items():
        after = new.tables[name].chains if name in new.tables else {}
        removed += [(name, chain) for chain in table.chains.keys() - after.keys()]
    return written, removed
