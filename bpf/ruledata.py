"""Plan -> the datapath's Data: every map entry the generated programs read (bpf/codegen.py,
bpf/include/chains.h), packed as the C structs (bpf/structs.py).

Per chain program and family member: a RULE block's rule under (program, block, member) in
``rblk``; a LOOKUP block's entries in its own map (``lk<program>_<block>``), each naming its
rules' slots in ``rdata``; SELECT and AFFINITY members in ``selh``/``selm``; built-in chains'
policies in ``policy``. A rule's slot is also its counter's index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from bpf import structs
from bpf.codegen import (
    ACT,
    GeneratedDatapath,
    Layout,
    UnsupportedRule,
    action_kind,
    lookup_map_name,
)
from iptparse.extensions.conntrack import CTSTATE_NAMES
from iptparse.extensions.icmp import ANY_TYPE
from iptparse.extensions.reject import TCP_RESET
from iptparse.model import Rule
from translator.cache import IdentityCache
from translator.diff import MapDelete, MapWrite, PlanDiffer
from translator.model.node import REJECT_ICMP_CODES
from translator.plan import (
    PROBABILITY_ONE,
    ChainPlan,
    KeyValue,
    LookupBlock,
    Plan,
    RuleBlock,
    SelectBlock,
    block_members,
)
from translator.shape import ShapeReport, analyze

NO_IFINDEX = 0xFFFFFFFF  # an interface that does not exist: never equal to a packet's
UINT32_MAX = 0xFFFFFFFF
# --ctstate bits (bit i is CTSTATE_NAMES[i]) -> CT_STATE_* (structs.h)
CT_STATE_BITS = {"INVALID": structs.CT_STATE_INVALID, "NEW": structs.CT_STATE_NEW,
                 "RELATED": structs.CT_STATE_RELATED,
                 "ESTABLISHED": structs.CT_STATE_ESTABLISHED,
                 "UNTRACKED": structs.CT_STATE_UNTRACKED, "SNAT": structs.CT_STATE_SNAT,
                 "DNAT": structs.CT_STATE_DNAT}

MapEntries = dict[str, dict[bytes, bytes]]


@dataclass(slots=True)
class Environment:
    """What rule values need from the namespace: interface name -> ifindex, and an id per
    recent list name (kept as long as the environment lives, like the kernel's lists)."""

    ifindex: Mapping[str, int] = field(default_factory=dict)
    recent_lists: dict[str, int] = field(default_factory=dict)

    def interface(self, name: str) -> int:
        return self.ifindex.get(name, NO_IFINDEX)

    def recent_list(self, name: str) -> int:
        return self.recent_lists.setdefault(name, len(self.recent_lists) + 1)


def _mask(length: int) -> int:
    return (UINT32_MAX << (32 - length)) & UINT32_MAX if length else 0


def _state_bits(bits: int) -> int:
    return sum(CT_STATE_BITS[name] for index, name in enumerate(CTSTATE_NAMES)
               if bits & (1 << index))


def _nat_range(kind: str, options: Any) -> structs.nat_range:
    nat = structs.nat_range()
    nat.kind = structs.NAT_KIND_DNAT if kind in ("DNAT", "REDIRECT") else structs.NAT_KIND_SNAT
    to = options.to if kind in ("DNAT", "SNAT") else options.ports
    if kind in ("DNAT", "SNAT"):
        if to.ips is None:
            raise UnsupportedRule(f"{kind} without an address is not enforced by the "
                                  "datapath yet")
        nat.min_addr, nat.max_addr = (structs.be32(address) for address in to.ips)
    ports = to.ports if to is not None else None
    if ports is not None:
        nat.min_port, nat.max_port = ports
        nat.flags |= structs.NAT_F_PORTS
    for flag, value in (("random", structs.NAT_F_RANDOM),
                        ("random_fully", structs.NAT_F_RANDOM_FULLY),
                        ("persistent", structs.NAT_F_PERSISTENT)):
        if getattr(options, flag, False):
            nat.flags |= value
    return nat


def _action(rule: Rule, table: str, plan_layout: Layout, act: structs.rule_act) -> None:
    kind = action_kind(rule)
    act.kind = ACT[kind]
    target = rule.target
    if target is None:
        return
    if kind in ("JUMP", "GOTO"):
        act.prog = plan_layout.program(table, target.name).slots[0]
        act.member = plan_layout.program_of[(table, target.name)][1]
    elif kind == "MARK":
        act.val, act.mask = target.options.mark, target.options.mask
    elif kind == "CONNMARK":
        act.val, act.mask = target.options.ctmark, target.options.ctmask
    elif kind in ("DNAT", "SNAT", "MASQUERADE", "REDIRECT"):
        act.nat = _nat_range(kind, target.options)
    elif kind == "REJECT":
        answer = target.options.reject_with
        act.val = (structs.REJECT_TCP_RESET if answer == TCP_RESET
                   else REJECT_ICMP_CODES[answer])


def _ports(value: structs.rule_val, options: Any) -> None:
    value.sport_lo, value.sport_hi = options.sport
    value.dport_lo, value.dport_hi = options.dport


def _match_values(value: structs.rule_val, name: str, options: Any, env: Environment) -> None:
    if name in ("tcp", "udp"):
        _ports(value, options)
        if name == "tcp":
            value.tcp_mask, value.tcp_cmp = options.flag_mask, options.flag_compare
    elif name == "icmp":
        if options.icmp_type == ANY_TYPE:
            value.flags |= structs.RV_F_ICMP_ANY_TYPE
        value.icmp_type = options.icmp_type
        value.icmp_code_lo, value.icmp_code_hi = options.code_low, options.code_high
    elif name == "multiport":
        value.multiport_n = len(options.ports)
        for index, (low, high) in enumerate(options.ports):
            value.multiport[index][0] = low
            value.multiport[index][1] = low if high is None else high
    elif name == "mark":
        value.mark, value.mark_mask = options.mark, options.mask
    elif name == "conntrack" and options.state is not None:
        value.ctstate = _state_bits(options.state)
    elif name == "state":
        value.ctstate = _state_bits(options.states)
    elif name == "statistic":
        value.probability = options.probability
    elif name == "recent":
        value.recent_list = env.recent_list(options.name)
        value.recent_mask = structs.be32(options.mask)
        value.recent_seconds = options.seconds
        if not options.dest:
            value.flags |= structs.RV_F_SRC_SIDE


SHARED_FIELDS = frozenset({"tcp", "udp", "icmp", "multiport", "mark", "conntrack", "state",
                           "statistic", "recent"})


def rule_value(rule: Rule, table: str, plan_layout: Layout, env: Environment,
               slot: int) -> structs.rule_val:
    """The rule's values and action as ``struct rule_val``."""
    value = structs.rule_val()
    value.slot = slot
    value.proto = rule.protocol or 0
    if rule.source is not None:
        value.src, value.smask = structs.be32(rule.source.addr), structs.be32(rule.source.mask)
    if rule.destination is not None:
        value.dst = structs.be32(rule.destination.addr)
        value.dmask = structs.be32(rule.destination.mask)
    if rule.in_iface is not None:
        value.in_ifindex = env.interface(rule.in_iface)
    if rule.out_iface is not None:
        value.out_ifindex = env.interface(rule.out_iface)
    names = [match.name for match in rule.matches if match.name in SHARED_FIELDS]
    if len(names) != len(set(names)) or {"conntrack", "state"} <= set(names):
        raise UnsupportedRule("a rule using one match's values twice is not enforced by the "
                              "datapath yet")
    for match in rule.matches:
        _match_values(value, match.name, match.options, env)
    _action(rule, table, plan_layout, value.act)
    return value


def alias_table(probabilities: tuple[int, ...]) -> list[tuple[int, int]]:
    """(cut, alias) per bucket for one draw with the kernel's distribution: member i is taken
    with every earlier member missing and i hitting (probabilities scaled by 2**31); a last
    bucket stands for "none" when the members may all miss."""
    chances: list[Fraction] = []
    miss = Fraction(1)
    for probability in probabilities:
        hit = miss * Fraction(min(probability, PROBABILITY_ONE), PROBABILITY_ONE)
        chances.append(hit)
        miss -= hit
    if miss > 0:
        chances.append(miss)
    size = len(chances)
    scaled = [chance * size for chance in chances]
    cut = [Fraction(1)] * size
    alias = list(range(size))
    small = [index for index, value in enumerate(scaled) if value < 1]
    large = [index for index, value in enumerate(scaled) if value >= 1]
    while small and large:
        low, high = small.pop(), large.pop()
        cut[low], alias[low] = scaled[low], high
        scaled[high] = scaled[high] + scaled[low] - 1
        (small if scaled[high] < 1 else large).append(high)
    return [(min(UINT32_MAX, round(value * (1 << 32))), target)
            for value, target in zip(cut, alias, strict=True)]


def _key_bytes(block: LookupBlock, member: int, key: tuple[KeyValue, ...]) -> bytes:
    lpm = block.storage == "lpm"
    packed: Any = structs.lk_lpm_key() if lpm else structs.lk_key()
    packed.member = member
    if lpm:
        packed.prefixlen = structs.LK_LPM_EXACT_BITS
    for field_key, value in zip(block.key, key, strict=True):
        if field_key.name == "protocol":
            packed.proto = value
        elif field_key.name == "dport":
            packed.dport = value
        else:
            address, length = value
            if field_key.lpm:
                packed.addr = structs.be32(address)
                packed.prefixlen += length
            elif lpm:
                packed.fixed = structs.be32(address)
            elif field_key.name == "source":
                packed.src = structs.be32(address)
            else:
                packed.dst = structs.be32(address)
    return bytes(packed)


RuleId = tuple[str, str, int]  # (table, chain, rule number)
MapOp = tuple[str, bytes, bytes | None]  # map, key, value (None: delete)


def repeats(chain: ChainPlan) -> dict[int, int]:
    """Rule number -> how many times its rule object came before it in the chain (only the
    repeated ones)."""
    seen: dict[int, int] = {}
    found: dict[int, int] = {}
    for block in chain.blocks:
        for number, rule in block_members(block):
            count = seen.get(id(rule), 0)
            if count:
                found[number] = count
            seen[id(rule)] = count + 1
    return found


class DataWriter:
    """The Plan diff's operations (translator/diff.py) as map writes, in the diff's order.

    Each rule gets a slot (its rule_val in ``rdata`` and its counters) for as long as an entry
    holds it, so an unchanged rule keeps its slot and counters. A rule is known by its value
    in its chain, as the Plan diff knows it, and by how many times the same rule object came
    before it in the chain (the restore parser hands back one object for identical lines, so
    identical rules keep their own counters). What each abstract entry wrote is remembered, so
    its removal deletes exactly that."""

    def __init__(self, plan_layout: Layout, env: Environment, capacity: int) -> None:
        self.layout = plan_layout
        self.env = env
        self.capacity = capacity
        # (table, chain, rule, repeat) -> slot
        self._slots: dict[tuple[str, str, Rule, int], int] = {}
        # slot -> (its key in _slots, entries holding it, whether its rule_val is in rdata)
        self._held: dict[int, tuple[tuple[str, str, Rule, int], int, bool]] = {}
        self._repeats: IdentityCache[ChainPlan, dict[int, int]] = IdentityCache(repeats)
        self._free: list[int] = []
        self._written: dict[tuple[Any, ...], tuple[list[tuple[str, bytes]], list[int]]] = {}
        self._moved: set[tuple[str, str]] = set()  # chains whose jumps must be rewritten

    # --- slots -------------------------------------------------------------------------------

    def slot(self, table: str, chain: str, rule: Rule, repeat: int = 0) -> int | None:
        return self._slots.get((table, chain, rule, repeat))

    def _acquire(self, table: str, chain: str, rule: Rule, ops: list[MapOp],
                 data: bool = True, repeat: int = 0) -> int:
        """The rule's slot (a new one the first time), held once more; ``data``: its
        rule_val goes to rdata (LOOKUP, SELECT and AFFINITY rules; a RULE block holds its
        own)."""
        key = (table, chain, rule, repeat)
        slot = self._slots.get(key)
        if slot is None:
            if self._free:
                slot = self._free.pop()
            else:
                slot = len(self._held)
                if slot >= self.capacity:
                    raise UnsupportedRule(f"more than {self.capacity} rules: recompile")
            self._slots[key] = slot
            self._held[slot] = (key, 0, data)
            if data:
                ops.append(("rdata", bytes(structs.u32(slot)),
                            bytes(rule_value(rule, table, self.layout, self.env, slot))))
        held_key, count, in_data = self._held[slot]
        self._held[slot] = (held_key, count + 1, in_data)
        return slot

    def _release(self, table: str, chain: str, slots: list[int], ops: list[MapOp]) -> None:
        for slot in slots:
            key, count, in_data = self._held[slot]
            if count > 1:
                self._held[slot] = (key, count - 1, in_data)
                continue
            del self._held[slot]
            self._slots.pop(key, None)
            self._free.append(slot)
            if in_data:
                ops.append(("rdata", bytes(structs.u32(slot)), None))

    # --- operations ----------------------------------------------------------------------------

    def relayout(self, plan_layout: Layout) -> None:
        """The next operations are for ``plan_layout`` (the same Shape; chains may have
        moved to another family: a service's chain whose endpoints changed in number)."""
        old = self.layout
        self.layout = plan_layout
        if plan_layout is old:
            return
        if plan_layout.placed_since is not None and plan_layout.placed_since[0]() is old:
            # only these chains have a new place; every program's slots stay (Generator)
            self._moved |= {chain for chain in plan_layout.placed_since[1]
                            if (was := old.program_of.get(chain)) is not None
                            and was != plan_layout.program_of.get(chain)}
            return
        # where a jump to a chain goes: its program's first tail call slot and its member id;
        # the slots are per program (a few), the (program, member) pairs compared as they are
        old_first = [program.slots[0] for program in old.programs]
        new_first = [program.slots[0] for program in plan_layout.programs]
        before = old.program_of
        self._moved |= {chain for chain, place in plan_layout.program_of.items()
                        if (was := before.get(chain)) is not None
                        and (was != place or old_first[was[0] - 1] != new_first[place[0] - 1])}

    def _retarget(self) -> list[MapOp]:
        """New values for the rules that jump to a chain that moved (their slots stay): the
        rules did not change, so the Plan diff has nothing for them."""
        moved, self._moved = self._moved, set()
        if not moved:
            return []
        block_of: dict[int, bytes] = {}  # a RULE block's slot -> its rblk key
        for written, held in self._written.values():
            for name, map_key in written:
                if name == "rblk":
                    block_of.update((slot, map_key) for slot in held)
        ops: list[MapOp] = []
        for slot, ((table, _, rule, _), _, in_data) in self._held.items():
            target = rule.target
            if target is None or (table, target.name) not in moved or action_kind(rule) not in (
                    "JUMP", "GOTO"):
                continue
            value = bytes(rule_value(rule, table, self.layout, self.env, slot))
            if in_data:
                ops.append(("rdata", bytes(structs.u32(slot)), value))
            elif slot in block_of:
                ops.append(("rblk", block_of[slot], value))
        return ops

    def operations(self, diff: Iterable[MapWrite | MapDelete], plan: Plan) -> list[MapOp]:
        """Map writes for the diff's operations, in order; ``plan`` is the Plan written.
        When chains moved (:meth:`relayout`), the jumps to them are rewritten after every
        write (their new place is filled) and before any removal (their old place may go)."""
        ops = self._diff_operations(diff, plan)
        retarget = self._retarget()
        if not retarget:
            return ops
        last_write = {(name, key): number for number, (name, key, value) in enumerate(ops)
                      if value is not None}
        writes = [op for op in ops if op[2] is not None]
        # a removal that a later write undoes is no removal
        removals = [op for number, op in enumerate(ops) if op[2] is None
                    and last_write.get((op[0], op[1]), -1) < number]
        return writes + retarget + removals

    def _diff_operations(self, diff: Iterable[MapWrite | MapDelete], plan: Plan) -> list[MapOp]:
        ops: list[MapOp] = []
        for op in diff:
            key = op.key
            table, chain = key[1], (key[3] if key[0] == "member" else key[2])
            before = self._written.pop(key, ([], []))
            if isinstance(op, MapWrite):
                written = self._write(key, table, chain, plan, ops)
                if written[0] or written[1]:
                    self._written[key] = written
                ops += [(name, map_key, None) for name, map_key in before[0]
                        if (name, map_key) not in set(written[0])]
            else:
                ops += [(name, map_key, None) for name, map_key in before[0]]
            self._release(table, chain, before[1], ops)
        live = sum(len(table.chains) for table in plan.tables.values())
        if len(self._repeats) > 2 * live + 64:  # chains of Plans long gone (cost spread)
            self._repeats.keep_only(chain for table in plan.tables.values()
                                    for chain in table.chains.values())
        return ops

    def _write(self, key: tuple[Any, ...], table: str, chain: str, plan: Plan,
               ops: list[MapOp]) -> tuple[list[tuple[str, bytes]], list[int]]:
        """One abstract entry's map entries: their (map, key) and the slots they hold."""
        program = self.layout.program(table, chain)
        member = self.layout.program_of[(table, chain)][1]
        chain_plan = plan.tables[table].chains[chain]
        written: list[tuple[str, bytes]] = []
        held: list[int] = []

        def put(name: str, map_key: bytes, value: bytes) -> None:
            ops.append((name, map_key, value))
            written.append((name, map_key))

        if key[-1] == "policy":
            put("policy", bytes(structs.u32(program.index)),
                bytes(structs.u32(ACT[chain_plan.policy])))
            return written, held
        if key[-1] == "present":
            return written, held
        index = key[4] if key[0] == "member" else key[3]
        block = chain_plan.blocks[index]
        repeated = self._repeats(chain_plan)
        head = bytes(structs.rblk_key(program.index, index, member))
        if isinstance(block, RuleBlock):
            slot = self._acquire(table, chain, block.rule, ops, data=False,
                                 repeat=repeated.get(block.rules[0], 0))
            held.append(slot)
            put("rblk", head, bytes(rule_value(block.rule, table, self.layout, self.env, slot)))
        elif isinstance(block, LookupBlock):
            found = block.entries[key[-1]]
            entry = structs.lk_val()
            entry.count = len(found)
            for position, (number, rule) in enumerate(found):
                slot = self._acquire(table, chain, rule, ops, repeat=repeated.get(number, 0))
                held.append(slot)
                entry.cand[position].slot = slot
                entry.cand[position].variant = block.variant_of[number]
            put(lookup_map_name(program, index), _key_bytes(block, member, key[-1]),
                bytes(entry))
        else:
            members = block.members
            cuts = (alias_table(block.probabilities) if isinstance(block, SelectBlock)
                    else [(0, position) for position in range(len(members))])
            for position, (cut, alias) in enumerate(cuts):
                one = structs.sel_member(cut, alias)
                if position < len(members):
                    number, rule = members[position]
                    one.slot = self._acquire(table, chain, rule, ops,
                                             repeat=repeated.get(number, 0))
                    held.append(one.slot)
                    if isinstance(block, SelectBlock):  # (r & 0x7fffffff) < 2**31 always holds
                        one.probability = block.probabilities[position]
                put("selm", bytes(structs.sel_key(program.index, index, member, position)),
                    bytes(one))
            put("selh", head, bytes(structs.sel_head(len(members), len(cuts))))
        return written, held

    # --- counters ----------------------------------------------------------------------------

    def rule_slots(self, plan: Plan, chains: set[tuple[str, str]] | None = None
                   ) -> dict[RuleId, int]:
        """Each rule's counter slot (table, chain, rule number); of ``chains`` only, when
        given (-Z of one chain costs that chain)."""
        found: dict[RuleId, int] = {}
        for table in plan.tables.values():
            names = (table.chains if chains is None else
                     [chain for name, chain in chains if name == table.name
                      and chain in table.chains])
            for name in names:
                chain = table.chains[name]
                repeated = self._repeats(chain)
                for block in chain.blocks:
                    for number, rule in block_members(block):
                        slot = self.slot(table.name, name, rule, repeated.get(number, 0))
                        if slot is not None:
                            found[(table.name, name, number)] = slot
        return found

    def policy_slots(self) -> dict[tuple[str, str], int]:
        return {(program.table, program.name): self.capacity + program.index
                for program in self.layout.programs if program.builtin}


def full_data(plan: Plan, report: ShapeReport, generated: GeneratedDatapath,
              env: Environment) -> tuple[DataWriter, list[MapOp]]:
    """Every entry of ``plan`` for ``generated``'s programs (a new generation's maps): the
    diff from an empty Plan, written by a new DataWriter."""
    writer = DataWriter(generated.layout, env, int(generated.defines["RULE_SLOTS"]))
    empty = Plan(MappingProxyType({}))
    diff = PlanDiffer().diff(empty, analyze(empty), plan, report)
    return writer, writer.operations(diff.operations, plan)


def entries_of(ops: Iterable[MapOp]) -> MapEntries:
    """Map writes (no deletes) as map name -> key -> value."""
    entries: MapEntries = {}
    for name, key, value in ops:
        if value is not None:
            entries.setdefault(name, {})[key] = value
    return entries
