"""bpftables side by side with iptables-legacy, iptables-nft and native nftables (issue 7).

One topology (bench/topology.py: client -> node -> backend namespaces), the same rule sets and
the same traffic for every mode (bench/modes.py), modes interleaved at each N so the machine's
drift is shared. Scenarios and the results' keys:

- new_flow_pps.<mode>.<N>.first|last: kube-proxy services (UDP, 3 endpoints each), a flood
  where every packet is a new flow (bench/sender.c) to the first and to the last service;
  packets per second the backend received.
- update_s.<mode>.<N>.full|add_one|single_cmd: the full sync, kube-proxy adding one service
  (partial restore --noflush / one nft -f transaction), one iptables -A / nft add rule.
- testrun_ns.<N>, testrun_ns.empty: BPF_PROG_TEST_RUN ns per packet (bench/datapath_speed.py).
- http_rps.<mode>.<N>: ab (a new connection per request) to nginx behind the last service.
- iperf_gbps.<mode>: iperf3 TCP throughput through a service.
- drop_pps.<mode>.<N>: N source-prefix DROP rules, a flood from the last one; packets per
  second the node took in (delivered_pps says how many still reached the backend).
- memory.<N>: the bpftables agent's RSS (its pid from `bpftables status --json`) and its pinned
  BPF maps' memory (fdinfo memlock).

Each figure is {min, median, max} over the repeats. Writes bench/results/latest.json,
latest.md and PNG plots there.

Usage: python -m bench.side_by_side [--quick] [--modes none,bpftables] [--services 100,1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.kube_gen import ClusterShape, cluster_address
from bench.modes import (
    DROP_MODES,
    SERVICE_MODES,
    Mode,
    grown,
    make_mode,
    xdp_unsupported_reason,
)
from bench.topology import (
    BACKEND,
    CLUSTER_BASE,
    ENDPOINT_BASE,
    ENDPOINT_WRAP,
    SENDER_SOURCE_BASE,
    SENDER_SOURCES,
    BenchTopology,
    machine_line,
    stop,
)

log = logging.getLogger("bench.side_by_side")

FULL = {"services": "100,1000,10000,30000,50000", "http": "1,100,5000",
        "drop": "100,1000,10000,30000,50000", "iperf": 100, "seconds": 3.0, "repeat": 5,
        "big_repeat": 3, "testrun_runs": 3000}
# under 10 minutes on an idle machine: one round at 10,000 (a full nftables load alone takes
# a minute there), HTTP up to 1,000 services
QUICK = {"services": "100,1000,10000", "http": "1,100,1000", "drop": "100,1000,10000",
         "iperf": 100, "seconds": 1.0, "repeat": 3, "big_repeat": 1, "testrun_runs": 500}
BIG_N = 10_000  # from here on a round (a full load per mode) costs minutes: big_repeat rounds
SCENARIOS = ("new_flow", "update", "testrun", "http", "iperf", "drop", "memory")
MAX_PPS = 5_000_000  # the sender's packet bound: seconds * MAX_PPS
RESULTS = Path(__file__).with_name("results")


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def service_shape(services: int, protocol: str) -> ClusterShape:
    return ClusterShape(services, 3, CLUSTER_BASE, ENDPOINT_BASE, protocols=(protocol,),
                        endpoint_wrap=ENDPOINT_WRAP)


def drop_sources(count: int) -> list[str]:
    """``count`` distinct /32 prefixes in 198.19.0.0/16 (the flood comes from the last)."""
    return [f"198.19.{(n + 1) // 256}.{(n + 1) % 256}/32" for n in range(count)]


# --- traffic --------------------------------------------------------------------------------

def flood(topo: BenchTopology, destination: str, port: int, seconds: float, source_base: str,
          sources: int, receive_port: int) -> dict[str, float]:
    """One flood from the client: packets per second sent, received by the backend and taken
    in by the node (its client-side interface's receive counter)."""
    receiver = topo.spawn(topo.backend, str(topo.sender), "recv", str(receive_port),
                          str(seconds + 1.5))
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "ready":
            raise RuntimeError("the receiver did not start")
        before = topo.rx_packets(topo.node, "n0")
        sent = topo.exec(topo.client, str(topo.sender), "send", destination, str(port),
                         str(seconds), str(int(seconds * MAX_PPS)), source_base, str(sources),
                         timeout=seconds + 30).stdout.split()
        taken = topo.rx_packets(topo.node, "n0") - before
        time.sleep(0.2)  # what is still in flight arrives
        receiver.terminate()  # it prints its count and ends
        out, _ = receiver.communicate(timeout=seconds + 10)
    finally:
        stop(receiver)
    elapsed = float(sent[2])
    received = int(out.split()[1])
    return {"sent_pps": int(sent[1]) / elapsed, "received_pps": received / elapsed,
            "node_pps": taken / elapsed}


@contextmanager
def backend_server(topo: BenchTopology, kind: str) -> Iterator[None]:
    """nginx (``http``) or iperf3 (``iperf``) on the backend, on port 80 (what `none` reaches:
    the service address itself) and 8080 (the endpoints' target port)."""
    processes: list[subprocess.Popen[str]] = []
    try:
        if kind == "http":
            prefix = topo.workdir / "nginx"
            prefix.mkdir(exist_ok=True)
            conf = prefix / "nginx.conf"
            conf.write_text(
                "daemon off; master_process off; worker_processes 1; user root;\n"
                f"pid {prefix}/nginx.pid; error_log {prefix}/error.log;\n"
                "events { worker_connections 4096; }\n"
                f"http {{ access_log off; client_body_temp_path {prefix}/body;\n"
                f"proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fcgi;\n"
                f"uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;\n"
                "server { listen 80 reuseport backlog=4096; listen 8080 reuseport backlog=4096;\n"
                "location / { return 200 \"ok\\n\"; } } }\n")
            processes.append(topo.spawn(topo.backend, "nginx", "-c", str(conf), "-p",
                                        str(prefix)))
        else:
            for port in (80, 8080):
                processes.append(topo.spawn(topo.backend, "iperf3", "-s", "-p", str(port)))
        time.sleep(0.5)
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} server ended: {process.communicate()[1][-500:]}")
        yield
    finally:
        for process in processes:
            stop(process)


