"""bpf/loader.py against the kernel: pins, a restarted agent, an atomic replace, kill -9.

Two namespaces joined by a veth pair (A: la0 198.18.220.1, B: lb0 198.18.220.2); a tiny
program on B's lb0 (ingress and egress) counts IPv4 packets per protocol in a pinned array and
tail-calls a verdict program that drops ICMP while a pinned switch says so.

The same file is the "other process" the tests start (a restarted agent, a killed owner) and
the measurement script::

    .venv/bin/python -m tests.datapath.test_loader measure
"""

from __future__ import annotations

import ctypes as ct
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import pytest

from bpf import loader
from bpf.bpffs import ensure_bpffs, pin_dir_for, remove_tree

pytestmark = pytest.mark.netns

REPO_ROOT = Path(__file__).resolve().parents[2]
A_ADDR, B_ADDR = "198.18.220.1", "198.18.220.2"
B_IFNAME = "lb0"
IPPROTO_ICMP = 1
FUNCTIONS = {"tc_count": loader.ProgKind.TC}
TAIL_CALLS = {"verdicts": ["tc_verdict"]}
# a veth round trip takes microseconds; a reply later than this counts as lost
REPLY_WAIT_S = 0.5
OWNER_LIFETIME_S = 60  # a killed-owner stand-in never outlives this, killed or not

COUNTER_C = r"""
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/pkt_cls.h>

#define PROTO_ICMP 1

/* IPv4 packets seen, by protocol number; slot 0 (protocol 0 never occurs here) holds the
 * GENERATION of the program that counted last, so a test can tell which program runs */
BPFT_MAP("array", u32, u64, proto_count, 256);
/* slot 0: nonzero makes tc_verdict drop ICMP */
BPFT_MAP("array", u32, u32, drop_icmp, 1);
/* slot 0: tc_verdict; per generation, pinned by the loader */
BPF_PROG_ARRAY(verdicts, 1);

int tc_count(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);
    u32 marker = 0, proto;
    u64 *seen;

    if ((void *)(ip + 1) > data_end || eth->h_proto != htons(ETH_P_IP))
        return TC_ACT_OK;
    proto = ip->protocol;
    seen = proto_count.lookup(&proto);
    if (seen)
        __sync_fetch_and_add(seen, 1);
    seen = proto_count.lookup(&marker);
    if (seen)
        *seen = GENERATION;
    skb->cb[0] = proto;
    verdicts.call(skb, 0);
    return TC_ACT_OK; /* no verdict program (empty prog array): pass */
}

int tc_verdict(struct __sk_buff *skb)
{
    u32 zero = 0;
    u32 *drop = drop_icmp.lookup(&zero);

    if (drop && *drop && skb->cb[0] == PROTO_ICMP)
        return TC_ACT_SHOT;
    return TC_ACT_OK;
}
"""


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    pins: Path


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@contextmanager
def namespace_pair() -> Iterator[Pair]:
    """A and B joined by a veth pair, B's pin folder; all removed afterwards, also on failure
    (filters and qdisc go with the namespaces; pins must be removed by hand)."""
    tag = uuid.uuid4().hex[:8]
    a, b = f"bpft-la{tag}", f"bpft-lb{tag}"
    pins: Path | None = None
    try:
        for name in (a, b):
            _run("ip", "netns", "add", name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", a, "link", "add", "la0", "type", "veth", "peer", "name", B_IFNAME,
             "netns", b)
        for name, dev, addr in ((a, "la0", A_ADDR), (b, B_IFNAME, B_ADDR)):
            _run("ip", "-n", name, "addr", "add", f"{addr}/24", "dev", dev)
            _run("ip", "-n", name, "link", "set", dev, "up")
        ensure_bpffs()
        pins = loader.netns_pin_dir(b)
        yield Pair(a, b, pins)
    finally:
        try:
            for hook in loader.Hook:
                loader.detach_tc(B_IFNAME, hook, b)
            loader.remove_clsact(B_IFNAME, b)
        except Exception:  # the namespace may be gone already; deleting it suffices anyway
            pass
        if pins is not None:
            remove_tree(pins)
        for name in (a, b):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def compile_counter(pins: Path, generation: int) -> loader.Datapath:
    return loader.compile_datapath(COUNTER_C, pins, functions=FUNCTIONS, tail_calls=TAIL_CALLS,
                                   defines={"GENERATION": generation}, label=f"test{generation}")


def attach_both(datapath: loader.Datapath, netns: str | None) -> None:
    with loader.TcHooks(netns) as hooks:
        for hook in loader.Hook:
            hooks.attach(datapath.programs["tc_count"], B_IFNAME, hook)


