"""What removing stale UDP flows costs (issue 8 item 6) at a large connection table.

An agent (datapath on) in a throwaway namespace runs one UDP service with ENDPOINTS endpoints;
its pinned connection table is filled with CONNECTIONS UDP connections DNATed to them (each an
original entry and a reply reference: 2 map entries). Then, ROUNDS times each:

- ``keep``: a partial restore that rewrites the service chain with every endpoint (no DNAT
  destination goes away: no scan);
- ``drop``: a partial restore that takes one endpoint out (the scan runs and removes that
  endpoint's connections), then one that puts it back.

Printed: the restore's wall time for both, the agent's own scan time (status
``last_stale_scan_ms``) and how many connections went.

Usage: python -m bench.stale_udp_cost [--connections 25000] [--endpoints 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bpf import structs
from bpf.loader import PinnedMap
from tests.netns.agents import BpftablesCommands, agent_namespace

SERVICE = "198.18.100.1"
FIRST_ENDPOINT = 0xC6130000  # 198.19.0.0
CLIENT_BASE = 0xC6120000  # 198.18.0.0


def _endpoint(number: int) -> str:
    value = FIRST_ENDPOINT + number + 1
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def service_text(endpoints: list[int], declare_all: int) -> str:
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":KUBE-SVC-U - [0:0]"]
    lines += [f":KUBE-SEP-{n} - [0:0]" for n in range(declare_all)]
    lines.append(f"-A PREROUTING -d {SERVICE}/32 -p udp -m udp --dport 53 -j KUBE-SVC-U")
    for index, n in enumerate(endpoints):
        left = len(endpoints) - index
        if left > 1:
            lines.append(f"-A KUBE-SVC-U -m statistic --mode random --probability "
                         f"{1 / left:.11f} -j KUBE-SEP-{n}")
        else:
            lines.append(f"-A KUBE-SVC-U -j KUBE-SEP-{n}")
    lines += [f"-A KUBE-SEP-{n} -p udp -m udp -j DNAT --to-destination {_endpoint(n)}:5353"
              for n in endpoints]
    return "\n".join(lines + ["COMMIT", ""])


def partial_text(endpoints: list[int], removed: int | None) -> str:
    """kube-proxy's partial sync: the service chain and the endpoint chains rewritten."""
    lines = ["*nat", ":KUBE-SVC-U - [0:0]"]
    for index, n in enumerate(endpoints):
        left = len(endpoints) - index
        lines.append(f"-A KUBE-SVC-U -m statistic --mode random --probability {1 / left:.11f} "
                     f"-j KUBE-SEP-{n}" if left > 1 else f"-A KUBE-SVC-U -j KUBE-SEP-{n}")
    if removed is not None:
        lines += [f":KUBE-SEP-{removed} - [0:0]", f"-X KUBE-SEP-{removed}"]
    return "\n".join(lines + ["COMMIT", ""])


def fill(ct_map: PinnedMap, connections: int, endpoints: int) -> None:
    """UDP connections client:port -> SERVICE:53 DNATed to endpoint n (round robin)."""
    now = time.monotonic_ns()
    service = structs.be32(int.from_bytes(bytes(map(int, SERVICE.split("."))), "big"))
    for number in range(connections):
        client = structs.be32(CLIENT_BASE + 2 + number // 50000)
        sport = 1024 + number % 50000
        endpoint = structs.be32(FIRST_ENDPOINT + number % endpoints + 1)
        original = structs.flow4(client, service, sport, 53, 17)
        reply = structs.flow4(endpoint, client, 5353, sport, 17)
        entry = structs.ct_entry()
        entry.other, entry.flags = reply, structs.CT_F_DNAT
        entry.expires_ns = now + 3600 * 10**9
        ct_map.update(bytes(original), bytes(entry))
        reference = structs.ct_entry()
        reference.other, reference.flags = original, structs.CT_F_REPLY_REF
        ct_map.update(bytes(reply), bytes(reference))


def _timed(commands: BpftablesCommands, text: str) -> float:
    start = time.perf_counter()
    done = commands.restore(text, "--noflush")
    elapsed = time.perf_counter() - start
    assert done.code == 0, done.err
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=25000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    everyone = list(range(args.endpoints))
    with agent_namespace() as commands:
        assert commands.restore(service_text(everyone, args.endpoints)).code == 0
        status = json.loads(commands.cli("status", "--json").out)
        ct_map = PinnedMap.open(Path(status["datapath"]["pin_dir"]) / "maps" / "ct_map")
        keep, drop, scans, removed = [], [], [], []
        try:
            for round_number in range(args.rounds):
                fill(ct_map, args.connections, args.endpoints)
                entries = sum(1 for _ in ct_map.items_batched())
                keep.append(_timed(commands, partial_text(everyone, None)))
                gone = round_number % args.endpoints
                before = json.loads(commands.cli("status", "--json").out)["datapath"]
                drop.append(_timed(commands, partial_text(
                    [n for n in everyone if n != gone], gone)))
                after = json.loads(commands.cli("status", "--json").out)["datapath"]
                scans.append(after["last_stale_scan_ms"])
                removed.append(after["stale_udp_removed"] - before["stale_udp_removed"])
                assert commands.restore(service_text(everyone, args.endpoints),
                                        "--noflush").code == 0  # back for the next round
        finally:
            ct_map.close()
    print(f"connection table: {entries} entries ({args.connections} UDP connections with "
          f"their reply references), {args.endpoints} endpoints, {args.rounds} rounds")
    print(f"partial restore, no destination gone: median {1000 * statistics.median(keep):.1f} ms")
    print(f"partial restore, one endpoint gone:   median {1000 * statistics.median(drop):.1f} ms")
    print(f"agent's scan and removal: median {statistics.median(scans):.1f} ms "
          f"(min {min(scans):.1f}, max {max(scans):.1f}); connections removed per round: "
          f"{sorted(set(removed))}")


if __name__ == "__main__":
    main()
