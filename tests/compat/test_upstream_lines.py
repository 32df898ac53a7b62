"""Every line of upstream's extension tests gives iptables' result through bpftables."""

from __future__ import annotations

import pytest

from tests.compat.upstream import (
    COMPAT_DIR,
    Case,
    expected_result,
    load_cases,
    run_case,
    saved_text_checked,
)

pytestmark = pytest.mark.unit

CASES = load_cases() if COMPAT_DIR.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_upstream_line(case: Case) -> None:
    accepted, saved = run_case(case)
    if expected_result(case) == "FAIL":
        assert not accepted, f"accepted, saved as: {saved}"
        return
    assert accepted, "rejected"
    if saved_text_checked(case):
        assert saved == case.save
