"""Compile and diff speed (issue: the compiler): Ruleset -> Plan for N kube-proxy services from
scratch, and, as kube-proxy adds one service with a partial ``--noflush`` restore, the steps
of the agent's apply as it runs them (shim/namespace.py): the recompile, the Shape analysis,
the datapath's generate (layout and map sizes, no C) and the Plan diff of that change, each
told what changed (Compiler.last_changes, previous, last_patches). Goals: under 1 s from
scratch; the four steps of one more service under 50 ms (issue 7: adding a service end to end
within 20 ms) at 10,000 services. Prints medians and writes bench/results/plan_speed.json.

Usage: python -m bench.plan_speed [--services 10000] [--endpoints 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name
from bpf.codegen import Generator
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import Compiler
from translator.diff import PlanDiffer
from translator.shape import ShapeAnalyzer


def _timed(function, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def _summary(times: list[float]) -> dict[str, float]:
    return {"min": min(times), "median": statistics.median(times), "max": max(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--node-ports", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="bench/results/plan_speed.json")
    args = parser.parse_args(argv)

    def shape(count: int) -> ClusterShape:
        return ClusterShape(count, args.endpoints, node_ports=args.node_ports)

    restorer = Restorer()
    ruleset = restorer.restore(restore_text(shape(args.services), jumps=True), Ruleset(),
                               RestoreOptions())
    compile_times, plan = _timed(lambda: Compiler().compile(ruleset), args.repeat)
    analyze_times, report = _timed(lambda: ShapeAnalyzer().analyze(plan), args.repeat)
    # kube-proxy adds services one by one: a partial --noflush restore per service, then the
    # agent recompiles what changed, analyzes it and diffs it against what is loaded
    compiler, analyzer, generator, differ = Compiler(), ShapeAnalyzer(), Generator(), PlanDiffer()
    plan = compiler.compile(ruleset)
    report = analyzer.analyze(plan)
    generator.generate(plan, report)
    differ.diff(plan, report, plan, report, ([], []))  # nothing to do: the caches are warm
    steps: dict[str, list[float]] = {"compile": [], "analyze": [], "generate": [], "diff": [],
                                     "total": []}
    for added in range(args.repeat):
        count = args.services + added + 1
        text = partial_sync_text(shape(count), {service_name(count - 1)})
        ruleset = restorer.restore(text, ruleset, RestoreOptions(noflush=True, counters=True))
        start = time.perf_counter()
        grown = compiler.compile(ruleset)
        changes, base, patches = compiler.last_changes, compiler.previous, compiler.last_patches
        compiled = time.perf_counter()
        grown_report = analyzer.analyze(grown, changes, base, patches)
        analyzed = time.perf_counter()
        generator.generate(grown, grown_report, changes, base, patches)
        generated = time.perf_counter()
        diff = differ.diff(plan, report, grown, grown_report, changes, patches)
        diffed = time.perf_counter()
        for step, took in (("compile", compiled - start), ("analyze", analyzed - compiled),
                           ("generate", generated - analyzed), ("diff", diffed - generated),
                           ("total", diffed - start)):
            steps[step].append(took)
        plan, report = grown, grown_report
    result = {
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
        "services": args.services, "endpoints": args.endpoints, "node_ports": args.node_ports,
        "compile_s": _summary(compile_times), "analyze_s": _summary(analyze_times),
        "add_one_compile_s": _summary(steps["compile"]),
        "add_one_analyze_s": _summary(steps["analyze"]),
        "add_one_generate_s": _summary(steps["generate"]),
        "diff_one_service_s": _summary(steps["diff"]),
        "add_one_total_s": _summary(steps["total"]),
        "diff_operations": len(diff.operations), "shape_changed": diff.shape_changed,
        "shape_hash": report.shape_hash,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for key, goal in (("compile_s", "goal 1 s"), ("analyze_s", ""),
                      ("add_one_compile_s", ""), ("add_one_analyze_s", ""),
                      ("add_one_generate_s", ""), ("diff_one_service_s", "goal 0.01 s"),
                      ("add_one_total_s", "goal 0.05 s")):
        print(f"{key:>20}: median {result[key]['median']:.4f} s  (min {result[key]['min']:.4f},"
              f" max {result[key]['max']:.4f}) {goal}")
    print(f"{args.services} services x {args.endpoints} endpoints ({args.node_ports} NodePort); "
          f"one more service = {len(diff.operations)} map operations, shape changed: "
          f"{diff.shape_changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
