"""Every line of upstream's extension tests gives iptables' result through bpftables."""

from __future__ import annotations

import pytest

from tests.compat.upstream import COMPAT_DIR, Case, load_cases, run_case

pytestmark = pytest.mark.unit

CASES = load_cases() if COMPAT_DIR.is_dir() else []

# Where the kernel on this machine disagrees with the .t file, the machine wins (README).
MACHINE_RESULT = {("libxt_recent.t", 7): "OK"}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_upstream_line(case: Case) -> None:
    expected = MACHINE_RESULT.get((case.file, case.line), case.result)
    accepted, saved = run_case(case)
    if expected == "FAIL":
        assert not accepted, f"accepted, saved as: {saved}"
        return
    assert accepted, "rejected"
    if expected == "OK" and (case.file, case.line) not in MACHINE_RESULT:
        assert saved == case.save
