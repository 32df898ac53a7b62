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
from pathlib import Path

from bench.kube_gen import (
    ClusterShape,
    partial_sync_text,
    restore_text,
    service_chains,
    service_name,
)
from bpf.loader import PinnedMap
from tests.netns.agents import MULTI as MULTI_PATH
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
            chance: random.Random, frozen: frozenset[int] = frozenset()) -> Members:
    """One to three changes: a service of the pool added (random endpoints) or removed, or an
    endpoint added or removed (stable services keep slot 0; every service keeps one; the
    ``frozen`` services keep theirs as they are)."""
    new = dict(members)
    for _ in range(chance.randint(1, 3)):
        if chance.random() < 0.4:
            index = chance.choice(pool)
            if index in new:
                del new[index]
            else:
                new[index] = tuple(sorted(chance.sample(range(slots), chance.randint(1, slots))))
        else:
            index = chance.choice(sorted(set(new) - frozen))
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
    frozen = frozenset({stable_ids[0]})  # its TCP connections' endpoint always stays
    members[stable_ids[0]] = (0,)
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
                    new = _change(members, stable_ids, pool_ids, slots, chance, frozen)
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


# --- item 2: agent faults ------------------------------------------------------------------


def saved_rules(text: str) -> list[str]:
    """A save's tables, chains and rules without counters (traffic changes counters)."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        kept.append(line.split()[0] if line.startswith(":") else line)
    return kept


@dataclass(frozen=True)
class FaultsResult:
    rounds: int
    restore_lines: int
    restore_s: float
    killed_mid_restore: int  # the restore did not finish (the agent died under it)
    shown_old: int
    shown_new: int
    shown_mixed: int
    datapath_mismatches: int
    restart_max_s: float  # the restarting command's wall time
    steady_restarts: int
    stable_probes_sent: int
    stable_probes_lost: int
    probes_misdelivered: int  # reached an endpoint of another service than their own
    stream_datagrams: int
    stream_lost: int
    tcp_connections: int
    tcp_lost: int
    tcp_worst_echo_wait_s: float


def _reached(sink: Sink, prober_flows: Sequence[int], wait: float = 0.5) -> int:
    deadline = time.monotonic() + wait
    wanted = set(prober_flows)
    while time.monotonic() < deadline:
        got = {arrival.flow for arrival in sink.arrivals if arrival.kind == PROBE} & wanted
        if len(got) == len(wanted):
            break
        time.sleep(0.02)
    return len({arrival.flow for arrival in sink.arrivals if arrival.kind == PROBE} & wanted)


def _agent_log(commands: BpftablesCommands) -> str:
    """The tail of the namespace's agent log (its state folder)."""
    done = subprocess.run(["ip", "netns", "exec", commands.netns, "sh", "-c",
                           "tail -n 40 /run/bpftables/state/net-*/agent.log 2>/dev/null"],
                          capture_output=True, text=True, timeout=30, check=False)
    return done.stdout


