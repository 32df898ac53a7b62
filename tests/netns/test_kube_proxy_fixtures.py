"""kube-proxy's own restore inputs print the same through bpftables and iptables-legacy.

Fixtures 04..09 are replayed in kube-proxy's order as ``--noflush`` restores on both sides.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iptparse.grammar.restore import RestoreError, RestoreOptions, Restorer
from iptparse.model import Ruleset
from iptparse.printer import table_save_lines
from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kube-proxy"


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def _tables(text: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"^\*(\w+)", text, re.M)))


def _ours(ruleset: Ruleset, table: str) -> str:
    return "".join(line + "\n" for line in table_save_lines(ruleset.table(table)))


def _create_nfacct(oracle: LegacyIptables, text: str) -> None:
    for name in set(re.findall(r"--nfacct-name (\S+)", text)):
        oracle.nfacct_add(name)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
def test_overall_mixed_fixture(oracle: LegacyIptables) -> None:
    text = _fixture("01-overall-mixed.rules")
    _create_nfacct(oracle, text)
    real = oracle.restore(text, "--noflush", "--counters")
    assert real.code == 0, real.err
    ours = Restorer().restore(text, Ruleset(), RestoreOptions(noflush=True, counters=True))
    for table in _tables(text):
        assert _ours(ours, table) == oracle.save(table)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
def test_repeated_syncs_replay(oracle: LegacyIptables) -> None:
    """04..09 in order; 08 refers to a chain of a sync the fixtures leave out, so it fails
    (as it did for kube-proxy, which then resyncs in full: 09) the same way on both sides."""
    restorer = Restorer()
    ours = Ruleset()
    names = sorted(path.name for path in FIXTURES.glob("0[4-9]-*.rules"))
    assert names
    for name in names:
        text = _fixture(name)
        _create_nfacct(oracle, text)
        real = oracle.restore(text, "--noflush", "--counters")
        try:
            ours = restorer.restore(text, ours, RestoreOptions(noflush=True, counters=True))
            outcome = (0, "")
        except RestoreError as error:
            ours = error.ruleset
            outcome = (error.exit_code, error.text)
        assert outcome == (real.code, real.err), name
        for table in _tables(text):
            assert _ours(ours, table) == oracle.save(table), name