def http_rps(topo: BenchTopology, destination: str, seconds: float) -> float:
    done = topo.exec(topo.client, "ab", "-q", "-r", "-t", str(seconds), "-n", "1000000",
                     "-c", "16", f"http://{destination}/", timeout=seconds + 60, check=False)
    found = re.search(r"Requests per second:\s+([\d.]+)", done.stdout)
    if found is None:
        raise RuntimeError(f"ab: {done.stdout[-500:]} {done.stderr[-500:]}")
    return float(found.group(1))


def iperf_gbps(topo: BenchTopology, destination: str, seconds: float) -> float:
    """Received Gbit/s; one more try when the server is still busy with the last test."""
    report: dict[str, Any] = {}
    for _ in range(2):
        done = topo.exec(topo.client, "iperf3", "-c", destination, "-p", "80", "-t",
                         str(seconds), "-J", timeout=seconds + 60, check=False)
        report = json.loads(done.stdout or "{}")
        received = report.get("end", {}).get("sum_received")
        if received is not None:
            return received["bits_per_second"] / 1e9
        time.sleep(1)
    raise RuntimeError(f"iperf3: {report.get('error', 'no result')}")


# --- scenarios ------------------------------------------------------------------------------

class Run:
    """One benchmark run: the topology, the modes, what was measured so far."""

    def __init__(self, topo: BenchTopology, modes: list[str], args: argparse.Namespace) -> None:
        self.topo = topo
        self.args = args
        self.modes = {name: make_mode(name, topo) for name in modes}
        self.results: dict[str, Any] = {}
        self.samples: dict[tuple[str, ...], list[float]] = {}
        self.errors: list[str] = []

    @contextmanager
    def attempt(self, mode: Mode, what: str) -> Iterator[None]:
        """One mode's turn: a failure is recorded and the run goes on; the mode is torn down
        whatever happens."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 - recorded; the other modes still run
            detail = getattr(error, "stderr", None) or ""
            message = f"{what}: {mode.name}: {error} {str(detail)[-300:]}".strip()
            log.error("%s", message)
            self.errors.append(message)
        finally:
            try:
                mode.teardown()
            except (RuntimeError, subprocess.SubprocessError, OSError) as error:
                self.errors.append(f"{what}: {mode.name}: teardown: {error}")

    def add(self, *key_and_value: Any) -> None:
        *key, value = key_and_value
        if value is not None:
            self.samples.setdefault(tuple(str(k) for k in key), []).append(value)

    def rounds(self, count: int) -> int:
        """How many rounds of full loads and floods at ``count`` services."""
        return min(self.args.repeat, self.args.big_repeat) if count >= BIG_N else self.args.repeat

    def order(self, names: tuple[str, ...], round_number: int) -> list[Mode]:
        """The modes of ``names`` this run has, rotated each round (no mode always first)."""
        present = [self.modes[name] for name in names if name in self.modes]
        shift = round_number % max(len(present), 1)
        return present[shift:] + present[:shift]

    def new_flows(self, counts: list[int]) -> None:
        seconds = self.args.seconds
        for count in counts:
            shape = service_shape(count, "udp")
            for round_number in range(self.rounds(count)):
                for mode in self.order(SERVICE_MODES, round_number):
                    log.info("new flows: %s, %d services, round %d", mode.name, count,
                             round_number + 1)
                    with self.attempt(mode, f"new flows, {count} services"):
                        self.add("update_s", mode.name, count, "full", mode.load_full(shape))
                        for label, index in (("first", 0), ("last", count - 1)):
                            self.topo.flush_conntrack()
                            found = flood(self.topo, cluster_address(shape, index), 80,
                                          seconds, SENDER_SOURCE_BASE, SENDER_SOURCES, 8080
                                          if mode.name != "none" else 80)
                            self.add("new_flow_pps", mode.name, count, label,
                                     found["received_pps"])
                            self.add("new_flow_sent_pps", mode.name, count, label,
                                     found["sent_pps"])
                        if "memory" in self.args.scenarios and round_number == 0:
                            memory = mode.memory()
                            if memory is not None:
                                self.results.setdefault("memory", {})[str(count)] = {
                                    "rss_bytes": memory["rss_bytes"],
                                    "map_bytes": memory["map_bytes"],
                                    "map_bytes_per_service": memory["map_bytes"] / count,
                                    "maps": memory["maps"]}
                        self.add("update_s", mode.name, count, "add_one",
                                 mode.add_one(grown(shape)))
                        self.add("update_s", mode.name, count, "single_cmd",
                                 mode.single_cmd(round_number))

    def http(self, counts: list[int]) -> None:
        with backend_server(self.topo, "http"):
            for count in counts:
                shape = service_shape(count, "tcp")
                for mode in self.order(SERVICE_MODES, count):
                    log.info("http: %s, %d services", mode.name, count)
                    with self.attempt(mode, f"http, {count} services"):
                        mode.load_full(shape)
                        for _ in range(self.args.repeat):
                            self.add("http_rps", mode.name, count, http_rps(
                                self.topo, cluster_address(shape, count - 1), self.args.seconds))

    def iperf(self, count: int) -> None:
        shape = service_shape(count, "tcp")
        with backend_server(self.topo, "iperf"):
            for mode in self.order(SERVICE_MODES, 0):
                log.info("iperf: %s, %d services", mode.name, count)
                with self.attempt(mode, f"iperf, {count} services"):
                    mode.load_full(shape)
                    for _ in range(self.args.repeat):
                        self.add("iperf_gbps", mode.name, iperf_gbps(
                            self.topo, cluster_address(shape, count - 1),
                            max(self.args.seconds, 1.0)))
        self.results["iperf_services"] = count

    def drop(self, counts: list[int]) -> None:
        for count in counts:
            sources = drop_sources(count)
            flood_source = sources[-1].split("/")[0]
            for mode in self.order(DROP_MODES, count):
                reason = self.unsupported(mode)
                if reason is not None:
                    log.info("drop: %s %s", mode.name, reason)
                    continue
                log.info("drop: %s, %d rules", mode.name, count)
                with self.attempt(mode, f"drop, {count} rules"):
                    mode.load_drop(sources)
                    for _ in range(self.args.repeat):
                        found = flood(self.topo, BACKEND, 8080, self.args.seconds, flood_source,
                                      1, 8080)
                        self.add("drop_pps", mode.name, count, found["node_pps"])
                        self.add("drop_delivered_pps", mode.name, count, found["received_pps"])

    def unsupported(self, mode: Mode) -> str | None:
        """Why ``mode`` cannot run on this machine (recorded in the results), or None."""
        reason = xdp_unsupported_reason() if mode.name == "bpftables-xdp" else None
        if reason is not None:
            self.results.setdefault("not_supported", {})[mode.name] = reason
        return reason

    def close(self) -> None:
        for mode in self.modes.values():
            mode.close()

    def figures(self) -> dict[str, Any]:
        """The samples as nested {min, median, max}."""
        found: dict[str, Any] = {**self.results, "errors": list(self.errors)}
        for key, values in sorted(self.samples.items()):
            level = found
            for part in key[:-1]:
                level = level.setdefault(part, {})
            level[key[-1]] = summary(values)
        return found


def testrun(counts: list[int], runs: int) -> dict[str, Any]:
    """bench/datapath_speed.py in its own namespace; its medians and ranges, as issue 7's
    keys (testrun_ns.<N>: a new flow to the last service)."""
    from bench import datapath_speed

    out = RESULTS / "datapath_speed_side_by_side.json"
    datapath_speed.main(["--services", ",".join(map(str, counts)), "--runs", str(runs),
                         "--out", str(out)])
    raw = json.loads(out.read_text())
    def ranged(figures: dict[str, float], key: str) -> dict[str, Any]:
        return {"min": figures[f"{key}_min"], "median": figures[key],
                "max": figures[f"{key}_max"]}

    found: dict[str, Any] = {"empty": ranged(raw, "empty_ns")}
    for count, figures in raw["services"].items():
        found[count] = {**ranged(figures, "new_last"), "detail": figures}
    return found


# --- output ---------------------------------------------------------------------------------

def _cell(figure: dict[str, float] | None, scale: float = 1.0, digits: int = 0) -> str:
    if not figure:
        return "-"
    return f"{figure['median'] * scale:,.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Side by side ({results['started']})", "",
             f"Machine: {results['machine']}", "",
             f"Command: `{results['command']}`; {results['repeat']} repeats of "
             f"{results['seconds']} s each ({results.get('big_repeat', results['repeat'])} "
             f"from {BIG_N:,} services on); medians (min/max in latest.json). "
             "Each mode through its own tool; bpftables through its drop-in commands "
             "(bpftables-multi iptables-restore / iptables, answered by the node's agent). "
             f"{results.get('note', '')}".strip(), ""]
    modes = results["modes"]

    def table(title: str, key: str, counts: list[str], sub: str | None, scale: float = 1.0,
              digits: int = 0, names: list[str] | None = None) -> None:
        data = results.get(key)
        if not data:
            return
        names = [name for name in (names or modes) if name in data]
        lines.extend([f"## {title}", "", "| N | " + " | ".join(names) + " |",
                      "|---" * (len(names) + 1) + "|"])
        for count in counts:
            cells = []
            for name in names:
                figure = data[name].get(count)
                if sub is not None and figure is not None:
                    figure = figure.get(sub)
                cells.append(_cell(figure, scale, digits))
            lines.append(f"| {count} | " + " | ".join(cells) + " |")
        lines.append("")

    counts = [str(n) for n in results["services"]]
    table("New flows, first service (packets/s delivered)", "new_flow_pps", counts, "first")
    table("New flows, last service (packets/s delivered)", "new_flow_pps", counts, "last")
    for what in ("full", "add_one", "single_cmd"):
        table(f"Update: {what} (ms)", "update_s", counts, what, 1000, 1)
    table("HTTP requests/s (ab, a connection per request)", "http_rps",
          [str(n) for n in results["http_services"]], None)
    table("Early drop (packets/s taken in by the node)", "drop_pps",
          [str(n) for n in results["drop_rules"]], None,
          names=[*modes, *(["bpftables-xdp"] if "bpftables-xdp" in results.get("drop_pps", {})
                           else [])])
    if results.get("iperf_gbps"):
        lines += [f"## TCP throughput (iperf3 through a service, "
                  f"{results.get('iperf_services')} services)", "",
                  "| mode | Gbit/s |", "|---|---|"]
        lines += [f"| {name} | {_cell(figure, 1, 2)} |"
                  for name, figure in results["iperf_gbps"].items()]
        lines.append("")
    if results.get("testrun_ns"):
        data = results["testrun_ns"]
        lines += ["## BPF_PROG_TEST_RUN (ns per packet, a new flow to the last service)", "",
                  f"empty tc program: {_cell(data['empty'])}", "", "| N | ns |", "|---|---|"]
        lines += [f"| {count} | {_cell(figure)} |" for count, figure in data.items()
                  if count != "empty"]
        lines.append("")
    if results.get("memory"):
        lines += ["## bpftables memory", "", "| N | RSS (MiB) | BPF maps (MiB) | "
                  "map bytes per service |", "|---|---|---|---|"]
        lines += [f"| {count} | {m['rss_bytes'] / 2**20:.1f} | {m['map_bytes'] / 2**20:.1f} | "
                  f"{m['map_bytes_per_service']:,.0f} |" for count, m in results["memory"].items()]
        lines.append("")
    lines += ["## Goals (issue 7)", "", *[f"- {line}" for line in goals(results)], ""]
    if results.get("not_supported"):
        lines += ["## Not run", "", *[f"- {name}: {reason}" for name, reason
                                      in results["not_supported"].items()], ""]
    if results.get("errors"):
        lines += ["## Errors", "", *[f"- {line}" for line in results["errors"]], ""]
    return "\n".join(lines)


def _median(results: dict[str, Any], *key: str) -> float | None:
    level: Any = results
    for part in key:
        if not isinstance(level, dict) or part not in level:
            return None
        level = level[part]
    return level["median"] if isinstance(level, dict) and "median" in level else None


def goals(results: dict[str, Any]) -> list[str]:
    """Each of issue 7's goals with what this run measured (met or not)."""
    found = []
    for count in map(str, results["services"]):
        floor = _median(results, "new_flow_pps", "none", count, "last")
        ours = [_median(results, "new_flow_pps", "bpftables", count, side)
                for side in ("first", "last")]
        if floor and all(ours):
            first, last = ours
            found.append(f"{count} services: bpftables new flows {min(first, last) / floor:.2f}x "
                         f"the floor (goal >= 0.85), first/last differ by "
                         f"{abs(first - last) / max(first, last):.0%} (goal <= 10%)")
        legacy = _median(results, "new_flow_pps", "iptables-legacy", count, "last")
        nft = _median(results, "new_flow_pps", "nftables", count, "last")
        if ours[1] and legacy and nft:
            found.append(f"{count} services, last: bpftables {ours[1] / legacy:.1f}x "
                         f"iptables-legacy (goal >= 10 at 10,000), {ours[1] / nft:.2f}x "
                         f"nftables (goal >= 1.5 at 10,000)")
        add = _median(results, "update_s", "bpftables", count, "add_one")
        full = _median(results, "update_s", "bpftables", count, "full")
        legacy_full = _median(results, "update_s", "iptables-legacy", count, "full")
        if add is not None and full is not None and legacy_full:
            found.append(f"{count} services: add one service {add * 1000:.1f} ms (goal <= 20 ms "
                         f"at 10,000); full load {full / legacy_full:.2f}x iptables-legacy "
                         f"(goal <= 0.5)")
    testrun_data = results.get("testrun_ns") or {}
    sizes = sorted(int(n) for n in testrun_data if n != "empty")
    if len(sizes) >= 2:
        low, high = testrun_data[str(sizes[0])]["median"], testrun_data[str(sizes[-1])]["median"]
        found.append(f"test run ns/packet at {sizes[-1]} = {high / low:.2f}x at {sizes[0]} "
                     f"(goal <= 1.1 from 100 to 50,000)")
    iperf = results.get("iperf_gbps") or {}
    if "none" in iperf and "bpftables" in iperf:
        found.append(f"TCP throughput {iperf['bpftables']['median'] / iperf['none']['median']:.2f}"
                     f"x none (goal >= 0.95)")
    return found


