"""The expectations bpftables is held to are real iptables-legacy's on this machine.

Runs every upstream test line through iptables-legacy in a throwaway namespace the way upstream's
harness does (``-A`` through a shell, ``iptables-save``, flush) and checks it gives the result
:func:`~tests.compat.upstream.expected_result` says, so MACHINE_RESULT stays true.
"""

from __future__ import annotations

import pytest

from tests.compat.report import oracle_passes
from tests.compat.upstream import COMPAT_DIR, load_cases

pytestmark = pytest.mark.netns


def test_real_iptables_gives_every_expected_result(netns: str) -> None:
    cases = load_cases() if COMPAT_DIR.is_dir() else []
    failing = [case.id for case in cases if not oracle_passes(netns, case)]
    assert failing == []
