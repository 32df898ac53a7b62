"""Shape -> C: the tc programs a Plan needs (DESIGN.md, "The Plan" and "bpf/").

Every built-in chain of a table in the Plan, and every family of look-alike user chains, is one
chain program; program 0 is the pipeline, which runs the hooks in netfilter's order and calls
the built-in chains' programs. A chain program's code follows its blocks (the family's common
structure); every value is read from the maps (bpf/include/chains.h, filled by
bpf/ruledata.py): so a rule set whose Shape is unchanged runs on the same programs.

What the datapath cannot enforce yet raises :class:`UnsupportedRule` (the agent refuses such
rule sets rather than accept rules it would not enforce).
"""

from __future__ import annotations

import dataclasses
import heapq
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from iptparse.extensions.addrtype import ADDRESS_TYPES
from iptparse.extensions.multiport import BOTH, SOURCE
from iptparse.model import STANDARD_TARGETS, TABLE_BUILTINS, Rule
from translator.cache import IdentityCache
from translator.model.node import rules_enable_tracking
from translator.plan import (
    AffinityBlock,
    Block,
    ChainPatch,
    ChainPlan,
    LookupBlock,
    Plan,
    RuleBlock,
    SelectBlock,
    block_members,
    changed_chains,
    really_changed,
)
from translator.shape import ShapeReport

INCLUDE_DIR = Path(__file__).resolve().parent / "include"

LOCAL_TYPE = 1 << ADDRESS_TYPES.index("LOCAL")
FULL_PORTS = (0, 0xFFFF)

# Tables in the order the pipeline meets them, and which hooks each has (TABLE_BUILTINS).
PIPELINE_TABLES = ("raw", "mangle", "nat", "filter")

# The pipeline, in code order: (stage, table or None for a fixed step, hook or step, where
# to go on, or None to fall through to the next one). Every fixed step is written once, and
# every jump goes forward, so the program has no loop. Ingress (a packet that arrived) runs
# PREROUTING, routes, then INPUT or FORWARD + POSTROUTING; egress (a packet this host sends)
# runs OUTPUT and POSTROUTING.
STAGES = (
    ("ST_RAW_PRE", "raw", "PREROUTING", "ST_CT"),
    ("ST_RAW_OUT", "raw", "OUTPUT", None),
    ("ST_CT", None, "conntrack", None),  # then egress: ST_MANGLE_OUT
    ("ST_MANGLE_PRE", "mangle", "PREROUTING", None),
    ("ST_NAT_PRE", "nat", "PREROUTING", "ST_DNAT"),
    ("ST_MANGLE_OUT", "mangle", "OUTPUT", None),
    ("ST_NAT_OUT", "nat", "OUTPUT", None),
    ("ST_DNAT", None, "destination NAT", None),  # then egress: ST_FILTER_OUT
    ("ST_ROUTE", None, "route", None),  # then local: ST_MANGLE_IN
    ("ST_MANGLE_FWD", "mangle", "FORWARD", None),
    ("ST_FILTER_FWD", "filter", "FORWARD", "ST_MANGLE_POST"),
    ("ST_FILTER_OUT", "filter", "OUTPUT", None),
    ("ST_MANGLE_POST", "mangle", "POSTROUTING", None),
    ("ST_NAT_POST", "nat", "POSTROUTING", "ST_SNAT"),
    ("ST_MANGLE_IN", "mangle", "INPUT", None),
    ("ST_FILTER_IN", "filter", "INPUT", None),
    ("ST_NAT_IN", "nat", "INPUT", None),
    ("ST_SNAT", None, "source NAT", None),
    ("ST_DONE", None, "confirm", None),
)

# act_kind values (bpf/include/rules.h)
ACT = MappingProxyType({
    None: 0, "ACCEPT": 1, "DROP": 2, "RETURN": 3, "JUMP": 4, "GOTO": 5, "MARK": 6,
    "CONNMARK": 7, "DNAT": 8, "SNAT": 9, "MASQUERADE": 10, "REDIRECT": 11, "REJECT": 12,
    "LOG": 13, "NOTRACK": 14,
})


class UnsupportedRule(Exception):
    """A rule the datapath cannot enforce yet; the message says what."""


# How much code one program may hold, counted in RULE blocks (a RULE block is some 50
# instructions): a longer chain is split into segments that tail-call the next, as the
# verifier's jumps reach 32,767 instructions at most.
SEGMENT_BUDGET = 300


def block_weight(block: Block) -> int:
    if isinstance(block, LookupBlock):
        return 4 + 2 * len(block.variants)
    if isinstance(block, SelectBlock | AffinityBlock):
        return 8
    return 1


def split_segments(blocks: tuple[Block, ...], budget: int = SEGMENT_BUDGET
                   ) -> tuple[tuple[int, int], ...]:
    """[start, end) block ranges, each within ``budget``; at least one (maybe empty)."""
    segments: list[tuple[int, int]] = []
    start, weight = 0, 0
    for index, block in enumerate(blocks):
        if weight and weight + block_weight(block) > budget:
            segments.append((start, index))
            start, weight = index, 0
        weight += block_weight(block)
    segments.append((start, len(blocks)))
    return tuple(segments)


