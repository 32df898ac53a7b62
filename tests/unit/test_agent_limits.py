"""The datapath limits an agent's environment overrides (BPFTABLES_CT_MAX_ENTRIES)."""

from __future__ import annotations

import pytest

from shim.agent import datapath_limits

pytestmark = pytest.mark.unit


def test_connection_table_size_from_the_environment() -> None:
    assert datapath_limits({}) == {}
    assert datapath_limits({"BPFTABLES_CT_MAX_ENTRIES": "1024"}) == {"CT_MAX_ENTRIES": 1024}
    for bad in ("0", "-5", "lots"):
        assert datapath_limits({"BPFTABLES_CT_MAX_ENTRIES": bad}) == {}
