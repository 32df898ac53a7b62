"""How long the agent takes to commit what kube-proxy sends (issue: the commands and the agent):
a partial sync adding one service (``iptables-restore -w 5 --noflush --counters``, USAGE.md) and
one ``iptables -A`` of a kind of rule already there, at N services, median of --runs.

The agent runs in this process, inside a throwaway network namespace (re-entered with ``ip netns
exec``): its datapath compiles and writes its maps; no link is attached. Timed is the agent's
whole answer to the command (parse, commit checks, datapath update, counters, journal), not the
client's Python start (``bench.command_speed`` has that).

Usage: python -m bench.sync_speed [--services 10000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name

SYNC = ["-w", "5", "--noflush", "--counters"]


def _inside(services: int, runs: int) -> dict[str, object]:
    """The measurement, in the namespace."""
    from shim.agent import Agent, datapath_limits
    from shim.namespace import NamespaceDatapath

    folder = Path(tempfile.mkdtemp(prefix="bpftables-sync-speed-"))
    agent = Agent(folder, NamespaceDatapath(datapath_limits(os.environ)))
    lock = str(folder / "xtables.lock")

    def command(program: str, argv: list[str], stdin: str = "") -> float:
        start = time.perf_counter()
        outcome = agent.run_command({"program": program, "argv": argv, "stdin": stdin,
                                     "cwd": "/", "lockfile": lock})
        took = time.perf_counter() - start
        if outcome.exit_code != 0:
            raise RuntimeError(f"{program} {argv}: {outcome.stderr}")
        return took

    def shape(count: int) -> ClusterShape:
        return ClusterShape(count, endpoints=5)

    try:
        load = command("iptables-restore", SYNC, restore_text(shape(services), jumps=True))
        syncs = [command("iptables-restore", SYNC,
                         partial_sync_text(shape(services + added + 1),
                                           {service_name(services + added)}))
                 for added in range(runs)]
        # the first two -A of a new kind of rule change the Shape (a RULE block, then a
        # lookup): untimed; then the lookup grows
        adds = [command("iptables", ["-w", "5", "-A", "INPUT", "-s", f"198.18.9.{number}",
                                     "-j", "DROP"]) for number in range(1, runs + 3)][2:]
    finally:
        agent.stop(forget=True)

    def summary(values: list[float]) -> dict[str, float]:
        return {"min": round(min(values), 4), "median": round(statistics.median(values), 4),
                "max": round(max(values), 4)}

    return {"services": services, "load_s": round(load, 2), "add_one_service_s": summary(syncs),
            "iptables_append_s": summary(adds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="bench/results/sync_speed.json")
    args = parser.parse_args(argv)
    if args.inside:
        sys.stdout.write(json.dumps(_inside(args.services, args.runs)))
        return 0
    from bpf.bpffs import ensure_bpffs

    ensure_bpffs()  # from the host's mount namespace: the agent's pins must live there
    netns = f"bpft-sync{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bpftables-sync-lock-") as folder:
            # a lock file of its own: other users of /run/xtables.lock must not make it wait
            env = {**os.environ, "XTABLES_LOCKFILE": os.path.join(folder, "xtables.lock")}
            done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m",
                                   "bench.sync_speed", "--inside", "--services",
                                   str(args.services), "--runs", str(args.runs)],
                                  capture_output=True, text=True, env=env,
                                  cwd=Path(__file__).parents[1], check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        result = json.loads(done.stdout)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['services']} services (load {result['load_s']} s): add one service "
          f"(partial sync) median {result['add_one_service_s']['median']:.3f} s, "
          f"iptables -A median {result['iptables_append_s']['median'] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
