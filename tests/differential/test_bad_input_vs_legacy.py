"""Bad input, differentially (issue 8 item 5): a sample of the generated command lines and
restore files (tests/fuzz_grammar.py) through iptables-legacy and through shim.commands.run on
the same rule set: the same exit code and the same rule set afterwards.

Bounded in CI; BPFTABLES_FUZZ_EXAMPLES (divided by 20: each example costs a few iptables-legacy
runs) for a longer run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

from shim.commands import MemoryHost, run
from tests.fuzz_grammar import BASE_RESTORE, iptables_argv, restore_argv, restore_text
from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns

_EXAMPLES = max(30, int(os.environ.get("BPFTABLES_FUZZ_EXAMPLES", "600")) // 20)
_SETTINGS = settings(max_examples=_EXAMPLES, deadline=None, database=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])


def _fresh(oracle: LegacyIptables, folder: Path) -> MemoryHost:
    oracle.reset()
    assert oracle.restore(BASE_RESTORE).code == 0
    host = MemoryHost(cwd=str(folder), lock_file=str(folder / "xtables.lock"))
    assert host.execute("iptables-restore", [], BASE_RESTORE).exit_code == 0
    return host


# the oracle's reset makes every table exist; the base rule set fills these two
_COMPARED = ("filter", "nat")


def _ours_saved(host: MemoryHost) -> str:
    return "".join(line + "\n" for table in _COMPARED for line in run(
        "iptables-save", ["-t", table], "", host).outcome.stdout.splitlines()
        if not line.startswith("#"))


def _theirs_saved(oracle: LegacyIptables) -> str:
    return "".join(oracle.save(table) for table in _COMPARED)


def _printable(argv: list[str]) -> bool:
    """What a shell can hand iptables-legacy through ip netns exec (no NUL, valid UTF-8)."""
    return all("\x00" not in word for word in argv)


@_SETTINGS
@given(argv=iptables_argv())
def test_command_line_exit_codes(argv: list[str], oracle_session: LegacyIptables,
                                 tmp_path: Path) -> None:
    if not _printable(argv) or any(len(word) > 1000 for word in argv):
        return
    host = _fresh(oracle_session, tmp_path)
    theirs = oracle_session.iptables(*argv)
    ours = host.execute("iptables", argv)
    assert ours.exit_code == theirs.code, (argv, ours, theirs)
    assert _ours_saved(host) == _theirs_saved(oracle_session), argv


@_SETTINGS
@given(argv=restore_argv(), text=restore_text())
@example(argv=["--test"], text="*filter")  # found here: --test skipped "COMMIT expected"
def test_restore_exit_codes(argv: list[str], text: str, oracle_session: LegacyIptables,
                            tmp_path: Path) -> None:
    if "\x00" in text or any(word.startswith(("-w", "--wait", "-W")) for word in argv):
        return
    host = _fresh(oracle_session, tmp_path)
    theirs = oracle_session.restore(text, *argv)
    ours = host.execute("iptables-restore", argv, text)
    assert ours.exit_code == theirs.code, (argv, text, ours, theirs)
    assert _ours_saved(host) == _theirs_saved(oracle_session), (argv, text)
