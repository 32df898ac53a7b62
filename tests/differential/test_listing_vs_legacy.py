"""Differential: -L and -S listings of the same rules from real iptables-legacy and bpftables."""

from __future__ import annotations

import shlex

import pytest

from iptparse.grammar.command import parse_command
from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from iptparse.printer import list_rules_lines, listing_lines
from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns

RULES = """*filter
:INPUT ACCEPT [10:2000]
:FORWARD DROP [123456:987654321]
:KUBE-SERVICES - [0:0]
:user - [0:0]
[5:300] -A INPUT -s 198.18.0.0/15 ! -d 198.18.0.1/32 -i eth0 -j KUBE-SERVICES
[100000:99999999] -A INPUT ! -p tcp -f -j DROP
-A INPUT ! -f -p 47 -j ACCEPT
-A INPUT -d 1.2.3.4/255.0.255.0 -g user
-A INPUT -s 127.0.0.1 -m comment --comment "a comment"
-A FORWARD ! -i veth+ -o cni0 -j user
-A FORWARD -p udp
-A user -j RETURN
COMMIT
"""

LISTINGS = ["-L", "-L -n", "-L -nv", "-L -nvx --line-numbers", "-L INPUT 2 -n", "-L user -n",
            "-L -v", "-L INPUT --line-numbers -n", "-S", "-S INPUT 2", "-S -v", "-S user",
            "-L FORWARD -vn", "-L INPUT -x -v -n"]


def ours(ruleset: Ruleset, argv: list[str]) -> str:
    command = parse_command(argv)
    table = ruleset.table(command.table)
    if command.action == "S":
        lines = list_rules_lines(table, command.chain, command.rulenum, command.verbose > 0)
    else:
        lines = listing_lines(table, command.chain, command.rulenum, command.numeric,
                              command.verbose > 0, command.exact, command.line_numbers)
    return "".join(line + "\n" for line in lines)


@pytest.mark.parametrize("line", LISTINGS)
def test_listing_like_iptables(oracle_session: LegacyIptables, line: str) -> None:
    oracle_session.reset()
    assert oracle_session.restore(RULES, "--counters").code == 0
    ruleset = Restorer().restore(RULES, Ruleset(), RestoreOptions(counters=True))
    argv = shlex.split(line)
    real = oracle_session.iptables(*argv)
    assert real.code == 0, real.err
    assert ours(ruleset, argv) == real.out
