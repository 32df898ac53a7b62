"""kube-proxy (iptables mode) replayed through the drop-in commands, call for call.

The node of a client -- node -- server topology runs bpftables-multi as ``iptables``,
``iptables-save`` and ``iptables-restore`` with the argv kube-proxy builds
(../shared/fixtures/kube-proxy/USAGE.md, which cites pkg/util/iptables/iptables.go and the
proxier's syncProxyRules and Monitor):

* start-up: ``Present()`` (``-S POSTROUTING -t nat``), then Monitor's canaries (``-N`` in mangle,
  nat, filter; exit 1 = "already exists" is success);
* a full sync: for each of the 14 jumps ``-N <dst>`` then ``-C <src> ... -j <dst>`` and, when
  that says 1 (absent), ``-I <src> ...``; then every sync, full or partial, ``iptables-save -t
  nat`` read for its ``:CHAIN`` lines as GetChainsFromTable does, and one ``iptables-restore -w 5
  --noflush --counters``: fixtures 04 -> 09 in order (08 fails as it did for kube-proxy, which
  then syncs in full: 09);
* Monitor's reaction to a flush: the mangle canary is gone (``-S`` fails with an exit other
  than 4); with ``BPFTABLES_KUBE_REPLAY_FLUSH=1`` also the rest of the flush (nat and filter),
  the nat and filter canaries polled until gone, and the forced full resync bringing the
  services back (about a minute more: each of its 14 ``-I`` recompiles the datapath).

Every call is made the same way to real iptables-legacy in a separate namespace: exit codes,
stdout and stderr must be the same (save output without its ``#`` lines and counters). Every
iptables here takes a lock file of the module's own: /run/xtables.lock is shared by parallel
test runs. After each step, traffic crosses the node through the datapath: every service the
rule set has (services.probe_every_service, checked against the reference model of the agent's
own rule set, which equals iptables-legacy's), and the services a sync removed are no longer
translated.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.kube_gen import JUMPS
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.netns.agents import BpftablesCommands, bpftables_in
from tests.netns.packets import answer, headers, parsed, wire
from tests.netns.services import FIXTURES, moved_addresses, prepare, probe_every_service
from tests.netns.topology import CLIENT_ADDR, Topology, drain, received, send_packet
from tests.oracle import LegacyIptables, Outcome
from translator.model.packet import IPPROTO_TCP, TCP_ACK, TCP_SYN, Packet, address

pytestmark = [pytest.mark.netns, pytest.mark.bpf,
              pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures missing")]

CANARY = "KUBE-PROXY-CANARY"
CANARY_TABLES = ("mangle", "nat", "filter")  # Monitor's order: tables[0] is polled
RESOURCE_PROBLEM = 4  # isResourceError: "could not check", the canary counts as present
FLUSH_POLL, FLUSH_TIMEOUT = 0.1, 5.0  # iptablesFlushPollTime, iptablesFlushTimeout
NFACCT_OBJECTS = ("ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts")
# The flush and the forced full resync take about a minute more (every -I of the resync and
# every flush compiles the datapath again): only with BPFTABLES_KUBE_REPLAY_FLUSH=1.
FULL_FLUSH = os.environ.get("BPFTABLES_KUBE_REPLAY_FLUSH", "0") == "1"
STALE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")

Runner = Callable[[list[str], "str | None"], Outcome]


@dataclass(frozen=True)
class Call:
    """One exec of kube-proxy's, as the caller saw it."""

    argv: tuple[str, ...]
    outcome: Outcome
    seconds: float


class KubeProxyFailed(AssertionError):
    """A call whose outcome kube-proxy treats as an error (it would log and retry)."""


