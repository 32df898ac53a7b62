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
    else:
        layer = ICMP(type=packet.icmp_type, id=packet.sport)
    ip = IP(src=socket.inet_ntoa(packet.src.to_bytes(4, "big")),
            dst=socket.inet_ntoa(packet.dst.to_bytes(4, "big")))
    return bytes(ip / layer)


def parsed(raw: bytes) -> Packet:
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    ip = IP(raw)
    src, dst = address(ip.src), address(ip.dst)
    if TCP in ip:
        return Packet(src, dst, IPPROTO_TCP, ip[TCP].sport, ip[TCP].dport,
                      tcp_flags=int(ip[TCP].flags))
    if UDP in ip:
        return Packet(src, dst, IPPROTO_UDP, ip[UDP].sport, ip[UDP].dport)
    if ICMP in ip:
        icmp = ip[ICMP]
        ident = icmp.id if icmp.type in (0, 8) else 0
        return Packet(src, dst, IPPROTO_ICMP, ident, icmp_type=icmp.type, icmp_code=icmp.code)
    return Packet(src, dst, ip.proto)


def headers(packet: Packet) -> tuple[int, ...]:
    ports = (packet.sport, packet.dport) if packet.protocol != IPPROTO_ICMP else (
        packet.sport, packet.icmp_type, packet.icmp_code)
    return (packet.protocol, packet.src, packet.dst, *ports)


def answer(packet: Packet) -> Packet:
    """What the test's server sends back for a packet it received."""
    if packet.protocol == IPPROTO_TCP:
        flags = TCP_SYN | TCP_ACK if packet.tcp_flags & TCP_SYN else TCP_ACK
        return Packet(packet.dst, packet.src, IPPROTO_TCP, packet.dport, packet.sport,
                      tcp_flags=flags)
    if packet.protocol == IPPROTO_ICMP:
        return Packet(packet.dst, packet.src, IPPROTO_ICMP, packet.sport, icmp_type=0)
    return Packet(packet.dst, packet.src, packet.protocol, packet.dport, packet.sport)
