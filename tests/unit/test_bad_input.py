"""Bad input never hurts (issue 8 item 5): generated argv, restore files and extension options
through shim.commands.run in process.

For every example: no Python exception escapes; the exit code is one iptables uses; a failure
says so in iptables' words; and a failing command leaves the rule set as it was, except what
iptables itself keeps (the table it named exists; a restore keeps the tables it COMMITted
before the line that failed). CI runs a bounded number of examples; BPFTABLES_FUZZ_EXAMPLES=N
runs N per property.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from iptparse.model import Ruleset
from shim.commands import Effect, MemoryHost, run
from tests.fuzz_grammar import (
    BASE_RESTORE,
    FAILURE_FORMS,
    SAVE_ARGV,
    extension_words,
    fuzz_examples,
    iptables_argv,
    restore_argv,
    restore_text,
    table_texts,
)

pytestmark = pytest.mark.unit



def _settings(examples: int) -> settings:
    return settings(max_examples=fuzz_examples(examples), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("badinput")


@pytest.fixture(scope="module")
def base(folder: Path) -> Ruleset:
    host = MemoryHost(cwd=str(folder), lock_file=str(folder / "xtables.lock"))
    outcome = host.execute("iptables-restore", [], BASE_RESTORE)
    assert outcome.exit_code == 0, outcome.stderr
    return host.ruleset


def _host(folder: Path, ruleset: Ruleset) -> MemoryHost:
    return MemoryHost(ruleset=ruleset, cwd=str(folder), lock_file=str(folder / "xtables.lock"))


def _checked_run(program: str, argv: list[str], stdin: str, host: MemoryHost) -> Effect:
    """run(), and what holds for every outcome whatever the input."""
    effect = run(program, argv, stdin, host)  # an exception here is the bug the test looks for
    outcome = effect.outcome
    assert outcome.exit_code in (0, 1, 2, 3, 4), outcome
    assert "Traceback" not in outcome.stderr
    if outcome.exit_code != 0:
        assert FAILURE_FORMS.search(outcome.stderr), outcome.stderr
        assert effect.restart == () or effect.ruleset is not None
    return effect


def check_iptables(argv: list[str], folder: Path, before: Ruleset) -> Effect:
    effect = _checked_run("iptables", argv, "", _host(folder, before))
    if effect.outcome.exit_code != 0:
        after = effect.ruleset or before
        names = set(before.tables) | set(after.tables)
        assert table_texts(after, names) == table_texts(before, names), argv
        for name in after.tables:  # a table it created is empty
            assert name in before.tables or not any(
                chain.rules for chain in after.tables[name].chains.values())
    return effect


_FAILED_AT = re.compile(r"line:? (\d+)")


def check_restore(argv: list[str], text: str, folder: Path, before: Ruleset) -> Effect:
    effect = _checked_run("iptables-restore", argv, text, _host(folder, before))
    if effect.outcome.exit_code == 0:
        return effect
    after = effect.ruleset or before
    found = _FAILED_AT.search(effect.outcome.stderr)
    if found is None or found.group(1) == "0":  # refused before reading a line (options)
        assert table_texts(after, set(before.tables)) == table_texts(before), (argv, text)
        return effect
    lines = text.splitlines(keepends=True)
    stop = int(found.group(1))
    # What iptables-restore keeps of a failed run: the tables COMMITted before that line.
    # Restoring exactly those lines must succeed and give the same tables.
    prefix_end = 0
    for index, line in enumerate(lines[:stop - 1]):
        if line.rstrip("\n") == "COMMIT":
            prefix_end = index + 1
    prefix = "".join(lines[:prefix_end])
    kept = run("iptables-restore", argv, prefix, _host(folder, before))
    assert kept.outcome.exit_code == 0, (prefix, kept.outcome)
    kept_ruleset = kept.ruleset or before
    names = set(before.tables) | set(after.tables) | set(kept_ruleset.tables)
    assert table_texts(after, names) == table_texts(kept_ruleset, names), (argv, text)
    return effect


# --- the properties -------------------------------------------------------------------------


@_settings(300)
@given(argvs=st.lists(iptables_argv(), min_size=1, max_size=3))
@example(argvs=[["-A", "INPUT", "-m", "comment", "--comment", "x" * 300]])
def test_iptables_command_lines(argvs: list[list[str]], folder: Path, base: Ruleset) -> None:
    ruleset = base
    for argv in argvs:
        effect = check_iptables(argv, folder, ruleset)
        if effect.ruleset is not None:
            ruleset = effect.ruleset


@_settings(300)
@given(words=extension_words(), chain=st.sampled_from(["INPUT", "PREROUTING", "FOO",
                                                       "POSTROUTING", "OUTPUT"]),
       table=st.sampled_from(["filter", "nat", "mangle", "raw"]),
       action=st.sampled_from(["-A", "-C", "-D", "-I"]))
@example(words=["-m", "physdev", "!", "--physdev-in", "a comment"], chain="INPUT",
         table="filter", action="-A")
def test_extension_options(words: list[str], chain: str, table: str, action: str,
                           folder: Path, base: Ruleset) -> None:
    argv = ["-t", table, action, chain, *words]
    effect = check_iptables(argv, folder, base)
    # An interface name with a space is accepted with a warning and saved unquoted, so it does
    # not reload: iptables-legacy 1.8.9 fails the same way ("Bad argument `comment'", checked
    # with the oracle), so that round trip is not a property.
    if (effect.outcome.exit_code == 0 and effect.ruleset is not None
            and "weird character in interface" not in effect.outcome.stderr):
        # what was accepted prints and reloads to the same rules
        saved = run("iptables-save", ["-t", table], "", _host(folder, effect.ruleset))
        assert saved.outcome.exit_code == 0
        reloaded = run("iptables-restore", ["-T", table], saved.outcome.stdout,
                       _host(folder, Ruleset()))
        assert reloaded.outcome.exit_code == 0, (argv, saved.outcome.stdout, reloaded.outcome)
        assert reloaded.ruleset is not None
        assert table_texts(reloaded.ruleset, {table})[table] == \
            table_texts(effect.ruleset, {table})[table]


@_settings(300)
@given(argv=restore_argv(), text=restore_text())
@example(argv=[], text="*filter\n-A INPUT -m comment --comment \"unterminated\nCOMMIT\n")
@example(argv=["--noflush"], text="*nat\n-A KUBE-SVC-X -j DNAT --to-destination \x00\nCOMMIT\n")
def test_restore_files(argv: list[str], text: str, folder: Path, base: Ruleset) -> None:
    check_restore(argv, text, folder, base)


@_settings(40)
@given(argv=SAVE_ARGV)
def test_save_options(argv: list[str], folder: Path, base: Ruleset) -> None:
    effect = _checked_run("iptables-save", argv, "", _host(folder, base))
    assert effect.ruleset is None or set(effect.ruleset.tables) >= set(base.tables)


def test_test_mode_still_wants_commit(folder: Path, base: Ruleset) -> None:
    """Found by the differential sample: ``--test`` without COMMIT is an error in
    iptables-legacy-restore 1.8.9 too (exit 1, "COMMIT expected at line 2")."""
    effect = run("iptables-restore", ["--test"], "*filter", _host(folder, base))
    assert (effect.outcome.exit_code, effect.outcome.stderr) == (
        1, "iptables-restore: COMMIT expected at line 2\n")


@pytest.mark.parametrize("text", [
    "*filter",
    "*filter\n-A INPUT -j ACCEPT\n",
    "bogus\n*nat\nCOMMIT\n", "COMMIT\n", "*filter\nbogus\n", "*foo\n*nat\nCOMMIT\n",
    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n*nat\n-A INPUT -j ACCEPT\nCOMMIT\n",
])
def test_restore_table_option_skips_like_legacy(text: str, folder: Path, base: Ruleset) -> None:
    """iptables-legacy-restore -T nat exits 0 on each of these (checked in a namespace): a
    skipped table never enters table mode, so no COMMIT is expected and the next ``*`` line
    starts a table."""
    effect = run("iptables-restore", ["-T", "nat"], text, _host(folder, base))
    assert effect.outcome.exit_code == 0, effect.outcome