def ping(pair: Pair, count: int = 1, interval: float = 0.2) -> tuple[int, int]:
    """(sent, received) of a bounded ping from A to B."""
    result = subprocess.run(pinger_argv(pair, count, interval), cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=10 + count * interval)
    return _ping_summary(result.stdout)


def pinger_argv(pair: Pair, count: int, interval: float) -> list[str]:
    """A ping from A to B as a separate process (no ping binary needed; see _ping)."""
    return ["ip", "netns", "exec", pair.a, sys.executable, "-m", "tests.datapath.test_loader",
            "ping", B_ADDR, str(count), str(interval)]


def _ping_summary(output: str) -> tuple[int, int]:
    match = re.search(r"(\d+) packets transmitted, (\d+) received", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def _icmp_echo(ident: int, seq: int) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"bpftables-loader"
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return header[:2] + struct.pack("!H", ~total & 0xFFFF) + header[4:]


def _ping(dst: str, count: int, interval: float) -> None:
    """Send ``count`` ICMP echo requests ``interval`` apart, wait up to REPLY_WAIT_S for the
    last replies, print a ping-like summary. Bounded: count packets, in count * interval +
    REPLY_WAIT_S."""
    ident = os.getpid() & 0xFFFF
    answered: set[int] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        start = time.monotonic()
        for seq in range(count + 1):
            last = seq == count
            due = start + (seq * interval if not last else count * interval + REPLY_WAIT_S)
            while (left := due - time.monotonic()) > 0 and not (last and len(answered) == count):
                if not select.select([sock], [], [], left)[0]:
                    break
                packet = sock.recv(2048)
                icmp = packet[(packet[0] & 0x0F) * 4:]
                kind, _, _, got_ident, got_seq = struct.unpack("!BBHHH", icmp[:8])
                if kind == 0 and got_ident == ident:
                    answered.add(got_seq)
            if not last:
                sock.sendto(_icmp_echo(ident, seq), (dst, 0))
    print(f"{count} packets transmitted, {len(answered)} received")


def possible_cpus() -> int:
    """How many CPUs the kernel may bring up ("0-3" -> 4): a per-CPU map's slot count."""
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    return sum(int(r.split("-")[-1]) - int(r.split("-")[0]) + 1 for r in text.split(","))


def u32(value: int) -> ct.c_uint32:
    return ct.c_uint32(value)


def icmp_count(datapath: loader.Datapath) -> int:
    return int.from_bytes(datapath.maps["proto_count"].lookup(u32(IPPROTO_ICMP)), "little")


def running_generation(datapath: loader.Datapath) -> int:
    return int.from_bytes(datapath.maps["proto_count"].lookup(u32(0)), "little")


def attached_ids(netns: str | None) -> dict[str, int]:
    """Program id on each hook of B's interface; exactly one filter per hook, ours."""
    found = loader.attached_tc(netns)
    assert all(a.ours and a.ifname == B_IFNAME for a in found), found
    assert len({a.hook for a in found}) == len(found), found
    return {a.hook.name: a.prog_id for a in found}


def run_in_netns(netns: str, *args: str, **popen: object) -> subprocess.Popen[str]:
    """This file as a separate process inside ``netns`` (as an agent after ip netns exec)."""
    argv = ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.datapath.test_loader",
            *args]
    return subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, **popen)


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pair() -> Iterator[Pair]:
    """The pair with generation 1 compiled (once per session) and attached on both hooks."""
    with namespace_pair() as made:
        with compile_counter(made.pins, 1) as datapath:
            attach_both(datapath, made.b)
        yield made


@pytest.fixture
def current(pair: Pair) -> Iterator[loader.Datapath]:
    """The generation attached, opened as a restarted agent would, and the drop switch off."""
    generation = loader.attached_generation(pair.pins, set(attached_ids(pair.b).values()))
    assert generation is not None
    datapath = loader.open_datapath(pair.pins, generation.number)
    assert datapath is not None
    datapath.maps["drop_icmp"].update(u32(0), u32(0))
    try:
        yield datapath
    finally:
        datapath.maps["drop_icmp"].update(u32(0), u32(0))
        datapath.close()


# --- tests ------------------------------------------------------------------------------------

