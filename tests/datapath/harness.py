"""The test harness program (bpf/harness.c) from Python: compile once, configure its nat rules,
run packets through it with BPF_PROG_TEST_RUN, read its connections.

A :class:`NatRule` is written once and becomes both the iptables line the reference model runs
and the harness's config entry, so the two always mean the same rule.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpf import structs
from bpf.csource import program_source
from bpf.structs import be32, from_be32
from bpf.testrun import RunResult, run_program

HARNESS_C = Path(__file__).resolve().parents[2] / "bpf" / "harness.c"
# Ethernet header put in front of every test packet (tc programs see whole frames).
ETHERNET = bytes.fromhex("020000000002") + bytes.fromhex("020000000001") + b"\x08\x00"
TC_ACT_OK, TC_ACT_SHOT = 0, 2
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1}


@dataclass(frozen=True, slots=True)
class NatRule:
    """``-A PREROUTING -d ADDR/LEN [-p P [--dport N]] -j DNAT --to-destination ...`` or
    ``-A POSTROUTING -s ADDR/LEN [-p P] -j SNAT --to-source ...`` / ``MASQUERADE``.
    ``to_addr`` of a MASQUERADE is the address of the interface the packets leave by, of a
    REDIRECT the address of the interface they arrive on (the harness has no FIB)."""

    kind: str  # DNAT, REDIRECT, SNAT or MASQUERADE
    match: str  # ADDR/LEN of the destination (DNAT) or source (SNAT, MASQUERADE)
    to_addr: str
    protocol: str | None = None
    dport: int | None = None
    to_ports: tuple[int, int] | None = None
    random_fully: bool = False

    def iptables(self) -> str:
        dnat = self.kind in ("DNAT", "REDIRECT")
        words = ["-A", "PREROUTING" if dnat else "POSTROUTING", "-d" if dnat else "-s",
                 self.match]
        if self.protocol is not None:
            words += ["-p", self.protocol]
        if self.dport is not None:
            words += ["--dport", str(self.dport)]
        ports = ""
        if self.to_ports is not None:
            low, high = self.to_ports
            ports = f"{low}" if low == high else f"{low}-{high}"
        words += ["-j", self.kind]
        if self.kind in ("MASQUERADE", "REDIRECT"):
            if ports:
                words += ["--to-ports", ports]
        else:
            option = "--to-destination" if dnat else "--to-source"
            words += [option, self.to_addr + (f":{ports}" if ports else "")]
        if self.random_fully:
            words.append("--random-fully")
        return " ".join(words)

    def harness_rule(self) -> structs.harness_rule:
        address, _, length = self.match.partition("/")
        mask = (0xFFFFFFFF << (32 - int(length or 32))) & 0xFFFFFFFF
        to = structs.nat_range(
            min_addr=be32(_address(self.to_addr)), max_addr=be32(_address(self.to_addr)),
            kind=structs.NAT_KIND_DNAT if self.kind in ("DNAT", "REDIRECT")
            else structs.NAT_KIND_SNAT,
            flags=(structs.NAT_F_PORTS if self.to_ports else 0)
            | (structs.NAT_F_RANDOM_FULLY if self.random_fully else 0))
        if self.to_ports:
            to.min_port, to.max_port = self.to_ports
        return structs.harness_rule(
            match_addr=be32(_address(address) & mask), match_mask=be32(mask),
            match_dport=self.dport or 0, match_proto=PROTOCOLS.get(self.protocol or "", 0),
            enabled=1, to=to)


def _address(text: str) -> int:
    a, b, c, d = (int(part) for part in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def nat_table(rules: list[NatRule]) -> str:
    return "*nat\n" + "".join(rule.iptables() + "\n" for rule in rules) + "COMMIT\n"


@dataclass(frozen=True, slots=True)
class Connection:
    """A conntrack entry as the harness stored it (addresses as the model's integers)."""

    original: tuple[int, int, int, int, int]  # protocol, src, sport, dst, dport
    reply: tuple[int, int, int, int, int]
    flags: int
    tcp_state: int
    expires_ns: int


def _tuple(flow: structs.flow4) -> tuple[int, int, int, int, int]:
    return (flow.proto, from_be32(flow.saddr), flow.sport, from_be32(flow.daddr), flow.dport)


class Harness:
    """The compiled harness: ``run`` a frame, ``configure`` rules, ``reset`` its state."""

    def __init__(self, defines: dict[str, int | str] | None = None) -> None:
        from bcc import BPF

        self.bpf = BPF(text=program_source(HARNESS_C, defines).encode(),
                       cflags=["-Wno-unused-function"])
        self.prog_fd = self.bpf.load_func(b"harness", BPF.SCHED_CLS).fd
        self.empty_fd = self.bpf.load_func(b"empty", BPF.SCHED_CLS).fd
        self.clock_offset_ns = 0
        self._cfg = structs.harness_cfg()

    def _table(self, name: str) -> Any:
        return self.bpf.get_table(name.encode())

    def configure(self, rules: list[NatRule], flags: int = 0,
                  local: tuple[int, ...] = (), notrack_udp_dport: int = 0) -> None:
        """Rules, HCFG_* flags, the node's own addresses (model integers), the UDP port raw
        NOTRACKs."""
        cfg = structs.harness_cfg(flags=flags, clock_offset_ns=self.clock_offset_ns,
                                  notrack_udp_dport=notrack_udp_dport)
        for index, own in enumerate(local[:structs.HARNESS_LOCALS]):
            cfg.local[index] = be32(own)
        dnat = [rule for rule in rules if rule.kind in ("DNAT", "REDIRECT")]
        snat = [rule for rule in rules if rule.kind not in ("DNAT", "REDIRECT")]
        if len(dnat) > structs.HARNESS_RULES or len(snat) > structs.HARNESS_RULES:
            raise ValueError("too many rules for the harness")
        for index, rule in enumerate(dnat):
            cfg.dnat[index] = rule.harness_rule()
        for index, rule in enumerate(snat):
            cfg.snat[index] = rule.harness_rule()
        self._cfg = cfg
        self._write_cfg()

    def _write_cfg(self) -> None:
        table = self._table("harness_cfg")
        leaf = table.Leaf()
        ctypes.memmove(ctypes.addressof(leaf), ctypes.addressof(self._cfg),
                       ctypes.sizeof(self._cfg))
        table[table.Key(0)] = leaf

    def advance(self, seconds: float) -> None:
        """Move the harness's conntrack clock forward."""
        self.clock_offset_ns += int(seconds * 1e9)
        self._cfg.clock_offset_ns = self.clock_offset_ns
        self._write_cfg()

    def clear_connections(self) -> None:
        self._table("ct_map").clear()

    def reset(self) -> None:
        for name in ("ct_map", "frag_map"):
            self._table(name).clear()
        drops = self._table("drop_count")
        for key in list(drops.keys()):
            drops[key] = drops.Leaf(*([0] * len(drops[key])))
        # the clock offset stays: it only ever grows, so the latest scratch slot is the one
        # with the largest clock (see last_state)
        self.configure([])

    def run(self, ip_packet: bytes, repeat: int = 1, prog_fd: int | None = None) -> RunResult:
        """Run an IP packet (an Ethernet header is added, and taken off the result)."""
        result = run_program(self.prog_fd if prog_fd is None else prog_fd,
                             ETHERNET + ip_packet, repeat=repeat)
        return RunResult(result.retval, result.data[len(ETHERNET):], result.duration_ns)

    def drops(self) -> dict[str, int]:
        table = self._table("drop_count")
        counts = {}
        for reason in structs.DropReason:
            if reason in (structs.DropReason.DROP_NONE, structs.DropReason.DROP_MAX):
                continue
            total = sum(table[table.Key(int(reason))])
            if total:
                counts[reason.name] = total
        return counts

    def connections(self) -> list[Connection]:
        found = []
        for key, value in self._table("ct_map").items():
            entry = structs.ct_entry.from_buffer_copy(bytes(value))
            if entry.flags & structs.CT_F_REPLY_REF:
                continue
            flow = structs.flow4.from_buffer_copy(bytes(key))
            found.append(Connection(_tuple(flow), _tuple(entry.other), entry.flags,
                                    entry.tcp_state, entry.expires_ns))
        return found

    def last_state(self) -> structs.pkt_state:
        """The per-packet state the last run left in its CPU's scratch slot (the slot with the
        latest clock: runs happen on whichever CPU the test process is on)."""
        slots = self._table("pkt_scratch")[self._table("pkt_scratch").Key(0)]
        states = [structs.pkt_state.from_buffer_copy(bytes(slot)) for slot in slots]
        return max(states, key=lambda state: state.now_ns)

    def now_ns(self) -> int:
        """The harness's conntrack clock now (bpf_ktime_get_ns is CLOCK_MONOTONIC)."""
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) + self.clock_offset_ns

    def entries(self) -> int:
        return len(list(self._table("ct_map").keys()))