@dataclass(frozen=True, slots=True)
class ChainProgram:
    """One chain program: a built-in chain, or a family of user chains (``members``, whose id
    is their index here); ``chain`` is a member's plan (all have the same blocks). ``index``
    names its data; its code is one function per segment, at ``slots`` in the prog array."""

    index: int
    table: str
    name: str
    builtin: bool
    members: tuple[str, ...]
    chain: ChainPlan
    segments: tuple[tuple[int, int], ...]
    slots: tuple[int, ...]

    def function(self, segment: int) -> str:
        return f"chain_{self.index}_{segment}"

    def slot_of(self, block: int) -> int:
        """The slot of the segment running ``block`` (the end: the last segment)."""
        for (start, end), slot in zip(self.segments, self.slots, strict=True):
            if start <= block < end:
                return slot
        return self.slots[-1]


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Layout:
    """The chain programs of a Plan, and where each chain runs: (table, chain) -> (program,
    member)."""

    programs: tuple[ChainProgram, ...]
    program_of: Mapping[tuple[str, str], tuple[int, int]]
    # When made from another Layout by placing only these chains anew (the programs' slots
    # the same): (that Layout, weakly: no chain of Layouts kept alive; those chains). Lets
    # DataWriter.relayout look at them alone.
    placed_since: tuple[weakref.ref[Layout], frozenset[tuple[str, str]]] | None = dataclasses.field(
        default=None, compare=False, repr=False)

    def program(self, table: str, chain: str) -> ChainProgram:
        return self.programs[self.program_of[(table, chain)][0] - 1]

    @property
    def functions(self) -> tuple[str, ...]:
        """The prog array's functions in slot order (slot 0: the pipeline)."""
        return ("pipeline", *(program.function(number) for program in self.programs
                              for number in range(len(program.slots))))

    def builtin(self, table: str, hook: str) -> ChainProgram | None:
        found = self.program_of.get((table, hook))
        if found is None:
            return None
        program = self.programs[found[0] - 1]
        return program if program.builtin else None


class MemberIds:
    """Family members' ids in their program, kept while the chain lives: a new service takes a
    free id and renumbers no other (their entries stay as they are). A new member takes the
    smallest id no member holds (new members in name order). An id freed by one assignment is
    taken again only by the next: until the Data written for this one has rewritten the jumps
    to the chain that left, a chain in its place would receive them."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], dict[str, int]] = {}
        # per family: the ids below the highest held that no member holds (a heap), and one
        # more than the highest held
        self._free: dict[tuple[str, str], tuple[list[int], int]] = {}

    def assign(self, family: tuple[str, str], members: tuple[str, ...]) -> dict[str, int]:
        known = self._ids.get(family, {})
        live = set(members)
        ids = {name: number for name, number in known.items() if name in live}
        used = set(known.values())  # the live ones' and the ones freed just now
        free = (number for number in range(len(members) + len(used)) if number not in used)
        for name in members:
            if name not in ids:
                ids[name] = next(free)
        self._ids[family] = ids
        top = max(ids.values(), default=-1) + 1
        held = set(ids.values())
        self._free[family] = ([number for number in range(top) if number not in held], top)
        return ids

    def update(self, family: tuple[str, str], added: list[str], removed: list[str]
               ) -> dict[str, int]:
        """What :meth:`assign` gives for the members known last time without ``removed`` and
        with ``added``, in proportion to the change; returns the family's ids (do not keep)."""
        ids = self._ids.setdefault(family, {})
        free, top = self._free.get(family, ([], 0))
        freed = [number for name in removed if (number := ids.pop(name, None)) is not None]
        for name in sorted(added):
            if name in ids:
                continue
            if free:
                ids[name] = heapq.heappop(free)
            else:
                ids[name] = top
                top += 1
        for number in freed:  # free for the next update only (see the class)
            heapq.heappush(free, number)
        self._free[family] = (free, top)
        return ids


def layout(plan: Plan, report: ShapeReport, members: MemberIds | None = None) -> Layout:
    """Programs from the Shape alone: built-in chains in hook order per table, then families
    by signature, so the same Shape always gets the same programs. ``members`` keeps family
    members' ids from one layout to the next."""
    if members is None:
        members = MemberIds()
    programs: list[ChainProgram] = []
    program_of: dict[tuple[str, str], tuple[int, int]] = {}
    next_slot = 1  # slot 0: the pipeline

    def add(table: str, name: str, builtin: bool, names: tuple[str, ...], chain: ChainPlan,
            ids: Mapping[str, int]) -> ChainProgram:
        nonlocal next_slot
        segments = split_segments(chain.blocks)
        slots = tuple(range(next_slot, next_slot + len(segments)))
        next_slot += len(segments)
        program = ChainProgram(len(programs) + 1, table, name, builtin, names, chain,
                               segments, slots)
        programs.append(program)
        for chain_name in names:
            program_of[(table, chain_name)] = (program.index, ids[chain_name])
        return program

    for table in PIPELINE_TABLES:
        if table not in plan.tables:
            continue
        chains = plan.tables[table].chains
        for name in TABLE_BUILTINS[table]:
            add(table, name, True, (name,), chains[name], {name: 0})
        for family in report.families:
            if family.table == table:
                add(table, family.pattern, False, family.members, chains[family.members[0]],
                    members.assign((table, family.signature_hash), family.members))
    unknown = set(plan.tables) - set(PIPELINE_TABLES)
    if unknown:
        raise UnsupportedRule(f"table {sorted(unknown)[0]} is not enforced by the datapath yet")
    return Layout(tuple(programs), MappingProxyType(program_of))


# --- matchers: match name -> (options, rv) -> C terms; a term is 0 or 1 -----------------

NOT_LATER_FRAGMENT = "((pkt->flags & PKT_F_FRAG_LATER) == 0)"


def _neg(term: str, invert: bool) -> str:
    return f"!{term}" if invert else term


def _ports_terms(options: Any, rv: str) -> list[str]:
    terms = [NOT_LATER_FRAGMENT]
    if options.sport != FULL_PORTS or options.sport_invert:
        terms.append(_neg(f"m_port_range(pkt, pkt->sport, {rv}->sport_lo, {rv}->sport_hi)",
                          options.sport_invert))
    if options.dport != FULL_PORTS or options.dport_invert:
        terms.append(_neg(f"m_port_range(pkt, pkt->dport, {rv}->dport_lo, {rv}->dport_hi)",
                          options.dport_invert))
    return terms


def _tcp(options: Any, rv: str) -> list[str]:
    if options.option or options.option_invert:
        raise UnsupportedRule("tcp --tcp-option is not enforced by the datapath yet")
    terms = _ports_terms(options, rv)
    if options.flag_mask or options.flags_invert:
        terms.append(_neg(f"m_tcp_flags(pkt, {rv})", options.flags_invert))
    return terms


def _icmp(options: Any, rv: str) -> list[str]:
    return [NOT_LATER_FRAGMENT, _neg(f"m_icmp(pkt, {rv})", options.invert)]