def test_pins_are_in_the_namespace_folder(pair: Pair, current: loader.Datapath) -> None:
    assert pair.pins.parent == loader.BPFFS_ROOT
    assert pair.pins.name == f"net-{loader.netns_cookie(pair.b)}"
    assert pair.pins.stat().st_mode & 0o777 == 0o700
    assert sorted(current.maps) == ["drop_icmp", "proto_count", "verdicts"]
    assert sorted(current.persistent_map_names()) == ["drop_icmp", "proto_count"]
    assert sorted(current.programs) == ["tc_count", "tc_verdict"]
    assert attached_ids(pair.b) == {"INGRESS": current.programs["tc_count"].id,
                                    "EGRESS": current.programs["tc_count"].id}
    live = set(attached_ids(pair.b).values())
    assert loader.attached_generation(pair.pins, live) == current.generation
    assert loader.attached_generation(pair.pins, set()) is None


def test_ensure_bpffs_mounts_once() -> None:
    """On a private mount point (the shared one stays as it is): mounted 0700, idempotent."""
    root = Path("/run/bpftables") / f"test-{uuid.uuid4().hex[:8]}" / "bpffs"
    try:
        assert ensure_bpffs(root) == root
        assert ensure_bpffs(root) == root
        mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
        assert sum(f" {root} " in line and " - bpf " in line for line in mountinfo) == 1
        assert root.stat().st_mode & 0o777 == 0o700
        assert pin_dir_for(7, root) == root / "net-7"
        assert pin_dir_for(7, root).stat().st_mode & 0o777 == 0o700
    finally:
        subprocess.run(["umount", str(root)], capture_output=True, check=False)
        for leftover in (root, root.parent / ".bpffs.lock", root.parent):
            if leftover.is_dir():
                leftover.rmdir()
            elif leftover.exists():
                leftover.unlink()


def test_bad_labels_and_pin_paths_are_refused(pair: Pair) -> None:
    with pytest.raises(ValueError, match="label"):
        loader.compile_datapath("", pair.pins, functions={}, label="a.b")
    with pytest.raises(FileNotFoundError, match="ensure_bpffs"):
        pin_dir_for(7, Path("/run/bpftables/not-a-bpffs"))


def test_restarted_agent_reads_counters_and_flips_the_drop_switch(
        pair: Pair, current: loader.Datapath) -> None:
    before = icmp_count(current)
    assert ping(pair, count=3) == (3, 3)
    counted = icmp_count(current)
    assert counted >= before + 6  # 3 requests in, 3 replies out

    agent = run_in_netns(pair.b, "reopen-drop", "1")
    out, _ = agent.communicate(timeout=60)
    assert agent.returncode == 0
    seen = json.loads(out)
    assert seen["icmp_count"] >= counted
    assert seen["generation"] == current.generation.number
    assert seen["programs"]["tc_count"] == current.programs["tc_count"].id
    assert seen["attached"] == attached_ids(pair.b)

    assert ping(pair) == (1, 0)  # the next packet obeys the switch
    assert icmp_count(current) >= seen["icmp_count"] + 1  # counted, then dropped
    assert attached_ids(pair.b) == seen["attached"]  # no program changed for a Data change
    current.maps["drop_icmp"].update(u32(0), u32(0))
    assert ping(pair) == (1, 1)