@dataclass(frozen=True)
class KubeProxy:
    """kube-proxy's utiliptables runner (post-PR #139247: always ``-w 5``, no probing) with
    the proxier's and Monitor's use of it; every exec is kept in ``calls``."""

    run: Runner
    wait: tuple[str, ...] = ("-w", "5")
    calls: list[Call] = field(default_factory=list)

    def exec(self, argv: list[str], stdin: str | None = None) -> Outcome:
        start = time.monotonic()
        outcome = self.run(argv, stdin)
        self.calls.append(Call(tuple(argv), outcome, time.monotonic() - start))
        return outcome

    def _iptables(self, op: str, table: str, chain: str, *args: str) -> Outcome:
        # runContext: <wait flags> <op> then makeFullArgs: chain, "-t", table, args...
        return self.exec(["iptables", *self.wait, op, chain, "-t", table, *args])

    def ensure_chain(self, table: str, chain: str) -> bool:
        """EnsureChain: True when it existed (exit 1 counts as success)."""
        outcome = self._iptables("-N", table, chain)
        if outcome.code not in (0, 1):
            raise KubeProxyFailed(outcome)
        return outcome.code == 1

    def check_rule(self, table: str, chain: str, args: list[str]) -> bool:
        """checkRule: exit 0 present, 1 absent, anything else an error."""
        outcome = self._iptables("-C", table, chain, *args)
        if outcome.code not in (0, 1):
            raise KubeProxyFailed(outcome)
        return outcome.code == 0

    def ensure_rule_prepended(self, table: str, chain: str, args: list[str]) -> bool:
        """EnsureRule(Prepend, ...): True when it was there already."""
        if self.check_rule(table, chain, args):
            return True
        outcome = self._iptables("-I", table, chain, *args)
        if outcome.code != 0:
            raise KubeProxyFailed(outcome)
        return False

    def chain_exists(self, table: str, chain: str) -> Outcome:
        """ChainExists: exit 0 exists; any error means it does not (4: could not check)."""
        return self._iptables("-S", table, chain)

    def chains_of(self, table: str) -> set[str]:
        """SaveInto(table) then GetChainsFromTable: the names after each "\\n:"."""
        outcome = self.exec(["iptables-save", "-t", table])
        if outcome.code != 0:
            raise KubeProxyFailed(outcome)
        return chains_from_table(outcome.out)

    def ensure_jumps(self) -> None:
        """A full sync's iptablesJumpChains then iptablesKubeletJumpChains."""
        for table, source, extra, comment, target in JUMPS:
            self.ensure_chain(table, target)
            args = extra.split()
            if comment:
                args += ["-m", "comment", "--comment", comment]  # one argv element
            self.ensure_rule_prepended(table, source, [*args, "-j", target])

    def sync(self, text: str, full: bool) -> tuple[set[str], Outcome]:
        """syncProxyRules' execs: the jumps when full; the nat chains that exist; the
        restore (``RestoreAll(data, NoFlushTables, RestoreCounters)``)."""
        if full:
            self.ensure_jumps()
        existing = self.chains_of("nat")
        restored = self.exec(["iptables-restore", *self.wait, "--noflush", "--counters"], text)
        return existing, restored

    def ensure_canaries(self) -> list[bool]:
        return [self.ensure_chain(table, CANARY) for table in CANARY_TABLES]

    def canary_gone(self) -> bool:
        """One Monitor tick: the first table's canary checked; when it is gone, the others
        polled (bounded) until they are gone too, then the reload is due."""
        first = self.chain_exists(CANARY_TABLES[0], CANARY)
        if first.code == 0 or first.code == RESOURCE_PROBLEM:
            return False
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while time.monotonic() < deadline:
            if all(self.chain_exists(table, CANARY).code != 0 for table in CANARY_TABLES[1:]):
                break
            time.sleep(FLUSH_POLL)
        return True


def chains_from_table(save: str) -> set[str]:
    """GetChainsFromTable: every name between a "\\n:" and the next space."""
    chains = set()
    rest = save
    while (start := rest.find("\n:")) != -1:
        rest = rest[start + 2:]
        end = rest.find(" ")
        if end == -1:
            break
        chains.add(rest[:end])
        rest = rest[end:]
    return chains


