"""A network namespace with netfilter: packets in, verdicts and translated packets out.

The reference model's top level. :meth:`Node.receive` takes a packet arriving on an interface
(PREROUTING, then INPUT or FORWARD and POSTROUTING); :meth:`Node.send` a packet the node itself
sends (OUTPUT, POSTROUTING). Connection tracking and NAT follow the kernel:

- conntrack looks the packet up after the raw table; a new connection stays unconfirmed until the
  packet has passed every hook, so a dropped first packet leaves nothing behind;
- the nat chains see only a connection's first packet; the binding they choose (or the identity
  when no nat rule matches) is stored in the connection and applied to every later packet, and
  undone on replies;
- REJECT answers with the ICMP error or TCP reset the kernel would send.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, replace
from typing import Any

from iptparse.extensions import find_match, find_target
from iptparse.model import Rule, Ruleset
from translator.model.conntrack import (
    ICMP_ERROR_TYPES,
    Connection,
    ConntrackTable,
    FlowTuple,
    new_tcp_state,
    next_tcp_state,
    packet_tuple,
    tcp_invalid,
)
from translator.model.evaluate import TableVerdict, Visit, run_table
from translator.model.nat import NatRange, translate
from translator.model.packet import (
    IPPROTO_ICMP,
    IPPROTO_TCP,
    TCP_ACK,
    TCP_RST,
    Host,
    Packet,
)
from translator.model.semantics import ConnectionView, Context

# REJECT --reject-with type -> ICMP destination-unreachable code (tcp-reset is a TCP RST).
# ICMP errors to one peer: a token bucket of net.ipv4.icmp_ratelimit (ms per error) holding
# XRLIM_BURST_FACTOR errors, for the types in net.ipv4.icmp_ratemask (3, 4, 11, 12).
ICMP_RATELIMIT_MS = 1000
ICMP_BURST = 6
ICMP_RATEMASK_TYPES = frozenset({3, 4, 11, 12})

REJECT_ICMP_CODES = {
    "icmp-net-unreachable": 0, "icmp-host-unreachable": 1, "icmp-proto-unreachable": 2,
    "icmp-port-unreachable": 3, "icmp-net-prohibited": 9, "icmp-host-prohibited": 10,
    "icmp-admin-prohibited": 13,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the node did with one packet.

    ``verdict`` is ACCEPT (delivered locally, forwarded or sent) or DROP; ``path`` is INPUT,
    FORWARD or OUTPUT; ``packet`` is the packet as delivered or as it leaves (after NAT);
    ``state`` the conntrack state rules saw; ``reply`` what REJECT sent back.
    """

    verdict: str
    path: str
    packet: Packet
    out_iface: str | None
    state: str
    reply: Packet | None = None
    visits: tuple[Visit, ...] = ()
    chosen_from: tuple[int, int] | None = None  # NAT picked a port here: the kernel's own pick


@dataclass(slots=True)
class _Flow:
    """A packet's connection while it crosses the node (``skb->_nfct``)."""

    view: ConnectionView
    connection: Connection | None = None  # None: untracked or invalid
    reply: bool = False
    new: bool = False  # unconfirmed: created by this packet
    dnat_done: bool = False
    snat_done: bool = False
    chosen_from: tuple[int, int] | None = None
    related: bool = False  # an ICMP error about the connection


# (table name, hook, packet, context, counter callback) -> the table's verdict
TableRunner = Callable[[str, str, Packet, Context, Callable[[str, str, int | None], None]],
                       TableVerdict]


def tracking_enabled(ruleset: Ruleset) -> bool:
    """Whether any rule turns connection tracking on in the namespace; without, nat never
    runs."""
    return rules_enable_tracking(rule for table in ruleset.tables.values()
                                 for chain in table.chains.values() for rule in chain.rules)


def rules_enable_tracking(rules: Iterable[Rule]) -> bool:
    """Whether one of ``rules`` turns connection tracking on (see
    :meth:`~iptparse.extensions.base.Extension.enables_conntrack`)."""
    for rule in rules:
        used = [(find_match(match.name), match.options) for match in rule.matches]
        if rule.target is not None:
            used.append((find_target(rule.target.name), rule.target.options))
        if any(ext is not None and ext.enables_conntrack(options) for ext, options in used):
            return True
    return False


