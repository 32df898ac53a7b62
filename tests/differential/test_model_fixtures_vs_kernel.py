"""kube-proxy's own rule sets (fixtures 01 and 04): every service, model against the kernel
(the probes and their checks: tests/netns/services.py).

The fixture's addresses are moved into 198.18.0.0/15 (pods 10.0.0.0/8 -> 198.19.0.0/16, service
and external addresses -> 198.18.5-7.x, the load balancer's allowed range 203.0.113.0/25 ->
198.18.0.0/25), kube-proxy's jumps from the built-in chains are added (``bench/kube_gen.py``),
and the node loads it. For every address and port a service answers on (cluster IPs, external
IPs, load-balancer IPs from an allowed and a refused client, NodePorts, the health-check port, a
service without endpoints) the client opens a connection; model and kernel must agree on its
fate (delivered to which endpoint or to the node, dropped, rejected) and on the answer's way
back, and the model's trace must name the KUBE-SVC and KUBE-SEP chains that led to the endpoint.
Where kube-proxy splits traffic at random (statistic), the kernel's endpoint must be one the
model can pick.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.netns.services import FIXTURES, moved_fixture, prepare, probe_every_service
from tests.netns.topology import Topology
from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    topo = Topology.create()
    try:
        topo.silence_ends()
        prepare(topo)
        subprocess.run(["ip", "netns", "exec", topo.node, "sysctl", "-qw",
                        "net.ipv4.icmp_ratelimit=0"], check=True)
        yield topo
    finally:
        topo.close()


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")
@pytest.mark.parametrize("fixture", ["01-overall-mixed.rules", "04-repeated-1-full-initial.rules"])
def test_every_service_of_the_fixture(topology: Topology, fixture: str) -> None:
    text = moved_fixture(fixture)
    node = LegacyIptables(topology.node)
    node.reset()
    node.run(["conntrack", "-F"])
    for name in set(re.findall(r"--nfacct-name (\S+)", text)):
        node.nfacct_add(name)
    loaded = node.restore(text)
    assert loaded.code == 0, loaded.err
    ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    reached, _ = probe_every_service(topology, ruleset, text, 43000)
    assert reached > 0