def without_unknown_stale_chains(text: str, existing: set[str]) -> str:
    """What kube-proxy writes for stale chains: a chain line and ``-X`` only for the service
    chains iptables-save showed (a replay that skips syncs drops the others)."""
    stale = {name for name in re.findall(r"^-X (\S+)$", text, re.M) if name not in existing}
    return "".join(line + "\n" for line in text.splitlines()
                   if not any(line in (f"-X {name}", f":{name} - [0:0]") for name in stale))


def fixture(name: str) -> str:
    return moved_addresses(next(FIXTURES.glob(f"{name}-*.rules")).read_text())


def _without_counters(save: str) -> str:
    """iptables-save output without its date lines and the node's traffic counters."""
    return re.sub(r"\[\d+:\d+\]", "[0:0]", "".join(
        line + "\n" for line in save.splitlines() if not line.startswith("#")))


def _comparable(call: Call) -> tuple[object, ...]:
    out = call.outcome.out
    if call.argv[0] == "iptables-save":
        out = _without_counters(out)
    return call.argv, call.outcome.code, out, call.outcome.err


def legacy_runner(oracle: LegacyIptables) -> Runner:
    def run(argv: list[str], stdin: str | None) -> Outcome:
        return oracle.run([argv[0].replace("iptables", "iptables-legacy", 1), *argv[1:]], stdin)
    return run


def bpftables_runner(commands: BpftablesCommands) -> Runner:
    def run(argv: list[str], stdin: str | None) -> Outcome:
        return commands.run(argv, stdin)
    return run


@dataclass(frozen=True)
class Replay:
    """The same kube-proxy calls made to bpftables (the node) and to iptables-legacy."""

    topology: Topology
    commands: BpftablesCommands
    ours: KubeProxy
    real: KubeProxy

    def both(self, step: Callable[[KubeProxy], object]) -> tuple[object, object]:
        """``step`` on both sides; every exec it made answered the same way."""
        first, real_first = len(self.ours.calls), len(self.real.calls)
        result = step(self.ours), step(self.real)
        ours = [_comparable(call) for call in self.ours.calls[first:]]
        real = [_comparable(call) for call in self.real.calls[real_first:]]
        assert [call[0] for call in ours] == [call[0] for call in real]
        for mine, theirs in zip(ours, real, strict=True):
            assert mine == theirs, mine[0]
        return result

    def state(self) -> tuple[Ruleset, str]:
        """The agent's whole rule set, which must be iptables-legacy's."""
        text = self.commands.save()
        assert _without_counters(text) == _without_counters(
            self.real.run(["iptables-save"], None).out)
        return Restorer().restore(text, Ruleset(), RestoreOptions(counters=True)), text

    def probe(self, first_port: int, removed: tuple[tuple[str, int], ...] = ()) -> int:
        """Every service reached as the model says; ``removed`` ones no longer translated."""
        ruleset, text = self.state()
        reached, _ = probe_every_service(self.topology, ruleset, text, first_port)
        for number, (destination, port) in enumerate(removed):
            arrived = arrival(self.topology, destination, port, first_port + 500 + number)
            assert arrived == (address(destination), port), (destination, port)
        return reached


def _client_packet(topo: Topology, destination: str, port: int, sport: int,
                   flags: int) -> Packet | None:
    """A TCP packet from the client to ``destination:port``, as it reached the server's
    side (None: it did not)."""
    client = topo.sender(topo.client, marked=True)
    at_server = topo.capture(topo.server, "s0")
    try:
        drain(at_server)
        packet = Packet(address(CLIENT_ADDR), address(destination), IPPROTO_TCP, sport, port,
                        tcp_flags=flags)
        send_packet(client, wire(packet), destination)
        seen = [parsed(raw) for raw in received(at_server, 0.2)]
        tcp = [p for p in seen if p.protocol == IPPROTO_TCP]
        return tcp[0] if tcp else None
    finally:
        client.close()
        at_server.close()


