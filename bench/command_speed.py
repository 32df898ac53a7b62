"""How fast the drop-in commands answer (issue: the commands and the agent): the median wall time
of ``iptables -C`` (kube-proxy's EnsureRule check of a jump that exists) and of ``iptables -A``
(a new rule, removed again untimed), through bpftables-multi and through iptables-legacy, each
in its own throwaway namespace holding the same kube-proxy rule set, at 10 and 10,000 services.

The timed commands are started from inside the namespace (a driver process entered with
``ip netns exec``), so neither side pays for ``ip netns exec``. bpftables' agent runs its
datapath (compiled for the rule set; the namespace has no links to attach to). The first
``-A`` of a new kind of rule changes the Shape and compiles; it is reported apart.

Usage: python -m bench.command_speed [--services 10,10000] [--runs 30]
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

from bench.kube_gen import ClusterShape, restore_text
from shim.install import multi_path

CHECK = ["-w", "5", "-C", "INPUT", "-t", "filter", "-m", "conntrack", "--ctstate", "NEW",
         "-m", "comment", "--comment", "kubernetes externally-visible service portals",
         "-j", "KUBE-EXTERNAL-SERVICES"]


def _added(number: int) -> list[str]:
    return ["-w", "5", "-A", "INPUT", "-s", f"198.18.{200 + number // 250}.{number % 250 + 1}",
            "-j", "DROP"]


def _removed(number: int) -> list[str]:
    return ["-w", "5", "-D", *_added(number)[3:]]


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv}: {done.returncode} {done.stderr!r}")
    return elapsed


def drive(iptables: list[str], runs: int) -> dict[str, object]:
    """Inside the namespace: time the commands (argv prefix ``iptables``)."""
    check = [_timed([*iptables, *CHECK]) for _ in range(runs)]
    first_add = _timed([*iptables, *_added(0)])
    adds = []
    for number in range(1, runs + 1):
        adds.append(_timed([*iptables, *_added(number)]))
    for number in range(runs + 1):
        _timed([*iptables, *_removed(number)])
    return {"check_ms": _summary(check), "add_ms": _summary(adds),
            "first_add_ms": round(1000 * first_add, 2)}


def _summary(values: list[float]) -> dict[str, float]:
    return {"min": round(1000 * min(values), 2),
            "median": round(1000 * statistics.median(values), 2),
            "max": round(1000 * max(values), 2)}


def measure(mode: str, services: int, runs: int, lockfile: str) -> dict[str, object]:
    netns = f"bpft-cmd{uuid.uuid4().hex[:8]}"
    # a lock file of the run's own: other users of /run/xtables.lock on the machine would
    # make either side wait (both sides take it, as iptables-legacy does)
    env = {**os.environ, "XTABLES_LOCKFILE": lockfile}
    text = restore_text(ClusterShape(services, endpoints=5), jumps=True)
    legacy = mode == "iptables-legacy"
    multi = str(multi_path())
    restore = ["iptables-legacy-restore"] if legacy else [multi, "iptables-restore"]
    iptables = ["iptables-legacy"] if legacy else [multi, "iptables"]
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        start = time.perf_counter()
        subprocess.run(["ip", "netns", "exec", netns, *restore], input=text, text=True,
                       check=True, capture_output=True, env=env)
        load_s = time.perf_counter() - start
        done = subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-m", "bench.command_speed",
             "--drive", json.dumps(iptables), "--runs", str(runs)],
            capture_output=True, text=True, cwd=Path(__file__).parents[1], env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{mode} at {services}: {done.stderr[-2000:]}")
        return {"load_s": round(load_s, 2), **json.loads(done.stdout)}
    finally:
        if not legacy:
            subprocess.run(["ip", "netns", "exec", netns, str(Path(multi).with_name("bpftables")),
                            "agent", "stop", "--forget"], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", default="10,10000")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.drive:
        sys.stdout.write(json.dumps(drive(json.loads(args.drive), args.runs)))
        return 0
    from bpf.bpffs import ensure_bpffs

    ensure_bpffs()  # from the host's mount namespace: the agents' pins must outlive them
    results: dict[str, dict[str, object]] = {}
    print(f"{'services':>8} {'mode':<16} {'load s':>7} {'-C median ms':>13} "
          f"{'-A median ms':>13} {'first -A ms':>12}")
    folder = tempfile.mkdtemp(prefix="bpftables-bench-")
    lockfile = os.path.join(folder, "xtables.lock")
    for services in (int(n) for n in args.services.split(",")):
        for mode in ("iptables-legacy", "bpftables"):
            found = measure(mode, services, args.runs, lockfile)
            results[f"{mode}.{services}"] = found
            print(f"{services:>8} {mode:<16} {found['load_s']:>7} "
                  f"{found['check_ms']['median']:>13} {found['add_ms']['median']:>13} "
                  f"{found['first_add_ms']:>12}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