def agent_faults(rounds: int = 20, services: int = 1000, slots: int = 2, steady: int = 3,
                 seed: int = 9) -> FaultsResult:
    """Item 2: the agent killed (-9) in the middle of a full restore that swaps service 0
    for service ``services`` (everything else equal), ``rounds`` times; then ``steady``
    kills with nothing running. Traffic throughout: probes to a service both tables have,
    UDP streams and TCP connections."""
    chance = random.Random(seed)
    both = {index: tuple(range(slots)) for index in range(1, services)}
    tables = ({**both, 0: tuple(range(slots))}, {**both, services: tuple(range(slots))})
    texts = [restore_text(kube_shape(members, slots), jumps=True) for members in tables]
    only = (0, services)  # the service only table 0 / only table 1 has
    with node_with_agent(services + 1, slots) as (topology, commands):
        shape = kube_shape(tables[0], slots)
        saves = []
        durations = []
        for text in (texts[1], texts[0]):  # each table once, timed, and its save
            begun = time.monotonic()
            done = commands.restore(text)
            durations.append(time.monotonic() - begun)
            if done.code != 0:
                raise RuntimeError(f"restore failed: {done.err}")
            saves.insert(0, saved_rules(commands.run(["iptables-save"]).out))
        restore_s = durations[-1]  # (the first one compiled the programs)
        shown = [0, 0, 0]
        mismatches = 0
        killed = 0
        restart_max = 0.0
        current = 0
        with Sink(topology.server, ENDPOINT_PORT) as sink:
            client = Client(topology.client, CLIENT_ADDR)
            try:
                for index in (1, 2):
                    client.open_stream(target(shape, index))
                    client.open_tcp(target(shape, index))
                    client.open_tcp(target(shape, index))
                stable = [target(shape, 1), target(shape, 2)]
                client.start(lambda: stable, 100, 100, 20, max_seconds=60 + rounds * 20,
                             seed=seed)
                for _ in range(rounds):
                    wanted = 1 - current
                    argv = ["ip", "netns", "exec", topology.node, MULTI_PATH, "iptables-restore"]
                    restore = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, text=True)
                    try:
                        assert restore.stdin is not None
                        restore.stdin.write(texts[wanted])
                        restore.stdin.close()
                        # (some kills land after the commit: the new table must show then)
                        time.sleep(chance.uniform(0.05, 1.5) * restore_s)
                        commands.kill_agent()
                        killed += restore.wait(60) != 0
                    finally:
                        if restore.poll() is None:
                            restore.kill()
                            restore.wait(10)
                    begun = time.monotonic()
                    saved = commands.run(["iptables-save"])
                    text = saved.out
                    restart_max = max(restart_max, time.monotonic() - begun)
                    rules = saved_rules(text)
                    if rules == saves[current]:
                        shown[0] += 1
                    elif rules == saves[wanted]:
                        shown[1] += 1
                        current = wanted
                    else:
                        shown[2] += 1
                        log.warning("a mixed table after a kill (iptables-save: exit %d, "
                                    "%s):\n%s", saved.code, saved.err.strip(), text)
                        log.warning("agent log:\n%s", _agent_log(commands))
                        continue
                    # the datapath runs what iptables-save shows
                    flows = {index: [client.prober.send(target(shape, index)) for _ in range(3)]
                             for index in only}
                    for side, index in enumerate(only):
                        got = _reached(sink, flows[index], 0.5 if side == current else 0.3)
                        if got != (3 if side == current else 0):
                            log.warning("table %d shown: service %d reached by %d of 3 new "
                                        "connections", current, index, got)
                            mismatches += 1
                for _ in range(steady):
                    commands.kill_agent()
                    time.sleep(0.5)
                    begun = time.monotonic()
                    commands.iptables("-S")
                    restart_max = max(restart_max, time.monotonic() - begun)
                    time.sleep(0.5)
            finally:
                client.stop()
                time.sleep(0.3)
                client.close()
        arrivals = list(sink.arrivals)
    delivered = {arrival.flow for arrival in arrivals if arrival.kind == PROBE}
    stable_sent = [flow for service, flow, _ in client.prober.sent if service in (1, 2)]
    owner = {shape.endpoint_address(index, slot): index
             for index in range(services + 1) for slot in range(slots)}
    misdelivered_probes = sum(owner.get(arrival.endpoint) != arrival.service
                              for arrival in arrivals if arrival.kind == PROBE)
    return FaultsResult(
        rounds=rounds, restore_lines=texts[1].count("\n"), restore_s=round(restore_s, 3),
        killed_mid_restore=killed, shown_old=shown[0], shown_new=shown[1],
        shown_mixed=shown[2], datapath_mismatches=mismatches,
        restart_max_s=round(restart_max, 3), steady_restarts=steady,
        stable_probes_sent=len(stable_sent),
        stable_probes_lost=sum(flow not in delivered for flow in stable_sent),
        probes_misdelivered=misdelivered_probes,
        stream_datagrams=sum(stream.sent for stream in client.streams),
        stream_lost=sum(stream_gaps(client.streams, arrivals).values()),
        tcp_connections=len(client.tcp), tcp_lost=sum(not flow.alive for flow in client.tcp),
        tcp_worst_echo_wait_s=round(max((flow.worst_wait for flow in client.tcp), default=0),
                                    3))


