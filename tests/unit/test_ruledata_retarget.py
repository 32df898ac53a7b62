"""A chain that moves to another family (a kube-proxy service gaining or losing an endpoint:
its KUBE-SVC-* chain's block list changes, the Shape does not) gets a new (program, member);
every rule that jumps to it must follow, although the rule itself did not change. Found under
traffic by bench/reliability.py updates: new connections to one service were DNATed by
another service's chain (whose masquerade rule did not match their address)."""

from __future__ import annotations

import random

import pytest

from bench.kube_gen import restore_text
from bench.reliability import Members, _change, kube_shape, sync_text
from bpf import structs
from bpf.codegen import Generator, Layout, MemberIds, action_kind, chain_sizes, generate
from bpf.ruledata import Environment, MapEntries, MapOp, full_data
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.cache import IdentityCache
from translator.compile import Compiler
from translator.diff import PlanDiffer
from translator.shape import ShapeAnalyzer

pytestmark = pytest.mark.unit


def _apply(maps: MapEntries, ops: list[MapOp]) -> None:
    for name, key, value in ops:
        if value is None:
            maps.setdefault(name, {}).pop(key, None)
        else:
            maps.setdefault(name, {})[key] = value


def test_jumps_follow_a_chain_that_changed_family() -> None:
    """The Enforcer's data path (compile, diff, writer) without a kernel, commit by commit:
    every rule value in rdata that jumps names its target's current program and member."""
    stable, pool, slots = 4, 12, 4
    chance = random.Random(8)
    stable_ids, pool_ids = list(range(stable)), list(range(stable, stable + pool))
    members: Members = {index: tuple(range(slots)) for index in stable_ids}
    members.update({index: (0,) for index in pool_ids[: pool // 2]})
    restorer, compiler, analyzer = Restorer(), Compiler(), ShapeAnalyzer()
    ids, sizes, differ = MemberIds(), IdentityCache(chain_sizes), PlanDiffer()
    env = Environment({})
    ruleset = restorer.restore(restore_text(kube_shape(members, slots), jumps=True),
                               Ruleset(), RestoreOptions())
    plan = compiler.compile(ruleset)
    report = analyzer.analyze(plan)
    generated = generate(plan, report, ids, sizes)
    writer, ops = full_data(plan, report, generated, env)
    maps: MapEntries = {}
    _apply(maps, ops)
    moved = 0
    for _ in range(60):
        new = _change(members, stable_ids, pool_ids, slots, chance)
        ruleset = restorer.restore(sync_text(members, new, slots), ruleset,
                                   RestoreOptions(noflush=True, counters=True))
        members = new
        old_plan, old_report, old_layout = plan, report, generated.layout
        plan = compiler.compile(ruleset)
        report = analyzer.analyze(plan)
        generated = generate(plan, report, ids, sizes)
        if report.shape_hash != old_report.shape_hash:  # a recompile: everything written
            writer, ops = full_data(plan, report, generated, env)
            maps = {}
        else:
            moved += sum(place != old_layout.program_of.get(chain)
                         for chain, place in generated.layout.program_of.items())
            diff = differ.diff(old_plan, old_report, plan, report, compiler.last_changes)
            writer.relayout(generated.layout)
            ops = writer.operations(diff.operations, plan)
        _apply(maps, ops)
        layout = generated.layout
        for slot_key, raw in maps.get("rdata", {}).items():
            slot = int.from_bytes(slot_key, "little")
            (table, _, rule, _), _, _ = writer._held[slot]
            if action_kind(rule) not in ("JUMP", "GOTO"):
                continue
            value = structs.rule_val.from_buffer_copy(raw)
            target = rule.target.name
            assert (value.act.prog, value.act.member) == (
                layout.program(table, target).slots[0], layout.program_of[(table, target)][1]
            ), (table, target)
    assert moved > 0  # chains did change family without a recompile


def test_a_freed_member_id_waits_one_assignment() -> None:
    ids = MemberIds()
    family = ("nat", "KUBE-SVC-family")
    assert ids.assign(family, ("a", "b")) == {"a": 0, "b": 1}
    assert ids.assign(family, ("a", "c")) == {"a": 0, "c": 2}  # not b's 1, freed just now
    assert ids.assign(family, ("a", "c", "d")) == {"a": 0, "c": 2, "d": 1}


def _moved_by_comparing(old: Layout, new: Layout) -> set[tuple[str, str]]:
    """What DataWriter.relayout finds moved by comparing every chain's place."""
    old_first = [program.slots[0] for program in old.programs]
    new_first = [program.slots[0] for program in new.programs]
    return {chain for chain, place in new.program_of.items()
            if (was := old.program_of.get(chain)) is not None
            and (was != place or old_first[was[0] - 1] != new_first[place[0] - 1])}


def test_a_layout_updated_in_place_names_every_chain_it_moved() -> None:
    """The Generator's incremental Layouts say which chains they placed anew (placed_since);
    relayout reads only those: they must be all the chains a full comparison finds moved."""
    stable, pool, slots = 3, 10, 4
    chance = random.Random(5)
    stable_ids, pool_ids = list(range(stable)), list(range(stable, stable + pool))
    members: Members = {index: tuple(range(slots)) for index in stable_ids}
    members.update({index: (0,) for index in pool_ids[: pool // 2]})
    restorer, compiler, analyzer, generator = Restorer(), Compiler(), ShapeAnalyzer(), Generator()
    ruleset = restorer.restore(restore_text(kube_shape(members, slots), jumps=True),
                               Ruleset(), RestoreOptions())
    plan = compiler.compile(ruleset)
    report = analyzer.analyze(plan)
    layout = generator.generate(plan, report).layout
    checked = moved = 0
    for _ in range(40):
        new = _change(members, stable_ids, pool_ids, slots, chance)
        ruleset = restorer.restore(sync_text(members, new, slots), ruleset,
                                   RestoreOptions(noflush=True, counters=True))
        members = new
        plan = compiler.compile(ruleset)
        changes, base, patches = compiler.last_changes, compiler.previous, compiler.last_patches
        report = analyzer.analyze(plan, changes, base, patches)
        old, layout = layout, generator.generate(plan, report, changes, base, patches).layout
        if layout.placed_since is None or layout.placed_since[0]() is not old:
            continue
        placed = {chain for chain in layout.placed_since[1]
                  if (was := old.program_of.get(chain)) is not None
                  and was != layout.program_of.get(chain)}
        assert placed == _moved_by_comparing(old, layout)
        checked += 1
        moved += len(placed)
    assert checked > 10 and moved > 0
