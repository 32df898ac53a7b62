"""The verifier accepts the generated programs at the sizes bpftables promises.

- kube-proxy's rule set: its code does not change with the number of services (the Shape is
  the same, tests/unit/test_translate.py), only the map sizes do; so the 1,000-service programs
  are loaded with the map sizes of 50,000 services. ``BPFTABLES_SCALE=1`` also generates and
  loads the real 50,000-service rule set.
- a built-in chain of 2,000 rules none of which can join a lookup: 2,000 RULE blocks in one
  program.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from bench.kube_gen import ClusterShape, restore_text
from bpf.bpffs import ensure_bpffs, remove_tree
from bpf.codegen import generate
from bpf.enforcer import ENTRY_PROGRAMS, datapath_source
from bpf.loader import ProgKind, compile_datapath
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import compile_ruleset
from translator.shape import analyze

pytestmark = pytest.mark.bpf

# what generate() sizes the maps to for 50,000 services x 5 endpoints (500 NodePort)
SIZES_50K = {"RULE_SLOTS": 1 << 21, "LOOKUP_MAX_ENTRIES": 1 << 17}


@pytest.fixture
def pins() -> Iterator[Path]:
    root = ensure_bpffs()
    folder = root / f"verifier-test-{os.getpid()}"
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        remove_tree(folder)


def _load(text: str, pins: Path, sizes: dict[str, int] | None = None) -> int:
    """Compile and load every program; the number of chain programs."""
    plan = compile_ruleset(Restorer().restore(text, Ruleset(), RestoreOptions()))
    report = analyze(plan)
    generated = generate(plan, report)
    if sizes:
        generated = replace(generated, defines=MappingProxyType({**generated.defines, **sizes}))
    datapath = compile_datapath(datapath_source(generated), pins,
                                functions={name: ProgKind.TC for name in ENTRY_PROGRAMS},
                                tail_calls={"progs": list(generated.tail_calls)},
                                label=report.shape_hash)
    try:
        assert set(datapath.programs) >= set(generated.tail_calls) | set(ENTRY_PROGRAMS)
    finally:
        datapath.close()
    return len(generated.layout.programs)


def test_kube_proxy_programs_load_with_the_maps_of_50000_services(pins: Path) -> None:
    text = restore_text(ClusterShape(1000, 5, node_ports=500), jumps=True)
    assert _load(text, pins, SIZES_50K) > 10


@pytest.mark.skipif(not os.environ.get("BPFTABLES_SCALE"), reason="BPFTABLES_SCALE=1: slow")
def test_kube_proxy_programs_load_at_50000_services(pins: Path) -> None:
    text = restore_text(ClusterShape(50000, 5, node_ports=500), jumps=True)
    assert _load(text, pins) > 10


def test_a_chain_of_2000_rule_blocks_loads(pins: Path) -> None:
    lines = ["*filter"]
    for number in range(2000):
        # negated addresses and port ranges: nothing a lookup can key on
        lines.append(f"-A FORWARD ! -s 198.18.{number // 250}.{number % 250}/32 -p tcp "
                     f"-m tcp --dport {1000 + number}:{2000 + number} -j "
                     f"{'ACCEPT' if number % 2 else 'DROP'}")
    lines.append("COMMIT")
    text = "\n".join(lines) + "\n"
    plan = compile_ruleset(Restorer().restore(text, Ruleset(), RestoreOptions()))
    assert plan.rule_blocks() == 2000
    _load(text, pins)
