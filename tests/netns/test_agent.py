"""The drop-in commands and their per-namespace agent, end to end: started on demand, root only,
the xtables lock, persistence across a kill -9, enforcement with traffic, links that appear."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.netns.agents import (
    MULTI,
    BpftablesCommands,
    agent_namespace,
    bpftables_in,
    tcp_bulk,
    udp_delivered,
)
from tests.netns.topology import CLIENT_ADDR, SERVER_ADDR, Topology
from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns


@pytest.fixture
def commands() -> Iterator[BpftablesCommands]:
    """An agent without a datapath (rule set, commands, lock, persistence only)."""
    with agent_namespace(BPFTABLES_DATAPATH="off") as found:
        yield found


def test_first_command_starts_the_agent(commands: BpftablesCommands) -> None:
    assert commands.agent_pids() == []
    assert commands.iptables("-N", "FOO").code == 0
    assert len(commands.agent_pids()) == 1
    assert commands.iptables("-A", "FOO", "-s", "198.18.0.9", "-j", "DROP").code == 0
    assert commands.iptables("-N", "FOO").code == 1  # kube-proxy's "already exists"
    assert commands.iptables("-S", "FOO").out == "-N FOO\n-A FOO -s 198.18.0.9/32 -j DROP\n"
    assert commands.iptables("-C", "FOO", "-s", "198.18.0.8", "-j", "DROP").code == 1
    status = json.loads(commands.cli("status", "--json").out)
    assert status["tables"]["filter"]["rules"] == 1
    assert status["datapath"] is None


def test_rules_survive_a_killed_agent(commands: BpftablesCommands) -> None:
    text = ("*filter\n:INPUT DROP [0:0]\n:KEEP - [0:0]\n-A INPUT -j KEEP\n"
            "-A KEEP -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n"
            "-A PREROUTING -d 198.18.7.7/32 -p udp -j DNAT --to-destination 198.18.8.8\n"
            "COMMIT\n")
    assert commands.restore(text).code == 0
    assert commands.iptables("-A", "KEEP", "-p", "udp", "-j", "ACCEPT").code == 0
    before = commands.save()
    first = commands.agent_pids()
    commands.kill_agent()
    assert commands.save() == before  # restarted from the snapshot and the journal
    assert commands.agent_pids() != first


def test_a_command_right_after_agent_stop_gets_a_new_agent(commands: BpftablesCommands) -> None:
    """``bpftables agent stop`` returns once the agent has stopped listening: the next command
    starts a new agent instead of reaching the old one on its way out (seen as "the bpftables
    agent did not answer: Connection reset by peer" by the side-by-side benchmark)."""
    for round_number in range(5):
        assert commands.iptables("-A", "INPUT", "-s", f"198.18.0.{round_number + 1}",
                                 "-j", "DROP").code == 0
        commands.cli("agent", "stop", "--forget")
        listed = commands.iptables("-S", "INPUT")
        assert (listed.code, listed.err) == (0, ""), round_number
        assert listed.out == "-P INPUT ACCEPT\n"  # forgotten: a new, empty agent


def test_non_root_gets_iptables_permission_error(commands: BpftablesCommands) -> None:
    oracle = LegacyIptables(commands.netns)
    assert commands.iptables("-S").code == 0  # the agent runs: it must refuse by itself
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    for argv in (["iptables", "-S"], ["iptables", "-A", "INPUT", "-j", "DROP"],
                 ["iptables-save"], ["iptables-restore"]):
        real = oracle.run([*nobody, argv[0].replace("iptables", "iptables-legacy", 1),
                           *argv[1:]], stdin="")
        ran = subprocess.run(["ip", "netns", "exec", commands.netns, *nobody, MULTI, *argv],
                             input="", capture_output=True, text=True, timeout=30, check=False)
        assert (ran.returncode, ran.stdout, ran.stderr) == (real.code, real.out, real.err)
    assert commands.iptables("-S").out == "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"


@pytest.fixture
def lockfile() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bpft-lock-") as folder:
        yield str(Path(folder) / "xtables.lock")


def test_held_lock_like_iptables(commands: BpftablesCommands, lockfile: str) -> None:
    oracle = LegacyIptables(commands.netns)
    env = {**os.environ, "XTABLES_LOCKFILE": lockfile}
    theirs = BpftablesCommands(commands.netns, {**commands.env, "XTABLES_LOCKFILE": lockfile})
    with open(lockfile, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # (without -w, 1.8.9 waits as long as it takes)
        for args in (["-w", "1", "-A", "INPUT", "-j", "ACCEPT"], ["-w", "1", "-S"]):
            real = subprocess.run(["ip", "netns", "exec", oracle.netns, "iptables-legacy", *args],
                                  capture_output=True, text=True, env=env, timeout=30)
            ours = theirs.iptables(*args)
            assert (ours.code, ours.out, ours.err) == (real.returncode, real.stdout, real.stderr)
    assert theirs.iptables("-w", "1", "-A", "INPUT", "-j", "ACCEPT").code == 0


def test_concurrent_writers_with_wait(commands: BpftablesCommands) -> None:
    commands.iptables("-S")

    def add(number: int) -> int:
        return commands.iptables("-w", "-A", "INPUT", "-s", f"198.18.9.{number}",
                                 "-j", "ACCEPT").code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(add, range(1, 9)))
    assert codes == [0] * 8
    rules = commands.iptables("-S", "INPUT").out.splitlines()[1:]
    assert sorted(rules) == sorted(f"-A INPUT -s 198.18.9.{n}/32 -j ACCEPT" for n in range(1, 9))


def test_oversized_input_refused(lockfile: str) -> None:
    with agent_namespace(BPFTABLES_DATAPATH="off", BPFTABLES_MAX_REQUEST="4096") as commands:
        big = "*filter\n" + "".join(f"-A INPUT -s 198.18.{i // 250}.{i % 250 + 1} -j DROP\n"
                                    for i in range(500)) + "COMMIT\n"
        done = commands.restore(big)
        assert done.code != 0 and "too large" in done.err
        assert commands.iptables("-S", "INPUT").out == "-P INPUT ACCEPT\n"


# --- with the datapath ---------------------------------------------------------------------


def _delivered(topo: Topology, count: int = 3) -> int:
    return udp_delivered(topo.client, topo.server, SERVER_ADDR, count)


@pytest.fixture
def routed() -> Iterator[tuple[Topology, BpftablesCommands]]:
    topo = Topology.create()
    try:
        with bpftables_in(topo.node) as commands:
            yield topo, commands
    finally:
        topo.close()


def test_rules_are_enforced_counted_and_survive_the_agent(
        routed: tuple[Topology, BpftablesCommands]) -> None:
    topo, commands = routed
    assert commands.iptables("-A", "FORWARD", "-s", CLIENT_ADDR, "-p", "udp", "-j",
                             "ACCEPT").code == 0
    assert _delivered(topo) == 3
    listing = commands.iptables("-L", "FORWARD", "-v", "-n", "-x").out.splitlines()
    assert listing[2].split()[:2] == ["3", "111"]  # 3 datagrams of 37 bytes
    assert commands.iptables("-I", "FORWARD", "-p", "udp", "-j", "DROP").code == 0
    assert _delivered(topo, 2) == 0
    status = json.loads(commands.cli("status", "--json").out)
    programs = status["datapath"]["programs"]
    assert {"n0/INGRESS", "n1/INGRESS"} <= set(programs)

    commands.kill_agent()  # the programs stay attached: traffic keeps its rules
    assert _delivered(topo, 2) == 0
    assert commands.iptables("-S", "FORWARD").code == 0  # a new agent adopts the programs
    status = json.loads(commands.cli("status", "--json").out)
    assert status["datapath"]["compiles"] == 0
    assert status["datapath"]["programs"] == programs
    assert commands.iptables("-D", "FORWARD", "1").code == 0
    assert _delivered(topo) == 3


def test_counters_are_the_datapaths_and_zeroed_by_z(
        routed: tuple[Topology, BpftablesCommands]) -> None:
    topo, commands = routed
    text = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [7:700]\n:OUTPUT ACCEPT [0:0]\n"
            f"[5:500] -A FORWARD -s {CLIENT_ADDR}/32 -p udp -j ACCEPT\nCOMMIT\n")
    assert commands.restore(text, "--counters").code == 0
    assert _delivered(topo) == 3
    saved = commands.save(counters=True)
    assert f"[8:611] -A FORWARD -s {CLIENT_ADDR}/32 -p udp -j ACCEPT" in saved  # 5 + 3 packets
    assert ":FORWARD ACCEPT [7:700]" in saved
    assert commands.iptables("-Z", "FORWARD", "1").code == 0
    assert "[0:0] -A FORWARD" in commands.save(counters=True)
    assert _delivered(topo, 2) == 2
    listing = commands.iptables("-L", "FORWARD", "-v", "-x", "-n").out.splitlines()
    assert listing[2].split()[:2] == ["2", "74"]
    zeroed = commands.iptables("-L", "FORWARD", "-Z", "-v", "-x", "-n").out.splitlines()
    assert zeroed[0].startswith("Chain FORWARD")  # as iptables-legacy: that chain only
    assert zeroed[2].split()[:2] == ["2", "74"]  # listed, then zeroed
    assert zeroed[3] == "Zeroing chain `FORWARD'"
    assert "[0:0] -A FORWARD" in commands.save(counters=True)


