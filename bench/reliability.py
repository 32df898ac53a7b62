"""Reliability under traffic (issue 8, items 1-3): the rule set changing, the agent dying and
the connection table filling while a client sends to kube-proxy-style services through a node
whose rules bpftables enforces (client -- node -- server, the agent in the node, started by
bpftables-multi; endpoints are addresses on the server; see tests/netns/traffic.py).

    updates   >= 500 ``iptables-restore -w 5 --noflush --counters`` partial syncs add and
              remove services and endpoints under UDP and TCP traffic: packets that reached an
              endpoint outside the rule set of their moment, UDP losses for services present
              throughout, TCP connections lost
    faults    kill -9 the agent in the middle of a big restore (random delay), restart it by a
              command: the table is the whole old or the whole new one, the datapath agrees,
              traffic kept flowing; then kill -9 during steady traffic
    pressure  twice the connection table's capacity in new flows: new flows delivered, the
              node answers commands, established TCP connections that keep sending survive
    natports  SNAT to one address with a tiny --to-ports range, many clients, one
              destination: the flows beyond the range are dropped, never given a wrong or
              shared translation; the same traffic through iptables-legacy for comparison

Each scenario is a function returning a frozen result (the tests in
tests/netns/test_reliability.py run them small); the command line runs them full size.

Usage: python -m bench.reliability updates [--commits 500] | faults [--rounds 20] |
       pressure [--capacity 65536] | natports [--flows 64 --ports 4] | all
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from bench.kube_gen import (
    ClusterShape,
    partial_sync_text,
    restore_text,
    service_chains,
    service_name,
)
from tests.netns.agents import BpftablesCommands, bpftables_in
from tests.netns.topology import CLIENT_ADDR, SERVER_ADDR, Topology
from tests.netns.traffic import (
    PROBE,
    Arrival,
    Client,
    Sink,
    Target,
    TcpFlow,
    stream_gaps,
)

log = logging.getLogger(__name__)

SERVICE_PORT = 80
ENDPOINT_PORT = 8080
CLUSTER_BASE = "198.18.4.0"  # services 198.18.4.1 ...
ENDPOINT_BASE = "198.19.0.0"  # endpoints 198.19.0.1 ...
ROUTED_TO_SERVER = ("198.19.0.0/16", "198.18.4.0/22")  # endpoints, untranslated services
RESTORE_FLAGS = ("-w", "5", "--noflush", "--counters")

Members = dict[int, tuple[int, ...]]  # service index -> endpoint slots present


def kube_shape(members: Mapping[int, Sequence[int]], slots: int) -> ClusterShape:
    """kube-proxy's rule set for ``members``: each service on TCP and UDP port 80, its
    endpoints on port 8080, the client's traffic masqueraded (it is not from the pod range)."""
    return ClusterShape(
        len(members), slots, cluster_base=CLUSTER_BASE, endpoint_base=ENDPOINT_BASE,
        pod_cidr="198.19.0.0/16", port=SERVICE_PORT, target_port=ENDPOINT_PORT,
        protocols=("tcp", "udp"),
        members=tuple((index, tuple(sorted(members[index]))) for index in sorted(members)))


def target(shape: ClusterShape, index: int) -> Target:
    return Target(index, shape.cluster_address(index), SERVICE_PORT)


def prepare(topology: Topology, services: int, slots: int) -> None:
    """Every possible endpoint's address on the server; the node routes endpoints (and
    service addresses nothing translates) to the server."""
    shape = kube_shape({}, slots)
    batch = "".join(f"address add {shape.endpoint_address(index, slot)}/32 dev s0\n"
                    for index in range(services) for slot in range(slots))
    subprocess.run(["ip", "-n", topology.server, "-batch", "-"], input=batch, text=True,
                   check=True, timeout=60)
    for network in ROUTED_TO_SERVER:
        subprocess.run(["ip", "-n", topology.node, "route", "add", network, "via", SERVER_ADDR],
                       check=True, timeout=30)


@contextmanager
def node_with_agent(services: int, slots: int,
                    **env: str) -> Iterator[tuple[Topology, BpftablesCommands]]:
    """client -- node -- server, bpftables' agent in the node; everything removed after."""
    topology = Topology.create()
    try:
        prepare(topology, services, slots)
        with bpftables_in(topology.node, **env) as commands:
            yield topology, commands
    finally:
        topology.close()


