"""Benchmarks run end to end at their smallest and write their results: the side-by-side one
(bench/side_by_side.py: 10 services, 1 s of traffic, modes none, iptables-legacy and
bpftables) and the agent's commit speed (bench/sync_speed.py). Timings are never asserted;
only that each figure exists and traffic flowed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (setup_bench.sh)")
def test_quickest_side_by_side_run(tmp_path: Path) -> None:
    out = tmp_path / "latest"
    done = subprocess.run(
        [sys.executable, "-m", "bench.side_by_side", "--modes", "none,iptables-legacy,bpftables",
         "--services", "10", "--repeat", "1", "--seconds", "1", "--scenarios", "new_flow,memory",
         "--out", str(out), "--no-plots"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.with_suffix(".json").read_text())
    assert results["errors"] == []
    for mode in ("none", "iptables-legacy", "bpftables"):
        for side in ("first", "last"):
            figure = results["new_flow_pps"][mode]["10"][side]
            assert figure["min"] <= figure["median"] <= figure["max"]
            assert figure["median"] > 0, (mode, side)  # packets went through the service
    for mode in ("iptables-legacy", "bpftables"):
        assert set(results["update_s"][mode]["10"]) == {"full", "add_one", "single_cmd"}
    assert results["memory"]["10"]["map_bytes"] > 0
    assert "bpftables" in out.with_suffix(".md").read_text()


def test_sync_speed_runs(tmp_path: Path) -> None:
    """bench/sync_speed.py at 20 services: the agent commits a partial sync and an -A in a
    namespace of its own, which is gone afterwards."""
    out = tmp_path / "sync.json"
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    done = subprocess.run([sys.executable, "-m", "bench.sync_speed", "--services", "20",
                           "--runs", "2", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["services"] == 20
    for figure in ("add_one_service_s", "iptables_append_s"):
        assert 0 < result[figure]["min"] <= result[figure]["median"] <= result[figure]["max"]
    assert subprocess.run(["ip", "netns", "list"], capture_output=True,
                          text=True).stdout == before