def _multiport(options: Any, rv: str) -> list[str]:
    which = {SOURCE: 1, BOTH: 3}.get(options.direction, 2)
    return [NOT_LATER_FRAGMENT, _neg(f"m_multiport(pkt, {rv}, {which})", options.invert)]


def _mark(options: Any, rv: str) -> list[str]:
    return [_neg(f"((pkt->mark & {rv}->mark_mask) == {rv}->mark)", options.invert)]


def _state_term(rv: str, invert: bool) -> str:
    return _neg(f"((st->ct.state & {rv}->ctstate) != 0)", invert)


def _conntrack(options: Any, rv: str) -> list[str]:
    others = ("proto", "origsrc", "origdst", "replsrc", "repldst", "origsrcport",
              "origdstport", "replsrcport", "repldstport", "status", "expire", "direction")
    if any(getattr(options, name) is not None for name in others):
        raise UnsupportedRule("conntrack: only --ctstate is enforced by the datapath yet")
    return [_state_term(rv, options.state_invert)] if options.state is not None else []


def _state(options: Any, rv: str) -> list[str]:
    return [_state_term(rv, options.invert)]


def _addrtype(options: Any, rv: str) -> list[str]:
    if options.limit_in or options.limit_out:
        raise UnsupportedRule("addrtype --limit-iface-* is not enforced by the datapath yet")
    terms = []
    for bits, invert, side in ((options.source, options.source_invert, "saddr"),
                               (options.destination, options.destination_invert, "daddr")):
        if not bits:
            continue
        if bits != LOCAL_TYPE:
            raise UnsupportedRule("addrtype: only LOCAL is enforced by the datapath yet")
        terms.append(_neg(f"m_local(pkt->{side})", invert))
    return terms


def _statistic(options: Any, rv: str) -> list[str]:
    if options.mode != "random":
        raise UnsupportedRule("statistic --mode nth is not enforced by the datapath yet")
    return [_neg(f"m_random({rv})", options.invert)]


def _recent(options: Any, rv: str) -> list[str]:
    if options.hitcount or options.rttl or options.reap and not options.seconds:
        raise UnsupportedRule("recent: --hitcount and --rttl are not enforced by the datapath")
    if options.command == "set":
        return [_neg(f"m_recent_set(st, {rv})", options.invert)]
    if options.command == "rcheck":
        return [_neg(f"m_recent_check(st, {rv})", options.invert)]
    raise UnsupportedRule(f"recent --{options.command} is not enforced by the datapath yet")


def _nothing(options: Any, rv: str) -> list[str]:
    return []


MatchCode = Callable[[Any, str], list[str]]
# Every match the datapath enforces. `recent` changes state, so a rule using it is tested in
# order with && (the kernel stops at a rule's first failing match).
MATCHERS: Mapping[str, MatchCode] = MappingProxyType({
    "tcp": _tcp, "udp": _ports_terms, "icmp": _icmp, "multiport": _multiport, "mark": _mark,
    "conntrack": _conntrack, "state": _state, "addrtype": _addrtype, "comment": _nothing,
    "nfacct": _nothing, "statistic": _statistic, "recent": _recent,
})
STATEFUL = frozenset({"recent"})


def rule_terms(rule: Rule, rv: str = "rv") -> list[str]:
    """The C terms (each 0 or 1) whose AND is the rule's test."""
    terms = []
    if rule.protocol:
        terms.append(_neg(f"(pkt->protocol == {rv}->proto)", rule.protocol_invert))
    if rule.source is not None:
        terms.append(_neg(f"((pkt->saddr & {rv}->smask) == {rv}->src)", rule.source_invert))
    if rule.destination is not None:
        terms.append(_neg(f"((pkt->daddr & {rv}->dmask) == {rv}->dst)",
                          rule.destination_invert))
    for side, name, invert in (("in", rule.in_iface, rule.in_iface_invert),
                               ("out", rule.out_iface, rule.out_iface_invert)):
        if name is None:
            continue
        if name.endswith("+"):
            raise UnsupportedRule("interface wildcards (+) are not enforced by the datapath yet")
        terms.append(_neg(f"(pkt->{side}_ifindex == {rv}->{side}_ifindex)", invert))
    if rule.fragment is not None:
        later = "((pkt->flags & PKT_F_FRAG_LATER) != 0)"
        terms.append(later if rule.fragment else f"!{later}")
    for match in rule.matches:
        code = MATCHERS.get(match.name)
        if code is None:
            raise UnsupportedRule(f"-m {match.name} is not enforced by the datapath yet")
        terms += code(match.options, rv)
    return terms


def rule_test(rule: Rule, rv: str = "rv") -> str:
    terms = rule_terms(rule, rv)
    if not terms:
        return "1"
    joiner = " && " if any(match.name in STATEFUL for match in rule.matches) else " & "
    return joiner.join(terms)


def action_kind(rule: Rule) -> str | None:
    """The rule's action kind (an ACT key)."""
    target = rule.target
    if target is None:
        return None
    name = target.name
    if name in ("ACCEPT", "DROP", "RETURN"):
        return name
    if name in STANDARD_TARGETS:
        raise UnsupportedRule(f"-j {name} is not enforced by the datapath yet")
    if target.options is None:
        return "GOTO" if target.goto else "JUMP"
    if name == "CONNMARK" and target.options.mode != "set":
        raise UnsupportedRule("CONNMARK: only --set-xmark is enforced by the datapath yet")
    if name == "CT":
        if not target.options.notrack:
            raise UnsupportedRule("CT: only --notrack is enforced by the datapath yet")
        return "NOTRACK"
    if name not in ACT:
        raise UnsupportedRule(f"-j {name} is not enforced by the datapath yet")
    return name


# --- chain programs -----------------------------------------------------------------------

@dataclass(slots=True)
class _Writer:
    lines: list[str]
    xdp: bool = False  # writing the XDP program: verdicts are XDP's, there are no jumps

    def __call__(self, line: str = "", indent: int = 1) -> None:
        self.lines.append("\t" * indent + line if line else "")


Resume = tuple[str, str, int]  # block, candidate (C expressions), and the slot running them


