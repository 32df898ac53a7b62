"""What each target does (the kernel's ``xt_*`` target functions), for the reference model.

One function per extension, ``(options, packet, ctx) -> TargetOutcome``, registered in
:data:`TARGETS`. Non-terminal targets return CONTINUE with the packet (or connection) changed;
NAT targets return ACCEPT with the :class:`~translator.model.nat.NatRange` to bind; REJECT
returns DROP with the answer the kernel sends back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from iptparse.extensions.connmark import MODE_RESTORE, MODE_SAVE, MODE_SET, SHIFT_RIGHT
from translator.model.nat import NatRange
from translator.model.packet import Packet
from translator.model.semantics import Context, TargetOutcome, UnsupportedExtension

LOOPBACK = 0x7F000001
UINT32_MAX = 0xFFFFFFFF


def continue_with(packet: Packet) -> TargetOutcome:
    return TargetOutcome("CONTINUE", packet)


def mark(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    return continue_with(packet.with_(mark=(packet.mark & ~options.mask & UINT32_MAX)
                                      ^ options.mark))


def _shift(value: int, options: Any) -> int:
    if options.shift_dir == SHIFT_RIGHT:
        return value >> options.shift_bits
    return (value << options.shift_bits) & UINT32_MAX


def connmark(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    conn = ctx.conn
    if not conn.has_conntrack:  # no entry to set, save to or restore from: nothing happens
        return continue_with(packet)
    if options.mode == MODE_SET:
        conn.mark = (conn.mark & ~options.ctmask & UINT32_MAX) ^ options.ctmark
    elif options.mode == MODE_SAVE:
        moved = _shift(packet.mark & options.nfmask, options)
        conn.mark = (conn.mark & ~options.ctmask & UINT32_MAX) ^ (moved & options.ctmask)
    elif options.mode == MODE_RESTORE:
        moved = _shift(conn.mark & options.ctmask, options)
        packet = packet.with_(mark=(packet.mark & ~options.nfmask & UINT32_MAX)
                              ^ (moved & options.nfmask))
    return continue_with(packet)


def log(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    ctx.logged.append(packet)
    return continue_with(packet)


def notrack(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    ctx.conn.untracked = True
    return continue_with(packet)


def ct(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    if not options.notrack:
        raise UnsupportedExtension("the model knows only CT --notrack")
    return notrack(options, packet, ctx)


def reject(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    return TargetOutcome("DROP", packet, reply=options.reject_with)


def _range(kind: str, to: Any, address: int) -> NatRange:
    """The target's range; without addresses the packet's own address is kept."""
    low, high = to.ips if to.ips is not None else (address, address)
    ports = to.ports if to.ports is not None else (None, None)
    return NatRange(kind, low, high, ports[0], ports[1])


def dnat(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    nat = _range("DNAT", options.to, packet.dst)
    return TargetOutcome("ACCEPT", packet, nat=nat_flags(nat, options))


def snat(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    nat = _range("SNAT", options.to, packet.src)
    return TargetOutcome("ACCEPT", packet, nat=nat_flags(nat, options))


def masquerade(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    address = ctx.host.interface_addresses.get(packet.out_iface or "")
    if address is None:
        return TargetOutcome("DROP", packet)  # no address to hide behind: the kernel drops
    ports = options.ports.ports if options.ports is not None else None
    nat = NatRange("SNAT", address, address, *(ports or (None, None)))
    return TargetOutcome("ACCEPT", packet, nat=nat_flags(nat, options))


def redirect(options: Any, packet: Packet, ctx: Context) -> TargetOutcome:
    if ctx.hook == "OUTPUT":
        address: int | None = LOOPBACK
    else:
        address = ctx.host.interface_addresses.get(packet.in_iface or "")
    if address is None:
        return TargetOutcome("DROP", packet)
    ports = options.ports.ports if options.ports is not None else None
    nat = NatRange("DNAT", address, address, *(ports or (None, None)))
    return TargetOutcome("ACCEPT", packet, nat=nat_flags(nat, options))


def nat_flags(nat: NatRange, options: Any) -> NatRange:
    return replace(nat, random=getattr(options, "random", False),
                   random_fully=getattr(options, "random_fully", False),
                   persistent=getattr(options, "persistent", False))


TARGETS: dict[str, Callable[[Any, Packet, Context], TargetOutcome]] = {
    "MARK": mark, "CONNMARK": connmark, "LOG": log, "NOTRACK": notrack, "CT": ct,
    "REJECT": reject, "DNAT": dnat, "SNAT": snat, "MASQUERADE": masquerade,
    "REDIRECT": redirect,
}
