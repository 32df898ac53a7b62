"""Differential: iptables command lines (core options) through real iptables-legacy and bpftables.

Each argv is run by real ``iptables-legacy`` in a namespace and parsed + applied by bpftables
on the same (empty) filter table: exit code, stderr and the resulting ``-S`` must agree.
"""

from __future__ import annotations

import shlex

import pytest

from iptparse.edit import TableDraft
from iptparse.errors import IptablesError, error_text
from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import apply_command
from iptparse.model import Table
from iptparse.printer import list_rules_lines
from iptparse.validate import validate_table
from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns

ARGVS = [
    "-A INPUT -s 1.2.3.400", "-A INPUT -s 1.2.3.4/33", "-A INPUT -s 1.2.3.4/255.0.0.1",
    "-A INPUT -s localhost", "-A INPUT -s 10.0.0.1/0", "-A INPUT -d 1.2.3", "-A INPUT -s ''",
    "-A INPUT -p foo", "-A INPUT -p TCP", "-A INPUT -p 300", "-A INPUT -p 0", "-A INPUT ! -p all",
    "-A INPUT -i thisinterfaceistoolong0", "-A INPUT -i eth0 -i eth1",
    "-A INPUT -s 1.1.1.1 -s 2.2.2.2", "-A INPUT ! -s 1.1.1.1,2.2.2.2",
    "-A INPUT -s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.4 -j ACCEPT",
    "-A INPUT --src 1.1.1.1 --dst 2.2.2.2 --proto udp", "-A INPUT -p udp -j ACCEPT -j DROP",
    "-A INPUT -j", "-A INPUT -f -f", "-A INPUT ! -f", "-A INPUT -p tcp --dport 1 ! ! -s 1.1.1.1",
    "-A INPUT foo", "-A INPUT ! -j ACCEPT", "-A INPUT -g ACCEPT", "-A INPUT -j nonexist",
    "-A INPUT ! -m tcp", "-A INPUT -m nonexist", "-L -s 1.1.1.1", "-A INPUT -nvx",
    "-A INPUT -p tcp -y", "-S INPUT 1 2", "-R INPUT", "-E INPUT", "-P INPUT", "-N DNAT", "-N -x",
    "-N aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "-A INPUT -j aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "-A INPUT -j 'a b'", "-A INPUT -j ''", "-A INPUT -c 1 2", "-A INPUT -c x 2", "-A INPUT -c 1",
    "-A INPUT !", "-A INPUT -s 1.1.1.1 !", "-I INPUT 0", "-I INPUT x", "-I INPUT 2 -j DROP",
    "-A OUTPUT -i eth0", "-A INPUT -o eth0", "-A FORWARD -i eth0 -o eth1 -j ACCEPT",
    "-A INPUT -p tcp -j REJECT", "-D INPUT -s 9.9.9.9", "-D INPUT 3", "-X INPUT", "-X NOPE",
    "-F NOPE", "-P INPUT FOO", "-P INPUT DROP", "-N A", "-E NOPE X", "-A NOPE", "-Z NOPE",
    "-A INPUT -j INPUT", "-A INPUT -p 6 -m tcp --dport 22", "-A INPUT --dst=1.2.3.4",
    "-A INPUT --in-int eth0", "-A INPUT --s 1.2.3.4", "-A INPUT -L", "-A INPUT -4",
    "-A INPUT -g X -j DROP", "-A INPUT -j DROP -g INPUT", "-A INPUT -V", "-V -A INPUT",
    # nat refuses DROP before anything else is checked
    "-t nat -P PREROUTING DROP", "-t nat -A PREROUTING -o x -j DROP", "-t nat -A FOO -j DROP",
    "-t nat -A PREROUTING -g DROP", "-t nat -P PREROUTING DROP -s 1.2.3.4",
    "-t nat -A PREROUTING -m comment -j DROP", "-t nat -A PREROUTING -j DROP !",
    "-t nat -N X -j DROP", "-t nat -j DROP", "-t nat -A PREROUTING -j DROP -g X",
    "-t nat -A PREROUTING -p tcp -j DNAT --to-destination 198.18.1.1:80",
]


def ours(argv: list[str]) -> tuple[int, str, list[str]]:
    name = argv[1] if argv[:1] == ["-t"] else "filter"
    draft = TableDraft(Table.empty(name))
    try:
        command = parse_command(argv, "filter", draft.__contains__)
        apply_command(draft, command)
        table = draft.freeze()
        validate_table(table)
    except IptablesError as error:
        return error.exit_code, error_text(error), list_rules_lines(Table.empty(name))
    return 0, "".join(w + "\n" for w in command.warnings), list_rules_lines(table)


@pytest.mark.parametrize("line", ARGVS)
def test_command_line_like_iptables(oracle_session: LegacyIptables, line: str) -> None:
    oracle_session.reset()
    argv = shlex.split(line)
    real = oracle_session.iptables(*argv)
    code, err, rules = ours(argv)
    if argv[0] in ("-L", "-S"):
        real_rules = rules
    else:
        table = argv[:2] if argv[:1] == ["-t"] else []
        real_rules = oracle_session.iptables(*table, "-S").out.splitlines()
    assert (code, err) == (real.code, real.err)
    assert rules == real_rules
