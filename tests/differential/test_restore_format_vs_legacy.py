"""Differential: restore-format edge cases through iptables-legacy-restore and `bpftables parse`."""

from __future__ import annotations

import pytest

from tests.differential.test_parse_vs_legacy import check_same
from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns

F = "*filter\n{}\nCOMMIT\n"

CASES = [
    F.format('-A INPUT -m comment --comment "a\\"b"'),
    F.format('-A INPUT -m comment --comment "it\'s"'),
    F.format('-A INPUT -m comment --comment "a b"c'),
    F.format('-A INPUT -m comment --comment ab"cd ef"'),
    F.format('-A INPUT -m comment --comment "\\\\"'),
    F.format('-A INPUT -m comment --comment "#not a comment"'),
    F.format("-A INPUT -m comment --comment a\\b"),
    F.format('-A INPUT -m comment --comment ""'),
    F.format("-A INPUT\t-s\t198.18.0.1  -j   ACCEPT  "),
    F.format("# a comment\n\n-A INPUT -j DROP"),
    F.format("-A INPUT -t filter -j DROP"),
    F.format("-A INPUT -j ACCEPT -t"),
    F.format("-A INPUT --table filter"),
    F.format("[1:2] -A INPUT -j DROP"),
    F.format("[1:2 -A INPUT -j DROP"),
    F.format("[12] -A INPUT -j DROP"),
    F.format(":INPUT DROP [1:2]\n:FOO - [0:0]\n-A FOO -j RETURN\n-A INPUT -j FOO"),
    F.format(":FOO ACCEPT [0:0]"),
    F.format(":INPUT BOGUS [0:0]"),
    F.format(":INPUT"),
    F.format(":FOO - [0:0]\n:FOO - [0:0]"),
    F.format(":aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa - [0:0]"),
    F.format("-A INPUT -j NOPE"),
    F.format("-A NOPE -j ACCEPT"),
    F.format(":A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\n-A INPUT -j A"),
    F.format(":A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A"),
    F.format(":A - [0:0]\n-X A"),
    F.format(":A - [0:0]\n-A INPUT -j A\n-X A"),
    F.format("-N A\n-A A -j ACCEPT\n-F A\n-X A"),
    F.format("-P INPUT DROP\n-I INPUT -j ACCEPT\n-I INPUT 2 -j DROP\n-R INPUT 1 -j RETURN"),
    F.format("-D INPUT 1"),
    F.format("-A INPUT -j ACCEPT\n-D INPUT -j ACCEPT\n-A INPUT -j DROP\n-Z"),
    "*filter\n-A INPUT -j ACCEPT\n",
    "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A BOGUS\nCOMMIT\n",
    "*bogus\nCOMMIT\n",
    "*\nCOMMIT\n",
    "COMMIT\n",
    "-A INPUT -j ACCEPT\n",
    "*filter\n*nat\nCOMMIT\n",
    "*nat\n:PREROUTING DROP [0:0]\nCOMMIT\n",
    "*raw\n-A PREROUTING -s 198.18.0.1\nCOMMIT\n*mangle\n-A FORWARD -o eth0\nCOMMIT\n",
    "*filter\n-A INPUT -w -j ACCEPT\nCOMMIT\n",
    "*filter\n-A INPUT -s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.4\nCOMMIT\n",
    "*filter\n-A INPUT -4 -j ACCEPT\nCOMMIT\n",
    "*filter\n-A INPUT -6 -j ACCEPT\nCOMMIT\n",
    "*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT",
]


@pytest.mark.parametrize("text", CASES)
def test_restore_input_like_iptables(oracle_session: LegacyIptables, text: str) -> None:
    check_same(oracle_session, text)
