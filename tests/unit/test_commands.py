"""shim.commands and shim.xtables_lock without the oracle: restarts, tables, lock, options."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from iptparse.errors import ParameterProblem
from iptparse.grammar.command import parse_wait_interval, scan_int
from iptparse.model import Counters, Table
from shim.commands import CounterRestart, MemoryHost, Outcome, permission_denied, run
from shim.xtables_lock import LockFailed, XtablesLock, lock_path

pytestmark = pytest.mark.unit


@pytest.fixture
def host(tmp_path: Path) -> MemoryHost:
    return MemoryHost(cwd=str(tmp_path), lock_file=str(tmp_path / "xtables.lock"))


def test_append_restarts_the_new_rules_and_every_policy(host: MemoryHost) -> None:
    host.execute("iptables", ["-A", "INPUT", "-j", "ACCEPT"])
    effect = run("iptables", ["-A", "INPUT", "-s", "198.18.0.1,198.18.0.2", "-j", "DROP"], "",
                 host)
    assert effect.ruleset is not None
    rules = [CounterRestart("filter", "INPUT", rule=2), CounterRestart("filter", "INPUT", rule=3)]
    policies = [CounterRestart("filter", name, policy_only=True)
                for name in ("INPUT", "FORWARD", "OUTPUT")]
    assert list(effect.restart) == rules + policies


def test_insert_and_replace_restart_their_positions(host: MemoryHost) -> None:
    host.execute("iptables", ["-A", "INPUT", "-j", "ACCEPT"])
    inserted = run("iptables", ["-I", "INPUT", "1", "-j", "DROP"], "", host)
    assert inserted.restart[0] == CounterRestart("filter", "INPUT", rule=1)
    replaced = run("iptables", ["-R", "INPUT", "1", "-j", "RETURN"], "", host)
    assert replaced.restart[0] == CounterRestart("filter", "INPUT", rule=1)


def test_zero_scopes(host: MemoryHost) -> None:
    host.execute("iptables", ["-N", "FOO"])
    host.execute("iptables", ["-A", "FOO", "-j", "RETURN"])
    assert run("iptables", ["-Z"], "", host).restart[0] == CounterRestart("filter")
    assert run("iptables", ["-Z", "FOO"], "", host).restart[0] == CounterRestart("filter", "FOO")
    assert run("iptables", ["-Z", "FOO", "1"], "", host).restart[0] == CounterRestart(
        "filter", "FOO", rule=1)


def test_reading_commands_change_nothing_once_the_table_exists(host: MemoryHost) -> None:
    first = run("iptables", ["-t", "nat", "-S"], "", host)
    assert first.ruleset is not None and list(first.ruleset.tables) == ["nat"]
    host.ruleset = first.ruleset
    for argv in (["-t", "nat", "-S"], ["-t", "nat", "-L", "-n"],
                 ["-t", "nat", "-C", "PREROUTING", "-j", "ACCEPT"]):
        effect = run("iptables", argv, "", host)
        assert effect.ruleset is None and effect.restart == ()


def test_save_prints_tables_newest_first(host: MemoryHost) -> None:
    for table in ("nat", "raw", "mangle"):
        host.execute("iptables", ["-t", table, "-S"])
    saved = host.execute("iptables-save", []).stdout
    assert [line for line in saved.splitlines() if line.startswith("*")] == [
        "*mangle", "*raw", "*nat"]


def test_full_restore_restarts_the_table_and_test_restarts_nothing(host: MemoryHost) -> None:
    text = "*filter\n:INPUT DROP [1:2]\n-A INPUT -j ACCEPT\nCOMMIT\n"
    assert run("iptables-restore", ["--test"], text, host).restart == ()
    effect = run("iptables-restore", ["-c"], text, host)
    assert effect.restart == (CounterRestart("filter"),)


def test_noflush_restore_restarts_declared_chains_new_rules_and_policies(
        host: MemoryHost) -> None:
    host.execute("iptables-restore", [], "*nat\n:KEEP - [0:0]\n:SVC - [0:0]\n"
                 "-A KEEP -j RETURN\n-A SVC -j RETURN\nCOMMIT\n")
    effect = run("iptables-restore", ["--noflush"],
                 "*nat\n:SVC - [0:0]\n-A SVC -j ACCEPT\n-A KEEP -j ACCEPT\nCOMMIT\n", host)
    policies = [CounterRestart("nat", name, policy_only=True)
                for name in ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")]
    assert list(effect.restart) == [*policies, CounterRestart("nat", "KEEP", rule=2),
                                    CounterRestart("nat", "SVC")]


def test_failed_restore_keeps_the_earlier_commit(host: MemoryHost) -> None:
    effect = run("iptables-restore", [], "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A NOPE\n"
                 "COMMIT\n", host)
    assert effect.outcome == Outcome("", "iptables-restore: line 5 failed\n", 1)
    assert effect.ruleset is not None
    assert len(effect.ruleset.tables["filter"].chains["INPUT"].rules) == 1
    assert effect.ruleset.tables["nat"].chains["PREROUTING"].rules == ()
    assert effect.restart == (CounterRestart("filter"),)


def test_restore_reads_a_file_relative_to_the_callers_directory(host: MemoryHost,
                                                                 tmp_path: Path) -> None:
    (tmp_path / "rules").write_text("*raw\n-A OUTPUT -j ACCEPT\nCOMMIT\n")
    assert host.execute("iptables-restore", ["rules"]) == Outcome("", "", 0)
    assert host.ruleset.tables["raw"].chains["OUTPUT"].rules


def test_restore_version_with_empty_stdin(host: MemoryHost) -> None:
    assert host.execute("iptables-restore", ["--version"]) == Outcome(
        "iptables-restore v1.8.9 (legacy)\n", "", 0)


class CountingHost(MemoryHost):
    """A host whose datapath counted 5 packets, 500 bytes for every rule of INPUT."""

    def counted(self, table: str) -> Table:
        shown = self.ruleset.table(table)
        chains = dict(shown.chains)
        chain = chains["INPUT"]
        rules = tuple(rule.with_counters(Counters(5, 500)) for rule in chain.rules)
        chains["INPUT"] = type(chain)(chain.name, chain.policy, rules, chain.counters)
        return shown.with_chains(chains)


def test_the_counters_shown_are_the_hosts(tmp_path: Path) -> None:
    host = CountingHost(lock_file=str(tmp_path / "lock"))
    host.execute("iptables", ["-A", "INPUT", "-j", "ACCEPT"])
    assert "[5:500] -A INPUT -j ACCEPT" in host.execute("iptables-save", ["-c"]).stdout
    assert "-A INPUT -c 5 500 -j ACCEPT" in host.execute("iptables", ["-S", "-v"]).stdout
    assert "    5   500 ACCEPT" in host.execute("iptables", ["-L", "-v"]).stdout


def test_unknown_program(host: MemoryHost) -> None:
    assert run("ip6tables", ["-S"], "", host).outcome.exit_code == 1


def test_permission_denied_without_a_lock_file_that_opens() -> None:
    assert permission_denied("iptables", ["-S"]) == Outcome(
        "", "Fatal: can't open lock file /run/xtables.lock: Permission denied\n", 4)
    assert permission_denied("iptables", ["-V"]).exit_code == 0


# --- the lock -------------------------------------------------------------------------------


def test_two_locks_conflict_and_a_bounded_wait_gives_up(tmp_path: Path) -> None:
    path = str(tmp_path / "xtables.lock")
    with XtablesLock(path) as first:
        assert first.acquire(None) == []
        second = XtablesLock(path)
        start = time.monotonic()
        with pytest.raises(LockFailed) as failed:
            second.acquire(1.0)
        assert 0.9 < time.monotonic() - start < 2.0
        assert failed.value.stderr == (
            f"Can't lock {path}: Resource temporarily unavailable\n"
            "Another app is currently holding the xtables lock. Stopped waiting after 1s.\n")
        assert failed.value.exit_code == 4
    with XtablesLock(path) as third:
        assert third.acquire(1.0) == []


def test_lock_file_that_cannot_be_opened(tmp_path: Path) -> None:
    path = str(tmp_path / "missing" / "xtables.lock")
    with pytest.raises(LockFailed) as failed:
        XtablesLock(path).acquire(None)
    assert failed.value.stderr == (
        f"Fatal: can't open lock file {path}: No such file or directory\n")


def test_lock_path_from_the_environment() -> None:
    assert lock_path(None) == "/run/xtables.lock"
    assert lock_path("") == "/run/xtables.lock"
    assert lock_path("/work/x.lock") == "/work/x.lock"


def test_scanf_numbers() -> None:
    assert [scan_int(text) for text in ("0x1", "5abc", "abc", "010", "-3", " 7", "08")] == [
        1, 5, None, 8, -3, 7, 0]
    assert parse_wait_interval("100000") == 100000
    with pytest.raises(ParameterProblem):
        parse_wait_interval("1000000")
