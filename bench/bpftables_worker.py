"""The bpftables side of the side-by-side benchmark, run as its own process (so its RSS is an
agent's): it keeps one rule set for a named network namespace and enforces it there through
the datapath in-process (iptparse Restorer -> Compiler -> ShapeAnalyzer -> Enforcer.apply on
the node's interfaces), as the agent will once the drop-in commands land.

Requests and answers are JSON lines on stdin/stdout:
  {"op": "restore", "text": ..., "noflush": false}  -> {"seconds": s, "compiled": bool}
  {"op": "append", "table": t, "chain": c, "argv": [...]} -> {"seconds": s, "compiled": bool}
  {"op": "stats"}  -> {"rss_bytes": n, "map_bytes": n, "maps": {name: bytes}}
  {"op": "close"}  -> {} (programs detached, pins removed, then the process ends)
An error answers {"error": text}.

Usage: python -m bench.bpftables_worker --netns NAME --interfaces n0=198.18.0.1,n1=198.18.1.1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bpf.bpffs import ensure_bpffs, remove_tree
from bpf.enforcer import Enforcer, Interface, ipv4_of
from bpf.ruledata import Environment
from iptparse.edit import TableDraft
from iptparse.grammar.command import parse_rule_spec
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import Compiler
from translator.shape import ShapeAnalyzer


def _ifindex(netns: str, name: str) -> int:
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show", name], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return int(out.split(":", 1)[0])


def _memlock(fd: int) -> int:
    """What the kernel charges for one BPF map (its fdinfo's memlock)."""
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("memlock:"):
            return int(line.split()[1])
    return 0


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class InProcessAgent:
    """One namespace's rule set and datapath, driven by requests."""

    def __init__(self, netns: str, interfaces: dict[str, str]) -> None:
        ensure_bpffs()
        self.enforcer = Enforcer(netns)
        self.interfaces = [Interface(name, _ifindex(netns, name), ipv4_of(address))
                           for name, address in interfaces.items()]
        self.env = Environment({i.name: i.index for i in self.interfaces})
        self.compiler = Compiler()
        self.analyzer = ShapeAnalyzer()
        self.restorer = Restorer()
        self.ruleset = Ruleset()

    def _apply(self) -> bool:
        plan = self.compiler.compile(self.ruleset)
        report = self.analyzer.analyze(plan)
        local = [i.address for i in self.interfaces if i.address is not None]
        return self.enforcer.apply(plan, report, self.env, self.interfaces, local,
                                   self.compiler.last_changes)

    def restore(self, text: str, noflush: bool) -> bool:
        self.ruleset = self.restorer.restore(text, self.ruleset, RestoreOptions(noflush=noflush))
        return self._apply()

    def append(self, table: str, chain: str, argv: list[str]) -> bool:
        draft = TableDraft(self.ruleset.table(table))
        draft.append(chain, *parse_rule_spec(argv, table))
        self.ruleset = self.ruleset.with_table(draft.freeze())
        return self._apply()

    def stats(self) -> dict[str, Any]:
        maps = {}
        if self.enforcer.datapath is not None:
            maps = {name: _memlock(pinned.fd)
                    for name, pinned in self.enforcer.datapath.maps.items()}
        return {"rss_bytes": _rss_bytes(), "map_bytes": sum(maps.values()), "maps": maps}

    def close(self) -> None:
        pins = self.enforcer.pin_dir
        try:
            if self.enforcer.datapath is not None:
                self.enforcer.detach(self.interfaces)
        finally:
            self.enforcer.close()
            remove_tree(pins)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        start = time.perf_counter()
        if op == "restore":
            compiled = self.restore(request["text"], bool(request.get("noflush")))
        elif op == "append":
            compiled = self.append(request["table"], request["chain"], request["argv"])
        elif op == "stats":
            return self.stats()
        else:
            raise ValueError(f"unknown request {op!r}")
        return {"seconds": time.perf_counter() - start, "compiled": compiled}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True)
    parser.add_argument("--interfaces", required=True, help="NAME=ADDRESS,...")
    args = parser.parse_args(argv)
    interfaces = dict(item.split("=", 1) for item in args.interfaces.split(","))
    agent = InProcessAgent(args.netns, interfaces)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # whatever else prints must not break the answers
    try:
        out.write(json.dumps({"ready": True}) + "\n")
        out.flush()
        for line in sys.stdin:
            request = json.loads(line)
            if request["op"] == "close":
                break
            try:
                answer = agent.handle(request)
            except Exception as error:  # noqa: BLE001 - the caller reports it
                answer = {"error": f"{type(error).__name__}: {error}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()
    finally:
        agent.close()
    out.write(json.dumps({}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
