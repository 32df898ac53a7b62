"""The datapath tests need root (BPF) and bcc; the harness is compiled once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.datapath.harness import Harness


def _bcc_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to load BPF programs"
    try:
        import bcc  # noqa: F401
    except ImportError:
        return "needs bcc (python3-bpfcc)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bpf: loads BPF programs (root, bcc)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _bcc_usable()
    if reason is None:
        return
    for item in items:
        if "bpf" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def compiled_harness() -> Harness:
    """bpf/harness.c compiled and loaded once (bcc: several seconds)."""
    return Harness()


@pytest.fixture
def harness(compiled_harness: Harness) -> Iterator[Harness]:
    """The session's harness with empty maps, no rules, the clock at its start."""
    compiled_harness.reset()
    yield compiled_harness
    compiled_harness.reset()