# --- item 3: conntrack pressure, NAT port exhaustion ---------------------------------------


@dataclass(frozen=True)
class PressureResult:
    capacity: int  # the connection table's entries (a NATed connection takes two)
    ct_map_max_entries: int  # as the kernel reports the pinned map's size
    new_flows: int
    new_flows_delivered: int
    flood_seconds: float
    command_max_s: float  # the slowest `iptables -S` answered during the flood
    commands_answered: int
    tcp_connections: int
    tcp_survived: int
    tcp_survived_fraction: float
    stream_datagrams: int
    stream_lost: int


def conntrack_pressure(capacity: int = 65536, factor: int = 2, services: int = 7,
                       tcp: int = 8, rate: float = 4000, seed: int = 10) -> PressureResult:
    """Item 3: ``factor`` x ``capacity`` new UDP connections (each a DNAT to a service, so two
    table entries) while ``tcp`` established connections and two UDP streams keep sending."""
    members = {index: (0, 1) for index in range(services)}
    env = {"BPFTABLES_CT_MAX_ENTRIES": str(capacity)}
    with node_with_agent(services, 2, **env) as (topology, commands):
        shape = kube_shape(members, 2)
        done = commands.restore(restore_text(shape, jumps=True))
        if done.code != 0:
            raise RuntimeError(f"restore failed: {done.err}")
        flows = factor * capacity
        everything = [target(shape, index) for index in range(services)]
        latencies = []
        with Sink(topology.server, ENDPOINT_PORT, limit=flows + 100_000) as sink:
            client = Client(topology.client, CLIENT_ADDR)
            try:
                for number in range(tcp):
                    client.open_tcp(target(shape, number % services))
                for index in (0, 1):
                    client.open_stream(target(shape, index))
                begun = time.monotonic()
                client.start(lambda: everything, rate, 50, 10,
                             max_seconds=flows / rate * 4 + 30, seed=seed, probe_limit=flows)
                while len(client.prober.sent) < flows and client.sending:
                    asked = time.monotonic()
                    answer = commands.iptables("-w", "5", "-S", "FORWARD")
                    if answer.code == 0:
                        latencies.append(time.monotonic() - asked)
                    time.sleep(0.2)
                flood = time.monotonic() - begun
                time.sleep(1.0)  # established flows keep sending after the flood
                status = json.loads(commands.cli("status", "--json").out)
                ct_map = PinnedMap.open(Path(status["datapath"]["pin_dir"]) / "maps" / "ct_map")
                try:
                    max_entries = ct_map.layout.max_entries
                finally:
                    ct_map.close()
            finally:
                client.stop()
                time.sleep(0.3)
                client.close()
        arrivals = list(sink.arrivals)
    delivered = {arrival.flow for arrival in arrivals if arrival.kind == PROBE}
    survived = sum(flow.alive and flow.echoed == flow.rounds for flow in client.tcp)
    return PressureResult(
        capacity=capacity, ct_map_max_entries=max_entries,
        new_flows=len(client.prober.sent), new_flows_delivered=len(delivered),
        flood_seconds=round(flood, 2),
        command_max_s=round(max(latencies, default=0.0), 3), commands_answered=len(latencies),
        tcp_connections=len(client.tcp), tcp_survived=survived,
        tcp_survived_fraction=round(survived / max(1, len(client.tcp)), 3),
        stream_datagrams=sum(stream.sent for stream in client.streams),
        stream_lost=sum(stream_gaps(client.streams, arrivals).values()))


NAT_ADDRESS = "198.18.1.1"  # the node's address towards the server
NAT_FIRST_PORT = 40000
SINK_PORT = 9000


