"""What each match means to a packet (the kernel's ``xt_*`` match functions), for the model.

One function per extension, ``(options, packet, ctx) -> bool``, registered in
:data:`MATCHERS`. ``options`` are the frozen values :mod:`iptparse.extensions` builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iptparse.extensions.addrtype import ADDRESS_TYPES
from iptparse.extensions.conntrack import CTSTATE_NAMES
from iptparse.extensions.multiport import BOTH, SOURCE
from iptparse.extensions.statistic import PROBABILITY_SCALE
from translator.model.packet import (
    IPPROTO_ICMP,
    IPPROTO_SCTP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    Packet,
)
from translator.model.semantics import Context, UnsupportedExtension

FULL_RANGE = (0, 0xFFFF)


def _in_range(value: int, bounds: tuple[int, int], invert: bool) -> bool:
    return (bounds[0] <= value <= bounds[1]) != invert


def _ports(options: Any, packet: Packet, protocol: int) -> bool:
    # A later fragment has no ports: the kernel's tcp/udp matches never match it.
    if packet.protocol != protocol or packet.fragment_offset:
        return False
    return (_in_range(packet.sport, options.sport, options.sport_invert)
            and _in_range(packet.dport, options.dport, options.dport_invert))


def tcp(options: Any, packet: Packet, ctx: Context) -> bool:
    if not _ports(options, packet, IPPROTO_TCP):
        return False
    flags_hit = (packet.tcp_flags & options.flag_mask) == options.flag_compare
    if flags_hit == options.flags_invert:
        return False
    # --tcp-option needs the TCP options; the model's packets carry none.
    return not options.option or options.option_invert


def udp(options: Any, packet: Packet, ctx: Context) -> bool:
    return _ports(options, packet, IPPROTO_UDP)


def icmp(options: Any, packet: Packet, ctx: Context) -> bool:
    if packet.protocol != IPPROTO_ICMP or packet.fragment_offset:
        return False
    hit = options.icmp_type == 0xFF or (
        packet.icmp_type == options.icmp_type
        and options.code_low <= packet.icmp_code <= options.code_high)
    return hit != options.invert


def multiport(options: Any, packet: Packet, ctx: Context) -> bool:
    if not packet.has_ports:
        return False

    def hit(port: int) -> bool:
        return any(low <= port <= (low if high is None else high) for low, high in options.ports)

    if options.direction == SOURCE:
        found = hit(packet.sport)
    elif options.direction == BOTH:
        found = hit(packet.sport) or hit(packet.dport)
    else:
        found = hit(packet.dport)
    return found != options.invert


def mark(options: Any, packet: Packet, ctx: Context) -> bool:
    return ((packet.mark & options.mask) == options.mark) != options.invert


def connmark(options: Any, packet: Packet, ctx: Context) -> bool:
    if not ctx.conn.has_conntrack:  # the kernel's connmark_mt: no entry, no match (! or not)
        return False
    return ((ctx.conn.mark & options.mask) == options.mark) != options.invert


def _address_types(ctx: Context, address: int) -> int:
    """The addrtype bits of an address as the node's routing table classifies it."""
    host = ctx.host
    if host.is_local(address):
        kind = "LOCAL"
    elif address == 0xFFFFFFFF or address in host.broadcasts:
        kind = "BROADCAST"
    elif address >> 28 == 0xE:
        kind = "MULTICAST"
    else:
        kind = "UNICAST"
    return 1 << ADDRESS_TYPES.index(kind)


def addrtype(options: Any, packet: Packet, ctx: Context) -> bool:
    if options.source and bool(_address_types(ctx, packet.src) & options.source) == (
            options.source_invert):
        return False
    return not options.destination or bool(
        _address_types(ctx, packet.dst) & options.destination) != options.destination_invert


def _state_bits(ctx: Context) -> int:
    bits = 1 << CTSTATE_NAMES.index(ctx.conn.state)
    for name in ("SNAT", "DNAT"):
        if name in ctx.conn.status:
            bits |= 1 << CTSTATE_NAMES.index(name)
    return bits


