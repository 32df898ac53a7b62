"""kube-proxy's own rule sets (fixtures 01 and 04) enforced by the datapath alone: every service,
datapath against the reference model, with real traffic.

The node's netfilter tables stay empty; bpftables' programs run its rules. Addresses are moved
into 198.18.0.0/15 and kube-proxy's jumps added as in tests/differential/
test_model_fixtures_vs_kernel.py (where the model is checked against the kernel with the same
probes). For every address and port a service answers on: the connection reaches an endpoint
the model can pick (statistic), from the address the model says (MASQUERADE), the endpoint's
answer comes back from the service address, what the model drops is not delivered, and a
service without endpoints answers with REJECT's ICMP error as the model says.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.datapath.test_conversations_vs_model import NodeDatapath, node_with_datapath
from tests.netns.services import (
    FIXTURES,
    moved_addresses,
    moved_fixture,
    prepare,
    probe_every_service,
)
from tests.netns.topology import Topology
from translator.compile import Compiler
from translator.shape import ShapeAnalyzer

pytestmark = [pytest.mark.netns, pytest.mark.bpf]


@pytest.fixture(scope="module")
def topology() -> Iterator[tuple[Topology, NodeDatapath]]:
    with node_with_datapath(prepare) as pair:
        yield pair


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
@pytest.mark.parametrize("fixture", ["01-overall-mixed.rules", "04-repeated-1-full-initial.rules"])
def test_every_service_through_the_datapath(topology: tuple[Topology, NodeDatapath],
                                            fixture: str) -> None:
    topo, datapath = topology
    text = moved_fixture(fixture)
    ruleset = datapath.load(text)
    reached, refused = probe_every_service(topo, ruleset, text, 44000)
    assert reached > 0, refused


def test_data_only_syncs_keep_the_programs(topology: tuple[Topology, NodeDatapath]) -> None:
    """Fixtures 04 -> 05 -> 06 (a service added, then removed) as kube-proxy sends them: the
    attached programs stay the same; 07's first REJECT rule is a new kind of rule: one
    recompile; 08 fails to restore (as in iptables) and changes nothing."""
    topo, datapath = topology
    restorer = Restorer()
    ruleset = Ruleset()
    ids = []
    syncs = ("04-repeated-1-full-initial.rules", "05-repeated-2-partial-add-service.rules",
             "06-repeated-3-partial-delete-service.rules",
             "07-repeated-4-partial-new-service-no-endpoints-reject.rules")
    for number, name in enumerate(syncs):
        text = moved_addresses((FIXTURES / name).read_text())
        if number == 0:  # kube-proxy adds its jumps once
            text = moved_fixture(name)
        ruleset = restorer.restore(text, ruleset,
                                   RestoreOptions(noflush=True, counters=True))
        datapath.apply(ruleset)
        ids.append(datapath.enforcer.program_ids())
    assert ids[0] == ids[1] == ids[2]
    assert ids[3] != ids[2]


def test_one_more_service_is_a_few_map_writes(topology: tuple[Topology, NodeDatapath]) -> None:
    """kube-proxy adds a service to 300 with a partial --noflush restore: the Plan diff's
    entries are all that is written (its endpoints' chains, its KUBE-SERVICES entry), not the
    rule set; nothing is compiled."""
    _, datapath = topology
    restorer, compiler, analyzer = Restorer(), Compiler(), ShapeAnalyzer()
    ruleset = restorer.restore(restore_text(ClusterShape(300, 3), jumps=True), Ruleset(),
                               RestoreOptions())
    enforcer = datapath.enforcer
    local = [i.address for i in datapath.interfaces if i.address is not None]
    plan = compiler.compile(ruleset)
    enforcer.apply(plan, analyzer.analyze(plan), datapath.env, datapath.interfaces, local)
    full, compiles = enforcer.last_writes, enforcer.compiles
    ruleset = restorer.restore(partial_sync_text(ClusterShape(301, 3), {service_name(300)}),
                               ruleset, RestoreOptions(noflush=True, counters=True))
    plan = compiler.compile(ruleset)
    enforcer.apply(plan, analyzer.analyze(plan), datapath.env, datapath.interfaces, local,
                   compiler.last_changes)
    assert enforcer.compiles == compiles
    print(f"full load {full} map writes, one more service {enforcer.last_writes}")
    assert 0 < enforcer.last_writes <= 30 < full
