"""``bpftables translate`` and the Shape: kube-proxy's services are data, not code.

At 1,000 and 3,000 services (10,000 and 50,000 with ``BPFTABLES_SCALE=1``), 500 of them NodePort
services, the generated kube-proxy rule set compiles to the same shape: KUBE-SERVICES and
KUBE-NODEPORTS one LOOKUP each, the KUBE-SVC-*, KUBE-EXT-* and KUBE-SEP-* chains one family
each, the same RULE blocks and blocks per packet.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.kube_gen import ClusterShape, restore_text
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from shim.cli import main
from translator.compile import compile_ruleset
from translator.shape import analyze

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kube-proxy"
NODE_PORTS = 500  # NodePort services at every scale (the port range holds 2,768)
SCALES = (1000, 3000) + ((10000, 50000) if os.environ.get("BPFTABLES_SCALE") else ())


def _translate(text: str):  # type: ignore[no-untyped-def]
    plan = compile_ruleset(Restorer().restore(text, Ruleset(), RestoreOptions()))
    return plan, analyze(plan)


def test_the_shape_does_not_grow_with_services() -> None:
    seen = set()
    for services in SCALES:
        shape = ClusterShape(services, 5, node_ports=NODE_PORTS)
        plan, report = _translate(restore_text(shape, jumps=True))
        blocks = plan.tables["nat"].chains["KUBE-SERVICES"].blocks
        assert [block.kind for block in blocks] == ["LOOKUP", "RULE"]
        assert len(blocks[0].rules) == services
        node_ports = plan.tables["nat"].chains["KUBE-NODEPORTS"].blocks
        assert [block.kind for block in node_ports] == ["LOOKUP"]
        assert len(node_ports[0].rules) == 2 * NODE_PORTS
        big = {family.pattern: len(family.members) for family in report.families
               if len(family.members) > 4}
        assert big == {"KUBE-SVC-*": services, "KUBE-SEP-*": services * 5,
                       "KUBE-EXT-*": NODE_PORTS}
        seen.add((report.shape_hash, report.rule_blocks, report.max_blocks_per_packet))
    assert len(seen) == 1


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
def test_fixture_01_services_are_one_lookup(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "--json", str(FIXTURES / "01-overall-mixed.rules")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"shape_hash", "tables", "families", "rule_blocks",
            "max_blocks_per_packet"} <= data.keys()
    services = data["tables"]["nat"]["chains"]["KUBE-SERVICES"]["blocks"]
    assert [block["kind"] for block in services] == ["LOOKUP", "RULE"]
    assert services[0]["rules"] == list(range(1, 10))
    node_ports = data["tables"]["nat"]["chains"]["KUBE-NODEPORTS"]["blocks"]
    assert [(block["kind"], block["storage"]) for block in node_ports] == [("LOOKUP", "lpm")]
    assert node_ports[0]["rules"] == list(range(1, 7))
    assert all("members" in family for family in data["families"])


def test_text_names_families_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.write_text(restore_text(ClusterShape(20, 2), jumps=True))
    assert main(["translate", str(rules)]) == 0
    out = capsys.readouterr().out
    assert "KUBE-SEP-* (family of 40): RULE 1 | RULE 2" in out
    assert ("KUBE-SERVICES: LOOKUP hash protocol,dport,destination/32 rules 1-20 "
            "(20 keys, 1 variant) | RULE 21") in out


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
def test_emit_c_prints_one_program_per_builtin_chain_and_family(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "--emit-c", str(FIXTURES / "01-overall-mixed.rules")]) == 0
    source = capsys.readouterr().out
    plan, report = _translate((FIXTURES / "01-overall-mixed.rules").read_text())
    builtins = sum(1 for table in plan.tables.values() for chain in table.chains.values()
                   if chain.policy is not None)
    programs = source.count("\nint chain_")
    assert programs == builtins + len(report.families)
    assert "int pipeline(struct __sk_buff *skb)" in source
