"""Continuous, bounded traffic through a node, and what arrived where.

The client sends three kinds of traffic to services (cluster address, port):

- probes: one UDP datagram per new connection (a raw socket, a fresh source port each time),
  so each one is a new NAT decision and shows which endpoints the rule set offered then;
- streams: long-lived UDP sockets sending numbered datagrams (gaps are lost packets);
- TCP connections, each sending a small message periodically and reading the echo.

Every datagram carries (kind, service, flow, sequence number, send time). The server's
:class:`Sink` receives on every address at one port (IP_PKTINFO says which endpoint address a
datagram reached) and echoes TCP. Clocks: time.monotonic() of this process, on both sides.
"""

from __future__ import annotations

import errno
import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyroute2.netns import create_socket

log = logging.getLogger(__name__)

PROBE, STREAM, TCP = 1, 2, 3
_PAYLOAD = struct.Struct("!BIIId")  # kind, service, flow, sequence, send time
IP_PKTINFO = 8
_PKTINFO = struct.Struct("i4s4s")  # ifindex, local address, header destination
TCP_MESSAGE = 24  # bytes per TCP message (echoed whole; the payload, padded)
PROBE_PORTS = (20000, 60000)  # the probes' source ports, used in turn


@dataclass(frozen=True, slots=True)
class Arrival:
    """A datagram that reached the server: at ``endpoint`` (its destination address)."""

    kind: int
    service: int
    flow: int
    seq: int
    sent: float
    received: float
    endpoint: str
    source: tuple[str, int] = ("", 0)  # as it reached the server (after any SNAT)


@dataclass(frozen=True, slots=True)
class Target:
    """A service as the client addresses it."""

    service: int
    address: str
    port: int


def payload(kind: int, service: int, flow: int, seq: int) -> bytes:
    return _PAYLOAD.pack(kind, service, flow, seq, time.monotonic())


