"""Parse-and-print speed of a kube-proxy full restore (issue: foundation).

Measures, for a generated full sync of N services x E endpoints:
- cold: a fresh process parses and applies the whole restore (no line cache);
- warm: the same Restorer applies the same text again (every line already parsed once),
  as the agent does when kube-proxy resends unchanged lines;
- one_change: one rule line changed, restored over the rules committed before, as the agent
  does (that table is rebuilt from cached lines; its unchanged chains stay the same objects);
- print: canonical iptables-save text of the result.
Prints medians over --repeat runs, lines per second, and writes bench/results/parse_speed.json.

Usage: python -m bench.parse_speed [--services 10000] [--endpoints 5] [--repeat 5] [--instructions]
(--instructions: also the instructions a cold restore executes, under valgrind: the same every
run, where times on a shared machine vary by a third)
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.kube_gen import ClusterShape, restore_text
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from iptparse.printer import table_save_lines

COLD_SNIPPET = """
import sys, time
from iptparse.grammar.restore import Restorer, RestoreOptions
from iptparse.model import Ruleset
text = open(sys.argv[1]).read()
start = time.perf_counter()
if sys.argv[2:] != ["imports-only"]:
    Restorer().restore(text, Ruleset(), RestoreOptions())
print(time.perf_counter() - start)
"""


def cold_instructions(path: Path) -> int:
    """Instructions one cold restore executes (valgrind's callgrind; the same snippet with
    imports only subtracted): unlike time on a shared machine, the same every run."""
    counts = []
    for extra in (["imports-only"], []):
        done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                               sys.executable, "-c", COLD_SNIPPET, str(path), *extra],
                              check=True, capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        assert found is not None, done.stderr
        counts.append(int(found.group(1)))
    return counts[1] - counts[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="bench/results/parse_speed.json")
    parser.add_argument("--instructions", action="store_true",
                        help="also count a cold restore's instructions (valgrind; minutes)")
    args = parser.parse_args(argv)

    text = restore_text(ClusterShape(args.services, args.endpoints))
    lines = text.count("\n")
    path = Path(args.out).with_suffix(".rules.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)

    cold = []
    for _ in range(args.repeat):
        done = subprocess.run([sys.executable, "-c", COLD_SNIPPET, str(path)], check=True,
                              capture_output=True, text=True)
        cold.append(float(done.stdout))
    instructions = cold_instructions(path) if args.instructions else None
    restorer = Restorer()
    ruleset = restorer.restore(text, Ruleset(), RestoreOptions())
    warm, one_change, printing = [], [], []
    for attempt in range(args.repeat):
        changed = text.replace(" cluster IP\"", f" cluster IP {attempt}\"", 1)
        start = time.perf_counter()
        ruleset = restorer.restore(changed, ruleset, RestoreOptions())
        one_change.append(time.perf_counter() - start)
    restorer.restore(text, Ruleset(), RestoreOptions())
    for _ in range(args.repeat):
        start = time.perf_counter()
        ruleset = restorer.restore(text, Ruleset(), RestoreOptions())
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        for table in ruleset.tables.values():
            table_save_lines(table)
        printing.append(time.perf_counter() - start)
    path.unlink()

    result = {
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
        "services": args.services, "endpoints": args.endpoints, "lines": lines,
        "cold_s": {"min": min(cold), "median": statistics.median(cold), "max": max(cold)},
        "warm_s": {"min": min(warm), "median": statistics.median(warm), "max": max(warm)},
        "one_change_s": {"min": min(one_change), "median": statistics.median(one_change),
                         "max": max(one_change)},
        "print_s": {"min": min(printing), "median": statistics.median(printing),
                    "max": max(printing)},
    }
    if instructions is not None:
        result["cold_instructions"] = instructions
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for key in ("cold_s", "warm_s", "one_change_s", "print_s"):
        median = result[key]["median"]
        print(f"{key[:-2]:>10}: median {median:.3f} s  ({lines / median:,.0f} lines/s)  "
              f"min {result[key]['min']:.3f} max {result[key]['max']:.3f}")
    if instructions is not None:
        print(f"      cold: {instructions / 1e9:.2f} G instructions (callgrind)")
    print(f"{lines} lines, {args.services} services x {args.endpoints} endpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