def nat_rules(ports: int) -> str:
    last = NAT_FIRST_PORT + ports - 1
    return ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            ":POSTROUTING ACCEPT [0:0]\n"
            f"-A POSTROUTING -o n1 -p udp -j SNAT --to-source "
            f"{NAT_ADDRESS}:{NAT_FIRST_PORT}-{last}\nCOMMIT\n")


@dataclass(frozen=True)
class NatPortsResult:
    datapath: str  # "bpftables" or "iptables-legacy"
    flows: int
    ports: int
    flows_delivered: int  # connections whose datagrams reached the server
    datagrams_delivered: int
    wrong_translations: int  # outside the range, another address, or two flows on one tuple
    moved_translations: int  # a connection's second datagram translated differently


def nat_port_exhaustion(flows: int = 64, ports: int = 4, legacy: bool = False) -> NatPortsResult:
    """Item 3: ``flows`` UDP connections from one client to one server port, SNAT to one
    address and ``ports`` ports: two datagrams per connection."""
    topology = Topology.create()
    try:
        server = Target(0, SERVER_ADDR, SINK_PORT)
        if legacy:
            subprocess.run(["ip", "netns", "exec", topology.node, "iptables-legacy-restore"],
                           input=nat_rules(ports), text=True, check=True, timeout=30)
            result = _nat_traffic(topology, server, flows)
        else:
            with bpftables_in(topology.node) as commands:
                done = commands.restore(nat_rules(ports))
                if done.code != 0:
                    raise RuntimeError(f"restore failed: {done.err}")
                result = _nat_traffic(topology, server, flows)
    finally:
        topology.close()
    arrivals = result
    by_flow: dict[int, set[tuple[str, int]]] = {}
    for arrival in arrivals:
        by_flow.setdefault(arrival.flow, set()).add(arrival.source)
    owners: dict[tuple[str, int], set[int]] = {}
    for flow, sources in by_flow.items():
        for source in sources:
            owners.setdefault(source, set()).add(flow)
    wrong = sum(1 for source, owned in owners.items()
                if len(owned) > 1 or source[0] != NAT_ADDRESS
                or not NAT_FIRST_PORT <= source[1] < NAT_FIRST_PORT + ports)
    return NatPortsResult(
        "iptables-legacy" if legacy else "bpftables", flows, ports, len(by_flow),
        len(arrivals), wrong, sum(len(sources) > 1 for sources in by_flow.values()))


def _nat_traffic(topology: Topology, server: Target, flows: int) -> list[Arrival]:
    with Sink(topology.server, SINK_PORT) as sink:
        client = Client(topology.client, CLIENT_ADDR)
        try:
            sent = [client.prober.send(server) for _ in range(flows)]
            time.sleep(0.2)
            for flow in sent:
                client.prober.send(server, again=flow)
            time.sleep(0.5)
        finally:
            client.close()
        return list(sink.arrivals)


# --- command line ----------------------------------------------------------------------------


def _print(name: str, result: object, command: str) -> None:
    print(json.dumps({"scenario": name, "command": command, **asdict(result)}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    updates = sub.add_parser("updates")
    updates.add_argument("--commits", type=int, default=500)
    updates.add_argument("--seed", type=int, default=8)
    faults = sub.add_parser("faults")
    faults.add_argument("--rounds", type=int, default=20)
    faults.add_argument("--services", type=int, default=1000)
    pressure = sub.add_parser("pressure")
    pressure.add_argument("--capacity", type=int, default=65536)
    pressure.add_argument("--rate", type=float, default=4000)
    natports = sub.add_parser("natports")
    natports.add_argument("--flows", type=int, default=64)
    natports.add_argument("--ports", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    command = "python -m bench.reliability " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.scenario == "updates":
        _print("updates", atomic_updates(args.commits, seed=args.seed), command)
    elif args.scenario == "faults":
        _print("faults", agent_faults(args.rounds, args.services), command)
    elif args.scenario == "pressure":
        _print("pressure", conntrack_pressure(args.capacity, rate=args.rate), command)
    elif args.scenario == "natports":
        for legacy in (False, True):
            _print("natports", nat_port_exhaustion(args.flows, args.ports, legacy), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