def arrival(topo: Topology, destination: str, port: int, sport: int) -> tuple[int, int] | None:
    """Where a new TCP connection from the client to ``destination:port`` reaches the
    server's side, or None."""
    arrived = _client_packet(topo, destination, port, sport, TCP_SYN)
    return None if arrived is None else (arrived.dst, arrived.dport)


def open_connection(topo: Topology, destination: str, port: int, sport: int) -> Packet:
    """A handshake's SYN from the client and the endpoint's SYN-ACK back through the node;
    the SYN as the endpoint saw it."""
    arrived = _client_packet(topo, destination, port, sport, TCP_SYN)
    assert arrived is not None, (destination, port)
    server = topo.sender(topo.server, marked=True)
    at_client = topo.capture(topo.client, "c0")
    try:
        drain(at_client)
        send_packet(server, wire(answer(arrived)), CLIENT_ADDR)
        back = [parsed(raw) for raw in received(at_client, 0.2)]
        assert [(p.src, p.sport) for p in back if p.protocol == IPPROTO_TCP] == [
            (address(destination), port)]
    finally:
        server.close()
        at_client.close()
    return arrived


def still_translated(topo: Topology, destination: str, port: int, sport: int,
                     opened: Packet) -> bool:
    """The connection's next packet (the client's ACK) reaches the endpoint it was given,
    from the same translated source: its connection outlived the syncs since."""
    arrived = _client_packet(topo, destination, port, sport, TCP_ACK)
    return arrived is not None and headers(arrived)[:5] == headers(opened)[:5]


@pytest.fixture(scope="module")
def private_xtables_lock() -> Iterator[str]:
    """Every iptables here (legacy and bpftables') takes a lock file of this module's own:
    /run/xtables.lock is one for the whole machine, and parallel test runs hold it."""
    with tempfile.TemporaryDirectory(prefix="bpft-kube-lock-") as folder, \
            pytest.MonkeyPatch.context() as patch:
        lockfile = str(Path(folder) / "xtables.lock")
        patch.setenv("XTABLES_LOCKFILE", lockfile)
        yield lockfile


@pytest.fixture(scope="module")
def topology(private_xtables_lock: str) -> Iterator[Topology]:
    topo = Topology.create()
    try:
        topo.silence_ends()
        prepare(topo)
        yield topo
    finally:
        topo.close()


@pytest.fixture
def replay(topology: Topology, oracle: LegacyIptables) -> Iterator[Replay]:
    """A fresh agent on the node, a fresh iptables-legacy namespace, the nfacct objects
    kube-proxy creates over netlink (nfacct.Ensure) on the legacy side."""
    for name in NFACCT_OBJECTS:
        oracle.nfacct_add(name)
    with bpftables_in(topology.node) as commands:
        yield Replay(topology, commands, KubeProxy(bpftables_runner(commands)),
                     KubeProxy(legacy_runner(oracle)))


SVC1, SVC2, SVC3, SVC4 = (("198.18.5.41", 80), ("198.18.5.42", 8080), ("198.18.5.43", 80),
                          ("198.18.5.44", 80))
# both test clients reach a ClusterIP service (these fixtures have no source ranges)
CLIENTS = 2
LONG_LIVED_PORT = 40999


def _restored(result: object) -> Outcome:
    (_, restored), _ = result  # type: ignore[misc]
    return restored


