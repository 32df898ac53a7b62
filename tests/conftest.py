"""Shared fixtures: throwaway network namespaces that are always removed, and the oracle."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.oracle import LegacyIptables


def _can_make_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which(
        "iptables-legacy-restore") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _can_make_netns():
        return
    skip = pytest.mark.skip(reason="needs root, iproute2 and iptables-legacy")
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def netns() -> Iterator[str]:
    """A uniquely named, empty network namespace, deleted afterwards whatever happens."""
    name = f"bpft-{uuid.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="session")
def oracle_session() -> Iterator[LegacyIptables]:
    """One namespace for the whole session, for tests that reset it themselves (fast)."""
    name = f"bpft-s{uuid.uuid4().hex[:9]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield LegacyIptables(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def oracle(netns: str) -> LegacyIptables:
    return LegacyIptables(netns)


def _hypothesis_profile() -> None:
    """Hypothesis keeps its example database in the repo's ignored .hypothesis/ folder."""
    from pathlib import Path

    from hypothesis import settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    root = Path(__file__).resolve().parents[1]
    settings.register_profile(
        "bpftables", database=DirectoryBasedExampleDatabase(str(root / ".hypothesis" / "examples"))
    )
    settings.load_profile("bpftables")


_hypothesis_profile()
