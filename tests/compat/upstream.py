"""Upstream iptables' extension test lines (``shared/compat/iptables-1.8.9/extensions/*.t``).

Reads the ``.t`` format (see ``shared/compat/README.md``) into cases, and runs one case through
bpftables' parser and printer the way upstream's harness runs it through iptables: append the
rule to a chain of a fresh table, commit (kernel checks), compare the saved line.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from iptparse.edit import TableDraft
from iptparse.errors import IptablesError
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Table
from iptparse.printer import rule_save_text
from iptparse.validate import validate_table

# Where the kernel on this machine disagrees with the .t file, the machine wins (README).
MACHINE_RESULT = {("libxt_recent.t", 7): "OK"}

COMPAT_DIR = (Path(__file__).resolve().parents[3] / "shared" / "compat" / "iptables-1.8.9"
              / "extensions")


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    table: str
    chain: str
    rule: str
    save: str  # expected text after "-A CHAIN "
    result: str  # OK, FAIL or NOMATCH

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.chain}"


def load_cases(directory: Path = COMPAT_DIR) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.t")):
        table, chains = "filter", ["INPUT"]
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.rstrip()
            if not line or line.startswith("#") or line[0] in "@%":
                continue
            if line.startswith(":"):
                chains = line[1:].split(",")
                continue
            if line.startswith("*"):
                table = line[1:]
                continue
            rule, save, result = line.rsplit(";", 2)
            if save == "=":
                save = rule
            for chain in chains:
                cases.append(Case(path.name, number, table, chain, rule, save, result))
    return cases


def run_case(case: Case) -> tuple[bool, str]:
    """Run one case through bpftables: (accepted, saved text after ``-A CHAIN ``)."""
    draft = TableDraft(Table.empty(case.table))
    try:
        # upstream's harness creates no ipsets, so every set name is unknown
        command = parse_command(["-A", case.chain, *shlex.split(case.rule)], case.table,
                                draft.__contains__, ipsets=frozenset())
        apply_command(draft, command)
        table = draft.freeze()
        validate_table(table)
    except IptablesError:
        return False, ""
    lines = [rule_save_text(case.chain, rule) for rule in table.chains[case.chain].rules]
    return True, "\n".join(line[len(f"-A {case.chain} "):] for line in lines)


def expected_result(case: Case) -> str:
    """OK, FAIL or NOMATCH as this machine's iptables-legacy gives it."""
    return MACHINE_RESULT.get((case.file, case.line), case.result)


def saved_text_checked(case: Case) -> bool:
    """Whether the saved form must equal the .t file's (only for OK lines the machine agrees on)."""
    return case.result == "OK" and (case.file, case.line) not in MACHINE_RESULT