def start_up(replay: Replay) -> None:
    """Present() decides that IPv4 is supported; Monitor creates its canaries. Before that,
    what kube-proxy up to 1.33 also ran: the version probes (``iptables --version``, matched
    with ``v([0-9]+(\\.[0-9]+)+)``; ``iptables-restore --version`` with empty stdin) and its
    wait flags ``-w 5 -W 100000``."""
    probed, _ = replay.both(lambda kp: kp.exec(["iptables", "--version"]))
    assert isinstance(probed, Outcome) and re.search(r"v([0-9]+(\.[0-9]+)+)", probed.out)
    replay.both(lambda kp: kp.exec(["iptables-restore", "--version"], ""))
    older, _ = replay.both(lambda kp: kp.exec(["iptables", "-w", "5", "-W", "100000", "-S",
                                               "POSTROUTING", "-t", "nat"]))
    assert isinstance(older, Outcome) and older.code == 0
    present, _ = replay.both(lambda kp: kp.chain_exists("nat", "POSTROUTING"))
    assert isinstance(present, Outcome) and present.code == 0
    created, _ = replay.both(KubeProxy.ensure_canaries)
    assert created == [False, False, False]


def syncs_04_to_09(replay: Replay) -> None:
    # 04: the first sync is full; every jump is missing, so -C says 1 and -I adds it
    (existing, restored), _ = replay.both(lambda kp: kp.sync(fixture("04"), full=True))
    assert restored.code == 0, restored.err
    assert not any(name.startswith(STALE_CHAIN_PREFIXES) for name in existing)
    checks = [call for call in replay.ours.calls if "-C" in call.argv]
    assert len(checks) == len(JUMPS) and {call.outcome.code for call in checks} == {1}
    assert sum("-I" in call.argv for call in replay.ours.calls) == len(JUMPS)
    assert replay.probe(41000) == CLIENTS * len((SVC1, SVC2))

    # 05: partial, svc3 added; KUBE-SERVICES jumps to chains only earlier syncs declared
    (existing, restored), _ = replay.both(lambda kp: kp.sync(fixture("05"), full=False))
    assert restored.code == 0, restored.err
    assert {"KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-UHEGFW77JX3KXTOV"} <= existing
    assert replay.probe(42000) == CLIENTS * len((SVC1, SVC2, SVC3))
    # a connection to svc3 made now keeps its endpoint through every later sync, also once
    # 09 has moved svc3 to other endpoints (connections outlive rules, as in the kernel;
    # kube-proxy clears only UDP ones)
    opened = open_connection(replay.topology, *SVC3, LONG_LIVED_PORT)
    assert opened.dst == address("198.19.3.1")

    def kept() -> bool:
        return still_translated(replay.topology, *SVC3, LONG_LIVED_PORT, opened)

    # 06: partial, svc2 deleted: its chains (which iptables-save showed) flushed and -X'd
    (existing, restored), _ = replay.both(lambda kp: kp.sync(fixture("06"), full=False))
    assert restored.code == 0, restored.err
    assert {"KUBE-SVC-2VJB64SDSIJUP5T6", "KUBE-SEP-UHEGFW77JX3KXTOV"} <= existing
    assert replay.probe(43000, removed=(SVC2,)) == CLIENTS * len((SVC1, SVC3))
    assert kept()

    # 07: partial, svc4 without endpoints: filter REJECT (the probe expects REJECT's answer)
    restored = _restored(replay.both(lambda kp: kp.sync(fixture("07"), full=False)))
    assert restored.code == 0, restored.err
    assert replay.probe(44000, removed=(SVC2,)) == CLIENTS * len((SVC1, SVC3))
    assert kept()

    # 08: partial, jumps to KUBE-SVC-4SW47YFZTEDKD3PK of a sync the fixtures leave out: the
    # restore fails at its nat table (a parameter problem, not the "line N failed" form whose
    # lines kube-proxy would log; any non-zero exit sets needFullSync); the filter table was
    # committed before it (the same rules), the nat table is unchanged
    before = replay.commands.save("nat")
    restored = _restored(replay.both(lambda kp: kp.sync(fixture("08"), full=False)))
    assert restored.code == 2 and "Error occurred at line: 23" in restored.err, restored.err
    assert _without_counters(replay.commands.save("nat")) == _without_counters(before)
    assert replay.probe(45000, removed=(SVC2,)) == CLIENTS * len((SVC1, SVC3))
    assert kept()

    # 09: needFullSync: the jumps again (all there: -N says 1, -C says 0, no -I), then the
    # full restore; svc3 has two endpoints now, svc4's REJECT is gone
    calls = len(replay.ours.calls)
    restored = _restored(replay.both(lambda kp: kp.sync(fixture("09"), full=True)))
    assert restored.code == 0, restored.err
    again = replay.ours.calls[calls:]
    assert {call.outcome.code for call in again if "-N" in call.argv} == {1}
    assert {call.outcome.code for call in again if "-C" in call.argv} == {0}
    assert not any("-I" in call.argv for call in again)
    assert replay.probe(46000, removed=(SVC2, SVC4)) == CLIENTS * len((SVC1, SVC3))
    assert kept()