class Sink:
    """The server side, in its own thread: UDP arrivals on ``port`` (every address), and a
    TCP echo service on the same port that notes each connection's endpoint address."""

    def __init__(self, netns: str, port: int, limit: int = 2_000_000) -> None:
        self.limit = limit
        self.arrivals: list[Arrival] = []
        self.tcp_endpoints: dict[int, str] = {}  # TCP flow -> the endpoint address it reached
        self._udp = create_socket(netns, socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._udp.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self._udp.bind(("0.0.0.0", port))
        self._udp.setblocking(False)
        self._tcp = create_socket(netns, socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind(("0.0.0.0", port))
        self._tcp.listen(256)
        self._tcp.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sink", daemon=True)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._udp.close()
        self._tcp.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as chosen:
            chosen.register(self._udp, selectors.EVENT_READ, "udp")
            chosen.register(self._tcp, selectors.EVENT_READ, "listen")
            connections: dict[socket.socket, bytearray] = {}
            try:
                while not self._stop.is_set():
                    for key, _ in chosen.select(0.05):
                        if key.data == "udp":
                            self._read_udp()
                        elif key.data == "listen":
                            self._accept(chosen, connections)
                        else:
                            self._echo(chosen, connections, key.fileobj)  # type: ignore[arg-type]
            finally:
                for conn in connections:
                    conn.close()

    def _read_udp(self) -> None:
        for _ in range(256):  # bounded per wakeup
            try:
                data, ancillary, _, source = self._udp.recvmsg(
                    64, socket.CMSG_SPACE(_PKTINFO.size))
            except BlockingIOError:
                return
            now = time.monotonic()
            if len(data) < _PAYLOAD.size or len(self.arrivals) >= self.limit:
                continue
            endpoint = "?"
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    endpoint = socket.inet_ntoa(_PKTINFO.unpack(value[:_PKTINFO.size])[2])
            kind_, service, flow, seq, sent = _PAYLOAD.unpack(data[:_PAYLOAD.size])
            self.arrivals.append(Arrival(kind_, service, flow, seq, sent, now, endpoint,
                                         source))

    def _accept(self, chosen: selectors.BaseSelector,
                connections: dict[socket.socket, bytearray]) -> None:
        try:
            conn, _ = self._tcp.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        connections[conn] = bytearray()
        chosen.register(conn, selectors.EVENT_READ, "conn")

    def _echo(self, chosen: selectors.BaseSelector, connections: dict[socket.socket, bytearray],
              conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            chosen.unregister(conn)
            connections.pop(conn, None)
            conn.close()
            return
        pending = connections[conn]
        pending.extend(data)
        while len(pending) >= TCP_MESSAGE:
            message = bytes(pending[:TCP_MESSAGE])
            del pending[:TCP_MESSAGE]
            _, _, flow, _, _ = _PAYLOAD.unpack(message[:_PAYLOAD.size])
            self.tcp_endpoints.setdefault(flow, conn.getsockname()[0])
            try:
                conn.sendall(message)
            except OSError:
                pass

    def udp_count(self) -> int:
        return len(self.arrivals)


def probe_packet(source: str, sport: int, target: Target, body: bytes) -> bytes:
    """An IPv4/UDP packet for a raw IP_HDRINCL socket (the kernel fills the IP checksum, total
    length and id; UDP checksum 0: none, which NAT must keep as none)."""
    udp = struct.pack("!HHHH", sport, target.port, 8 + len(body), 0) + body
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP,
                         0, socket.inet_aton(source), socket.inet_aton(target.address))
    return header + udp


class Prober:
    """New UDP connections from ``source`` in the client namespace, one datagram each."""

    def __init__(self, netns: str, source: str) -> None:
        self.source = source
        self.sock = create_socket(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sent: list[tuple[int, int, float]] = []  # (service, flow, send time)
        self.ports: list[int] = []  # each flow's source port
        self._lock = threading.Lock()
        self._port = PROBE_PORTS[0]

    def send(self, target: Target, kind: int = PROBE, again: int | None = None) -> int:
        """A datagram of a new connection (a fresh source port); ``again``: one more of the
        connection of that earlier flow (its source port, the next sequence number). Safe
        from several threads (a test probes while the client's thread does)."""
        with self._lock:
            return self._send(target, kind, again)

    def _send(self, target: Target, kind: int, again: int | None) -> int:
        flow = len(self.sent)
        if again is None:
            sport = self._port
            self._port = sport + 1 if sport + 1 < PROBE_PORTS[1] else PROBE_PORTS[0]
            self.ports.append(sport)
            body = payload(kind, target.service, flow, 0)
        else:
            flow, sport = again, self.ports[again]
            body = payload(kind, target.service, flow, 1)
        try:
            self.sock.sendto(probe_packet(self.source, sport, target, body), (target.address, 0))
        except OSError as error:  # a full queue: counted as sent (and lost)
            if error.errno not in (errno.ENOBUFS, errno.EAGAIN):
                raise
        if again is None:
            self.sent.append((target.service, flow, time.monotonic()))
        return flow

    def close(self) -> None:
        self.sock.close()


@dataclass
class Stream:
    """A long-lived UDP socket to one service."""

    target: Target
    flow: int
    sock: socket.socket
    sent: int = 0

    def send(self) -> None:
        try:
            self.sock.send(payload(STREAM, self.target.service, self.flow, self.sent))
        except OSError:
            pass  # counted as sent: a gap at the receiver
        self.sent += 1


@dataclass
class TcpFlow:
    """A long-lived TCP connection to one service: ``round`` messages sent, ``echoed`` back."""

    target: Target
    flow: int
    sock: socket.socket
    rounds: int = 0
    echoed: int = 0
    buffer: bytearray = field(default_factory=bytearray)
    error: str | None = None
    last_echo: float = 0.0
    worst_wait: float = 0.0  # the longest time a message waited for its echo

    def send(self) -> None:
        if self.error is not None:
            return
        if self.rounds > self.echoed:  # the previous message is still out
            self.worst_wait = max(self.worst_wait, time.monotonic() - self.last_echo)
            return
        try:
            self.sock.send(payload(TCP, self.target.service, self.flow, self.rounds)
                           .ljust(TCP_MESSAGE, b"\0"))
            self.rounds += 1
        except OSError as error:
            self.error = f"send: {error}"

    def read(self) -> None:
        if self.error is not None:
            return
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as error:
            self.error = f"recv: {error}"
            return
        if not data:
            self.error = "closed by the peer"
            return
        self.buffer.extend(data)
        while len(self.buffer) >= TCP_MESSAGE:
            del self.buffer[:TCP_MESSAGE]
            self.echoed += 1
            self.last_echo = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.error is None


class Client:
    """The client side: streams and TCP flows opened up front, probes on demand; ``run`` sends
    in its own thread until stopped (or ``max_seconds``)."""

    def __init__(self, netns: str, source: str) -> None:
        self.netns = netns
        self.prober = Prober(netns, source)
        self.streams: list[Stream] = []
        self.tcp: list[TcpFlow] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open_stream(self, target: Target) -> Stream:
        sock = create_socket(self.netns, socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect((target.address, target.port))
        stream = Stream(target, 1_000_000 + len(self.streams), sock)
        self.streams.append(stream)
        return stream

    def open_tcp(self, target: Target, timeout: float = 5.0) -> TcpFlow:
        sock = create_socket(self.netns, socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((target.address, target.port))
        sock.setblocking(False)  # (a timeout would make every read wait for data)
        flow = TcpFlow(target, 2_000_000 + len(self.tcp), sock, last_echo=time.monotonic())
        self.tcp.append(flow)
        flow.send()
        deadline = time.monotonic() + timeout
        while flow.echoed < 1 and flow.alive and time.monotonic() < deadline:
            time.sleep(0.005)
            flow.read()
        return flow

    def start(self, probe_targets: Callable[[], Sequence[Target]], probes_per_s: float,
              stream_per_s: float, tcp_per_s: float, max_seconds: float,
              seed: int = 1, probe_limit: int | None = None) -> None:
        """Send until :meth:`stop`: probes to a random one of ``probe_targets()`` (asked each
        time: the test may change it; with ``probe_limit``, to each in turn and no more than
        that many), each stream and each TCP flow at its rate."""
        self._thread = threading.Thread(
            target=self._run, args=(probe_targets, probes_per_s, stream_per_s, tcp_per_s,
                                    max_seconds, random.Random(seed), probe_limit),
            name="client", daemon=True)
        self._thread.start()

    def _run(self, probe_targets: Callable[[], Sequence[Target]], probes_per_s: float,
             stream_per_s: float, tcp_per_s: float, max_seconds: float,
             chance: random.Random, probe_limit: int | None) -> None:
        tick = 0.005
        start = time.monotonic()
        next_probe = next_stream = next_tcp = start
        while not self._stop.is_set() and time.monotonic() - start < max_seconds:
            now = time.monotonic()
            for flow in self.tcp:
                flow.read()
            if probes_per_s and now >= next_probe:
                targets = probe_targets()
                # catch up after a stall, a bounded number at a time
                due = min(64, int((now - next_probe) * probes_per_s) + 1)
                if probe_limit is not None:
                    due = min(due, probe_limit - len(self.prober.sent))
                for _ in range(due if targets else 0):
                    self.prober.send(targets[len(self.prober.sent) % len(targets)]
                                     if probe_limit is not None else chance.choice(targets))
                next_probe = max(next_probe + due / probes_per_s, now - 0.1)
            if stream_per_s and now >= next_stream:
                for stream in self.streams:
                    stream.send()
                next_stream = max(next_stream + 1 / stream_per_s, now - 0.1)
            if tcp_per_s and now >= next_tcp:
                for flow in self.tcp:
                    flow.send()
                next_tcp = max(next_tcp + 1 / tcp_per_s, now - 0.1)
            time.sleep(tick)

    @property
    def sending(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        deadline = time.monotonic() + 2  # the last echoes
        while time.monotonic() < deadline and any(
                flow.alive and flow.echoed < flow.rounds for flow in self.tcp):
            for flow in self.tcp:
                flow.read()
            time.sleep(0.01)

    def close(self) -> None:
        self.stop()
        self.prober.close()
        for stream in self.streams:
            stream.sock.close()
        for flow in self.tcp:
            flow.sock.close()


def stream_gaps(streams: Sequence[Stream], arrivals: Sequence[Arrival]) -> dict[int, int]:
    """Per stream flow: how many of its numbered datagrams never arrived."""
    seen: dict[int, set[int]] = {stream.flow: set() for stream in streams}
    for arrival in arrivals:
        if arrival.kind == STREAM and arrival.flow in seen:
            seen[arrival.flow].add(arrival.seq)
    return {stream.flow: stream.sent - len(seen[stream.flow]) for stream in streams}