def _action(out: _Writer, kind: str | None, program: ChainProgram, resume: Resume,
            indent: int) -> None:
    """The code of one action kind; `resume` is where to come back after a jump.
    Non-terminal actions fall through to what follows."""
    block, cand, slot = resume
    if out.xdp:
        _xdp_action(out, kind, indent)
        return
    if kind == "ACCEPT":
        out("return stage_done(skb, st);", indent)
    elif kind == "DROP":
        out("return drop_packet(st, DROP_POLICY);", indent)
    elif kind == "RETURN":
        out("goto policy;" if program.builtin else "return chain_return(skb, st);", indent)
    elif kind == "JUMP":
        out(f"return chain_jump(skb, st, {slot}, {block}, {cand}, member, &rv->act);", indent)
    elif kind == "GOTO":
        out("return chain_goto(skb, st, &rv->act);", indent)
    elif kind == "MARK":
        out("act_mark(skb, st, &rv->act);", indent)
    elif kind == "CONNMARK":
        out("act_connmark(st, &rv->act);", indent)
    elif kind in ("DNAT", "SNAT", "MASQUERADE", "REDIRECT"):
        out("return act_nat(skb, st, &rv->act);", indent)
    elif kind == "REJECT":
        out("return act_reject(skb, st, &rv->act);", indent)
    elif kind == "NOTRACK":
        out("st->ct.flags |= CTI_NOTRACK;", indent)
    # LOG and no target: counted, nothing else


def _xdp_action(out: _Writer, kind: str | None, indent: int) -> None:
    """raw PREROUTING at XDP: ACCEPT leaves the table, the packet goes on to tc."""
    if kind == "ACCEPT":
        out("goto accept;", indent)
    elif kind == "DROP":
        out("drop_packet(st, DROP_POLICY);", indent)
        out("return XDP_DROP;", indent)
    elif kind == "RETURN":
        out("goto policy;", indent)
    elif kind == "NOTRACK":
        out("st->ct.flags |= CTI_NOTRACK;", indent)


def _actions(out: _Writer, kinds: set[str | None], program: ChainProgram,
             resume: Resume, indent: int) -> None:
    """The code of a block whose rules take several action kinds: a switch on the data's."""
    if len(kinds) == 1:
        _action(out, next(iter(kinds)), program, resume, indent)
        return
    out("switch (rv->act.kind) {", indent)
    for kind in sorted(kinds, key=lambda k: ACT[k]):
        out(f"case {ACT[kind]}:", indent)
        _action(out, kind, program, resume, indent + 1)
        out("break;", indent + 1)
    out("}", indent)


def _kinds(block: Block) -> set[str | None]:
    return {action_kind(rule) for _, rule in block_members(block)}


def _mask_c(length: int) -> str:
    return f"bpf_htonl(0x{(0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF:08x})"


def _lookup_key(out: _Writer, block: LookupBlock, index: int) -> None:
    """Fill `key` (struct lk_key or lk_lpm_key) from the packet; skip the block when the packet
    has no value for a key field."""
    lpm = block.storage == "lpm"
    out(f"struct {'lk_lpm_key' if lpm else 'lk_key'} key = {{}};", 2)
    out("key.member = member;", 2)
    if lpm:
        out("key.prefixlen = LK_LPM_EXACT_BITS + 32;", 2)
    for field in block.key:
        if field.name == "protocol":
            out("key.proto = pkt->protocol;", 2)
        elif field.name == "dport":
            out(f"if (!(pkt->flags & PKT_F_PORTS)) goto b{index + 1};", 2)
            out("key.dport = pkt->dport;", 2)
        else:
            address = "pkt->saddr" if field.name == "source" else "pkt->daddr"
            if field.lpm:
                out(f"key.addr = {address};", 2)
            else:
                mask = _mask_c(field.length) if field.length < 32 else ""
                value = f"{address} & {mask}" if mask else address
                slot = ("fixed" if lpm else "src" if field.name == "source" else "dst")
                out(f"key.{slot} = {value};", 2)


def lookup_map_name(program: ChainProgram, index: int) -> str:
    return f"lk{program.index}_{index}"


def _lookup(out: _Writer, program: ChainProgram, index: int, block: LookupBlock,
            maps: list[str]) -> None:
    name = lookup_map_name(program, index)
    if block.storage == "lpm":
        maps.append(f'BPF_F_TABLE("lpm_trie", struct lk_lpm_key, struct lk_val, {name}, '
                    f"LOOKUP_MAX_ENTRIES, BPF_F_NO_PREALLOC);")
    else:
        maps.append(f'BPF_F_TABLE("hash", struct lk_key, struct lk_val, {name}, '
                    f"LOOKUP_MAX_ENTRIES, BPF_F_NO_PREALLOC);")
    _lookup_key(out, block, index)
    out(f"struct lk_val *entry = {name}.lookup(&key);", 2)
    out(f"if (!entry) goto b{index + 1};", 2)
    out(f"__u32 start = block == {index} ? cand : 0;", 2)
    kinds = _kinds(block)
    out("#pragma unroll", 0)
    out("for (int i = 0; i < LOOKUP_CANDIDATES; i++) {", 2)
    out("if (i >= entry->count) break;", 3)
    out("if (i < start) continue;", 3)
    out("__u32 slot = entry->cand[i].slot;", 3)
    out("struct rule_val *rv = rdata.lookup(&slot);", 3)
    out("if (!rv) continue;", 3)
    out("int hit = 0;", 3)
    out("switch (entry->cand[i].variant) {", 3)
    for number, variant in enumerate(block.variants):
        out(f"case {number}: hit = {rule_test(variant)}; break;", 3)
    out("}", 3)
    out("if (!hit) continue;", 3)
    out("rule_count(st, rv);", 3)
    _actions(out, kinds, program, (str(index), "i + 1", program.slot_of(index)), 3)
    out("}", 2)


