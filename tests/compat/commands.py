"""Upstream's ``.t`` lines through the commands, the way upstream's iptables-test.py runs them.

For each case: ``iptables -A CHAIN -t TABLE RULE`` (RULE split as a shell splits it); for a
``FAIL`` line it must fail; otherwise it must succeed, ``iptables-save -t TABLE`` must contain the
line ``-A CHAIN SAVE`` (for the lines whose saved form is checked), and ``iptables -D CHAIN -t
TABLE RULE`` must succeed. The chain is flushed afterwards whatever happened.

The only seam is the executor, ``(program, argv, stdin) -> Outcome``: in process
(:func:`memory_executor`), real iptables-legacy (:func:`legacy_executor`), or
``bpftables-multi`` and its agent (:func:`multi_executor`).

    .venv/bin/python -m tests.compat.commands            # in process, per file
    .venv/bin/python -m tests.compat.commands --oracle   # and iptables-legacy (root)
    .venv/bin/python -m tests.compat.commands --multi    # through bpftables-multi (root)
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shim.commands import MemoryHost, Outcome
from tests.compat.upstream import Case, expected_result, load_cases, saved_text_checked
from tests.netns.agents import BpftablesCommands, agent_namespace

Executor = Callable[[str, list[str], str], Outcome]


def case_passes(execute: Executor, case: Case) -> bool:
    """One case through ``execute``, as upstream's harness runs it."""
    words = shlex.split(case.rule)
    table = ["-t", case.table]
    added = execute("iptables", ["-A", case.chain, *table, *words], "")
    try:
        if expected_result(case) == "FAIL":
            return added.exit_code != 0
        if added.exit_code != 0:
            return False
        if saved_text_checked(case):
            saved = execute("iptables-save", table, "").stdout.splitlines()
            if f"-A {case.chain} {case.save}" not in saved:
                return False
        return execute("iptables", ["-D", case.chain, *table, *words], "").exit_code == 0
    finally:
        execute("iptables", [*table, "-F", case.chain], "")


def file_results(execute: Executor, cases: list[Case]) -> dict[str, list[bool]]:
    """file -> one result per test line (a line passes when it passes in all its chains)."""
    by_line: dict[tuple[str, int], bool] = {}
    for case in cases:
        key = (case.file, case.line)
        by_line[key] = case_passes(execute, case) and by_line.get(key, True)
    results: dict[str, list[bool]] = defaultdict(list)
    for (file, _), passed in sorted(by_line.items()):
        results[file].append(passed)
    return dict(results)


def memory_executor(lock_file: str) -> Executor:
    """:func:`shim.commands.run` on one MemoryHost; upstream's harness creates no ipsets."""
    host = MemoryHost(lock_file=lock_file, ipsets=frozenset())

    def execute(program: str, argv: list[str], stdin: str) -> Outcome:
        return host.execute(program, argv, stdin)

    return execute


def legacy_executor(netns: str, bin_dir: Path) -> Executor:
    """Real iptables-legacy in ``netns`` under the drop-in names (links in ``bin_dir``)."""
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '')}")

    def execute(program: str, argv: list[str], stdin: str) -> Outcome:
        done = subprocess.run(["ip", "netns", "exec", netns, program, *argv], input=stdin,
                              capture_output=True, text=True, env=env, timeout=30)
        return Outcome(done.stdout, done.stderr, done.returncode)

    return execute


@contextmanager
def legacy_namespace() -> Iterator[Executor]:
    """A throwaway namespace with iptables-legacy's commands, deleted afterwards."""
    netns = f"bpft-u{uuid.uuid4().hex[:9]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            bin_dir = Path(folder)
            for name in ("iptables", "iptables-save", "iptables-restore"):
                (bin_dir / name).symlink_to("/usr/sbin/xtables-legacy-multi")
            yield legacy_executor(netns, bin_dir)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def multi_executor(commands: BpftablesCommands) -> Executor:
    """bpftables-multi in the namespace of ``commands`` (its agent serves every call)."""

    def execute(program: str, argv: list[str], stdin: str) -> Outcome:
        done = commands.run([program, *argv], stdin=stdin)
        return Outcome(done.out, done.err, done.code)

    return execute


def format_report(ours: dict[str, list[bool]], real: dict[str, list[bool]] | None) -> str:
    lines = [f"{'file':<24} {'commands':>10} {'iptables-legacy':>16}"]
    totals = [0, 0, 0]
    for file, results in ours.items():
        real_text = f"{sum(real[file])}/{len(real[file])}" if real else "-"
        lines.append(f"{file:<24} {sum(results):>6}/{len(results):<3} {real_text:>16}")
        totals[0] += sum(results)
        totals[1] += len(results)
        totals[2] += sum(real[file]) if real else 0
    real_total = f"{totals[2]}/{totals[1]}" if real else "-"
    lines.append(f"{'total':<24} {totals[0]:>6}/{totals[1]:<3} {real_total:>16}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", action="store_true", help="also run real iptables-legacy")
    parser.add_argument("--multi", action="store_true",
                        help="through bpftables-multi and an agent instead of in process (root)")
    parser.add_argument("--datapath", action="store_true",
                        help="with --multi: the agent enforces each rule in eBPF (slow)")
    args = parser.parse_args(argv)
    cases = load_cases()
    if args.multi:
        env = {} if args.datapath else {"BPFTABLES_DATAPATH": "off"}
        with agent_namespace(**env) as commands:
            ours = file_results(multi_executor(commands), cases)
    else:
        with tempfile.TemporaryDirectory() as folder:
            ours = file_results(memory_executor(str(Path(folder) / "xtables.lock")), cases)
    real = None
    if args.oracle:
        with legacy_namespace() as execute:
            real = file_results(execute, cases)
    print(format_report(ours, real))
    return 0 if all(all(results) for results in ours.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
