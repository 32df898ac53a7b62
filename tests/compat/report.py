"""Per-file counts of upstream's test lines: bpftables next to real iptables-legacy 1.8.9.

    .venv/bin/python -m tests.compat.report            # bpftables only
    .venv/bin/python -m tests.compat.report --oracle   # and real iptables-legacy (root)

A test line passes when every chain it runs in gives the expected result (README of the data);
real iptables runs in a throwaway network namespace, deleted afterwards.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from collections import defaultdict

from tests.compat.upstream import (
    Case,
    expected_result,
    load_cases,
    run_case,
    saved_text_checked,
)


def bpftables_passes(case: Case) -> bool:
    accepted, saved = run_case(case)
    if expected_result(case) == "FAIL":
        return not accepted
    return accepted and (not saved_text_checked(case) or saved == case.save)


def oracle_passes(netns: str, case: Case) -> bool:
    """The upstream harness's steps with iptables-legacy: -A through a shell, save, -D."""
    def shell(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", netns, "sh", "-c", command],
                              capture_output=True, text=True, timeout=30)

    prefix = f"iptables-legacy -t {case.table}"
    added = shell(f"{prefix} -A {case.chain} {case.rule}")
    try:
        if expected_result(case) == "FAIL":
            return added.returncode != 0
        if added.returncode != 0:
            return False
        if not saved_text_checked(case):
            return True
        saved = shell(f"iptables-legacy-save -t {case.table}").stdout.splitlines()
        return f"-A {case.chain} {case.save}" in saved
    finally:
        shell(f"{prefix} -F {case.chain}")


def line_results(cases: list[Case], passes) -> dict[str, list[bool]]:
    """file -> one result per test line (a line passes when all its chains pass)."""
    by_line: dict[tuple[str, int], bool] = {}
    for case in cases:
        key = (case.file, case.line)
        by_line[key] = by_line.get(key, True) and passes(case)
    results: dict[str, list[bool]] = defaultdict(list)
    for (file, _), ok in sorted(by_line.items()):
        results[file].append(ok)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", action="store_true", help="also run real iptables-legacy")
    args = parser.parse_args(argv)
    cases = load_cases()
    ours = line_results(cases, bpftables_passes)
    real: dict[str, list[bool]] = {}
    if args.oracle:
        netns = f"bpft-c{uuid.uuid4().hex[:9]}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        try:
            real = line_results(cases, lambda case: oracle_passes(netns, case))
        finally:
            subprocess.run(["ip", "netns", "del", netns], check=False)
    print(f"{'file':<24} {'bpftables':>10} {'iptables-legacy':>16}")
    totals = [0, 0, 0]
    for file, results in ours.items():
        real_text = f"{sum(real[file])}/{len(real[file])}" if real else "-"
        print(f"{file:<24} {sum(results):>6}/{len(results):<3} {real_text:>16}")
        totals[0] += sum(results)
        totals[1] += len(results)
        totals[2] += sum(real[file]) if real else 0
    real_total = f"{totals[2]}/{totals[1]}" if real else "-"
    print(f"{'total':<24} {totals[0]:>6}/{totals[1]:<3} {real_total:>16}")
    return 0 if totals[0] == totals[1] else 1


if __name__ == "__main__":
    sys.exit(main())