def test_bulk_tcp_runs_every_hook(routed: tuple[Topology, BpftablesCommands]) -> None:
    """GSO bursts (64 KB writes over veth) go through FORWARD and POSTROUTING like any packet:
    the FIB lookup's MTU check once sent them down the kernel's path, un-NATed."""
    topo, commands = routed
    text = ("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o n1 -j MASQUERADE\nCOMMIT\n"
            "*filter\n:FORWARD DROP [0:0]\n"
            "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            "-A FORWARD -p tcp --dport 5201 -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n")
    assert commands.restore(text).code == 0
    total = 8 << 20
    assert tcp_bulk(topo.client, topo.server, SERVER_ADDR, total) == (total, "198.18.1.1")


def test_new_links_are_attached(routed: tuple[Topology, BpftablesCommands]) -> None:
    topo, commands = routed
    assert commands.iptables("-A", "INPUT", "-p", "udp", "-j", "DROP").code == 0
    subprocess.run(["ip", "-n", topo.node, "link", "add", "late0", "type", "veth", "peer",
                    "name", "late1"], check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = json.loads(commands.cli("status", "--json").out)
        if "late0/INGRESS" in status["datapath"]["programs"]:
            break
        time.sleep(0.1)
    assert "late0/INGRESS" in status["datapath"]["programs"]


def test_forget_removes_programs_pins_and_state(
        routed: tuple[Topology, BpftablesCommands]) -> None:
    topo, commands = routed
    assert commands.iptables("-A", "INPUT", "-j", "ACCEPT").code == 0
    status = json.loads(commands.cli("status", "--json").out)
    pins, state = Path(status["datapath"]["pin_dir"]), Path(status["state_dir"])
    assert pins.exists() and state.exists()
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in state.iterdir())
    commands.forget()
    assert not pins.exists() and not state.exists()
    filters = subprocess.run(["ip", "-n", topo.node, "-j", "link", "show"], capture_output=True,
                             text=True, check=True).stdout
    assert "clsact" not in filters