def test_recompile_replaces_program_keeps_maps_and_loses_no_packet(
        pair: Pair, current: loader.Datapath) -> None:
    old_prog = current.programs["tc_count"].id
    old_maps = {name: current.maps[name].id for name in ("proto_count", "drop_icmp")}
    flood = subprocess.Popen(pinger_argv(pair, 300, 0.01), cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        before = icmp_count(current)
        with compile_counter(pair.pins, current.generation.number + 1) as fresh:
            attach_both(fresh, pair.b)
            attached = attached_ids(pair.b)
            loader.retire_generations(pair.pins, fresh.generation, set(attached.values()))
            new_prog = fresh.programs["tc_count"].id
            assert {name: fresh.maps[name].id for name in old_maps} == old_maps
            assert old_maps["proto_count"] in fresh.programs["tc_count"].map_ids()
            assert old_maps["drop_icmp"] in fresh.programs["tc_verdict"].map_ids()
        out, _ = flood.communicate(timeout=30)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    assert new_prog != old_prog
    assert attached == {"INGRESS": new_prog, "EGRESS": new_prog}
    assert _ping_summary(out) == (300, 300)
    assert icmp_count(current) >= before + 2  # kept its value and went on counting
    assert running_generation(current) == current.generation.number + 1
    assert [g.number for g in loader.list_generations(pair.pins)] == [
        current.generation.number + 1]


def test_layout_change_is_refused_and_leaves_everything_in_place(
        pair: Pair, current: loader.Datapath) -> None:
    narrower = COUNTER_C.replace("u32, u64, proto_count", "u32, u32, proto_count")
    before = attached_ids(pair.b)
    with pytest.raises(loader.MapLayoutError, match="proto_count"):
        loader.compile_datapath(narrower, pair.pins, functions=FUNCTIONS,
                                tail_calls=TAIL_CALLS, defines={"GENERATION": 99})
    # a failed compile also unpins the persistent maps it created
    unverifiable = COUNTER_C.replace("proto = ip->protocol;",
                                     "proto = *(u8 *)(data + 200);  /* unchecked */") + \
        'BPFT_MAP("hash", u32, u32, new_in_failed, 4);\n'
    with pytest.raises(loader.LoaderError, match="loading tc_count"):
        loader.compile_datapath(unverifiable, pair.pins, functions=FUNCTIONS,
                                tail_calls=TAIL_CALLS, defines={"GENERATION": 99})
    assert sorted(p.name for p in (pair.pins / "maps").iterdir()) == [
        "drop_icmp", "proto_count"]
    assert loader.list_generations(pair.pins)[-1] == current.generation
    assert not [p for p in pair.pins.iterdir() if p.name.startswith("tmp-")]
    assert attached_ids(pair.b) == before
    assert ping(pair) == (1, 1)


def test_kill_9_of_the_owner_leaves_traffic_and_pins(
        pair: Pair, current: loader.Datapath) -> None:
    generation = current.generation.number + 1
    owner = run_in_netns(pair.b, "own", str(generation))
    try:
        ready, _, _ = select.select([owner.stdout], [], [], 60)
        assert ready, "the owner did not get ready"
        owned = json.loads(owner.stdout.readline())
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    assert owner.returncode == -signal.SIGKILL
    assert attached_ids(pair.b) == {"INGRESS": owned["prog"], "EGRESS": owned["prog"]}
    with loader.open_datapath(pair.pins) as survivor:
        assert survivor.generation.number == generation
        assert survivor.programs["tc_count"].id == owned["prog"]
        before = icmp_count(survivor)
        assert ping(pair, count=2) == (2, 2)
        assert icmp_count(survivor) >= before + 4
        assert running_generation(survivor) == generation
        # the tail call still works: its prog array lives on in the pins
        survivor.maps["drop_icmp"].update(u32(0), u32(1))
        assert ping(pair) == (1, 0)
        survivor.maps["drop_icmp"].update(u32(0), u32(0))
        assert ping(pair) == (1, 1)


def test_detach_and_cleanup_remove_filters_qdisc_pins_and_namespaces() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError, match="test failure"):
        with namespace_pair() as made:
            names = [made.a, made.b]
            with compile_counter(made.pins, 1) as datapath:
                attach_both(datapath, made.b)
            assert len(attached_ids(made.b)) == 2
            assert loader.detach_tc(B_IFNAME, loader.Hook.EGRESS, made.b)
            assert not loader.detach_tc(B_IFNAME, loader.Hook.EGRESS, made.b)
            assert list(attached_ids(made.b)) == ["INGRESS"]
            assert loader.remove_clsact(B_IFNAME, made.b)
            assert not loader.remove_clsact(B_IFNAME, made.b)
            assert attached_ids(made.b) == {}
            pins = made.pins
            raise RuntimeError("test failure")
    assert not pins.exists()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in names)


def test_xdp_and_tc_functions_load_as_asked(pair: Pair) -> None:
    source = "#include <uapi/linux/pkt_cls.h>\n" \
             "int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }\n" \
             "int tc_pass(struct __sk_buff *skb) { return TC_ACT_OK; }\n"
    with loader.compile_datapath(source, pair.pins, label="kinds",
                                 functions={"xdp_pass": loader.ProgKind.XDP,
                                            "tc_pass": loader.ProgKind.TC}) as datapath:
        assert {name: prog.prog_type for name, prog in datapath.programs.items()} == {
            "xdp_pass": 6, "tc_pass": 3}
        generation = datapath.generation
    remove_tree(generation.path)