def _members(out: _Writer, program: ChainProgram, index: int, block: SelectBlock | AffinityBlock,
             test: str) -> None:
    """One by one from `start`: member i is taken when `test` holds (rv: its rule)."""
    kinds = _kinds(block)
    limit = "SELECT_TRIES" if isinstance(block, SelectBlock) else "AFFINITY_MAX"
    out(f"for (__u32 i = 0; i < {limit}; i++) {{", 2)
    out("__u32 at = start + i;", 3)
    out("if (at >= head->count) break;", 3)
    out(f"struct sel_key mkey = {{.prog = {program.index}, .block = {index}, "
        ".member = member, .index = at};", 3)
    out("struct sel_member *one = selm.lookup(&mkey);", 3)
    out("if (!one) break;", 3)
    out("__u32 slot = one->slot;", 3)
    out("struct rule_val *rv = rdata.lookup(&slot);", 3)
    out(f"if (!rv || !({test})) continue;", 3)
    out("rule_count(st, rv);", 3)
    _actions(out, kinds, program, (str(index), "at + 1", program.slot_of(index)), 3)
    out("}", 2)


def _select(out: _Writer, program: ChainProgram, index: int, block: SelectBlock) -> None:
    kinds = _kinds(block)
    out(f"struct rblk_key hkey = {{.prog = {program.index}, .block = {index}, "
        ".member = member};", 2)
    out("struct sel_head *head = selh.lookup(&hkey);", 2)
    out(f"if (!head || !head->count) goto b{index + 1};", 2)
    out(f"__u32 start = block == {index} ? cand : 0;", 2)
    out("if (start == 0) {", 2)
    # the shared rest of the rules (values: the first member's), then one draw
    out(f"struct sel_key first = {{.prog = {program.index}, .block = {index}, "
        ".member = member, .index = 0};", 3)
    out("struct sel_member *m0 = selm.lookup(&first);", 3)
    out(f"if (!m0) goto b{index + 1};", 3)
    out("__u32 slot0 = m0->slot;", 3)
    out("struct rule_val *rv = rdata.lookup(&slot0);", 3)
    out(f"if (!rv || !({rule_test(block.template)})) goto b{index + 1};", 3)
    out("__u32 bucket = ((__u64)bpf_get_prandom_u32() * head->table) >> 32;", 3)
    out(f"struct sel_key bkey = {{.prog = {program.index}, .block = {index}, "
        ".member = member, .index = bucket};", 3)
    out("struct sel_member *pick = selm.lookup(&bkey);", 3)
    out(f"if (!pick) goto b{index + 1};", 3)
    out("__u32 chosen = bpf_get_prandom_u32() < pick->cut ? bucket : pick->alias;", 3)
    out(f"if (chosen >= head->count) goto b{index + 1}; /* no member: none matched */", 3)
    out("bkey.index = chosen;", 3)
    out("pick = selm.lookup(&bkey);", 3)
    out(f"if (!pick) goto b{index + 1};", 3)
    out("slot0 = pick->slot;", 3)
    out("rv = rdata.lookup(&slot0);", 3)
    out(f"if (!rv) goto b{index + 1};", 3)
    out("rule_count(st, rv);", 3)
    _actions(out, kinds, program, (str(index), "chosen + 1", program.slot_of(index)), 3)
    out(f"goto b{index + 1};", 3)
    out("}", 2)
    # after a chosen member's chain returned: the kernel's draws, one rule after the other
    _members(out, program, index, block, f"({rule_test(block.template)}) & "
             "((bpf_get_prandom_u32() & 0x7fffffff) < one->probability)")


def _affinity(out: _Writer, program: ChainProgram, index: int, block: AffinityBlock) -> None:
    out(f"struct rblk_key hkey = {{.prog = {program.index}, .block = {index}, "
        ".member = member};", 2)
    out("struct sel_head *head = selh.lookup(&hkey);", 2)
    out(f"if (!head) goto b{index + 1};", 2)
    out(f"__u32 start = block == {index} ? cand : 0;", 2)
    _members(out, program, index, block,
             f"({rule_test(block.template)}) & m_recent_check(st, rv)")


def _rule(out: _Writer, program: ChainProgram, index: int, block: RuleBlock) -> None:
    out(f"struct rblk_key rkey = {{.prog = {program.index}, .block = {index}, "
        ".member = member};", 2)
    out("struct rule_val *rv = rblk.lookup(&rkey);", 2)
    out(f"if (!rv || !({rule_test(block.rule)})) goto b{index + 1};", 2)
    out("rule_count(st, rv);", 2)
    _action(out, action_kind(block.rule), program,
            (str(index + 1), "0", program.slot_of(index + 1)), 2)


def chain_program_c(program: ChainProgram, maps: list[str]) -> list[str]:
    """The C functions of one chain program (one per segment); map declarations they need go
    to ``maps``."""
    out = _Writer([])
    blocks = program.chain.blocks
    last = len(program.segments) - 1
    for number, (start, end) in enumerate(program.segments):
        members = "" if program.builtin else f" ({len(program.members)} members)"
        out(f"/* {program.table} {program.name}{members}, blocks {start}-{end - 1} */", 0)
        out(f"int {program.function(number)}(struct __sk_buff *skb)", 0)
        out("{", 0)
        out("struct pkt_state *st = pkt_state_get();")
        out("if (!st)")
        out("return TC_ACT_SHOT;", 2)
        out("struct chain_state *cs = chain_state_of(st);")
        out("struct pkt_info *pkt = &st->pkt;")
        out("__u32 member = cs->cur.member;")
        out("__u32 block = cs->cur.block;")
        out("__u32 cand = cs->cur.cand;")
        out("(void)pkt; (void)cand;")
        out("switch (block) {")
        for index in range(start, end):
            out(f"case {index}: goto b{index};")
        out("case BLOCK_POLICY: goto policy;")
        out(f"default: goto b{end};")
        out("}")
        for index in range(start, end):
            block = blocks[index]
            out(f"b{index}: {{", 0)
            if isinstance(block, LookupBlock):
                _lookup(out, program, index, block, maps)
            elif isinstance(block, SelectBlock):
                _select(out, program, index, block)
            elif isinstance(block, AffinityBlock):
                _affinity(out, program, index, block)
            else:
                _rule(out, program, index, block)
            out("}", 0)
        out(f"b{end}:", 0)
        if number < last:  # on in the next segment
            out(f"cs->cur.block = {end};")
            out("cs->cur.cand = 0;")
            out(f"return prog_call(skb, st, {program.slots[number + 1]});")
            out("policy:", 0)
            out("cs->cur.block = BLOCK_POLICY;")
            out(f"return prog_call(skb, st, {program.slots[last]});")
        else:
            out("policy:", 0)
            out(f"return chain_policy(skb, st, {program.index});" if program.builtin
                else "return chain_return(skb, st);")
        out("}", 0)
        out("", 0)
    return out.lines


