"""Issue 8, items 1-3, small: the rule set changing under traffic, the agent killed in the
middle of a restore and during steady traffic, the connection table flooded, the NAT port
space of one destination exhausted (against iptables-legacy). bench/reliability.py runs the
same scenarios full size and prints the figures."""

from __future__ import annotations

import pytest

from bench.kube_gen import service_chains
from bench.reliability import (
    Commit,
    agent_faults,
    atomic_updates,
    conntrack_pressure,
    kube_shape,
    misdelivered,
    nat_port_exhaustion,
    sync_text,
)
from tests.netns.traffic import PROBE, Arrival


def with_traffic(test):  # type: ignore[no-untyped-def]
    """Namespaces, the agent and its eBPF datapath, real traffic."""
    return pytest.mark.netns(pytest.mark.bpf(test))


@pytest.mark.unit
def test_sync_text_deletes_what_left() -> None:
    old = {0: (0, 1), 1: (0,)}
    new = {0: (0,), 2: (1,)}
    text = sync_text(old, new, 2)
    gone = service_chains(kube_shape(old, 2), 1, (0,)) + [
        chain for chain in service_chains(kube_shape(old, 2), 0, (1,))
        if chain.startswith("KUBE-SEP-")]
    for chain in gone:
        assert f":{chain} - [0:0]" in text and f"-X {chain}" in text
    nat = text[text.index("*nat"):]
    assert nat.index("-X ") > max(nat.index(f"-A {chain}") for chain in
                                  service_chains(kube_shape(new, 2), 2, (1,)))


@pytest.mark.unit
def test_misdelivered_uses_the_commit_windows() -> None:
    shape = kube_shape({0: (0, 1)}, 2)
    commits = [Commit(0.0, 1.0, {0: (0, 1)}, 0), Commit(5.0, 6.0, {0: (0,)}, 0),
               Commit(7.0, 8.0, {0: (0, 1)}, 1)]  # failed: changes nothing

    def arrival(sent: float, slot: int, service: int = 0) -> Arrival:
        return Arrival(PROBE, service, 1, 0, sent, sent + 0.1,
                       shape.endpoint_address(0, slot))

    assert misdelivered([arrival(5.5, 1), arrival(9.0, 0)], commits, shape, 1) == []
    late = arrival(6.5, 1)  # slot 1 left by the end of the second commit
    wrong_service = arrival(2.0, 0, service=1)
    assert misdelivered([late, wrong_service], commits, shape, 1) == [late, wrong_service]


@with_traffic
def test_updates_under_traffic() -> None:
    result = atomic_updates(commits=40, stable=3, pool=6, slots=3, tcp_per_service=1,
                            probes_per_s=150)
    assert result.failed_commits == 0
    assert result.probes_misdelivered == 0, result.first_misdelivered
    assert result.probes_delivered > 0
    assert result.stable_probes_sent > 0 and result.stable_probes_lost == 0
    assert result.stream_datagrams > 0 and result.stream_lost == 0
    assert result.tcp_kept_endpoint > 0 and result.tcp_kept_endpoint_lost == 0
    assert result.tcp_messages_echoed > result.tcp_connections


@with_traffic
def test_agent_killed_mid_restore_and_in_steady_traffic() -> None:
    result = agent_faults(rounds=3, services=150, steady=2)
    assert result.shown_mixed == 0
    assert result.shown_old + result.shown_new == result.rounds
    assert result.datapath_mismatches == 0
    assert result.stable_probes_sent > 0 and result.stable_probes_lost == 0
    assert result.probes_misdelivered == 0
    assert result.stream_lost == 0
    assert result.tcp_lost == 0


@with_traffic
def test_connection_table_flood() -> None:
    result = conntrack_pressure(capacity=1024, rate=2000)
    assert result.ct_map_max_entries == 1024
    assert result.new_flows == 2048
    assert result.new_flows_delivered >= 0.99 * result.new_flows
    assert result.commands_answered > 0 and result.command_max_s < 5
    # established flows that keep sending are recently used: the LRU keeps them
    assert result.tcp_survived_fraction == 1.0
    assert result.stream_lost == 0


@with_traffic
def test_nat_port_exhaustion_drops_like_the_kernel() -> None:
    ours = nat_port_exhaustion(flows=16, ports=4)
    kernels = nat_port_exhaustion(flows=16, ports=4, legacy=True)
    assert ours.wrong_translations == 0 and ours.moved_translations == 0
    assert kernels.wrong_translations == 0
    assert ours.flows_delivered == kernels.flows_delivered == 4
    assert ours.datagrams_delivered == kernels.datagrams_delivered