def plots(results: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def series(key: str, name: str, sub: str | None) -> tuple[list[int], list[float]]:
        data = results.get(key, {}).get(name, {})
        xs, ys = [], []
        for count in sorted(data, key=int):
            figure = data[count].get(sub) if sub else data[count]
            if figure:
                xs.append(int(count))
                ys.append(figure["median"])
        return xs, ys

    colours = {name: f"C{n}" for n, name in enumerate([*results["modes"], "bpftables-xdp"])}

    def figure(path: str, title: str, ylabel: str, lines: list[tuple[str, str, str | None]],
               key: str, logy: bool, scale: float = 1.0) -> None:
        fig, axis = plt.subplots(figsize=(7, 4.5))
        drew = False
        for label, name, sub in lines:
            xs, ys = series(key, name, sub)
            if xs:  # a mode keeps its colour; its last service is dashed
                axis.plot(xs, [y * scale for y in ys], marker="o", label=label,
                          color=colours.get(name), linestyle="--" if sub == "last" else "-")
                drew = True
        if not drew:
            plt.close(fig)
            return
        axis.set_xscale("log")
        if logy:
            axis.set_yscale("log")
        axis.set_xlabel("N")
        axis.set_ylabel(ylabel)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
        fig.tight_layout()
        target = folder / path
        fig.savefig(target, dpi=110)
        plt.close(fig)
        written.append(target)

    modes = results["modes"]
    figure("new_flow_pps.png", "New UDP flows per second delivered (kube-proxy services)",
           "packets/s", [(f"{m} {side}", m, side) for m in modes for side in ("first", "last")],
           "new_flow_pps", True)
    figure("update_add_one.png", "Adding one service (kube-proxy partial sync)", "ms",
           [(m, m, "add_one") for m in modes], "update_s", True, 1000)
    figure("update_full.png", "Loading the full rule set", "s",
           [(m, m, "full") for m in modes], "update_s", True)
    figure("drop_pps.png", "Early drop: packets/s taken in by the node", "packets/s",
           [(m, m, None) for m in [*modes, "bpftables-xdp"]], "drop_pps", True)
    figure("http_rps.png", "HTTP requests/s through a service (ab)", "requests/s",
           [(m, m, None) for m in modes], "http_rps", False)
    return written


# --- main -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short run (under 10 min)")
    parser.add_argument("--modes", default=",".join(SERVICE_MODES),
                        help="comma-separated; bpftables also brings bpftables-xdp (drop)")
    parser.add_argument("--services", help="N for new flows and updates, comma-separated")
    parser.add_argument("--http-services", help="N for http_rps")
    parser.add_argument("--drop-rules", help="N for drop_pps")
    parser.add_argument("--iperf-services", type=int)
    parser.add_argument("--seconds", type=float, help="traffic per measurement")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--big-repeat", type=int,
                        help=f"rounds of new flows and updates from {BIG_N:,} services on")
    parser.add_argument("--testrun-runs", type=int)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--out", default=str(RESULTS / "latest"),
                        help="results path without extension (.json, .md; plots beside)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--replot", action="store_true",
                        help="only write the table and plots again from the results' .json")
    args = parser.parse_args(argv)
    if args.replot:
        out = Path(args.out)
        write_outputs(json.loads(out.with_suffix(".json").read_text()), out, not args.no_plots)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        stream=sys.stderr)
    defaults = QUICK if args.quick else FULL
    services = [int(n) for n in (args.services or defaults["services"]).split(",")]
    http_counts = [int(n) for n in (args.http_services or defaults["http"]).split(",")]
    drop_counts = [int(n) for n in (args.drop_rules or defaults["drop"]).split(",")]
    args.seconds = args.seconds or defaults["seconds"]
    args.repeat = args.repeat or defaults["repeat"]
    args.big_repeat = args.big_repeat or defaults["big_repeat"]
    iperf_count = args.iperf_services or defaults["iperf"]
    runs = args.testrun_runs or defaults["testrun_runs"]
    args.scenarios = args.scenarios.split(",")
    modes = args.modes.split(",")
    if "bpftables" in modes and "bpftables-xdp" not in modes:
        modes.append("bpftables-xdp")
    command = "python -m bench.side_by_side " + " ".join(argv if argv is not None
                                                         else sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    run_start = time.monotonic()
    topo = BenchTopology.create()
    run = Run(topo, modes, args)
    try:
        if "new_flow" in args.scenarios or "update" in args.scenarios:
            run.new_flows(services)
        if "http" in args.scenarios:
            run.http(http_counts)
        if "iperf" in args.scenarios:
            run.iperf(iperf_count)
        if "drop" in args.scenarios:
            run.drop(drop_counts)
    finally:
        run.close()
        topo.close()
    results = run.figures()
    if "testrun" in args.scenarios and "bpftables" in modes:
        results["testrun_ns"] = testrun(services, runs)
    results.update({
        "machine": machine_line(), "started": started, "command": command.strip(),
        "modes": [m for m in modes if m != "bpftables-xdp"], "services": services,
        "http_services": http_counts, "drop_rules": drop_counts, "seconds": args.seconds,
        "repeat": args.repeat, "big_repeat": min(args.repeat, args.big_repeat),
        "bpftables_driver": "drop-in commands (bpftables-multi)",
        "wall_s": time.monotonic() - run_start,
        "note": "measured on a machine shared with other work; figures drift",
    })
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    write_outputs(results, out, not args.no_plots)
    return 0


def write_outputs(results: dict[str, Any], out: Path, with_plots: bool) -> None:
    """The markdown table (printed too) and the plots beside the results."""
    text = markdown(results)
    if with_plots:
        written = plots(results, out.parent)
        text += "\n" + "\n".join(f"![{path.stem}]({path.name})" for path in written) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