# What raw PREROUTING may hold to run at XDP, before the kernel makes an skb: header matches
# and verdicts only (no mark yet, no jumps).
XDP_MATCHES = frozenset({"tcp", "udp", "icmp", "multiport", "comment"})
XDP_ACTIONS = frozenset({None, "ACCEPT", "DROP", "NOTRACK", "RETURN"})


def xdp_eligible(plan: Plan) -> bool:
    """Whether raw PREROUTING has rules and all of them can run at XDP."""
    raw = plan.tables.get("raw")
    if raw is None or not raw.chains["PREROUTING"].blocks:
        return False
    for block in raw.chains["PREROUTING"].blocks:
        if not isinstance(block, RuleBlock | LookupBlock):
            return False
        for _, rule in block_members(block):
            if rule.out_iface is not None or action_kind(rule) not in XDP_ACTIONS:
                return False
            if any(match.name not in XDP_MATCHES for match in rule.matches):
                return False
    return True


def xdp_program_c(program: ChainProgram, maps: list[str]) -> list[str]:
    """raw PREROUTING as one XDP function (its blocks inline); what it lets through carries a
    note for tc (pipeline.h: xdp_done), which then skips that table."""
    out = _Writer([], xdp=True)
    blocks = program.chain.blocks
    out("/* raw PREROUTING at XDP */", 0)
    out("int xdp_raw(struct xdp_md *ctx)", 0)
    out("{", 0)
    out("struct pkt_state *st = pkt_state_get();")
    out("if (!st)")
    out("return XDP_PASS;", 2)
    out("pkt_state_reset(st);")
    out("if (parse_ipv4_xdp(ctx, &st->pkt) != PARSE_OK || (st->pkt.flags & PKT_F_FRAG_LATER))")
    out("return XDP_PASS; /* tc judges these */", 2)
    out("struct pkt_info *pkt = &st->pkt;")
    out("__u32 member = 0, block = 0, cand = 0;")
    out("(void)member; (void)block; (void)cand;")
    for index, block in enumerate(blocks):
        out(f"b{index}: {{", 0)
        if isinstance(block, LookupBlock):
            _lookup(out, program, index, block, maps)
        else:
            assert isinstance(block, RuleBlock)
            _rule(out, program, index, block)
        out("}", 0)
    out(f"b{len(blocks)}:", 0)
    out("policy:", 0)
    out(f"if (policy_drops(st, {program.index}))")
    out("return XDP_DROP;", 2)
    out("accept:", 0)
    out("return xdp_done(ctx, st);")
    out("}", 0)
    return out.lines


def _label(stage: str) -> str:
    return "l" + stage[2:].lower()


def pipeline_c(plan_layout: Layout) -> list[str]:
    """Program 0: the hooks in netfilter's order. A call runs the fixed steps (conntrack,
    NAT of known flows, routing, confirming) straight on, up to the next table stage with a
    program; that program comes back here through stage_done, at the stage after it."""
    out = _Writer([])
    out("enum stage {", 0)
    for number, (stage, _, _, _) in enumerate(STAGES, 1):
        out(f"{stage} = {number},")
    out("};", 0)
    out("", 0)
    out("int pipeline(struct __sk_buff *skb)", 0)
    out("{", 0)
    out("struct pkt_state *st = pkt_state_get();")
    out("if (!st)")
    out("return TC_ACT_SHOT;", 2)
    out("struct chain_state *cs = chain_state_of(st);")
    out("int egress = st->pkt.in_ifindex == 0;")
    out("switch (cs->stage) {")
    for stage, _, _, _ in STAGES:
        out(f"case {stage}: goto {_label(stage)};")
    out("default: return TC_ACT_OK;")
    out("}")
    for number, (stage, table, what, then) in enumerate(STAGES):
        nxt = then or (STAGES[number + 1][0] if number + 1 < len(STAGES) else stage)
        out(f"{_label(stage)}:", 0)
        if table is not None:
            out(f"cs->stage = {nxt};")
            program = plan_layout.builtin(table, what)
            if program is not None:
                guard = ""
                if table == "nat":  # nat chains see a connection's first packet only
                    done = ("CTI_SNAT_DONE" if what in ("POSTROUTING", "INPUT")
                            else "CTI_DNAT_DONE")
                    guard = f"(st->ct.flags & (CTI_NEW | {done})) == CTI_NEW"
                out(f"if ({guard})" if guard else "{")
                out(f"return chain_enter(skb, st, {program.slots[0]}, {program.slots[-1]});",
                    2)
                if not guard:
                    out("}")
        elif stage == "ST_CT":
            out("if (BPFT_TRACKING) /* some rule turns connection tracking on */")
            out("ct_lookup4(st);", 2)
            out("if (egress)")
            out(f"goto {_label('ST_MANGLE_OUT')};", 2)
        elif stage == "ST_DNAT":
            out("if (st->ct.flags & CTI_NEW)")
            out("st->ct.flags |= CTI_DNAT_DONE; /* no nat rule bound it: identity */", 2)
            out("else if (nat_existing4(skb, st, 1) < 0)")
            out("return drop_packet(st, DROP_REWRITE);", 2)
            out("if (egress)")
            out(f"goto {_label('ST_FILTER_OUT')};", 2)
        elif stage == "ST_ROUTE":
            out("{")
            out("int route = route_local(skb, st);", 2)
            out("if (route < 0)", 2)
            out("return TC_ACT_OK;", 3)
            out("if (route)", 2)
            out(f"goto {_label('ST_MANGLE_IN')};", 3)
            out("}")
        elif stage == "ST_SNAT":
            out("if (st->ct.flags & CTI_NEW) {")
            out("if (!(st->ct.flags & CTI_SNAT_DONE) && snat_null4(skb, st) < 0)", 2)
            out("return drop_packet(st, DROP_NAT_NO_TUPLE);", 3)
            out("} else if (nat_existing4(skb, st, 0) < 0) {")
            out("return drop_packet(st, DROP_REWRITE);", 2)
            out("}")
        elif stage == "ST_DONE":
            out("if (ct_confirm4(st, NULL) < 0)")
            out("return drop_packet(st, DROP_NAT_NO_TUPLE);", 2)
            out("if (!egress && st->pkt.out_ifindex)")
            out("return forward_packet(skb, st);", 2)
            out("return egress ? reroute_output(skb, st) : TC_ACT_OK;")
        if then is not None:
            out(f"goto {_label(then)};")
    out("}", 0)
    return out.lines