def test_per_cpu_map_values(pair: Pair) -> None:
    source = 'BPFT_MAP("percpu_array", u32, u64, pcpu_test, 2);\n' \
             "int tc_nop(struct __sk_buff *skb) { return 0; }\n"
    with loader.compile_datapath(source, pair.pins, functions={"tc_nop": loader.ProgKind.TC},
                                 label="percpu") as datapath:
        table = datapath.maps["pcpu_test"]
        assert table.per_cpu
        table.update(u32(1), ct.c_uint64(7))
        values = table.lookup(u32(1))
        assert isinstance(values, list) and len(values) == possible_cpus()
        assert {int.from_bytes(v, "little") for v in values} == {7}
        assert sorted(table.keys()) == [u32(0).value.to_bytes(4, "little"),
                                        u32(1).value.to_bytes(4, "little")]
        # many keys to one value at once (BPF_MAP_UPDATE_BATCH): every CPU's slot of each
        table.update(u32(0), [ct.c_uint64(3), *[ct.c_uint64(4)] * (possible_cpus() - 1)])
        table.update_many([bytes(u32(0)), bytes(u32(1))], ct.c_uint64(0))
        assert all(int.from_bytes(value, "little") == 0
                   for key in (0, 1) for value in table.lookup(u32(key)))  # type: ignore[union-attr]
        table.update_many([], ct.c_uint64(9))  # nothing to do
        with pytest.raises(ValueError):
            table.update_many([b"\0"], ct.c_uint64(0))
        generation = datapath.generation
    # not attached anywhere: its own generation goes; the attached one is refused
    newest_attached = loader.list_generations(pair.pins)[-2]
    loader.retire_generations(pair.pins, newest_attached, set(attached_ids(pair.b).values()))
    assert generation not in loader.list_generations(pair.pins)
    remove_tree(pair.pins / "maps" / "pcpu_test")


# --- the other processes ----------------------------------------------------------------------

def _reopen_and_drop(value: int) -> None:
    """A restarted agent: re-open the pins of its own namespace, report, set the switch."""
    with loader.open_datapath(loader.netns_pin_dir()) as datapath:
        print(json.dumps({
            "generation": datapath.generation.number,
            "programs": {name: prog.id for name, prog in datapath.programs.items()},
            "attached": attached_ids(None),
            "icmp_count": icmp_count(datapath),
        }), flush=True)
        datapath.maps["drop_icmp"].update(u32(0), u32(value))


def _own(generation: int) -> None:
    """An owner that compiles, attaches, retires older generations, then waits to be killed."""
    pins = loader.netns_pin_dir()
    datapath = compile_counter(pins, generation)
    attach_both(datapath, None)
    loader.retire_generations(pins, datapath.generation, set(attached_ids(None).values()))
    print(json.dumps({"prog": datapath.programs["tc_count"].id}), flush=True)
    time.sleep(OWNER_LIFETIME_S)


def _measure() -> None:
    """Compile, replace and map-write times, and packets lost across replaces."""
    with namespace_pair() as made:
        started = time.perf_counter()
        datapath = compile_counter(made.pins, 1)
        compile_s = time.perf_counter() - started
        attach_both(datapath, made.b)
        compiles, replaces, sessions = [], [], []
        flood = subprocess.Popen(pinger_argv(made, 1000, 0.005), cwd=REPO_ROOT,
                                 stdout=subprocess.PIPE, text=True)
        for generation in range(2, 7):
            started = time.perf_counter()
            fresh = compile_counter(made.pins, generation)
            compiles.append(time.perf_counter() - started)
            started = time.perf_counter()
            with loader.TcHooks(made.b) as hooks:
                opened = time.perf_counter()
                for hook in loader.Hook:
                    hooks.attach(fresh.programs["tc_count"], B_IFNAME, hook)
                replaced = time.perf_counter()
                live = {a.prog_id for a in hooks.attached()}
            sessions.append(opened - started)
            replaces.append((replaced - opened) / 2)
            loader.retire_generations(made.pins, fresh.generation, live)
            datapath.close()
            datapath = fresh
            time.sleep(0.5)
        out, _ = flood.communicate(timeout=60)
        table = datapath.maps["drop_icmp"]
        writes = []
        for _ in range(1000):
            key, leaf = u32(0), u32(0)  # the switch stays off; the write is the same work
            started = time.perf_counter_ns()
            table.update(key, leaf)
            writes.append(time.perf_counter_ns() - started)
        datapath.close()
    sent, received = _ping_summary(out)
    print(json.dumps({
        "first_compile_load_pin_s": round(compile_s, 3),
        "recompile_load_pin_s": [round(s, 3) for s in compiles],
        "open_tc_session_in_named_netns_ms": [round(s * 1000, 1) for s in sessions],
        "replace_one_hook_ms": [round(s * 1000, 2) for s in replaces],
        "map_write_median_us": round(median(writes) / 1000, 2),
        "ping_across_5_replaces": {"sent": sent, "received": received},
    }, indent=1))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "reopen-drop":
        _reopen_and_drop(int(sys.argv[2]))
    elif command == "own":
        _own(int(sys.argv[2]))
    elif command == "ping":
        _ping(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif command == "measure":
        _measure()
    else:
        raise SystemExit(f"unknown command {command}")
