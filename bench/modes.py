"""The side-by-side benchmark's modes: one class per way of enforcing the same rule set on the
node, each through its own tool.

Every mode has the same operations, each returning the seconds it took end to end (None where
the mode has nothing to do): ``load_full(shape)`` (a whole kube-proxy sync), ``add_one(shape)``
(kube-proxy adding the shape's last service: a partial ``iptables-restore --noflush``, one
``nft -f`` transaction), ``single_cmd(n)`` (one ``iptables -A`` / ``nft add rule``),
``load_drop(sources)`` (the early-drop firewall) and ``teardown()``.
"""

from __future__ import annotations

import json
import logging
import select
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import nft_gen
from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name
from bench.topology import NODE_BACKEND_SIDE, NODE_CLIENT_SIDE, BenchTopology

log = logging.getLogger(__name__)

EMPTY_TABLES = "".join(f"*{table}\nCOMMIT\n" for table in ("raw", "mangle", "nat", "filter"))
REPO = Path(__file__).resolve().parents[1]
WORKER_TIMEOUT = 600  # one request (a 50,000-service compile included)


def single_rule_address(n: int) -> str:
    """The source address of the n-th single rule (never a source the benchmark sends)."""
    return f"198.18.250.{n % 250 + 1}"


def drop_restore_text(sources: list[str], table: str = "raw") -> str:
    """The early-drop firewall as iptables rules: one DROP per source prefix, in PREROUTING."""
    rules = "".join(f"-A PREROUTING -s {source} -j DROP\n" for source in sources)
    return f"*{table}\n{rules}COMMIT\n"


def _timed(function: Any, *args: Any) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


class Mode:
    """No rules at all: the floor."""

    name = "none"
    label = "none"

    def __init__(self, topo: BenchTopology) -> None:
        self.topo = topo

    def load_full(self, shape: ClusterShape) -> float | None:
        return None

    def add_one(self, shape: ClusterShape) -> float | None:
        return None

    def single_cmd(self, n: int) -> float | None:
        return None

    def load_drop(self, sources: list[str]) -> float | None:
        return None

    def memory(self) -> dict[str, Any] | None:
        return None

    def teardown(self) -> None:
        self.topo.flush_conntrack()

    def close(self) -> None:
        """The end of the run (after the last teardown)."""


class IptablesMode(Mode):
    """iptables 1.8.9 on the node: ``legacy`` (x_tables) or ``nft`` (its nf_tables backend)."""

    def __init__(self, topo: BenchTopology, backend: str) -> None:
        super().__init__(topo)
        self.name = self.label = f"iptables-{backend}"
        self.backend = backend

    def _restore(self, text: str, *options: str) -> None:
        # -w: other users of the machine may hold the (machine-wide) xtables lock
        self.topo.exec(self.topo.node, f"iptables-{self.backend}-restore", "-w", *options,
                       stdin=text, timeout=1800)

    def load_full(self, shape: ClusterShape) -> float:
        return _timed(self._restore, restore_text(shape, jumps=True))

    def add_one(self, shape: ClusterShape) -> float:
        text = partial_sync_text(shape, {service_name(shape.services - 1)})
        return _timed(self._restore, text, "--noflush")

    def single_cmd(self, n: int) -> float:
        argv = [f"iptables-{self.backend}", "-w", "-A", "INPUT", "-s", single_rule_address(n),
                "-p", "tcp", "--dport", "9", "-j", "DROP"]
        return _timed(self.topo.exec, self.topo.node, *argv)

    def load_drop(self, sources: list[str]) -> float:
        return _timed(self._restore, drop_restore_text(sources))

    def teardown(self) -> None:
        if self.backend == "legacy":
            self._restore(EMPTY_TABLES)
        else:
            self.topo.exec(self.topo.node, "nft", "flush", "ruleset")
        super().teardown()


class NftablesMode(Mode):
    """Native nftables, in the structure of kube-proxy's nftables mode (bench/nft_gen.py)."""

    name = label = "nftables"

    def _nft(self, text: str) -> None:
        self.topo.exec(self.topo.node, "nft", "-f", "-", stdin=text, timeout=1800)

    def load_full(self, shape: ClusterShape) -> float:
        return _timed(self._nft, nft_gen.full_text(shape))

    def add_one(self, shape: ClusterShape) -> float:
        return _timed(self._nft, nft_gen.add_service_text(shape, shape.services - 1))

    def single_cmd(self, n: int) -> float:
        return _timed(self.topo.exec, self.topo.node, "nft",
                      *nft_gen.single_rule_command(single_rule_address(n)))

    def load_drop(self, sources: list[str]) -> float:
        return _timed(self._nft, nft_gen.drop_text(sources))

    def teardown(self) -> None:
        self.topo.exec(self.topo.node, "nft", "flush", "ruleset")
        super().teardown()