@dataclass(frozen=True, slots=True)
class GeneratedDatapath:
    """What a Plan's datapath needs: its programs' layout and the limits the C is compiled
    with (``defines``: with the Shape hash, what tells a generation apart). The C itself is
    written only when compiling (:meth:`source`): a data-only change never needs it."""

    plan: Plan
    report: ShapeReport
    layout: Layout
    defines: Mapping[str, int]

    @property
    def xdp(self) -> bool:
        """Whether raw PREROUTING runs at XDP (the function ``xdp_raw``)."""
        return bool(self.defines["BPFT_XDP_RAW"])

    @property
    def tail_calls(self) -> tuple[str, ...]:
        """The prog array's functions in slot order (slot 0: the pipeline)."""
        return self.layout.functions

    def source(self) -> str:
        """The C: one function per chain program segment, the XDP program when raw
        PREROUTING can run there, and the pipeline."""
        maps: list[str] = []
        bodies: list[str] = []
        for program in self.layout.programs:
            bodies += chain_program_c(program, maps)
            bodies.append("")
        if self.xdp:
            bodies += xdp_program_c(self.layout.program("raw", "PREROUTING"), [])
        header = [f"/* Generated by bpftables (bpf/codegen.py) for shape "
                  f"{self.report.shape_hash}. */",
                  '#include "datapath.h"', '#include "chains.h"', ""]
        pipeline = pipeline_c(self.layout)  # its enum goes first: the entry programs use it
        enum_end = pipeline.index("};") + 1
        return "\n".join([*header, *pipeline[:enum_end], '#include "pipeline.h"', *maps,
                          *bodies, *pipeline[enum_end:], ""])


def tracking_enabled(plan: Plan) -> bool:
    """Whether a rule turns connection tracking on (the model's rule); without, packets carry
    no connection and the nat chains never run."""
    return rules_enable_tracking(rule for table in plan.tables.values()
                                 for chain in table.chains.values() for block in chain.blocks
                                 for _, rule in block_members(block))


def _capacity(count: int) -> int:
    size = 1024
    while size < 2 * count:
        size *= 2
    return size


def chain_sizes(chain: ChainPlan) -> tuple[int, tuple[tuple[int, int], ...]]:
    """A chain's rules, and its LOOKUP blocks' entries as (block index, entries)."""
    return (sum(len(block.rules) for block in chain.blocks),
            tuple((index, len(block.entries)) for index, block in enumerate(chain.blocks)
                  if isinstance(block, LookupBlock)))


def generate(plan: Plan, report: ShapeReport, members: MemberIds | None = None,
             sizes: IdentityCache[ChainPlan, tuple[int, tuple[tuple[int, int], ...]]]
             | None = None, xdp: bool = True) -> GeneratedDatapath:
    """The datapath for ``plan`` (its C comes from ``source()``): raises UnsupportedRule for
    what it cannot enforce. ``members`` keeps family members' ids and ``sizes`` each chain's
    sizes from one call to the next (an agent's: unchanged chains cost a lookup). ``xdp``
    False keeps raw PREROUTING in tc (a kernel without XDP metadata)."""
    if sizes is None:  # (an empty cache is falsy: it has a length)
        sizes = IdentityCache(chain_sizes)
    plan_layout = layout(plan, report, members)
    rules = 0
    entries: dict[tuple[int, int], int] = {}  # per lookup map: the entries of all members
    for program in plan_layout.programs:
        chains = plan.tables[program.table].chains
        for member in program.members:
            counted, lookups = sizes(chains[member])
            rules += counted
            for index, count in lookups:
                entries[(program.index, index)] = entries.get((program.index, index), 0) + count
    defines = {"BPFT_TRACKING": int(tracking_enabled(plan)),
               "BPFT_XDP_RAW": int(xdp and xdp_eligible(plan)),
               "PROGS_MAX": max(8, 1 << len(plan_layout.functions).bit_length()),
               "RULE_SLOTS": _capacity(rules),
               "LOOKUP_MAX_ENTRIES": _capacity(max(entries.values(), default=1))}
    return GeneratedDatapath(plan, report, plan_layout, MappingProxyType(defines))


def chain_tracking(chain: ChainPlan) -> bool:
    """Whether one of the chain's rules turns connection tracking on."""
    return rules_enable_tracking(rule for block in chain.blocks for _, rule in block_members(block))


ChainKey = tuple[str, str]
Changes = tuple[list[ChainKey], list[ChainKey]]