class Node:
    """One namespace's netfilter state: rules, connections, recent lists, counters."""

    def __init__(self, ruleset: Ruleset, host: Host, rng: random.Random | None = None,
                 icmp_ratelimit_ms: int = ICMP_RATELIMIT_MS,
                 table_runner: TableRunner | None = None) -> None:
        self.ruleset = ruleset
        # how a table runs: its rules by default; translator/interp.py runs its compiled Plan
        self.table_runner = table_runner
        self.icmp_ratelimit_ms = icmp_ratelimit_ms
        self._icmp_tokens: dict[int, tuple[float, float]] = {}  # peer -> (tokens ms, at)
        self.host = host
        self.rng = rng or random.Random()
        self.conntrack = ConntrackTable()
        self.recent: dict[str, dict[int, list[float]]] = {}
        self.nth: dict[int, int] = {}
        self.now = 0.0
        self.counters: Counter[tuple[str, str, int | None]] = Counter()
        self.tracking = tracking_enabled(ruleset)

    # --- entry points -----------------------------------------------------------------------

    def receive(self, packet: Packet, in_iface: str) -> Outcome:
        """A packet arriving on ``in_iface`` from the wire."""
        packet = packet.with_(in_iface=in_iface, out_iface=None)
        visits: list[Visit] = []
        flow = _Flow(ConnectionView(state="INVALID"))
        verdict, packet, reply = self._tables("PREROUTING", ("raw",), packet, flow, visits)
        if verdict == "ACCEPT":
            flow = self._track(packet, flow)
            packet = self._nat_existing(packet, flow, destination=True)
            verdict, packet, reply = self._tables("PREROUTING", ("mangle", "nat"), packet,
                                                  flow, visits)
        if verdict != "ACCEPT":
            return self._done(verdict, "INPUT", packet, None, flow, reply, visits)
        if self.host.is_local(packet.dst):
            verdict, packet, reply = self._tables(
                "INPUT", ("mangle", "filter", "security", "nat"), packet, flow, visits)
            if verdict == "ACCEPT":
                self._confirm(packet, flow)
            return self._done(verdict, "INPUT", packet, None, flow, reply, visits)
        out_iface = self.host.route(packet.dst)
        packet = packet.with_(out_iface=out_iface)
        verdict, packet, reply = self._tables("FORWARD", ("mangle", "filter", "security"),
                                              packet, flow, visits)
        if verdict == "ACCEPT":
            verdict, packet, reply = self._postrouting(packet, flow, visits)
        return self._done(verdict, "FORWARD", packet, out_iface, flow, reply, visits)

    def send(self, packet: Packet) -> Outcome:
        """A packet the node itself sends (a local socket)."""
        out_iface = self.host.route(packet.dst)
        packet = packet.with_(in_iface=None, out_iface=out_iface)
        visits: list[Visit] = []
        flow = _Flow(ConnectionView(state="INVALID"))
        verdict, packet, reply = self._tables("OUTPUT", ("raw",), packet, flow, visits)
        if verdict == "ACCEPT":
            flow = self._track(packet, flow)
            packet = self._nat_existing(packet, flow, destination=True)
            verdict, packet, reply = self._tables("OUTPUT", ("mangle", "nat", "filter",
                                                             "security"), packet, flow, visits)
        if verdict == "ACCEPT":
            rerouted = self.host.route(packet.dst)  # a DNAT may have changed the way out
            if rerouted != out_iface:
                out_iface = rerouted
                packet = packet.with_(out_iface=out_iface)
            verdict, packet, reply = self._postrouting(packet, flow, visits)
        if verdict == "ACCEPT" and out_iface == "lo":
            # to one of its own addresses: looped back in through PREROUTING and INPUT, with
            # its connection (already bound, so the nat chains stay out)
            packet = packet.with_(in_iface="lo", out_iface=None)
            verdict, packet, reply = self._tables("PREROUTING", ("raw", "mangle", "nat"),
                                                  packet, flow, visits)
            if verdict == "ACCEPT":
                verdict, packet, reply = self._tables(
                    "INPUT", ("mangle", "filter", "security", "nat"), packet, flow, visits)
            return self._done(verdict, "INPUT", packet, None, flow, reply, visits)
        return self._done(verdict, "OUTPUT", packet, out_iface, flow, reply, visits)

    # --- hooks ------------------------------------------------------------------------------

    def _postrouting(self, packet: Packet, flow: _Flow, visits: list[Visit],
                     ) -> tuple[str, Packet, Packet | None]:
        packet = self._nat_existing(packet, flow, destination=False)
        verdict, packet, reply = self._tables("POSTROUTING", ("mangle", "nat"), packet, flow,
                                              visits)
        if verdict == "ACCEPT":
            self._confirm(packet, flow)
        return verdict, packet, reply

    def _tables(self, hook: str, names: tuple[str, ...], packet: Packet, flow: _Flow,
                visits: list[Visit]) -> tuple[str, Packet, Packet | None]:
        for name in names:
            table = self.ruleset.tables.get(name)
            if table is None or hook not in table.chains:
                continue
            if name == "nat" and not self._nat_wanted(flow, hook):
                continue
            ctx = Context(self.host, hook, flow.view, self.now, self.rng, self.recent, self.nth)
            result = self._run(name, hook, packet, ctx)
            visits.extend(result.visits)
            packet = result.packet
            outcome = result.outcome
            if name == "nat" and result.verdict == "ACCEPT":
                verdict, packet = self._bind(packet, flow, hook,
                                             outcome.nat if outcome is not None else None)
                if verdict != "ACCEPT":
                    return verdict, packet, None
            if result.verdict != "ACCEPT":
                reply = None
                if (outcome is not None and outcome.reply is not None
                        and _answerable(packet, outcome.reply)):
                    reply = self._reject_reply(packet, outcome.reply, hook)
                return result.verdict, packet, reply
        return "ACCEPT", packet, None

    def _run(self, name: str, hook: str, packet: Packet, ctx: Context) -> TableVerdict:
        if self.table_runner is not None:
            return self.table_runner(name, hook, packet, ctx, self._count)
        return run_table(self.ruleset.tables[name], hook, packet, ctx, self._count)

    def _count(self, table: str, chain: str, rule: int | None) -> None:
        self.counters[(table, chain, rule)] += 1

    # --- conntrack --------------------------------------------------------------------------

    def _track(self, packet: Packet, flow: _Flow) -> _Flow:
        """nf_conntrack_in: find or start the packet's connection and its ctstate."""
        if not self.tracking:
            return flow
        if flow.view.untracked:
            return _Flow(ConnectionView(state="UNTRACKED", untracked=True))
        found = self.conntrack.find(packet_tuple(packet), self.now)
        if found is not None:
            connection, reply = found
            if (connection.tcp_state and packet.protocol == IPPROTO_TCP
                    and tcp_invalid(connection.tcp_state, packet.tcp_flags, reply)):
                return _Flow(ConnectionView(state="INVALID"))
            state = "ESTABLISHED" if reply or connection.seen_reply else "NEW"
            return _Flow(self._view(connection, state, reply), connection, reply, False,
                         True, True)
        if packet.protocol == IPPROTO_ICMP and packet.icmp_type in ICMP_ERROR_TYPES:
            related = self._related(packet)
            if related is None:
                return _Flow(ConnectionView(state="INVALID"))
            connection, reply = related
            return _Flow(self._view(connection, "RELATED", reply), connection, reply,
                         dnat_done=True, snat_done=True, related=True)
        tcp_state = ""
        if packet.protocol == IPPROTO_TCP and not packet.fragment_offset:
            tcp_state = new_tcp_state(packet.tcp_flags) or ""
            if not tcp_state:
                return _Flow(ConnectionView(state="INVALID"))
        original = packet_tuple(packet)
        connection = Connection(original, original.inverse(), tcp_state=tcp_state)
        return _Flow(self._view(connection, "NEW", False), connection, False, True)

    def _related(self, packet: Packet) -> tuple[Connection, bool] | None:
        """The connection an ICMP error is about, and whether the error travels as its reply:
        the quoted packet went the other way, so its inverted tuple is the error's own."""
        embedded = packet.embedded
        if embedded is None:
            return None
        return self.conntrack.find(packet_tuple(embedded).inverse(), self.now)

    @staticmethod
    def _view(connection: Connection, state: str, reply: bool) -> ConnectionView:
        return ConnectionView(state=state, mark=connection.mark, status=connection.status,
                              reply=reply)

    def _confirm(self, packet: Packet, flow: _Flow) -> None:
        """The packet passed every hook: its connection (new or updated) is stored."""
        connection = flow.connection
        if connection is None or flow.related:
            return
        tcp_state = connection.tcp_state
        if tcp_state:
            tcp_state = next_tcp_state(tcp_state, packet.tcp_flags, flow.reply) if not (
                flow.new) else tcp_state
        connection = replace(connection, mark=flow.view.mark, tcp_state=tcp_state,
                             seen_reply=connection.seen_reply or flow.reply)
        self.conntrack.store(connection, self.now)

    # --- NAT --------------------------------------------------------------------------------

    def _nat_wanted(self, flow: _Flow, hook: str) -> bool:
        """The nat chains run only for a new connection's first packet, once per direction."""
        if flow.connection is None or not flow.new:
            return False
        if hook in ("PREROUTING", "OUTPUT"):
            return not flow.dnat_done
        return not flow.snat_done

    def _bind(self, packet: Packet, flow: _Flow, hook: str, nat: NatRange | None,
              ) -> tuple[str, Packet]:
        """Set up the connection's NAT for this hook's direction (nf_nat_setup_info)."""
        connection = flow.connection
        assert connection is not None
        destination = hook in ("PREROUTING", "OUTPUT")
        if destination:
            flow.dnat_done = True
        else:
            flow.snat_done = True
        current = packet_tuple(packet)
        if nat is None:
            if destination:
                return "ACCEPT", packet  # the identity binding
            # The null source binding still makes the tuple unique (nf_nat_alloc_null_binding):
            # a connection whose reply tuple is taken leaves with another source port.
            nat = NatRange("SNAT", current.src, current.src)
        translation = translate(current, nat, lambda reply: self.conntrack.find(
            reply, self.now) is not None)
        translated = translation.flow
        if translated is None:
            return "DROP", packet  # no free tuple: the kernel drops
        flow.chosen_from = flow.chosen_from or translation.chosen_from
        if translated == current:
            return "ACCEPT", packet
        status = connection.status | {"DNAT" if destination else "SNAT"}
        flow.connection = replace(connection, reply=translated.inverse(), status=status)
        flow.view.status = status
        return "ACCEPT", _with_tuple(packet, translated)

    def _nat_existing(self, packet: Packet, flow: _Flow, destination: bool) -> Packet:
        """Apply an established connection's binding (or undo it for a reply)."""
        connection = flow.connection
        if connection is None or flow.new:
            return packet
        original, reply = connection.original, connection.reply
        if flow.related:
            # an ICMP error: its outer header only where the connection is translated, and
            # the packet it quotes back to what that side sent (nf_nat_icmp_reply_translation)
            quoted = original if flow.reply else reply
            packet = packet.with_(embedded=_with_tuple(packet.embedded, quoted))
            if not _translated(flow, destination):
                return packet
        if destination:
            address, port = _end(original, "src") if flow.reply else _end(reply, "src")
        else:
            address, port = _end(original, "dst") if flow.reply else _end(reply, "dst")
        return _with_end(packet, address, port, destination)

    # --- REJECT -----------------------------------------------------------------------------

    def _reject_reply(self, packet: Packet, kind: str, hook: str) -> Packet:
        """The TCP reset or ICMP error REJECT sends back to the packet's source."""
        if kind == "tcp-reset":
            flags = TCP_RST if packet.tcp_flags & TCP_ACK else TCP_RST | TCP_ACK
            return Packet(packet.dst, packet.src, IPPROTO_TCP, packet.dport, packet.sport,
                          tcp_flags=flags, length=40)
        if hook == "INPUT" or packet.in_iface is None:
            source = packet.dst
        else:
            source = self.host.interface_addresses.get(packet.in_iface, packet.dst)
        return Packet(source, packet.src, IPPROTO_ICMP, icmp_type=3,
                      icmp_code=REJECT_ICMP_CODES[kind], length=28 + min(packet.length, 548),
                      embedded=packet.with_(in_iface=None, out_iface=None))

    def _answer(self, packet: Packet, visits: list[Visit], rejected: _Flow) -> Packet | None:
        """REJECT's answer leaves like any packet the node sends (OUTPUT, POSTROUTING), as
        RELATED to the rejected packet's connection, unless ICMP's rate limit holds it back.

        Being RELATED, it is translated back like a reply of that connection where the nat
        hooks sit: the client sees it come from the address it sent to (the service, not the
        endpoint), and an ICMP error quotes the packet as the client sent it. A TCP reset, not
        being ICMP, also runs the nat chains of a binding the connection does not have yet.
        """
        if packet.protocol == IPPROTO_ICMP and packet.icmp_type in ICMP_RATEMASK_TYPES:
            if not self._icmp_allowed(packet.dst):
                return None
        packet = packet.with_(out_iface=self.host.route(packet.dst))
        flow = _Flow(ConnectionView(state="RELATED" if self.tracking else "INVALID"))
        connection = rejected.connection
        answer_flow = (_Flow(rejected.view, connection, not rejected.reply)
                       if connection is not None else None)
        verdict, packet, _ = self._tables("OUTPUT", ("raw", "mangle"), packet, flow, visits)
        if verdict != "ACCEPT":
            return None
        if answer_flow is not None and _translated(answer_flow, destination=True):
            packet = self._nat_existing(packet, answer_flow, destination=True)
        verdict, packet, _ = self._tables("OUTPUT", ("filter", "security"), packet, flow,
                                          visits)
        if verdict == "ACCEPT":
            verdict, packet, _ = self._tables("POSTROUTING", ("mangle",), packet, flow, visits)
        if verdict != "ACCEPT":
            return None
        nat = self.ruleset.tables.get("nat")
        if (answer_flow is not None and packet.protocol != IPPROTO_ICMP
                and not rejected.snat_done and nat is not None):
            ctx = Context(self.host, "POSTROUTING", flow.view, self.now, self.rng, self.recent,
                          self.nth)
            visits.extend(self._run("nat", "POSTROUTING", packet, ctx).visits)
        if answer_flow is not None and _translated(answer_flow, destination=False):
            packet = self._nat_existing(packet, answer_flow, destination=False)
        if answer_flow is not None and connection is not None and connection.status:
            if packet.embedded is not None and connection is not None:
                quoted = connection.reply if rejected.reply else connection.original
                packet = packet.with_(embedded=_with_tuple(packet.embedded, quoted))
        return packet

    def _icmp_allowed(self, peer: int) -> bool:
        """icmpv4_xrlim_allow: one error per ratelimit ms, bursts of ICMP_BURST."""
        if self.icmp_ratelimit_ms <= 0:
            return True
        limit = self.icmp_ratelimit_ms
        tokens, at = self._icmp_tokens.get(peer, (ICMP_BURST * limit, self.now))
        tokens = min(tokens + (self.now - at) * 1000, ICMP_BURST * limit)
        allowed = tokens >= limit
        self._icmp_tokens[peer] = (tokens - limit if allowed else tokens, self.now)
        return allowed

    def _done(self, verdict: str, path: str, packet: Packet, out_iface: str | None,
              flow: _Flow, reply: Packet | None, visits: list[Visit]) -> Outcome:
        if reply is not None:
            reply = self._answer(reply, visits, flow)
        return Outcome(verdict, path, packet, out_iface, flow.view.state, reply, tuple(visits),
                       flow.chosen_from)

    # --- state kept between runs (bpftables trace --state-file) -------------------------------

    def export_state(self) -> dict[str, Any]:
        """Connections and recent lists as JSON-ready data."""
        return {
            "connections": [
                {"original": astuple(c.original), "reply": astuple(c.reply),
                 "seen_reply": c.seen_reply, "tcp_state": c.tcp_state, "mark": c.mark,
                 "status": sorted(c.status), "expires": c.expires}
                for c in self.conntrack.connections()],
            "recent": {name: {str(address): stamps for address, stamps in table.items()}
                       for name, table in self.recent.items()},
        }

    def import_state(self, state: dict[str, Any]) -> None:
        for item in state.get("connections", []):
            connection = Connection(FlowTuple(*item["original"]), FlowTuple(*item["reply"]),
                                    item["seen_reply"], item["tcp_state"], item["mark"],
                                    frozenset(item["status"]), item["expires"])
            if connection.expires > self.now:
                self.conntrack.store(connection, self.now)
                self.conntrack.set_expiry(connection.original, connection.expires)
        self.recent = {name: {int(address): list(stamps) for address, stamps in table.items()}
                       for name, table in state.get("recent", {}).items()}

    # --- what only the kernel knows ---------------------------------------------------------

    def rebind(self, original: Packet, translated: Packet) -> None:
        """Take the kernel's own pick of a NAT port: the connection ``original`` started now
        leaves as ``translated`` (see :attr:`Outcome.chosen_from`)."""
        found = self.conntrack.find(packet_tuple(original), self.now)
        if found is None:
            return
        connection = found[0]
        self.conntrack.remove(connection)
        self.conntrack.store(replace(connection, reply=packet_tuple(translated).inverse()),
                             self.now)


