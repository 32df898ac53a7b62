"""The commands' side of the agent: reach this namespace's agent, starting it when it is not there.

Imports only the standard library and shim.protocol, so ``iptables -C`` costs a Python start, one
connection and the agent's work, never a bcc import.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import TYPE_CHECKING

from shim.protocol import (
    AGENT_SOCKET,
    MessageTooLarge,
    encode_message,
    max_request,
    receive_message,
)

if TYPE_CHECKING:
    from typing import BinaryIO

# How long a command waits for an agent it started to listen (it binds its socket before
# loading anything heavy, so this is mostly Python's start).
AGENT_START_TIMEOUT = 30.0


class AgentUnavailable(Exception):
    """No agent answers in this namespace (and none could be started)."""


def _connect_once() -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(AGENT_SOCKET)
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        return None
    return sock


def connect(start: bool = True) -> socket.socket:
    """A connection to the namespace's agent; started first when ``start`` and none listens."""
    sock = _connect_once()
    if sock is not None or not start:
        if sock is None:
            raise AgentUnavailable("no bpftables agent runs in this network namespace")
        return sock
    import subprocess  # only here: the commands' common path never needs it

    # detached from this command: its own session, no inherited pipes (a caller capturing
    # our output must see EOF when we exit)
    process = subprocess.Popen(
        [sys.executable, "-m", "shim.agent"], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        close_fds=True)
    deadline = time.monotonic() + AGENT_START_TIMEOUT
    while time.monotonic() < deadline:
        sock = _connect_once()
        if sock is not None:
            return sock
        if process.poll() not in (None, 0):
            # it exits 0 when another agent won the race for the socket
            raise AgentUnavailable(f"the bpftables agent exited with {process.returncode}; "
                                   "see its log in the namespace's state folder")
        time.sleep(0.01)
    raise AgentUnavailable("the bpftables agent did not start listening in time")


def call(message: dict[str, object], start: bool = True) -> dict[str, object]:
    """Send one request to the agent and return its reply. MessageTooLarge, before anything
    is sent (or an agent started), when the agent would refuse it for its size."""
    data = encode_message(message, max_request())
    with connect(start) as sock:
        sock.sendall(data)
        return receive_message(sock)


def read_input(stream: BinaryIO, limit: int | None = None) -> str:
    """Standard input for a request, at most the agent's request limit (MessageTooLarge
    beyond it: an endless or huge input is refused, never buffered without bound)."""
    limit = max_request() if limit is None else limit
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise MessageTooLarge(f"more than {limit} bytes of input, limit {limit}")
    return data.decode("utf-8", "surrogateescape")


def is_root() -> bool:
    return os.geteuid() == 0