def sync_text(old: Members, new: Members, slots: int) -> str:
    """kube-proxy's partial sync from ``old`` to ``new``: the changed services' chains, and
    the chains of removed services and endpoints declared and deleted (-X)."""
    shape = kube_shape(new, slots)
    changed = {service_name(index) for index in new if new[index] != old.get(index)}
    stale: list[str] = []
    for index, was in old.items():
        now = new.get(index)
        if now is None:
            stale.extend(service_chains(shape, index, was))
        else:
            gone = tuple(slot for slot in was if slot not in now)
            stale.extend(chain for chain in service_chains(shape, index, gone)
                         if chain.startswith("KUBE-SEP-"))
    lines = partial_sync_text(shape, changed).splitlines()
    nat = lines.index("*nat")
    end = len(lines) - 1 - lines[::-1].index("COMMIT")
    lines[end:end] = [f"-X {chain}" for chain in stale]
    lines[nat + 1:nat + 1] = [f":{chain} - [0:0]" for chain in stale]
    return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class Commit:
    """One restore: when it ran (client side) and the services after it (if it succeeded)."""

    start: float
    end: float
    members: Mapping[int, tuple[int, ...]]
    code: int


def windows(commits: Sequence[Commit]) -> dict[tuple[int, int], list[tuple[float, float]]]:
    """When each endpoint (service, slot) may have been in the rule set: from the start of a
    commit that has it to the end of the next commit (the switch is somewhere in both)."""
    applied = [commit for commit in commits if commit.code == 0]
    found: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for number, commit in enumerate(applied):
        until = applied[number + 1].end if number + 1 < len(applied) else float("inf")
        for index, slots in commit.members.items():
            for slot in slots:
                found.setdefault((index, slot), []).append((commit.start, until))
    return found


def misdelivered(arrivals: Sequence[Arrival], commits: Sequence[Commit],
                 shape: ClusterShape, services: int) -> list[Arrival]:
    """New connections that reached an endpoint not in the rule set while they crossed the
    node (or another service's endpoint, or an address that is no endpoint)."""
    endpoint_of = {shape.endpoint_address(index, slot): (index, slot)
                   for index in range(services) for slot in range(shape.endpoints)}
    valid = windows(commits)
    wrong = []
    for arrival in arrivals:
        if arrival.kind != PROBE:
            continue
        place = endpoint_of.get(arrival.endpoint)
        if place is None or place[0] != arrival.service or not any(
                start <= arrival.received and arrival.sent <= until
                for start, until in valid.get(place, ())):
            wrong.append(arrival)
    return wrong


@dataclass(frozen=True)
class UpdatesResult:
    commits: int
    failed_commits: int
    commit_median_s: float
    commit_max_s: float
    seconds: float
    probes_sent: int
    probes_delivered: int
    probes_misdelivered: int
    stable_probes_sent: int
    stable_probes_lost: int
    stream_datagrams: int
    stream_lost: int
    tcp_connections: int
    tcp_kept_endpoint: int
    tcp_kept_endpoint_lost: int
    tcp_endpoint_left: int
    tcp_endpoint_left_lost: int
    tcp_messages_echoed: int
    tcp_worst_echo_wait_s: float
    first_misdelivered: tuple[str, ...]


def _change(members: Members, stable: Sequence[int], pool: Sequence[int], slots: int,
            chance: random.Random) -> Members:
    """One to three changes: a service of the pool added (random endpoints) or removed, or an
    endpoint added or removed (stable services keep slot 0; every service keeps one)."""
    new = dict(members)
    for _ in range(chance.randint(1, 3)):
        if chance.random() < 0.4:
            index = chance.choice(pool)
            if index in new:
                del new[index]
            else:
                new[index] = tuple(sorted(chance.sample(range(slots), chance.randint(1, slots))))
        else:
            index = chance.choice(sorted(new))
            slot = chance.randrange(1 if index in stable else 0, slots)
            now = set(new[index]) ^ {slot}
            if now:
                new[index] = tuple(sorted(now))
    return new


