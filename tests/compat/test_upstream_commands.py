"""Upstream's test lines through the commands (``iptables -A``, ``iptables-save``, ``-D``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shim.commands import Outcome
from tests.compat.commands import (
    case_passes,
    file_results,
    format_report,
    legacy_namespace,
    memory_executor,
    multi_executor,
)
from tests.compat.upstream import COMPAT_DIR, Case, load_cases
from tests.netns.agents import agent_namespace

CASES = load_cases() if COMPAT_DIR.is_dir() else []


@pytest.mark.unit
def test_every_upstream_line_passes_through_the_commands(tmp_path: Path) -> None:
    results = file_results(memory_executor(str(tmp_path / "xtables.lock")), CASES)
    report = format_report(results, None)
    failing = [file for file, passed in results.items() if not all(passed)]
    assert failing == [], report


@pytest.mark.unit
def test_the_harness_runs_add_save_delete_flush() -> None:
    calls: list[tuple[str, list[str]]] = []

    def execute(program: str, argv: list[str], stdin: str) -> Outcome:
        calls.append((program, argv))
        if program == "iptables-save":
            return Outcome("*nat\n-A PREROUTING -p tcp -j ACCEPT\nCOMMIT\n", "", 0)
        return Outcome("", "", 0)

    case = Case("x.t", 1, "nat", "PREROUTING", "-p tcp -j ACCEPT", "-p tcp -j ACCEPT", "OK")
    assert case_passes(execute, case)
    assert calls == [
        ("iptables", ["-A", "PREROUTING", "-t", "nat", "-p", "tcp", "-j", "ACCEPT"]),
        ("iptables-save", ["-t", "nat"]),
        ("iptables", ["-D", "PREROUTING", "-t", "nat", "-p", "tcp", "-j", "ACCEPT"]),
        ("iptables", ["-t", "nat", "-F", "PREROUTING"]),
    ]


@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("BPFTABLES_COMPAT_ORACLE"),
                    reason="~25 s; set BPFTABLES_COMPAT_ORACLE=1 (test_upstream_lines_vs_legacy "
                           "already holds the expectations to iptables-legacy)")
def test_real_iptables_gives_the_same_per_file_results(tmp_path: Path) -> None:
    ours = file_results(memory_executor(str(tmp_path / "xtables.lock")), CASES)
    with legacy_namespace() as execute:
        real = file_results(execute, CASES)
    assert ours == real, format_report(ours, real)


@pytest.mark.netns
def test_every_upstream_line_passes_through_bpftables_multi() -> None:
    """The drop-in program and its agent (rule set only: most lines are not enforceable, and
    compiling each would take minutes): every line as iptables-legacy runs it."""
    with agent_namespace(BPFTABLES_DATAPATH="off") as commands:
        results = file_results(multi_executor(commands), CASES)
    report = format_report(results, None)
    failing = [file for file, passed in results.items() if not all(passed)]
    assert failing == [], report
