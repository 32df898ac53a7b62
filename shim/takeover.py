"""Taking a node over from the kernel's legacy tables, and handing it back.

``bpftables import`` asks the namespace's agent to move, under the xtables lock (so no
iptables-legacy writer runs in between): the kernel's tables with their counters
(``iptables-legacy-save -c``), its TCP and UDP connections with their NAT and remaining time
(``conntrack -L``, entered into the datapath's table before the rules, so a packet of a known
connection is never taken for a new one), then the rules; only then are the kernel's tables
emptied. ``bpftables export`` is the way back: the rules and counters into the kernel's tables, then
the agent takes its programs off the links and forgets its pins and state.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

from bpf.enforcer import Connection
from bpf.structs import CtTcpState
from iptparse.model import TABLE_BUILTINS
from translator.model.packet import address

# conntrack's TCP state names -> the datapath's tracker states
_TCP_STATES = {state.name.removeprefix("CT_TCP_"): int(state) for state in CtTcpState}
_PROTOCOLS = {"tcp": 6, "udp": 17}
_FIELD = re.compile(r"(\w+)=(\S+)")


def kernel_save() -> str:
    """The kernel's legacy tables as ``iptables-legacy-save -c`` prints them (no comments)."""
    out = subprocess.run(["iptables-legacy-save", "-c"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return "".join(line + "\n" for line in out.splitlines() if not line.startswith("#"))


def saved_tables(text: str) -> list[str]:
    return [line[1:].split()[0] for line in text.splitlines() if line.startswith("*")]


def empty_tables_text(names: list[str]) -> str:
    """Restore input leaving ``names`` with their built-in chains only, policies ACCEPT."""
    lines: list[str] = []
    for name in names:
        lines.append(f"*{name}")
        lines += [f":{chain} ACCEPT [0:0]" for chain in TABLE_BUILTINS[name]]
        lines.append("COMMIT")
    return "".join(line + "\n" for line in lines)


def kernel_restore(text: str, *flags: str) -> None:
    """iptables-legacy-restore, run while the caller holds the xtables lock on its behalf (it
    is pointed at a lock file of its own, or it would wait for us)."""
    with tempfile.TemporaryDirectory(prefix="bpftables-") as folder:
        env = {**os.environ, "XTABLES_LOCKFILE": os.path.join(folder, "xtables.lock")}
        subprocess.run(["iptables-legacy-restore", *flags], input=text, text=True,
                       capture_output=True, check=True, timeout=120, env=env)


def parse_conntrack_line(line: str) -> tuple[Connection, float] | None:
    """One ``conntrack -L`` line (IPv4, TCP or UDP) as a datapath connection and the seconds
    it has left; None for anything else."""
    words = line.split()
    if len(words) < 4 or words[0] not in _PROTOCOLS:
        return None
    protocol = _PROTOCOLS[words[0]]
    seconds = float(words[2])
    tcp_state = _TCP_STATES.get(words[3], 0) if protocol == 6 else 0
    fields = _FIELD.findall(line)
    tuples = [value for key, value in fields if key in ("src", "dst", "sport", "dport")]
    if len(tuples) < 8:
        return None
    original = (protocol, address(tuples[0]), address(tuples[1]), int(tuples[2]),
                int(tuples[3]))
    reply = (protocol, address(tuples[4]), address(tuples[5]), int(tuples[6]),
             int(tuples[7]))
    status = set()
    if "[UNREPLIED]" not in line:
        status.add("SEEN_REPLY")
    if (reply[1], reply[3]) != (original[2], original[4]):
        status.add("DNAT")
    if (reply[2], reply[4]) != (original[1], original[3]):
        status.add("SNAT")
    mark = int(dict(fields).get("mark", "0"))
    return Connection(original, reply, tcp_state, frozenset(status), mark), seconds


def kernel_connections() -> list[tuple[Connection, float]]:
    done = subprocess.run(["conntrack", "-L", "-f", "ipv4"], capture_output=True, text=True,
                          check=False, timeout=120)
    found = []
    for line in done.stdout.splitlines():
        parsed = parse_conntrack_line(line)
        if parsed is not None:
            found.append(parsed)
    return found


def _call(op: str) -> int:
    from shim import client

    try:
        reply = client.call({"op": op})
    except client.AgentUnavailable as error:
        sys.stderr.write(f"bpftables {op}: {error}\n")
        return 1
    if "error" in reply:
        sys.stderr.write(f"bpftables {op}: {reply['error']}\n")
        return 1
    sys.stdout.write(json.dumps(reply, sort_keys=True) + "\n")
    return 0


def import_rules() -> int:
    return _call("import")


def export_rules() -> int:
    return _call("export")
