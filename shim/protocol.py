"""How the thin commands talk to their namespace's agent: one request, one reply, per connection.

The agent listens on an abstract unix socket. Abstract names belong to a network namespace, so
every namespace has its own agent under the same name and a command always reaches the agent
of the namespace it runs in. A message is a 4-byte big-endian length and that many bytes of
UTF-8 JSON. Nothing here may import more than the standard library: the commands start fast.
"""

from __future__ import annotations

import json
import os
import socket
import struct

AGENT_SOCKET = "\0bpftables-agent"
# The largest request the agent reads. kube-proxy's full restore of 50,000 services with 3
# endpoints is some 120 MB; anything beyond this is refused before it is buffered.
MAX_REQUEST_DEFAULT = 256 << 20
_LENGTH = struct.Struct(">I")


class MessageTooLarge(Exception):
    """The peer announced more bytes than the limit allows."""


def max_request() -> int:
    return int(os.environ.get("BPFTABLES_MAX_REQUEST", MAX_REQUEST_DEFAULT))


def encode_message(message: dict[str, object], limit: int | None = None) -> bytes:
    """One message as it goes on the wire; MessageTooLarge when it exceeds ``limit``."""
    data = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogateescape")
    if limit is not None and len(data) > limit:
        raise MessageTooLarge(f"{len(data)} bytes, limit {limit}")
    return _LENGTH.pack(len(data)) + data


def send_message(sock: socket.socket, message: dict[str, object]) -> None:
    sock.sendall(encode_message(message))


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("the peer closed the connection mid-message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive_message(sock: socket.socket, limit: int | None = None) -> dict[str, object]:
    """One message; MessageTooLarge (nothing read beyond the length) when it exceeds ``limit``."""
    (size,) = _LENGTH.unpack(_receive_exactly(sock, _LENGTH.size))
    if limit is not None and size > limit:
        raise MessageTooLarge(f"{size} bytes, limit {limit}")
    message = json.loads(_receive_exactly(sock, size).decode("utf-8", "surrogateescape"))
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message