def atomic_updates(commits: int = 500, stable: int = 4, pool: int = 12, slots: int = 4,
                   tcp_per_service: int = 2, probes_per_s: float = 200,
                   seed: int = 8) -> UpdatesResult:
    """Item 1: ``commits`` partial syncs under traffic (see the module's docstring)."""
    chance = random.Random(seed)
    services = stable + pool
    stable_ids = list(range(stable))
    pool_ids = list(range(stable, services))
    members: Members = {index: tuple(range(slots)) for index in stable_ids}
    members.update({index: (0,) for index in pool_ids[: pool // 2]})
    with node_with_agent(services, slots) as (topology, commands):
        shape = kube_shape(members, slots)
        start = time.monotonic()
        done = commands.restore(restore_text(shape, jumps=True))
        if done.code != 0:
            raise RuntimeError(f"the first restore failed: {done.err}")
        timeline = [Commit(start, time.monotonic(), dict(members), 0)]
        everything = [target(shape, index) for index in range(services)]
        with Sink(topology.server, ENDPOINT_PORT) as sink:
            client = Client(topology.client, CLIENT_ADDR)
            try:
                for index in stable_ids:
                    client.open_stream(target(shape, index))
                    for _ in range(tcp_per_service):
                        client.open_tcp(target(shape, index))
                for index in pool_ids[: pool // 2]:  # their endpoint may leave
                    client.open_tcp(target(shape, index))
                client.start(lambda: everything, probes_per_s, 100, 20,
                             max_seconds=30 + commits * 5, seed=seed)
                for _ in range(commits):
                    new = _change(members, stable_ids, pool_ids, slots, chance)
                    text = sync_text(members, new, slots)
                    begun = time.monotonic()
                    done = commands.restore(text, *RESTORE_FLAGS)
                    timeline.append(Commit(begun, time.monotonic(), dict(new), done.code))
                    if done.code == 0:
                        members = new
                    else:
                        log.warning("commit failed: %s", done.err.strip())
                time.sleep(0.5)  # traffic after the last commit
            finally:
                client.stop()
                time.sleep(0.3)  # the last datagrams reach the sink
                client.close()
        arrivals = list(sink.arrivals)
        endpoints = dict(sink.tcp_endpoints)
    return _updates_result(timeline, arrivals, client, endpoints, shape, services, stable_ids)


def _updates_result(timeline: list[Commit], arrivals: list[Arrival], client: Client,
                    tcp_endpoints: Mapping[int, str], shape: ClusterShape, services: int,
                    stable_ids: Sequence[int]) -> UpdatesResult:
    wrong = misdelivered(arrivals, timeline, shape, services)
    delivered = {arrival.flow for arrival in arrivals if arrival.kind == PROBE}
    stable_sent = [flow for service, flow, _ in client.prober.sent if service in stable_ids]
    gaps = stream_gaps(client.streams, arrivals)
    durations = sorted(commit.end - commit.start for commit in timeline[1:])
    kept, left = _tcp_by_endpoint_fate(client.tcp, tcp_endpoints, timeline, shape, services)
    return UpdatesResult(
        commits=len(timeline) - 1,
        failed_commits=sum(commit.code != 0 for commit in timeline),
        commit_median_s=round(durations[len(durations) // 2], 4) if durations else 0.0,
        commit_max_s=round(durations[-1], 4) if durations else 0.0,
        seconds=round(timeline[-1].end - timeline[0].start, 1),
        probes_sent=len(client.prober.sent),
        probes_delivered=len(delivered),
        probes_misdelivered=len(wrong),
        stable_probes_sent=len(stable_sent),
        stable_probes_lost=sum(flow not in delivered for flow in stable_sent),
        stream_datagrams=sum(stream.sent for stream in client.streams),
        stream_lost=sum(gaps.values()),
        tcp_connections=len(client.tcp),
        tcp_kept_endpoint=len(kept),
        tcp_kept_endpoint_lost=sum(not flow.alive for flow in kept),
        tcp_endpoint_left=len(left),
        tcp_endpoint_left_lost=sum(not flow.alive for flow in left),
        tcp_messages_echoed=sum(flow.echoed for flow in client.tcp),
        tcp_worst_echo_wait_s=round(max((flow.worst_wait for flow in client.tcp), default=0), 3),
        first_misdelivered=tuple(repr(arrival) for arrival in wrong[:5]),
    )


def _tcp_by_endpoint_fate(flows: Sequence[TcpFlow], tcp_endpoints: Mapping[int, str],
                          timeline: Sequence[Commit], shape: ClusterShape,
                          services: int) -> tuple[list[TcpFlow], list[TcpFlow]]:
    """TCP flows whose endpoint stayed in the rule set through every commit, and the others."""
    endpoint_of = {shape.endpoint_address(index, slot): (index, slot)
                   for index in range(services) for slot in range(shape.endpoints)}
    kept, left = [], []
    for flow in flows:
        place = endpoint_of.get(tcp_endpoints.get(flow.flow, ""))
        stayed = place is not None and all(
            place[1] in commit.members.get(place[0], ()) for commit in timeline
            if commit.code == 0)
        (kept if stayed else left).append(flow)
    return kept, left


# --- command line ----------------------------------------------------------------------------


def _print(name: str, result: object, command: str) -> None:
    print(json.dumps({"scenario": name, "command": command, **asdict(result)}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    updates = sub.add_parser("updates")
    updates.add_argument("--commits", type=int, default=500)
    updates.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    command = "python -m bench.reliability " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.scenario == "updates":
        _print("updates", atomic_updates(args.commits, seed=args.seed), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
