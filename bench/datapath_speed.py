"""Datapath cost per packet (issue: the datapath): BPF_PROG_TEST_RUN of the generated tc ingress
program on a service hit, at 100, 10,000 and 50,000 kube-proxy services, next to an empty tc
program: the per-packet work must not grow with the number of services.

Each figure is the median of single runs (repeat=1: the kernel times one run of the real
path; repeats would run on the previous run's NATed output). "new" sends every packet from a
new source port (a new connection: the rules, DNAT, MASQUERADE, two conntrack inserts);
"established" repeats one connection's packet (conntrack hit, stored translation). Packets go
to the first and to the last service. Runs in a throwaway network namespace (its FIB answers
the routing step) with the programs loaded, never attached.

Usage: python -m bench.datapath_speed [--services 100,10000,50000] [--runs 3000]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.kube_gen import ClusterShape, restore_text
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import compile_ruleset
from translator.model.packet import IPPROTO_TCP, TCP_SYN, Packet, address
from translator.shape import analyze

NODE_ADDRESS = "198.18.1.1"
CLIENT = "198.18.0.2"
ETHERNET = bytes(6) + bytes.fromhex("020000000001") + b"\x08\x00"


def _frame(destination: int, sport: int) -> bytes:
    from tests.netns.packets import wire

    return ETHERNET + wire(Packet(address(CLIENT), destination, IPPROTO_TCP, sport, 80,
                                  tcp_flags=TCP_SYN))


def _ns(prog_fd: int, frames: list[bytes]) -> dict[str, float]:
    """min, median and max ns of single runs, one per frame."""
    from bpf.testrun import run_program

    times = [run_program(prog_fd, frame).duration_ns for frame in frames]
    return {"min": min(times), "median": statistics.median(times), "max": max(times)}


def _median_ns(prog_fd: int, frames: list[bytes]) -> float:
    return _ns(prog_fd, frames)["median"]


def _with_range(result: dict[str, float], key: str, figures: dict[str, float]) -> None:
    """The median under ``key``, min and max beside it (``key``_min, ``key``_max)."""
    result[key] = figures["median"]
    result[f"{key}_min"] = figures["min"]
    result[f"{key}_max"] = figures["max"]


def measure(services: int, runs: int, pins: Path) -> dict[str, float]:
    from bpf.enforcer import Enforcer, Interface
    from bpf.ruledata import Environment

    shape = ClusterShape(services, 5, node_ports=min(services, 500))
    ruleset = Restorer().restore(restore_text(shape, jumps=True), Ruleset(), RestoreOptions())
    plan = compile_ruleset(ruleset)
    uplink = Interface("v0", socket.if_nametoindex("v0"), address(NODE_ADDRESS))
    enforcer = Enforcer(pin_dir=pins, attach=False)
    enforcer.apply(plan, analyze(plan), Environment({"v0": uplink.index}), [uplink],
                   [address(NODE_ADDRESS)])
    try:
        assert enforcer.datapath is not None
        fd = enforcer.datapath.programs["tc_ingress"].fd
        first = address(shape.cluster_base) + 1
        last = address(shape.cluster_base) + services
        result: dict[str, float] = {}
        for label, destination in (("first", first), ("last", last)):
            _with_range(result, f"new_{label}", _ns(
                fd, [_frame(destination, 10000 + n % 50000) for n in range(runs)]))
            established = _frame(destination, 9000)
            _median_ns(fd, [established])  # the connection's first packet
            _with_range(result, f"established_{label}", _ns(fd, [established] * runs))
        return result
    finally:
        enforcer.close()


def empty_ns(runs: int) -> dict[str, float]:
    from bcc import BPF

    module = BPF(text=b"int empty(struct __sk_buff *skb) { return 0; }")
    function = module.load_func(b"empty", BPF.SCHED_CLS)
    try:
        return _ns(function.fd, [_frame(address("198.18.1.2"), 9000)] * runs)
    finally:
        module.cleanup()


def inside(args: argparse.Namespace) -> int:
    """In the throwaway namespace: every size, then the JSON on stdout."""
    from bpf.bpffs import ensure_bpffs, remove_tree

    root = ensure_bpffs()
    results: dict[str, object] = {"services": {}}
    _with_range(results, "empty_ns", empty_ns(args.runs))  # type: ignore[arg-type]
    for count in (int(n) for n in args.services.split(",")):
        pins = root / f"bench-{uuid.uuid4().hex[:8]}"
        pins.mkdir(mode=0o700)
        try:
            start = time.perf_counter()
            figures = measure(count, args.runs, pins)
            figures["setup_s"] = time.perf_counter() - start
            results["services"][str(count)] = figures  # type: ignore[index]
        finally:
            remove_tree(pins)
    sys.stdout.write(json.dumps(results) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", default="100,10000,50000")
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--out", default="bench/results/datapath_speed.json")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        return inside(args)
    netns = f"bpft-bench-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        for command in (["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                        ["addr", "add", f"{NODE_ADDRESS}/24", "dev", "v0"],
                        ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
                        ["link", "set", "lo", "up"],
                        ["route", "add", "10.0.0.0/8", "via", "198.18.1.2"]):
            subprocess.run(["ip", "-n", netns, *command], check=True)
        done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m",
                               "bench.datapath_speed", "--inside", "--services", args.services,
                               "--runs", str(args.runs)], check=True, capture_output=True,
                              text=True)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    results = json.loads(done.stdout.strip().splitlines()[-1])
    results["machine"] = (f"{platform.node()} {platform.machine()} "
                          f"python {platform.python_version()}")
    results["runs"] = args.runs
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    empty = results["empty_ns"]
    print(f"empty tc program: {empty:.0f} ns")
    print(f"{'services':>9} {'new first':>10} {'new last':>9} {'est first':>10} {'est last':>9}"
          f"  (ns per packet, median of {args.runs} single runs; x = ratio to empty)")
    for count, figures in results["services"].items():
        cells = " ".join(f"{figures[key]:>7.0f} {figures[key] / empty:>4.1f}x"
                         for key in ("new_first", "new_last", "established_first",
                                     "established_last"))
        print(f"{count:>9} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
