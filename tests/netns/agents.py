"""bpftables' drop-in commands run in a throwaway namespace, with the same calls as
tests.oracle.LegacyIptables, and the namespace's agent always stopped and forgotten afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2.netns import create_socket

from bpf.bpffs import ensure_bpffs
from tests.oracle import IptablesCalls, Outcome

BIN = Path(sys.executable).parent
MULTI = str(BIN / "bpftables-multi")
CLI = str(BIN / "bpftables")
# The installed commands import the packages from the checkout the venv was installed from
# (an editable install); this checkout's own code must run instead, in the command and in the
# agent it starts (``python -m shim.agent``, whose sys.path starts at its working directory).
CHECKOUT = Path(__file__).resolve().parents[2]


def _environment(extra: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def checkout_multi(folder: Path) -> Path:
    """A ``bpftables-multi`` in ``folder`` that runs this checkout's shim/ (for a shim-dir a
    caller puts first in PATH); the agent it starts needs PYTHONPATH=CHECKOUT as well."""
    launcher = folder / "bpftables-multi"
    launcher.write_text(f"#!{sys.executable} -S\nimport sys\n"
                        f"sys.path.insert(0, {str(CHECKOUT)!r})\n"
                        "from shim.multi import main\nsys.exit(main())\n")
    launcher.chmod(0o755)
    return launcher


@dataclass(frozen=True)
class BpftablesCommands(IptablesCalls):
    """bpftables-multi's commands inside ``netns`` (its agent started by the first)."""

    netns: str
    env: dict[str, str] = field(default_factory=dict)

    def run(self, argv: list[str], stdin: str | None = None, timeout: float = 120) -> Outcome:
        name = os.path.basename(argv[0]).replace("-legacy", "")
        done = subprocess.run(["ip", "netns", "exec", self.netns, MULTI, name, *argv[1:]],
                              input=stdin, capture_output=True, text=True, timeout=timeout,
                              env=_environment(self.env))
        return Outcome(done.returncode, done.stdout, done.stderr)

    def cli(self, *args: str, check: bool = True) -> Outcome:
        done = subprocess.run(["ip", "netns", "exec", self.netns, CLI, *args],
                              capture_output=True, text=True, timeout=60,
                              env=_environment(self.env), check=check)
        return Outcome(done.returncode, done.stdout, done.stderr)

    def agent_pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                             text=True, check=False).stdout
        pids = []
        for word in out.split():
            try:
                cmdline = Path(f"/proc/{word}/cmdline").read_bytes()
            except OSError:
                continue
            if b"shim.agent" in cmdline or b"bpftables\x00agent" in cmdline:
                pids.append(int(word))
        return pids

    def kill_agent(self, sig: int = signal.SIGKILL) -> None:
        """Kill the agent and wait until it is gone: not only its command line (empty while
        it exits) but the process, which holds its listening socket until then (a command
        in between would connect to a dying agent and be reset)."""
        pids = self.agent_pids()
        for pid in pids:
            os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (self.agent_pids() or any(
                Path(f"/proc/{pid}").exists() for pid in pids)):
            time.sleep(0.02)

    def forget(self) -> None:
        """Stop the agent, taking its programs off the links and dropping pins and state."""
        self.cli("agent", "stop", "--forget", check=False)
        self.kill_agent()
        self.cli("agent", "stop", "--forget", check=False)  # one killed: its leftovers


@contextmanager
def bpftables_in(netns: str, **env: str) -> Iterator[BpftablesCommands]:
    commands = BpftablesCommands(netns, env)
    if env.get("BPFTABLES_DATAPATH") != "off":
        # mounted from here, the host's mount namespace: an agent inside `ip netns exec`
        # sees it (and its pins outlive the agent) even where it cannot enter pid 1's
        ensure_bpffs()
    try:
        yield commands
    finally:
        commands.forget()


@contextmanager
def agent_namespace(**env: str) -> Iterator[BpftablesCommands]:
    """A fresh namespace (lo up) whose rules are bpftables'; everything removed afterwards."""
    name = f"bpft-a{uuid.uuid4().hex[:9]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        with bpftables_in(name, **env) as commands:
            yield commands
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def udp_delivered(client_ns: str, server_ns: str, server_addr: str, count: int = 3,
                  port: int = 9999, timeout: float = 1.0) -> int:
    """How many of ``count`` UDP datagrams from the client namespace reach a socket on the
    server (each from a new source port, so each is a new connection)."""
    receiver = create_socket(server_ns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind((server_addr, port))
        receiver.settimeout(timeout)
        for _ in range(count):
            sender = create_socket(client_ns, socket.AF_INET,
                                   socket.SOCK_DGRAM)
            try:
                sender.sendto(b"bpftables", (server_addr, port))
            finally:
                sender.close()
        got = 0
        deadline = time.monotonic() + timeout
        while got < count and time.monotonic() < deadline:
            try:
                receiver.recv(64)
            except TimeoutError:
                break
            got += 1
        return got
    finally:
        receiver.close()


def tcp_bulk(client_ns: str, server_ns: str, server_addr: str, total: int,
             connect_to: tuple[str, int] | None = None, timeout: float = 5.0
             ) -> tuple[int, str | None]:
    """Send ``total`` bytes over one TCP connection from the client namespace to a listener on
    ``server_addr``:5201 (through ``connect_to`` when a service stands in front): the bytes
    that arrived and the peer address the server saw. Big writes go out as GSO bursts."""
    listener = create_socket(server_ns, socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((server_addr, 5201))
    listener.listen(1)
    listener.settimeout(timeout)
    arrived = [0]
    peer: list[str | None] = [None]

    def serve() -> None:
        try:
            conn, (address, _) = listener.accept()
        except OSError:
            return
        peer[0] = address
        conn.settimeout(timeout)
        with conn:
            while True:
                try:
                    data = conn.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                arrived[0] += len(data)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    sender = create_socket(client_ns, socket.AF_INET, socket.SOCK_STREAM)
    sender.settimeout(timeout)
    try:
        sender.connect(connect_to or (server_addr, 5201))
        chunk = b"b" * (1 << 20)
        for _ in range(0, total, len(chunk)):
            sender.sendall(chunk)
        sender.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        server.join(timeout + 1)
        sender.close()
        listener.close()
    return arrived[0], peer[0]
