"""The side-by-side benchmark's modes: one class per way of enforcing the same rule set on the
node, each through its own tool.

Every mode has the same operations, each returning the seconds it took end to end (None where
the mode has nothing to do): ``load_full(shape)`` (a whole kube-proxy sync), ``add_one(shape)``
(kube-proxy adding the shape's last service: a partial ``iptables-restore --noflush``, one
``nft -f`` transaction), ``single_cmd(n)`` (one ``iptables -A`` / ``nft add rule``),
``load_drop(sources)`` (the early-drop firewall) and ``teardown()``. Partial syncs restore
as kube-proxy does (``-w 5 --noflush --counters``); so does bpftables' full sync, while the
iptables modes load the full set onto the empty node without ``--noflush`` (the same rules:
iptables-nft-restore --noflush of 10,000 services takes minutes).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import nft_gen
from bench.kube_gen import ClusterShape, partial_sync_text, restore_text, service_name
from bench.topology import COMMAND_TIMEOUT, BenchTopology
from bpf.bpffs import ensure_bpffs
from bpf.loader import PinnedMap, xdp_metadata_supported

log = logging.getLogger(__name__)

EMPTY_TABLES = "".join(f"*{table}\nCOMMIT\n" for table in ("raw", "mangle", "nat", "filter"))
REPO = Path(__file__).resolve().parents[1]
RESTORE_TIMEOUT = 600  # one command (a 50,000-service compile included)
MULTI, CLI = "bpftables-multi", "bpftables"
# kube-proxy's iptables-restore, full and partial syncs alike (its -W 100000 left out: the
# bench's own commands never wait long for the lock)
KUBE_PROXY_RESTORE_FLAGS = ("-w", "5", "--noflush", "--counters")


def single_rule_address(n: int) -> str:
    """The source address of the n-th single rule (never a source the benchmark sends)."""
    return f"198.18.250.{n % 250 + 1}"


def drop_restore_text(sources: list[str], table: str = "raw") -> str:
    """The early-drop firewall as iptables rules: one DROP per source prefix, in PREROUTING."""
    rules = "".join(f"-A PREROUTING -s {source} -j DROP\n" for source in sources)
    return f"*{table}\n{rules}COMMIT\n"


def single_rule_argv(n: int) -> list[str]:
    """The n-th single ``iptables -A`` (after the command's name)."""
    return ["-w", "-A", "INPUT", "-s", single_rule_address(n), "-p", "tcp", "--dport", "9",
            "-j", "DROP"]


def _timed(function: Any, *args: Any, **options: Any) -> float:
    start = time.perf_counter()
    function(*args, **options)
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
        self.topo.exec(self.topo.node, f"iptables-{self.backend}-restore", *options,
                       stdin=text, timeout=1800)

    def load_full(self, shape: ClusterShape) -> float:
        # not --noflush: on an empty node the same rule set, and iptables-nft-restore
        # --noflush of 10,000 services runs for minutes (kube-proxy's full sync does)
        return _timed(self._restore, restore_text(shape, jumps=True), "-w")

    def add_one(self, shape: ClusterShape) -> float:
        text = partial_sync_text(shape, {service_name(shape.services - 1)})
        return _timed(self._restore, text, *KUBE_PROXY_RESTORE_FLAGS)

    def single_cmd(self, n: int) -> float:
        return _timed(self.topo.exec, self.topo.node, f"iptables-{self.backend}",
                      *single_rule_argv(n))

    def load_drop(self, sources: list[str]) -> float:
        return _timed(self._restore, drop_restore_text(sources), "-w")

    def teardown(self) -> None:
        if self.backend == "legacy":
            self._restore(EMPTY_TABLES, "-w")
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
    """bpftables through its drop-in commands: ``bpftables-multi iptables-restore`` /
    ``iptables`` in the node namespace, answered by the namespace's agent (started by the first
    command, stopped and forgotten by ``bpftables agent stop --forget`` in teardown).

    ``xdp``: the drop firewall in raw PREROUTING, which the datapath runs at XDP where the kernel
    lets XDP programs use bpf_xdp_adjust_meta (bpf.loader.xdp_metadata_supported); without
    ``xdp`` the same rules go to mangle PREROUTING, run at tc."""

    def __init__(self, topo: BenchTopology, xdp: bool = False) -> None:
        super().__init__(topo)
        self.xdp = xdp
        self.name = self.label = "bpftables-xdp" if xdp else "bpftables"
        self.running = False

    def _launcher(self, name: str, module: str) -> str:
        """``name`` in the topology's folder, running this checkout's ``module``: the venv's
        own launchers are rewritten whenever someone reinstalls it (setup.sh, pip)."""
        launcher = self.topo.workdir / name
        if not launcher.exists():
            # -S for the multi-call command, as setup.sh writes it: it starts fast
            flags = " -S" if module == "shim.multi" else ""
            launcher.write_text(f"#!{sys.executable}{flags}\nimport sys\n"
                                f"sys.path.insert(0, {str(REPO)!r})\n"
                                f"from {module} import main\nsys.exit(main())\n")
            launcher.chmod(0o755)
        return str(launcher)

    def _command(self, name: str, *argv: str, stdin: str | None = None,
                 timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        executable = self._launcher(name, "shim.multi" if name == MULTI else "shim.cli")
        # this checkout's shim/ runs, in the command and in the agent it starts (python -m
        # shim.agent: its sys.path starts at the working directory, then PYTHONPATH)
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        return subprocess.run(["ip", "netns", "exec", self.topo.node, executable, *argv],
                              input=stdin, capture_output=True, text=True, timeout=timeout,
                              check=True, cwd=REPO,
                              env={**self.topo.environment(), "PYTHONPATH": path})

    def _multi(self, *argv: str, stdin: str | None = None) -> None:
        self._command(MULTI, *argv, stdin=stdin, timeout=RESTORE_TIMEOUT)

    def _start(self) -> None:
        """The agent up (and its bpffs mounted from here, the host's mount namespace: an
        agent inside ``ip netns exec`` cannot) before a clock starts, as a running agent is."""
        if not self.running:
            ensure_bpffs()
            self._multi("iptables-save", "-t", "filter")
            self.running = True

    def _restore(self, text: str) -> float:
        # as kube-proxy calls it, full sync and partial sync alike
        self._start()
        return _timed(self._multi, "iptables-restore", *KUBE_PROXY_RESTORE_FLAGS, stdin=text)

    def load_full(self, shape: ClusterShape) -> float:
        return self._restore(restore_text(shape, jumps=True))

    def add_one(self, shape: ClusterShape) -> float:
        return self._restore(partial_sync_text(shape, {service_name(shape.services - 1)}))

    def single_cmd(self, n: int) -> float:
        self._start()
        return _timed(self._multi, "iptables", *single_rule_argv(n))

    def load_drop(self, sources: list[str]) -> float:
        return self._restore(drop_restore_text(sources, "raw" if self.xdp else "mangle"))

    def status(self) -> dict[str, Any]:
        done = self._command(CLI, "status", "--json")
        return dict(json.loads(done.stdout))

    def memory(self) -> dict[str, Any]:
        """The agent's RSS (from its pid) and what the kernel charges for each of its pinned
        maps (fdinfo memlock)."""
        status = self.status()
        maps: dict[str, int] = {}
        datapath = status.get("datapath") or {}
        if datapath.get("pin_dir"):
            maps = pinned_map_memory(Path(datapath["pin_dir"]))
        return {"rss_bytes": process_rss(int(status["pid"])), "map_bytes": sum(maps.values()),
                "maps": maps}

    def teardown(self) -> None:
        if self.running:
            self.running = False
            self._command(CLI, "agent", "stop", "--forget")
        super().teardown()

    def close(self) -> None:
        self.teardown()


def process_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pinned_map_memory(pin_dir: Path) -> dict[str, int]:
    """Each map pinned under ``pin_dir`` (by its name): the bytes the kernel charges for it."""
    found: dict[str, int] = {}
    for path in sorted(p for p in pin_dir.rglob("*") if p.is_file()):
        try:
            pinned = PinnedMap.open(path)
        except (OSError, ValueError):
            continue
        try:
            fields = dict(line.split(":", 1) for line in Path(
                f"/proc/self/fdinfo/{pinned.fd}").read_text().splitlines() if ":" in line)
            if "map_type" in fields:  # bpf_obj_get opens pinned programs too
                found[pinned.name or path.name] = int(fields["memlock"])
        finally:
            os.close(pinned.fd)
    return found


def xdp_unsupported_reason() -> str | None:
    """Why bpftables-xdp cannot run here (None when it can)."""
    if xdp_metadata_supported():
        return None
    return ("not supported by this kernel (XDP programs may not call bpf_xdp_adjust_meta: "
            "raw PREROUTING stays in tc)")


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
