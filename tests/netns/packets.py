"""Packets between the model's :class:`~translator.model.packet.Packet` and bytes on a veth.

scapy builds and reads the wire form; tests compare headers (protocol, addresses, ports or ICMP
id/type/code) and let a test's server answer what it received.
"""

from __future__ import annotations

import socket

from translator.model.packet import (
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_SYN,
    Packet,
    address,
)


def wire(packet: Packet) -> bytes:
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    layer: object
    if packet.protocol == IPPROTO_TCP:
        layer = TCP(sport=packet.sport, dport=packet.dport, flags=packet.tcp_flags)
    elif packet.protocol == IPPROTO_UDP:
        layer = UDP(sport=packet.sport, dport=packet.dport) / b"x"
    elif packet.embedded is not None:  # an ICMP error quotes a header and 8 bytes
        layer = ICMP(type=packet.icmp_type, code=packet.icmp_code) / wire(packet.embedded)[:28]
    else:
        layer = ICMP(type=packet.icmp_type, id=packet.sport)
    ip = IP(src=socket.inet_ntoa(packet.src.to_bytes(4, "big")),
            dst=socket.inet_ntoa(packet.dst.to_bytes(4, "big")))
    return bytes(ip / layer)


def parsed(raw: bytes) -> Packet:
    from scapy.layers.inet import ICMP, IP

    ip = IP(raw)
    src, dst = address(ip.src), address(ip.dst)
    if ip.proto == IPPROTO_ICMP:
        icmp = ip[ICMP]
        if icmp.type in (3, 4, 5, 11, 12):
            quoted = _quoted(bytes(icmp.payload))
            return Packet(src, dst, IPPROTO_ICMP, icmp_type=icmp.type, icmp_code=icmp.code,
                          embedded=quoted)
        ident = icmp.id if icmp.type in (0, 8) else 0
        return Packet(src, dst, IPPROTO_ICMP, ident, icmp_type=icmp.type, icmp_code=icmp.code)
    if ip.proto in (IPPROTO_TCP, IPPROTO_UDP):
        payload = bytes(ip.payload)
        sport, dport = int.from_bytes(payload[0:2], "big"), int.from_bytes(payload[2:4], "big")
        flags = payload[13] if ip.proto == IPPROTO_TCP and len(payload) > 13 else 0
        return Packet(src, dst, ip.proto, sport, dport, tcp_flags=flags)
    return Packet(src, dst, ip.proto)


def _quoted(raw: bytes) -> Packet | None:
    """The header an ICMP error quotes (IP header and the first 8 bytes after it)."""
    if len(raw) < 28:
        return None
    length = (raw[0] & 0x0F) * 4
    src, dst = int.from_bytes(raw[12:16], "big"), int.from_bytes(raw[16:20], "big")
    protocol = raw[9]
    rest = raw[length:length + 8]
    if protocol in (IPPROTO_TCP, IPPROTO_UDP) and len(rest) >= 4:
        return Packet(src, dst, protocol, int.from_bytes(rest[0:2], "big"),
                      int.from_bytes(rest[2:4], "big"))
    if protocol == IPPROTO_ICMP and len(rest) >= 6:
        return Packet(src, dst, protocol, int.from_bytes(rest[4:6], "big"), icmp_type=rest[0])
    return Packet(src, dst, protocol)


def headers(packet: Packet) -> tuple[int, ...]:
    """What tests compare: protocol, addresses, ports (ICMP: id, type, code), and for an
    ICMP error the quoted packet's own headers."""
    ports = (packet.sport, packet.dport) if packet.protocol != IPPROTO_ICMP else (
        packet.sport, packet.icmp_type, packet.icmp_code)
    quoted = headers(packet.embedded)[:5] if packet.embedded is not None else ()
    return (packet.protocol, packet.src, packet.dst, *ports, *quoted)


def unreachable(packet: Packet) -> Packet:
    """An ICMP port unreachable about ``packet``, from its destination back to its source."""
    return Packet(packet.dst, packet.src, IPPROTO_ICMP, icmp_type=3, icmp_code=3,
                  embedded=packet.with_(in_iface=None, out_iface=None))


def answer(packet: Packet) -> Packet:
    """What the test's server sends back for a packet it received."""
    if packet.protocol == IPPROTO_TCP:
        flags = TCP_SYN | TCP_ACK if packet.tcp_flags & TCP_SYN else TCP_ACK
        return Packet(packet.dst, packet.src, IPPROTO_TCP, packet.dport, packet.sport,
                      tcp_flags=flags)
    if packet.protocol == IPPROTO_ICMP:
        return Packet(packet.dst, packet.src, IPPROTO_ICMP, packet.sport, icmp_type=0)
    return Packet(packet.dst, packet.src, packet.protocol, packet.dport, packet.sport)
