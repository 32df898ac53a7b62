"""Security of the agent (issue 8 item 7): file modes, oversized input refused by the command
before it is sent, and callers that send garbage, half a frame, nothing at all, or open many
connections at once neither hang the agent nor kill it. (Only root gets an answer other than
iptables' permission error: tests/netns/test_agent.py.)"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2.netns import create_socket

from shim.protocol import AGENT_SOCKET
from tests.netns.agents import MULTI, BpftablesCommands, agent_namespace

pytestmark = pytest.mark.netns

TIMEOUT = "1"  # BPFTABLES_REQUEST_TIMEOUT for these agents: idle callers are dropped fast


@pytest.fixture
def commands() -> Iterator[BpftablesCommands]:
    with agent_namespace(BPFTABLES_DATAPATH="off", BPFTABLES_REQUEST_TIMEOUT=TIMEOUT) as found:
        assert found.iptables("-A", "INPUT", "-s", "198.18.0.9", "-j", "DROP").code == 0
        yield found


def _status(commands: BpftablesCommands) -> dict:
    return json.loads(commands.cli("status", "--json").out)


def _connect(netns: str, timeout: float = 5.0) -> socket.socket:
    sock = create_socket(netns, socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(AGENT_SOCKET)
    return sock


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def test_state_pins_and_log_are_roots_alone() -> None:
    with agent_namespace() as commands:  # with the datapath: pins too
        assert commands.iptables("-A", "INPUT", "-j", "ACCEPT").code == 0
        status = _status(commands)
        state, pins = Path(status["state_dir"]), Path(status["datapath"]["pin_dir"])
        assert state.stat().st_mode & 0o777 == 0o700
        files = list(state.iterdir())
        assert "agent.log" in {path.name for path in files}
        assert all(path.stat().st_mode & 0o777 == 0o600 for path in files), [
            (path.name, oct(path.stat().st_mode)) for path in files]
        folders = [pins, *(path for path in pins.rglob("*") if path.is_dir())]
        assert all(folder.stat().st_mode & 0o777 == 0o700 for folder in folders), [
            (str(folder), oct(folder.stat().st_mode)) for folder in folders]
        # nothing under the pins is open to others (a pin's mode is what bpf_obj_get checks)
        assert all(path.stat().st_mode & 0o077 == 0 for path in pins.rglob("*"))


def test_oversized_input_is_refused_before_it_is_sent() -> None:
    with agent_namespace(BPFTABLES_DATAPATH="off", BPFTABLES_MAX_REQUEST="4096") as commands:
        assert commands.iptables("-S").code == 0
        served = _status(commands)["requests"]
        big = "*filter\n" + "-A INPUT -j DROP\n" * 500 + "COMMIT\n"
        done = commands.restore(big)
        assert (done.code, done.err) == (
            1, "bpftables: request refused: too large (more than 4096 bytes of input, "
               "limit 4096)\n")
        # an endless input is read only up to the limit
        endless = subprocess.Popen(["yes", "--", "-A INPUT -j DROP"], stdout=subprocess.PIPE)
        try:
            ran = subprocess.run(["ip", "netns", "exec", commands.netns, MULTI,
                                  "iptables-restore"], stdin=endless.stdout,
                                 capture_output=True, text=True, timeout=30,
                                 env={**os.environ, **commands.env})
        finally:
            endless.kill()
            endless.wait()
        assert ran.returncode == 1 and "too large" in ran.stderr
        assert _status(commands)["requests"] == served + 1  # only the status call got there
        assert commands.iptables("-S", "INPUT").out == "-P INPUT ACCEPT\n"


@pytest.mark.parametrize("sent", [
    b"",  # connects, sends nothing
    b"\x00\x00",  # half a length
    struct.pack(">I", 100) + b"{\"op\":",  # half a message
    _frame(b"\xff\xfe garbage"),
    _frame(b"[1, 2, 3]"),
    _frame(b"{\"op\": \"run\"}"),
    _frame(b"{\"op\": \"run\", \"program\": \"iptables\", \"argv\": [1, null]}"),
    _frame(b"{\"op\": \"run\", \"program\": \"iptables\", \"argv\": [\"-S\"], \"stdin\": 5}"),
    _frame(b"{\"op\": \"bogus\"}"),
    struct.pack(">I", 0xFFFFFFFF),  # 4 GiB announced
], ids=["nothing", "half-length", "half-message", "not-json", "not-object", "no-program",
        "argv-types", "stdin-type", "unknown-op", "huge"])
def test_bad_frames_neither_hang_nor_kill_the_agent(commands: BpftablesCommands,
                                                    sent: bytes) -> None:
    pid = commands.agent_pids()
    before = commands.save()
    sock = _connect(commands.netns, timeout=10)
    try:
        sock.sendall(sent)
        # meanwhile the agent serves others
        start = time.monotonic()
        assert commands.iptables("-S", "INPUT").code == 0
        assert time.monotonic() - start < 5
        # and then answers or drops the bad caller, within the request timeout
        reply = sock.recv(1 << 16)
    finally:
        sock.close()
    if reply:
        (length,) = struct.unpack(">I", reply[:4])
        answer = json.loads(reply[4:4 + length])
        assert answer["code"] != 0 and answer["stderr"].startswith("bpftables: ")
    assert commands.agent_pids() == pid
    assert commands.save() == before


def test_many_idle_connections_do_not_exhaust_the_agent(commands: BpftablesCommands) -> None:
    pid = commands.agent_pids()
    idle: list[socket.socket] = []
    try:
        for _ in range(300):  # more than the agent's handlers and its listen backlog
            try:
                idle.append(_connect(commands.netns, timeout=0.5))
            except OSError:  # backlog full: the kernel refuses, the agent is not involved
                break
        assert len(idle) >= 100
        start = time.monotonic()
        done = commands.iptables("-A", "INPUT", "-s", "198.18.0.10", "-j", "DROP")
        waited = time.monotonic() - start
        assert done.code == 0
        assert waited < 30  # idle callers time out (1 s here), a few handlers at a time
        threads = int(next(line.split()[1] for line in Path(
            f"/proc/{pid[0]}/status").read_text().splitlines() if line.startswith("Threads:")))
        assert threads < 100
    finally:
        for sock in idle:
            sock.close()
    assert commands.agent_pids() == pid
    assert "-A INPUT -s 198.18.0.10/32 -j DROP" in commands.iptables("-S", "INPUT").out


def test_garbage_through_the_commands_changes_neither_rules_nor_programs() -> None:
    """Bad input end to end (issue 8 item 5): generated failing commands through
    bpftables-multi with the datapath on leave iptables-save and the programs as they were."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.fuzz_grammar import BASE_RESTORE, iptables_argv, restore_text

    with agent_namespace() as commands:
        assert commands.restore(BASE_RESTORE).code == 0
        failures = []

        def state() -> tuple[str, dict, int, list[str]]:
            status = _status(commands)
            datapath = status["datapath"]
            saved = "".join(commands.save(table, counters=True) for table in ("filter", "nat"))
            return saved, datapath["programs"], datapath["generation"], sorted(status["tables"])

        baseline = [state()]

        @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(iptables_argv().map(lambda argv: ("iptables", argv, None)),
                              restore_text().map(lambda text: ("iptables-restore",
                                                               ["--noflush"], text))))
        def one(case: tuple[str, list[str], str | None]) -> None:
            program, argv, text = case
            if any("\x00" in word for word in argv) or "\x00" in (text or ""):
                return
            done = commands.run([program, *argv], stdin=text)
            assert "Traceback" not in done.err
            if done.code == 0:  # it worked: back to the base, the new baseline
                assert commands.restore(BASE_RESTORE, "--counters").code == 0
                baseline[0] = state()
                return
            failures.append(argv)
            now = state()
            assert now[0] == baseline[0][0], (program, argv, text)
            if now[3] != baseline[0][3]:
                # as iptables does, a failing command still created the (empty) table it
                # named: a new table is a new datapath generation
                baseline[0] = now
                return
            assert now == baseline[0], (program, argv, text)

        one()
        assert failures  # the sample did fail somewhere
