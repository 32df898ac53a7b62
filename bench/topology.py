"""The side-by-side benchmark's network: client -> node -> backend namespaces, veth pairs only.

    client c0 198.18.0.2 <-> n0 198.18.0.1  node  n1 198.18.1.1 <-> b0 198.18.1.2 backend (/24s)

Every address the benchmark sends to is in 198.18.0.0/15 and nothing is connected to the
machine's real interfaces. Cluster IPs (198.18.32.0 - 198.18.255.255) and endpoints
(198.19.0.0/16) are routed by the node to the backend, which takes any of them as its own
(local routes: AnyIP), so the `none` mode (no rules, no translation) delivers the same packets
to the same backend programs. :meth:`BenchTopology.close` deletes the namespaces, and with
them every process and program left inside.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CLIENT = "198.18.0.2"
NODE_CLIENT_SIDE = "198.18.0.1"
NODE_BACKEND_SIDE = "198.18.1.1"
BACKEND = "198.18.1.2"
CLUSTER_BASE = "198.18.32.0"  # room for 57,343 services up to 198.18.255.255
ENDPOINT_BASE = "198.19.0.0"
ENDPOINT_WRAP = 65534  # endpoints stay in 198.19.0.0/16 whatever the number of services
# what the node routes to the backend and the backend takes as local
SERVICE_PREFIXES = ("198.18.32.0/19", "198.18.64.0/18", "198.18.128.0/17", "198.19.0.0/16")
SENDER_SOURCE_BASE = "198.18.0.10"  # the flood's sources: 198.18.0.10 - 198.18.0.249
SENDER_SOURCES = 240
COMMAND_TIMEOUT = 60
SENDER_SOURCE = Path(__file__).with_name("sender.c")


def run(*argv: str, timeout: float = COMMAND_TIMEOUT, stdin: str | None = None,
        check: bool = True, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=check, env=env)


def compile_sender(folder: Path) -> Path:
    """bench/sender.c, built with the system's cc into ``folder``."""
    binary = folder / "sender"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler: run scripts/setup_bench.sh")
    run(compiler, "-O2", "-Wall", "-o", str(binary), str(SENDER_SOURCE))
    return binary


@dataclass
class BenchTopology:
    client: str
    node: str
    backend: str
    workdir: Path  # the compiled sender, nginx's files; removed by close()
    sender: Path

    @classmethod
    def create(cls) -> BenchTopology:
        tag = uuid.uuid4().hex[:6]
        workdir = Path(tempfile.mkdtemp(prefix="bpft-bench-"))
        topo = cls(f"bpft-bc{tag}", f"bpft-bn{tag}", f"bpft-bb{tag}", workdir,
                   workdir / "sender")
        try:
            topo.sender = compile_sender(workdir)
            topo._build()
        except BaseException:
            topo.close()
            raise
        return topo

    def _build(self) -> None:
        for name in (self.client, self.node, self.backend):
            run("ip", "netns", "add", name)
            run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "-n", self.client, "link", "add", "c0", "type", "veth", "peer", "name", "n0",
            "netns", self.node)
        run("ip", "-n", self.backend, "link", "add", "b0", "type", "veth", "peer", "name", "n1",
            "netns", self.node)
        for ns, dev, addr in ((self.client, "c0", CLIENT), (self.node, "n0", NODE_CLIENT_SIDE),
                              (self.node, "n1", NODE_BACKEND_SIDE), (self.backend, "b0", BACKEND)):
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", self.client, "route", "add", "default", "via", NODE_CLIENT_SIDE)
        run("ip", "-n", self.backend, "route", "add", "default", "via", NODE_BACKEND_SIDE)
        for prefix in SERVICE_PREFIXES:
            run("ip", "-n", self.node, "route", "add", prefix, "via", BACKEND)
            run("ip", "-n", self.backend, "route", "add", "local", prefix, "dev", "lo")
        self.sysctl(self.node, "net.ipv4.ip_forward=1")
        # the flood's spoofed sources come back on no route: no reverse-path check
        for ns in (self.node, self.backend):
            self.sysctl(ns, "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        # ab opens a connection per request: many source ports, TIME_WAIT reused
        self.sysctl(self.client, "net.ipv4.ip_local_port_range=1024 65000",
                    "net.ipv4.tcp_tw_reuse=1")
        self.sysctl(self.backend, "net.core.somaxconn=4096")
        # the drop flood comes from 198.19.0.0/16, which the backend also takes as local
        self.sysctl(self.backend, "net.ipv4.conf.all.accept_local=1",
                    "net.ipv4.conf.b0.accept_local=1")

    def sysctl(self, netns: str, *settings: str) -> None:
        run("ip", "netns", "exec", netns, "sysctl", "-qw", *settings)

    def environment(self) -> dict[str, str]:
        """What the node's commands run with: a lock file of their own. /run/xtables.lock is
        the machine's, and other work on a shared machine may hold it for seconds; iptables
        (legacy) and bpftables both honour XTABLES_LOCKFILE."""
        return {**os.environ, "XTABLES_LOCKFILE": str(self.workdir / "xtables.lock")}

    def exec(self, netns: str, *argv: str, timeout: float = COMMAND_TIMEOUT,
             stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", netns, *argv, timeout=timeout, stdin=stdin,
                   check=check, env=self.environment())

    def spawn(self, netns: str, *argv: str) -> subprocess.Popen[str]:
        """A background process in ``netns`` (stop it with :func:`stop`)."""
        return subprocess.Popen(["ip", "netns", "exec", netns, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def ifindex(self, netns: str, name: str) -> int:
        out = run("ip", "-n", netns, "-o", "link", "show", name).stdout
        return int(out.split(":", 1)[0])

    def rx_packets(self, netns: str, device: str) -> int:
        out = run("ip", "-n", netns, "-s", "-o", "link", "show", device).stdout
        # "... RX: bytes packets errors ... \    BYTES PACKETS ..."
        fields = out.split("RX:")[1].split("\\")[1].split()
        return int(fields[1])

    def flush_conntrack(self) -> None:
        self.exec(self.node, "conntrack", "-F", check=False)

    def close(self) -> None:
        for name in (self.client, self.node, self.backend):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def stop(process: subprocess.Popen[str], timeout: float = 5) -> tuple[str, str]:
    """Ask a background process to end (SIGTERM), then kill it; its output."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate(timeout=timeout)


def machine_line() -> str:
    """The machine the figures were measured on, in one line."""
    import platform

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs ({cpu}), "
            f"kernel {platform.release()}, python {platform.python_version()}")
