"""Real iptables 1.8.9 (legacy) in a network namespace: the truth bpftables is compared with."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass

TABLES = ("filter", "nat", "mangle", "raw", "security")


@dataclass(frozen=True)
class Outcome:
    """What a command did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


class IptablesCalls:
    """iptables, iptables-restore and iptables-save as calls (by their legacy names) over
    ``run``: real iptables-legacy here, bpftables' drop-in commands in tests/netns/agents.py."""

    def run(self, argv: list[str], stdin: str | None = None) -> Outcome:
        raise NotImplementedError

    def iptables(self, *args: str) -> Outcome:
        return self.run(["iptables-legacy", *args])

    def restore(self, text: str, *flags: str) -> Outcome:
        return self.run(["iptables-legacy-restore", *flags], stdin=text)

    def save(self, table: str | None = None, counters: bool = False) -> str:
        argv = ["iptables-legacy-save"]
        if table:
            argv += ["-t", table]
        if counters:
            argv.append("-c")
        out = self.run(argv).out
        return "".join(line + "\n" for line in out.splitlines() if not line.startswith("#"))


@dataclass(frozen=True)
class LegacyIptables(IptablesCalls):
    """iptables-legacy commands run inside the network namespace ``netns``."""

    netns: str

    def run(self, argv: list[str], stdin: str | None = None) -> Outcome:
        done = subprocess.run(["ip", "netns", "exec", self.netns, *argv], input=stdin,
                              capture_output=True, text=True, timeout=60)
        return Outcome(done.returncode, done.stdout, done.stderr)

    def packet_counters(self) -> Counter:
        """Every rule's and built-in policy's packet count that is not zero, by
        (table, chain, rule number or None for the policy), from ``iptables-legacy-save -c``."""
        from iptparse.grammar.restore import RestoreOptions, Restorer
        from iptparse.model import Ruleset

        saved = Restorer().restore(self.run(["iptables-legacy-save", "-c"]).out, Ruleset(),
                                   RestoreOptions(counters=True))
        counts: Counter = Counter()
        for table in saved.tables.values():
            for chain in table.chains.values():
                for number, rule in enumerate(chain.rules, 1):
                    if rule.counters.packets:
                        counts[(table.name, chain.name, number)] = rule.counters.packets
                if chain.builtin and chain.counters.packets:
                    counts[(table.name, chain.name, None)] = chain.counters.packets
        return counts

    def reset(self) -> None:
        """Empty every table: flush, delete user chains, policies back to ACCEPT, counters 0."""
        text = []
        for table in TABLES:
            from iptparse.model import TABLE_BUILTINS

            text.append(f"*{table}")
            text += [f":{chain} ACCEPT [0:0]" for chain in TABLE_BUILTINS[table]]
            text.append("COMMIT")
        self.restore("\n".join(text) + "\n", "-c")

    def nfacct_add(self, name: str) -> None:
        self.run(["nfacct", "add", name])