class BpftablesMode(Mode):
    """bpftables on the node's tc hooks (``xdp``: the drop firewall in raw PREROUTING, which
    bpftables runs at XDP; without it the same rules go to mangle PREROUTING, run at tc).

    Until the drop-in commands (``bpftables-multi iptables-restore`` through the namespace's
    agent) are on main, the rule set is driven in-process by bench/bpftables_worker.py, one
    process per load; the figures are labelled "in-process". Moving to the commands changes
    only ``_request``."""

    def __init__(self, topo: BenchTopology, xdp: bool = False) -> None:
        super().__init__(topo)
        self.xdp = xdp
        self.name = "bpftables-xdp" if xdp else "bpftables"
        self.label = f"{self.name} (in-process)"
        self.worker: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.worker is None:
            interfaces = f"n0={NODE_CLIENT_SIDE},n1={NODE_BACKEND_SIDE}"
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "bench.bpftables_worker", "--netns", self.topo.node,
                 "--interfaces", interfaces], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, cwd=REPO)
            self._answer(self.worker, 120)
        return self.worker

    @staticmethod
    def _answer(worker: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert worker.stdout is not None
        ready, _, _ = select.select([worker.stdout], [], [], timeout)
        line = worker.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"bpftables worker gave no answer within {timeout} s")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"bpftables worker: {answer['error']}")
        return answer

    def _request(self, **request: Any) -> dict[str, Any]:
        worker = self._start()
        assert worker.stdin is not None
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        return self._answer(worker, WORKER_TIMEOUT)

    def _timed_request(self, **request: Any) -> float:
        self._start()  # the agent is up before the clock starts, as a running agent is
        start = time.perf_counter()
        self._request(**request)
        return time.perf_counter() - start

    def load_full(self, shape: ClusterShape) -> float:
        return self._timed_request(op="restore", text=restore_text(shape, jumps=True),
                                   noflush=False)

    def add_one(self, shape: ClusterShape) -> float:
        text = partial_sync_text(shape, {service_name(shape.services - 1)})
        return self._timed_request(op="restore", text=text, noflush=True)

    def single_cmd(self, n: int) -> float:
        return self._timed_request(op="append", table="filter", chain="INPUT",
                                   argv=["-s", single_rule_address(n), "-p", "tcp", "--dport",
                                         "9", "-j", "DROP"])

    def load_drop(self, sources: list[str]) -> float:
        text = drop_restore_text(sources, "raw" if self.xdp else "mangle")
        return self._timed_request(op="restore", text=text, noflush=False)

    def memory(self) -> dict[str, Any]:
        return self._request(op="stats")

    def teardown(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            try:
                if worker.poll() is None:
                    assert worker.stdin is not None
                    worker.stdin.write(json.dumps({"op": "close"}) + "\n")
                    worker.stdin.flush()
                    self._answer(worker, 60)
                worker.wait(timeout=30)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                log.warning("bpftables worker did not close cleanly: %s", error)
                worker.kill()
                worker.wait(timeout=30)
        super().teardown()

    def close(self) -> None:
        self.teardown()


SERVICE_MODES = ("none", "iptables-legacy", "iptables-nft", "nftables", "bpftables")
DROP_MODES = (*SERVICE_MODES, "bpftables-xdp")


def make_mode(name: str, topo: BenchTopology) -> Mode:
    if name == "none":
        return Mode(topo)
    if name.startswith("iptables-"):
        return IptablesMode(topo, name.removeprefix("iptables-"))
    if name == "nftables":
        return NftablesMode(topo)
    if name in ("bpftables", "bpftables-xdp"):
        return BpftablesMode(topo, xdp=name.endswith("xdp"))
    raise ValueError(f"unknown mode {name!r}")


def grown(shape: ClusterShape) -> ClusterShape:
    """The shape with one more service (the one ``add_one`` adds)."""
    return replace(shape, services=shape.services + 1)