def state(options: Any, packet: Packet, ctx: Context) -> bool:
    return bool(_state_bits(ctx) & options.states) != options.invert


def conntrack(options: Any, packet: Packet, ctx: Context) -> bool:
    if options.state is not None and bool(_state_bits(ctx) & options.state) == (
            options.state_invert):
        return False
    unsupported = ("proto", "origsrc", "origdst", "replsrc", "repldst", "origsrcport",
                   "origdstport", "replsrcport", "repldstport", "status", "expire", "direction")
    if any(getattr(options, name) is not None for name in unsupported):
        raise UnsupportedExtension("the model knows only --ctstate of the conntrack match")
    return True


def statistic(options: Any, packet: Packet, ctx: Context) -> bool:
    if options.mode == "random":
        # xt_statistic: (get_random_u32() & 0x7FFFFFFF) < probability
        hit = (ctx.rng.getrandbits(32) & (PROBABILITY_SCALE - 1)) < options.probability
    else:
        key = id(options)
        count = ctx.nth.get(key, options.packet)
        count = 0 if count >= options.every else count + 1
        ctx.nth[key] = count
        hit = count == 0
    return hit != options.invert


def recent(options: Any, packet: Packet, ctx: Context) -> bool:
    """xt_recent: per-name tables of addresses with the times they were seen."""
    address = (packet.dst if options.dest else packet.src) & options.mask
    table = ctx.recent.setdefault(options.name, {})
    if options.command == "set":
        table.setdefault(address, []).append(ctx.now)
        return not options.invert
    stamps = table.get(address)
    hit = stamps is not None
    if hit and options.command == "remove":
        del table[address]
        return not options.invert
    if hit and (options.seconds or options.hitcount):
        recent_stamps = [stamp for stamp in stamps
                         if not options.seconds or ctx.now - stamp <= options.seconds]
        hit = len(recent_stamps) >= max(options.hitcount, 1)
        if options.reap and options.seconds:
            stamps[:] = [stamp for stamp in stamps if ctx.now - stamp <= options.seconds]
    result = hit != options.invert
    if stamps is not None and options.command == "update" and result:
        stamps.append(ctx.now)
    return result


def length(options: Any, packet: Packet, ctx: Context) -> bool:
    return (options.low <= packet.length <= options.high) != options.invert


def iprange(options: Any, packet: Packet, ctx: Context) -> bool:
    for bounds, address in ((options.source, packet.src), (options.destination, packet.dst)):
        if bounds is not None and (bounds.low <= address <= bounds.high) == bounds.invert:
            return False
    return True


def ttl(options: Any, packet: Packet, ctx: Context) -> bool:
    compare = {"ttl-eq": packet.ttl == options.value, "ttl-lt": packet.ttl < options.value,
               "ttl-gt": packet.ttl > options.value}[options.option]
    return compare != options.invert


def tos(options: Any, packet: Packet, ctx: Context) -> bool:
    return ((packet.tos & options.mask) == options.value) != options.invert


def always(options: Any, packet: Packet, ctx: Context) -> bool:
    """comment; nfacct (counts, always matches)."""
    return True


def sctp(options: Any, packet: Packet, ctx: Context) -> bool:
    if options.chunks is not None:
        raise UnsupportedExtension("the model's packets carry no SCTP chunks")
    if packet.protocol != IPPROTO_SCTP or packet.fragment_offset:
        return False
    return (_in_range(packet.sport, options.sport or FULL_RANGE, options.sport_invert)
            and _in_range(packet.dport, options.dport or FULL_RANGE, options.dport_invert))


MATCHERS: dict[str, Callable[[Any, Packet, Context], bool]] = {
    "tcp": tcp, "udp": udp, "icmp": icmp, "multiport": multiport, "mark": mark,
    "connmark": connmark, "addrtype": addrtype, "state": state, "conntrack": conntrack,
    "statistic": statistic, "recent": recent, "length": length, "iprange": iprange, "ttl": ttl,
    "tos": tos, "comment": always, "nfacct": always, "sctp": sctp,
}