def _answerable(packet: Packet, kind: str) -> bool:
    """icmp_send never answers an ICMP error, nor a fragment that is not the first; a reset
    never answers a reset."""
    if packet.fragment_offset:
        return False
    if kind == "tcp-reset":
        return not packet.tcp_flags & TCP_RST
    return not (packet.protocol == IPPROTO_ICMP and packet.icmp_type in ICMP_ERROR_TYPES)


def _translated(flow: _Flow, destination: bool) -> bool:
    """Whether the connection's NAT changes this end of packets going this way: the
    destination of original packets is DNATed, of replies un-SNATed; the source likewise."""
    assert flow.connection is not None
    wanted = "SNAT" if destination == flow.reply else "DNAT"
    return wanted in flow.connection.status


def _end(flow: FlowTuple, side: str) -> tuple[int, int]:
    """One end of a tuple as (address, port); an ICMP query's "port" is its id on both ends."""
    if side == "src" or flow.protocol == IPPROTO_ICMP:
        return (flow.src if side == "src" else flow.dst), flow.sport
    return flow.dst, flow.dport


def _with_end(packet: Packet, address: int, port: int, destination: bool) -> Packet:
    if packet.embedded is not None:  # an ICMP error: addresses only
        return packet.with_(dst=address) if destination else packet.with_(src=address)
    if packet.protocol == IPPROTO_ICMP:
        # the ICMP query id is the connection's "port" on both sides
        return packet.with_(dst=address, sport=port) if destination else packet.with_(
            src=address, sport=port)
    if not packet.has_ports:
        return packet.with_(dst=address) if destination else packet.with_(src=address)
    if destination:
        return packet.with_(dst=address, dport=port)
    return packet.with_(src=address, sport=port)


def _with_tuple(packet: Packet, flow: FlowTuple) -> Packet:
    if packet.protocol == IPPROTO_ICMP:
        return packet.with_(src=flow.src, dst=flow.dst, sport=flow.sport)
    if not packet.has_ports:
        return packet.with_(src=flow.src, dst=flow.dst)
    return packet.with_(src=flow.src, sport=flow.sport, dst=flow.dst, dport=flow.dport)
