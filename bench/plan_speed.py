"""Compile and diff speed (issue: the compiler): Ruleset -> Plan for N kube-proxy services, and
the Plan diff when one service is added, as kube-proxy does. Goals: under 1 s and under 10 ms
at 10,000 services. Prints medians and writes bench/results/plan_speed.json.

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

from bench.kube_gen import ClusterShape, restore_text
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import compile_ruleset
from translator.diff import diff_plans
from translator.shape import analyze


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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="bench/results/plan_speed.json")
    args = parser.parse_args(argv)
    rulesets = [Restorer().restore(restore_text(ClusterShape(count, args.endpoints), jumps=True),
                                   Ruleset(), RestoreOptions())
                for count in (args.services, args.services + 1)]
    compile_times, plan = _timed(lambda: compile_ruleset(rulesets[0]), args.repeat)
    analyze_times, report = _timed(lambda: analyze(plan), args.repeat)
    grown = compile_ruleset(rulesets[1])
    grown_report = analyze(grown)
    diff_times, diff = _timed(lambda: diff_plans(plan, report, grown, grown_report), args.repeat)
    result = {
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
        "services": args.services, "endpoints": args.endpoints,
        "compile_s": _summary(compile_times), "analyze_s": _summary(analyze_times),
        "diff_one_service_s": _summary(diff_times),
        "diff_operations": len(diff.operations), "shape_changed": diff.shape_changed,
        "shape_hash": report.shape_hash,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for key, goal in (("compile_s", "goal 1 s"), ("analyze_s", ""),
                      ("diff_one_service_s", "goal 0.01 s")):
        print(f"{key:>20}: median {result[key]['median']:.3f} s  (min {result[key]['min']:.3f},"
              f" max {result[key]['max']:.3f}) {goal}")
    print(f"{args.services} services x {args.endpoints} endpoints; one more service = "
          f"{len(diff.operations)} map operations, shape changed: {diff.shape_changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