class Generator:
    """:func:`generate` for an agent's successive Plans. When the Shape is the one generated
    last, the Layout is kept and updated for the chains that changed (family members come
    and go, a program's first member may be another chain), and so are the map sizes and
    whether a rule tracks connections: the cost follows the change, not the rule set. The
    result is what :func:`generate` gives with the same MemberIds."""

    def __init__(self, xdp: bool = True) -> None:
        self.xdp = xdp  # False: raw PREROUTING stays in tc (a kernel without XDP metadata)
        self.members = MemberIds()
        self.sizes: IdentityCache[ChainPlan, tuple[int, tuple[tuple[int, int], ...]]] = (
            IdentityCache(chain_sizes))
        self.tracking = IdentityCache(chain_tracking)
        self._last: GeneratedDatapath | None = None
        self._rules = 0
        self._entries: dict[tuple[int, int], int] = {}
        self._tracking: set[ChainKey] = set()  # chains with a rule tracking connections
        self._program_of_family: dict[tuple[str, str], int] = {}  # (table, digest) -> index

    def generate(self, plan: Plan, report: ShapeReport, changes: Changes | None = None,
                 base: Plan | None = None,
                 patches: Mapping[ChainKey, ChainPatch] | None = None) -> GeneratedDatapath:
        """``changes``: the chains that differ from ``base`` (Compiler.last_changes,
        Compiler.previous); trusted when ``base`` is the Plan generated last. ``patches``
        (Compiler.last_patches): chains whose tracking follows from the old one's."""
        for patch in (patches or {}).values():
            tracked = self.tracking.get(patch.old)
            if tracked is not None and self.tracking.get(patch.new) is None and not (
                    tracked and rules_enable_tracking(patch.gone)):
                self.tracking.put(patch.new, tracked or rules_enable_tracking(patch.came))
        last = self._last
        if last is None or last.report.shape_hash != report.shape_hash:
            generated = self._full(plan, report)
        else:
            if changes is None or base is not last.plan:
                changes = changed_chains(last.plan, plan)
            generated = self._update(last, plan, report, changes) or self._full(plan, report)
        self._last = generated
        return generated

    def _full(self, plan: Plan, report: ShapeReport) -> GeneratedDatapath:
        plan_layout = layout(plan, report, self.members)
        self._program_of_family = {
            (family.table, family.signature_hash):
                plan_layout.program_of[(family.table, family.members[0])][0]
            for family in report.families}
        self._rules = 0
        self._entries = {}
        self._tracking = set()
        chains = []
        for program in plan_layout.programs:
            table = plan.tables[program.table].chains
            for member in program.members:
                chain = table[member]
                chains.append(chain)
                self._count(program.index, chain, 1)
                if self.tracking(chain):
                    self._tracking.add((program.table, member))
        if len(self.sizes) > 2 * len(chains):  # forget chains of Plans long gone
            self.sizes.keep_only(chains)
            self.tracking.keep_only(chains)
        return self._generated(plan, report, plan_layout)

    def _count(self, program: int, chain: ChainPlan, sign: int) -> None:
        counted, lookups = self.sizes(chain)
        self._rules += sign * counted
        for index, count in lookups:
            self._entries[(program, index)] = self._entries.get((program, index), 0) + (
                sign * count)

    def _generated(self, plan: Plan, report: ShapeReport,
                   plan_layout: Layout) -> GeneratedDatapath:
        defines = {"BPFT_TRACKING": int(bool(self._tracking)),
                   "BPFT_XDP_RAW": int(self.xdp and xdp_eligible(plan)),
                   "PROGS_MAX": max(8, 1 << len(plan_layout.functions).bit_length()),
                   "RULE_SLOTS": _capacity(self._rules),
                   "LOOKUP_MAX_ENTRIES": _capacity(max(self._entries.values(), default=1))}
        return GeneratedDatapath(plan, report, plan_layout, MappingProxyType(defines))

    def _update(self, last: GeneratedDatapath, plan: Plan, report: ShapeReport,
                changes: Changes) -> GeneratedDatapath | None:
        """The same Shape: the last Layout with the changed chains' programs and members
        updated; None when the programs' segments would differ (then a full layout)."""
        written, removed = really_changed(last.plan, plan, changes)
        old_layout, old_report = last.layout, last.report
        program_of = old_layout.program_of.copy()
        programs = list(old_layout.programs)
        placed: set[tuple[str, str]] = set()  # chains given a place anew
        joined: dict[tuple[str, str], set[str]] = {}  # family -> members that joined
        left: dict[tuple[str, str], set[str]] = {}  # family -> members that left
        touched: set[int] = set()  # programs whose members or first chain may differ
        for key in removed:
            old_chain = last.plan.tables[key[0]].chains[key[1]]
            index = old_layout.program_of[key][0]
            self._count(index, old_chain, -1)
            self._tracking.discard(key)
            touched.add(index)
            family = old_report.family_of.get(key)
            if family is not None:
                left.setdefault((key[0], family), set()).add(key[1])
        for key in written:
            chain = plan.tables[key[0]].chains[key[1]]
            family = report.family_of.get(key)
            if family is None:
                index = old_layout.program_of[key][0]
            else:
                index = self._program_of_family[(key[0], family)]
                joined.setdefault((key[0], family), set()).add(key[1])
            self._count(index, chain, 1)
            if self.tracking(chain):
                self._tracking.add(key)
            touched.add(index)
        for family in joined.keys() | left.keys():
            came, went = joined.get(family, set()), left.get(family, set())
            # a member that changed but stayed in its family keeps its id
            came, went = came - went, went - came
            for name in went:
                if program_of.get((family[0], name), (None,))[0] == (
                        self._program_of_family[family]):
                    del program_of[(family[0], name)]
            ids = self.members.update(family, list(came), list(went))
            index = self._program_of_family[family]
            for name in came:
                program_of[(family[0], name)] = (index, ids[name])
                placed.add((family[0], name))
        families = {(family.table, family.signature_hash): family for family in report.families}
        by_index = {index: family for family, index in self._program_of_family.items()}
        for index in touched:
            program = programs[index - 1]
            chains = plan.tables[program.table].chains
            if program.builtin:
                members, name = program.members, program.name
            else:
                family = families[by_index[index]]
                members, name = family.members, family.pattern
            chain = chains[members[0]]
            if chain is program.chain and members == program.members:
                continue
            if split_segments(chain.blocks) != program.segments:
                return None
            programs[index - 1] = replace(program, name=name, members=members, chain=chain)
        # the programs' slots are those of old_layout (segments unchanged, checked above)
        plan_layout = Layout(tuple(programs), MappingProxyType(program_of),
                             (weakref.ref(old_layout), frozenset(placed)))
        if len(self.sizes) > 2 * len(program_of) + 64:  # chains of Plans long gone
            chains = [chain for table in plan.tables.values() for chain in table.chains.values()]
            self.sizes.keep_only(chains)
            self.tracking.keep_only(chains)
        return self._generated(plan, report, plan_layout)
