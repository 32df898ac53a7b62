"""Plan -> the datapath's Data: every map entry the generated programs read (bpf/codegen.py,
bpf/include/chains.h), packed as the C structs (bpf/structs.py).

Per chain program and family member: a RULE block's rule under (program, block, member) in
``rblk``; a LOOKUP block's entries in its own map (``lk<program>_<block>``), each naming its
rules' slots in ``rdata``; SELECT and AFFINITY members in ``selh``/``selm``; built-in chains'
policies in ``policy``. A rule's slot is also its counter's index.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
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
from translator.model.node import REJECT_ICMP_CODES
from translator.plan import (
    PROBABILITY_ONE,
    AffinityBlock,
    KeyValue,
    LookupBlock,
    Plan,
    RuleBlock,
    SelectBlock,
)

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


def _pack(value: ctypes.Structure) -> bytes:
    return bytes(value)


RuleId = tuple[str, str, int]  # (table, chain, rule number)


@dataclass(slots=True)
class _Builder:
    plan_layout: Layout
    env: Environment
    maps: MapEntries
    slots: dict[RuleId, int] = field(default_factory=dict)

    def slot_value(self, rule: Rule, table: str, chain: str,
                   number: int) -> tuple[int, structs.rule_val]:
        slot = len(self.slots)
        self.slots[(table, chain, number)] = slot
        return slot, rule_value(rule, table, self.plan_layout, self.env, slot)

    def put(self, name: str, key: ctypes.Structure | bytes, value: ctypes.Structure) -> None:
        self.maps.setdefault(name, {})[bytes(key)] = bytes(value)


@dataclass(frozen=True, slots=True)
class DatapathData:
    """Every map entry (map name -> key -> value), and each rule's counter slot; a built-in
    chain's policy counts in slot ``policy_slots[(table, chain)]``."""

    entries: MapEntries
    rule_slots: Mapping[RuleId, int]
    policy_slots: Mapping[tuple[str, str], int]


def datapath_data(plan: Plan, generated: GeneratedDatapath, env: Environment) -> DatapathData:
    """Every map entry of the Plan for ``generated``'s programs."""
    builder = _Builder(generated.layout, env, {})
    rule_slots = int(generated.defines["RULE_SLOTS"])
    for program in generated.layout.programs:
        table = program.table
        chains = plan.tables[table].chains
        if program.builtin:
            verdict = structs.u32(ACT[chains[program.name].policy])
            builder.put("policy", structs.u32(program.index), verdict)
        for member, name in enumerate(program.members):
            for index, block in enumerate(chains[name].blocks):
                _block_data(builder, program.index, index, member, table, name, block,
                            lookup_map_name(program, index))
    policies = {(program.table, program.name): rule_slots + program.index
                for program in generated.layout.programs if program.builtin}
    return DatapathData(builder.maps, builder.slots, policies)


def _block_data(builder: _Builder, prog: int, index: int, member: int, table: str, chain: str,
                block: Any, lookup_name: str) -> None:
    head_key = structs.rblk_key(prog, index, member)
    if isinstance(block, RuleBlock):
        builder.put("rblk", head_key,
                    builder.slot_value(block.rule, table, chain, block.rules[0])[1])
    elif isinstance(block, LookupBlock):
        slots: dict[int, int] = {}
        for number, rule in sorted({n: r for found in block.entries.values()
                                    for n, r in found}.items()):
            slot, value = builder.slot_value(rule, table, chain, number)
            slots[number] = slot
            builder.put("rdata", structs.u32(slot), value)
        for key, found in block.entries.items():
            entry = structs.lk_val()
            entry.count = len(found)
            for position, (number, _) in enumerate(found):
                entry.cand[position].slot = slots[number]
                entry.cand[position].variant = block.variant_of[number]
            builder.put(lookup_name, _key_bytes(block, member, key), entry)
    else:
        members = block.members
        cuts = (alias_table(block.probabilities) if isinstance(block, SelectBlock)
                else [(0, position) for position in range(len(members))])
        builder.put("selh", head_key, structs.sel_head(len(members), len(cuts)))
        for position, (cut, alias) in enumerate(cuts):
            one = structs.sel_member(cut, alias)
            if position < len(members):
                number, rule = members[position]
                slot, value = builder.slot_value(rule, table, chain, number)
                builder.put("rdata", structs.u32(slot), value)
                one.slot = slot
                if isinstance(block, SelectBlock):  # (r & 0x7fffffff) < 2**31 always holds
                    one.probability = block.probabilities[position]
            builder.put("selm", structs.sel_key(prog, index, member, position), one)
    assert isinstance(block, RuleBlock | LookupBlock | SelectBlock | AffinityBlock)
