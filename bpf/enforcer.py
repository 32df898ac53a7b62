"""Plans into the kernel: compile a Plan's Shape when it is new, write its Data, attach.

:class:`Enforcer` owns one network namespace's datapath. ``apply`` compiles only when the
Shape (or the map sizes it needs) differs from the running generation's: then the new programs
get every entry before they replace the old ones on the interfaces, atomically per hook.
Otherwise it writes the Plan diff's entries in the diff's order (translator/diff.py,
bpf/ruledata.DataWriter) and the attached programs stay as they are.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bpf import structs
from bpf.codegen import GeneratedDatapath, Generator
from bpf.csource import INCLUDE_DIR, inline_includes
from bpf.loader import (
    Datapath,
    Hook,
    ProgKind,
    TcHooks,
    attached_generation,
    compile_datapath,
    netns_pin_dir,
    open_datapath,
    retire_generations,
    xdp_metadata_supported,
)
from bpf.ruledata import DataWriter, Environment, MapEntries, MapOp, entries_of, full_data
from translator.diff import Changes, PlanDiffer
from translator.plan import ChainPatch, Plan
from translator.shape import ShapeReport

log = logging.getLogger(__name__)

ENTRY_PROGRAMS = {"tc_ingress": Hook.INGRESS, "tc_egress": Hook.EGRESS}
XDP_PROGRAM = "xdp_raw"  # raw PREROUTING, when it can run at XDP (codegen.xdp_eligible)
# Persistent maps (conntrack, fragments, recent lists, the scratch slot) survive recompiles
# when the loader pins them (BPFT_MAP); without the loader (tests) they are plain maps.
PERSISTENT = """#ifdef BPFT_PIN_MAPS
#define BPFT_TABLE(_type, _key, _leaf, _name, _max) BPFT_MAP(_type, _key, _leaf, _name, _max)
#endif
"""


def datapath_source(generated: GeneratedDatapath) -> str:
    """The generated C as bcc must see it: limits first, the local headers pasted in (bcc
    rewrites map calls only in the text it compiles)."""
    head = "".join(f"#define {name} {value}\n" for name, value in generated.defines.items())
    return head + PERSISTENT + inline_includes(generated.source(), INCLUDE_DIR)


Flow = tuple[int, int, int, int, int]  # protocol, source, destination, source/dest ports


def _flow(flow: structs.flow4) -> Flow:
    return (flow.proto, structs.from_be32(flow.saddr), structs.from_be32(flow.daddr),
            flow.sport, flow.dport)


def _flow4(flow: Flow) -> structs.flow4:
    proto, saddr, daddr, sport, dport = flow
    return structs.flow4(structs.be32(saddr), structs.be32(daddr), sport, dport, proto)


_FLOW_PROTO = structs.flow4.proto.offset  # where a connection key keeps its protocol


def _status(flags: int) -> frozenset[str]:
    return frozenset(name for name, bit in (
        ("SEEN_REPLY", structs.CT_F_SEEN_REPLY), ("SNAT", structs.CT_F_SNAT),
        ("DNAT", structs.CT_F_DNAT)) if flags & bit)


@dataclass(frozen=True, slots=True)
class Connection:
    """One tracked connection: its original and reply tuples (protocol, source, destination,
    source port, destination port; addresses as the model's integers), its TCP state (enum
    ct_tcp_state), its status bits and its mark."""

    original: Flow
    reply: Flow
    tcp_state: int
    status: frozenset[str]
    mark: int


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    index: int
    address: int | None  # its primary IPv4 address (model integer), if any


class Enforcer:
    """One namespace's datapath: ``netns`` None for this process's own (the agent).
    ``attach``: put the programs on the interfaces (False: only load them and fill their maps,
    for BPF_PROG_TEST_RUN). ``limits``: overrides of bpf/include/consts.h's limits (e.g.
    ``{"CT_MAX_ENTRIES": 1024}``), compiled in; part of the generation's label, so pinned maps
    of another size are never adopted silently (the loader refuses a layout change)."""

    def __init__(self, netns: str | None = None, pin_dir: Path | None = None,
                 attach: bool = True, limits: Mapping[str, int] | None = None) -> None:
        self.netns = netns
        self.attach = attach
        self.limits = dict(sorted((limits or {}).items()))
        self.pin_dir = pin_dir or netns_pin_dir(netns)
        self.datapath: Datapath | None = None
        self.generator = Generator(xdp_metadata_supported())  # keeps Layout and sizes
        self.differ = PlanDiffer()
        self.writer: DataWriter | None = None
        self.plan: Plan | None = None
        self.report: ShapeReport | None = None
        self.host: MapEntries = {}
        self.data: MapEntries = {}  # what an adopted generation's maps held, read back
        self.compiles = 0
        self.last_writes = 0  # map operations of the last apply (rule data; not host entries)

    # --- what the namespace looks like -----------------------------------------------------

    def host_entries(self, interfaces: Iterable[Interface],
                     local: Iterable[int]) -> MapEntries:
        """localad (every address of the namespace) and ifaddr (each interface's primary)."""
        entries: MapEntries = {"localad": {}, "ifaddr": {}}
        for address in local:
            entries["localad"][bytes(structs.u32(structs.be32(address)))] = bytes(structs.u32(1))
        for interface in interfaces:
            if interface.address is not None:
                entries["ifaddr"][bytes(structs.u32(interface.index))] = bytes(
                    structs.u32(structs.be32(interface.address)))
        return entries

    # --- applying a Plan -------------------------------------------------------------------

    def apply(self, plan: Plan, report: ShapeReport, env: Environment,
              interfaces: list[Interface], local: Iterable[int],
              changes: Changes | None = None, base: Plan | None = None,
              patches: Mapping[tuple[str, str], ChainPatch] | None = None) -> bool:
        """Make the datapath run ``plan``; True when it had to compile. With the same Shape
        only the Plan diff's entries are written, in its order (``changes``: the chains the
        compiler says changed, Compiler.last_changes; ``base``: the Plan they differ from,
        Compiler.previous: when it is not the running one, the Plans are compared;
        ``patches``: Compiler.last_patches)."""
        generated = self.generator.generate(plan, report, changes, base, patches)
        if base is not None and base is not self.plan:
            changes = None
        host = self.host_entries(interfaces, local)
        # the Shape, and the map sizes it was compiled with (more data than room: a recompile)
        label = "-".join([report.shape_hash, *(str(value) for value in generated.defines.values()),
                          *(str(value) for value in self.limits.values())])
        if self.datapath is None and self.attach:
            self._adopt(label)
        if self.datapath is not None and self.datapath.generation.label == label:
            maps = self.datapath.maps
            if (self.writer is not None and self.plan is not None and self.report is not None
                    and self.writer.env == env):
                diff = self.differ.diff(self.plan, self.report, plan, report, changes,
                                        patches)
                self.writer.relayout(generated.layout)
                ops = self.writer.operations(diff.operations, plan)
                self.last_writes = len(ops)
                self._apply_ops(maps, ops)
                self._write(maps, host, self.host)
                self.plan, self.report, self.host, self.data = plan, report, host, {}
                return False
            # adopted after a restart, or the interfaces changed: everything again, by a new
            # writer whose rule slots and member ids need not be the running ones
            writer, ops = full_data(plan, report, generated, env)
            entries = {**entries_of(ops), **host}
            live = self.data or self._live_data(self.datapath)
            if not _overwrites(live, entries):
                self.writer = writer
                self._write(maps, entries, live)
                self.plan, self.report, self.host, self.data = plan, report, host, {}
                return False
            # rewriting live entries in place would send packets, meanwhile, to rules and
            # chains that are other ones' now: a new generation, swapped in atomically
            log.info("the running generation's rule data is numbered otherwise: recompiling")
        writer, ops = full_data(plan, report, generated, env)
        functions = {name: ProgKind.TC for name in ENTRY_PROGRAMS}
        if generated.xdp:
            functions[XDP_PROGRAM] = ProgKind.XDP
        datapath = compile_datapath(
            datapath_source(generated), self.pin_dir, functions=functions, defines=self.limits,
            tail_calls={"progs": list(generated.tail_calls)}, label=label)
        self.compiles += 1
        log.info("compiled %s: %d programs, %d map writes", label,
                 len(generated.tail_calls), len(ops))
        self.last_writes = len(ops)
        self._apply_ops(datapath.maps, ops)
        self._write(datapath.maps, host, {})
        if self.attach:
            self._attach(datapath, generated.xdp, interfaces)
        else:  # nothing runs the older generations
            retire_generations(self.pin_dir, datapath.generation, set())
        if self.datapath is not None:
            self.datapath.close()
        self.datapath, self.writer = datapath, writer
        self.plan, self.report, self.host, self.data = plan, report, host, {}
        return True

    def attach_interfaces(self, interfaces: list[Interface]) -> None:
        """Put the running generation on ``interfaces`` too (links that appeared since it was
        compiled); those already running it are replaced by the same programs."""
        if self.datapath is None or not self.attach:
            return
        self._attach(self.datapath, XDP_PROGRAM in self.datapath.programs, interfaces)

    def _attach(self, datapath: Datapath, xdp: bool, interfaces: list[Interface]) -> None:
        """The new generation onto the interfaces (replacing the old one per hook), then the
        generations nothing runs any more unpinned."""
        with TcHooks(self.netns) as hooks:
            xdp_before = hooks.xdp_attached()
            for interface in interfaces:
                # XDP first: tc then knows raw PREROUTING ran there (or runs it itself)
                if xdp:
                    hooks.attach_xdp(datapath.programs[XDP_PROGRAM], interface.name)
                elif interface.name in xdp_before:
                    hooks.detach_xdp(interface.name)
                for name, hook in ENTRY_PROGRAMS.items():
                    hooks.attach(datapath.programs[name], interface.name, hook)
            live = {attachment.prog_id for attachment in hooks.attached()}
            live |= set(hooks.xdp_attached().values())
        retire_generations(self.pin_dir, datapath.generation, live)

    @staticmethod
    def _apply_ops(maps: Mapping[str, object], ops: list[MapOp]) -> None:
        for name, key, value in ops:
            target = maps[name]
            if value is not None:
                target.update(key, value)  # type: ignore[attr-defined]
            elif name in ARRAYS:
                target.update(key, bytes(4))  # type: ignore[attr-defined]
            else:
                target.delete(key)  # type: ignore[attr-defined]

    def _adopt(self, label: str) -> None:
        """A restarted agent: the generation the interfaces run is taken over as it is when
        it has this label (no compile, the same programs, connections kept); what its maps
        hold is read back, so the first write changes only what differs."""
        with TcHooks(self.netns) as hooks:
            live = {attachment.prog_id for attachment in hooks.attached() if attachment.ours}
            live |= set(hooks.xdp_attached().values())
        generation = attached_generation(self.pin_dir, live) if live else None
        if generation is None or generation.label != label:
            return
        datapath = open_datapath(self.pin_dir, generation.number)
        if datapath is None:
            return
        self.datapath = datapath
        self.data = self._live_data(datapath)

    @staticmethod
    def _live_data(datapath: Datapath) -> MapEntries:
        """What a generation's rule data maps hold (arrays: their non-zero entries)."""
        return {name: {key: value for key, value in datapath.maps[name].items()
                       if name not in ARRAYS or any(value)}
                for name in datapath.maps
                if name in WRITE_ORDER or name.startswith("lk") or name in ARRAYS}

    @staticmethod
    def _write(maps: Mapping[str, object], new: MapEntries, old: MapEntries) -> None:
        """Entries that are new or changed first, then the ones that went away. Writes go
        from what is referred to towards what refers (rule values, select members and heads,
        RULE blocks, then the lookups, which are where kube-proxy's services are entered);
        deletes the other way round: no packet meets an entry pointing at a missing one."""
        names = sorted(set(new) | set(old), key=_write_rank)
        for name in names:
            target = maps[name]
            before = old.get(name, {})
            for key, value in new.get(name, {}).items():
                if before.get(key) != value:
                    target.update(key, value)  # type: ignore[attr-defined]
        for name in reversed(names):
            target = maps[name]
            after = new.get(name, {})
            for key, value in old.get(name, {}).items():
                if key in after:
                    continue
                if name in ARRAYS:  # an array's entries always exist: back to zero
                    target.update(key, bytes(len(value)))  # type: ignore[attr-defined]
                else:
                    target.delete(key)  # type: ignore[attr-defined]

    def counters(self, chains: set[tuple[str, str]] | None = None
                 ) -> dict[tuple[str, str, int | None], tuple[int, int]]:
        """(packets, bytes) per rule (table, chain, rule number) and per built-in chain's
        policy (rule number None), summed over the CPUs: what -L -v and -c show. Of the rules
        of ``chains`` only, when given (one table's listing reads that table's slots)."""
        table = self.datapath.maps["ctr"]
        found: dict[tuple[str, str, int | None], tuple[int, int]] = {}
        for owner, slot in self._owners(chains):
            per_cpu = table.lookup(bytes(structs.u32(slot))) or []
            values = [structs.rule_ctr.from_buffer_copy(raw) for raw in per_cpu]
            found[owner] = (sum(v.packets for v in values), sum(v.bytes for v in values))
        return found

    def connections(self) -> list[Connection]:
        """The connection table (one item per connection, its reply references left out)."""
        assert self.datapath is not None
        found = []
        for key, value in self.datapath.maps["ct_map"].items():
            entry = structs.ct_entry.from_buffer_copy(value)  # type: ignore[arg-type]
            if entry.flags & structs.CT_F_REPLY_REF:
                continue
            found.append(Connection(_flow(structs.flow4.from_buffer_copy(key)),
                                    _flow(entry.other), entry.tcp_state,
                                    _status(entry.flags), entry.mark))
        return found

    def add_connections(self, connections: Iterable[tuple[Connection, float]]) -> int:
        """Enter connections another tracker knows (the kernel's, when bpftables takes a node
        over), each with the seconds it has left: the original entry, and the reply reference
        when NAT made the reply tuple differ. Returns how many were written."""
        assert self.datapath is not None
        table = self.datapath.maps["ct_map"]
        now = time.monotonic_ns()  # bpf_ktime_get_ns's clock
        written = 0
        for connection, seconds in connections:
            original, reply = _flow4(connection.original), _flow4(connection.reply)
            entry = structs.ct_entry()
            entry.other = reply
            entry.mark = connection.mark
            entry.tcp_state = connection.tcp_state
            entry.flags = sum(bit for name, bit in (
                ("SEEN_REPLY", structs.CT_F_SEEN_REPLY), ("SNAT", structs.CT_F_SNAT),
                ("DNAT", structs.CT_F_DNAT)) if name in connection.status)
            entry.expires_ns = now + int(seconds * 1e9)
            table.update(bytes(original), bytes(entry))
            if entry.flags & (structs.CT_F_SNAT | structs.CT_F_DNAT):
                reference = structs.ct_entry()
                reference.other = original
                reference.flags = structs.CT_F_REPLY_REF
                table.update(bytes(reply), bytes(reference))
            written += 1
        return written

    def remove_connections(self, doomed: Callable[[Connection], bool],
                           protocol: int | None = None) -> int:
        """Delete the connections ``doomed`` says so of (only ``protocol``'s when given), each
        with its reply reference: their next packet starts a new connection through the
        rules. Returns how many connections were removed."""
        assert self.datapath is not None
        table = self.datapath.maps["ct_map"]
        entries: list[tuple[bytes, bytes]] = []
        for key, value in table.items_batched():  # type: ignore[attr-defined]
            if protocol is not None and key[_FLOW_PROTO] != protocol:
                continue
            entries.append((key, value))  # type: ignore[arg-type]
        removed = 0
        for key, value in entries:
            entry = structs.ct_entry.from_buffer_copy(value)
            if entry.flags & structs.CT_F_REPLY_REF:
                continue
            connection = Connection(_flow(structs.flow4.from_buffer_copy(key)), _flow(entry.other),
                                    entry.tcp_state, _status(entry.flags), entry.mark)
            if not doomed(connection):
                continue
            # the original first: a packet of the flow in between finds no connection and
            # starts a new one; the reply reference then goes (it frees that reply tuple)
            table.delete(key)  # type: ignore[attr-defined]
            if entry.flags & (structs.CT_F_SNAT | structs.CT_F_DNAT):
                reference = table.lookup(bytes(entry.other))  # type: ignore[attr-defined]
                if reference is not None and structs.ct_entry.from_buffer_copy(
                        reference).flags & structs.CT_F_REPLY_REF:
                    table.delete(bytes(entry.other))  # type: ignore[attr-defined]
            removed += 1
        return removed

    def zero_counters(self, owners: Iterable[tuple[str, str, int | None]] | None = None
                      ) -> None:
        """-Z: the counters of ``owners`` (rules by (table, chain, number), policies with
        number None; None: every rule and policy) back to zero."""
        table = self.datapath.maps["ctr"]
        zero = bytes(structs.rule_ctr())
        wanted = None if owners is None else set(owners)
        chains = None if wanted is None else {(name, chain) for name, chain, _ in wanted}
        table.update_many([bytes(structs.u32(slot)) for owner, slot in self._owners(chains)
                           if wanted is None or owner in wanted], zero)

    def _owners(self, chains: set[tuple[str, str]] | None = None
                ) -> list[tuple[tuple[str, str, int | None], int]]:
        """(rule or policy, counter slot) of the running Plan (of ``chains`` only, if given;
        policies are few: all of them)."""
        assert self.datapath is not None and self.writer is not None and self.plan is not None
        return [*self.writer.rule_slots(self.plan, chains).items(),
                *(((table, chain, None), slot)
                  for (table, chain), slot in self.writer.policy_slots().items())]

    def program_ids(self) -> dict[tuple[str, str], int]:
        """(interface, INGRESS/EGRESS/XDP) -> the id of the program attached there."""
        with TcHooks(self.netns) as hooks:
            found = {(attachment.ifname, attachment.hook.name): attachment.prog_id
                     for attachment in hooks.attached() if attachment.ours}
            found.update({(ifname, "XDP"): prog_id
                          for ifname, prog_id in hooks.xdp_attached().items()})
            return found

    def detach(self, interfaces: Iterable[Interface]) -> None:
        """Take bpftables off the interfaces (tc and XDP)."""
        with TcHooks(self.netns) as hooks:
            running = hooks.xdp_attached()
            for interface in interfaces:
                hooks.remove_clsact(interface.name)
                if interface.name in running:
                    hooks.detach_xdp(interface.name)

    def clear_connections(self) -> None:
        """Forget every connection, fragment and recent entry (tests between examples)."""
        assert self.datapath is not None
        for name in ("ct_map", "frag_map", "recent"):
            table = self.datapath.maps.get(name)
            if table is not None:
                for key in list(table.keys()):
                    table.delete(key)

    def close(self) -> None:
        if self.datapath is not None:
            self.datapath.close()
            self.datapath = None


WRITE_ORDER = ("localad", "ifaddr", "rdata", "selm", "selh", "rblk")
HOST_MAPS = frozenset({"localad", "ifaddr"})  # the namespace's addresses, not rule data


def _overwrites(live: MapEntries, new: MapEntries) -> bool:
    """Whether writing ``new`` changes an entry of the rule data that exists in ``live`` (a
    rule slot or a member id that means another rule or chain now)."""
    for name, entries in new.items():
        if name in HOST_MAPS:
            continue
        before = live.get(name, {})
        if any(key in before and before[key] != value for key, value in entries.items()):
            return True
    return False
ARRAYS = frozenset({"policy"})  # rule data kept in array maps


def _write_rank(name: str) -> tuple[int, str]:
    return (WRITE_ORDER.index(name) if name in WRITE_ORDER else len(WRITE_ORDER), name)


def ipv4_of(text: str) -> int:
    return int.from_bytes(socket.inet_aton(text), "big")