def canary_removed(replay: Replay) -> None:
    """Monitor's tick finds the canary; once it is deleted, ``-S`` fails with the exit code
    kube-proxy reads as "gone" (not 0, not 4) and the same message as iptables."""
    gone, _ = replay.both(KubeProxy.canary_gone)
    assert gone is False
    replay.both(lambda kp: kp.exec(["iptables", "-X", CANARY, "-t", "mangle"]))
    missing, _ = replay.both(lambda kp: kp.chain_exists("mangle", CANARY))
    assert isinstance(missing, Outcome) and missing.code == 1, missing


def flushed_and_resynced(replay: Replay) -> None:
    """The rest of a flush (``-F`` then ``-X`` in nat and filter, as a firewall reload does):
    the services stop; Monitor waits for the nat and filter canaries to be gone too, then
    kube-proxy's forced full sync (canaries, jumps, save, restore) brings them back."""
    for table in ("nat", "filter"):
        replay.both(lambda kp, table=table: (kp.exec(["iptables", "-t", table, "-F"]),
                                             kp.exec(["iptables", "-t", table, "-X"])))
    assert replay.probe(47000, removed=(SVC1, SVC3)) == 0
    gone, _ = replay.both(KubeProxy.canary_gone)
    assert gone is True

    created, _ = replay.both(KubeProxy.ensure_canaries)
    assert created == [False, False, False]
    calls = len(replay.ours.calls)

    def resync(kp: KubeProxy) -> Outcome:
        # the stale-chain lines are only for chains iptables-save shows: none are left
        kp.ensure_jumps()
        text = without_unknown_stale_chains(fixture("09"), kp.chains_of("nat"))
        return kp.exec(["iptables-restore", *kp.wait, "--noflush", "--counters"], text)

    restored, _ = replay.both(resync)
    assert isinstance(restored, Outcome) and restored.code == 0, restored.err
    assert sum("-I" in call.argv for call in replay.ours.calls[calls:]) == len(JUMPS)
    assert replay.probe(48000) == CLIENTS * len((SVC1, SVC3))
    gone, _ = replay.both(KubeProxy.canary_gone)
    assert gone is False


def slowest(calls: list[Call]) -> str:
    """Where the time went, per kind of call (printed with ``-s``)."""
    kinds: dict[str, list[float]] = {}
    for call in calls:
        kind = " ".join(word for word in call.argv[:4] if not word.isdigit())
        kinds.setdefault(kind, []).append(call.seconds)
    return "\n".join(f"{sum(times):7.2f} s  {len(times):3d} x {kind}" for kind, times in
                     sorted(kinds.items(), key=lambda item: -sum(item[1])))


def test_kube_proxy_replay(replay: Replay) -> None:
    try:
        start_up(replay)
        syncs_04_to_09(replay)
        canary_removed(replay)
        if FULL_FLUSH:
            flushed_and_resynced(replay)
    finally:
        print(f"\nbpftables:\n{slowest(replay.ours.calls)}\n"
              f"iptables-legacy:\n{slowest(replay.real.calls)}")
