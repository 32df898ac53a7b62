"""Hypothesis strategies for bad (and good) input to the commands: argv, restore text, extension
options. Built from the words iptables really uses, mixed with garbage, unicode and overlong
values, so that most examples get deep into the parser before something is wrong.

Shared by tests/unit/test_bad_input.py (in process), tests/differential/test_bad_input_vs_legacy.py
(exit codes against iptables-legacy) and tests/netns/test_bad_input_agent.py (through the agent).
"""

from __future__ import annotations

import os
import re
from functools import cache

from hypothesis import strategies as st

from iptparse.extensions import MATCHES, TARGETS, find_match, find_target
from iptparse.model import TABLE_BUILTINS, Ruleset, Table
from iptparse.printer import table_save_lines

TABLES = ("filter", "nat", "mangle", "raw", "security")
BUILTIN_CHAINS = ("INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING")
USER_CHAINS = ("FOO", "KUBE-SERVICES", "KUBE-SVC-X", "BAR")
CHAINS = BUILTIN_CHAINS + USER_CHAINS

# What a fuzz run may contain: printable text and a few characters parsers trip over. No NUL
# in argv (an OS argv cannot hold one); stdin may.
_ODD_CHARACTERS = "\t \"'\\!#-:/,.[]*=\u00e9\u2603\U0001f600\u200b\x7f"


@cache
def garbage_word(allow_nul: bool = False) -> st.SearchStrategy[str]:
    alphabet = st.characters(codec="utf-8", exclude_characters="" if allow_nul else "\x00",
                             exclude_categories=("Cs",))
    return st.one_of(
        st.text(alphabet=alphabet, max_size=12),
        st.text(alphabet=_ODD_CHARACTERS, min_size=1, max_size=6),
        st.sampled_from(["", "-", "--", "!", "!!", "-!", "--!", "-1", "0x", "4294967296",
                         "99999999999999999999", "1e9", "nan", "-0", " ", "\\", "\"", "'",
                         "/32", "1.2.3.4/33", "300.1.1.1", "::1", "0/0", "-j", "-m", "--dport"]),
        st.integers(min_value=200, max_value=3000).map(lambda n: "x" * n),  # overlong
    )


VALUE_WORDS = (
    "0", "1", "7", "80", "65535", "65536", "70000", "1:1024", "1024:1", ":", "80:", ":80",
    "http", "domain", "nosuchservice", "0x10", "0x10/0xff", "0xffffffff", "0x100000000",
    "1/2", "10/second", "5/min", "3/hour", "1/day", "198.18.0.1", "198.18.0.0/15",
    "198.18.0.1-198.18.0.9", "198.18.0.9-198.18.0.1", "198.18.0.1:80", "198.18.0.1:80-90",
    "198.18.0.1-198.18.0.2:1000-2000", "eth0", "veth+", "lo", "NEW", "NEW,ESTABLISHED",
    "INVALID,UNTRACKED,RELATED", "SNAT,DNAT", "EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED",
    "ORIGINAL", "REPLY", "LOCAL", "UNICAST", "BLACKHOLE", "broadcast", "multicast", "host",
    "random", "nth", "0.5", "0.00000000001", "1.5", "-0.1", "echo-request", "8/0", "255",
    "any", "tcp-reset", "icmp-port-unreachable", "icmp-admin-prohibited", "SYN,ACK", "SYN",
    "ALL", "NONE", "FIN,SYN,RST,PSH,ACK,URG", "ALL,FOO", "DATA,INIT", "DATA:B", "4",
    "KUBE-MARK-MASQ", "a comment", "x" * 256, "src", "dst", "src,dst", "myset", "1000-2000",
    "3", "info", "warning", "8", "prefix: ", "tcp", "udp", "icmp", "all", "sctp", "0x1/0x1",
)


@cache
def value_word() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(VALUE_WORDS), garbage_word())


@cache
def _extension_words(kind: str, name: str) -> st.SearchStrategy[list[str]]:
    """``-m NAME`` / ``-j NAME`` then some of its options (maybe inverted, maybe missing a
    value, maybe repeated), and the protocol it needs before it, sometimes."""
    extension = find_match(name) if kind == "match" else find_target(name)
    assert extension is not None
    options = [option.name for option in extension.options] or ["nosuchoption"]

    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        words: list[str] = []
        if draw(st.booleans()):
            words += ["-p", draw(st.sampled_from(["tcp", "udp", "icmp", "sctp", "all", "6"]))]
        words += ["-m" if kind == "match" else "-j", name]
        for _ in range(draw(st.integers(0, 4))):
            option = draw(st.sampled_from(options))
            if draw(st.integers(0, 5)) == 0:
                words.append("!")
            words.append("--" + option)
            for _ in range(draw(st.integers(0, 2))):
                words.append(draw(value_word()))
        return words

    return build()


@cache
def extension_words() -> st.SearchStrategy[list[str]]:
    pairs = [("match", name) for name in MATCHES] + [("target", name) for name in TARGETS]
    return st.one_of(*(_extension_words(kind, name) for kind, name in pairs))


_COMMANDS = ("-A", "-I", "-D", "-R", "-C", "-N", "-X", "-F", "-Z", "-L", "-S", "-P", "-E",
             "--append", "--insert", "--delete", "--replace", "--check", "--new-chain",
             "--delete-chain", "--flush", "--zero", "--list", "--list-rules", "--policy",
             "--rename-chain", "-V", "-h")
_RULE_OPTIONS = (
    ("-p", "tcp"), ("-p", "udp"), ("-p", "icmp"), ("-p", "nosuchproto"), ("-s", "198.18.0.1"),
    ("-d", "198.18.0.0/24"), ("-s", "198.18.0.1,198.18.0.2"), ("-i", "veth0"), ("-o", "eth+"),
    ("-j", "ACCEPT"), ("-j", "DROP"), ("-j", "RETURN"), ("-j", "FOO"), ("-j", "NOPE"),
    ("-g", "FOO"), ("-j", "DNAT"), ("-c", "1"), ("-w", "1"), ("-W", "100"), ("--wait", "0"),
    ("-t", "nat"), ("-t", "mangle"), ("-t", "raw"), ("-t", "bogus"), ("--dport", "80"),
    ("-m", "tcp"), ("-m", "nosuchmatch"), ("--comment", "x"), ("--to-destination", "1.2.3.4"),
)
_FLAGS = ("-f", "-v", "-vv", "-n", "-x", "--line-numbers", "--numeric", "--exact", "!", "-4",
          "-6", "--verbose", "--modprobe=/bin/false", "--set-counters", "-w")


@st.composite
def iptables_argv(draw: st.DrawFn) -> list[str]:
    """An ``iptables`` argv: mostly well-formed words in random order with some garbage."""
    words: list[str] = []
    if draw(st.booleans()):
        words += ["-t", draw(st.sampled_from(TABLES + ("bogus",)))]
    words.append(draw(st.sampled_from(_COMMANDS)))
    if draw(st.integers(0, 5)):
        words.append(draw(st.sampled_from(CHAINS)))
    if draw(st.booleans()):
        words.append(draw(st.sampled_from(["1", "2", "0", "-1", "ACCEPT", "DROP", "NEW"])))
    for _ in range(draw(st.integers(0, 6))):
        choice = draw(st.integers(0, 9))
        if choice < 4:
            words += list(draw(st.sampled_from(_RULE_OPTIONS)))
        elif choice < 6:
            words += draw(extension_words())
        elif choice < 8:
            words.append(draw(st.sampled_from(_FLAGS)))
        else:
            words.append(draw(garbage_word()))
    return words


def _rule_line(draw: st.DrawFn) -> str:
    words = [draw(st.sampled_from(["-A", "-I", "-D", "-R", "-N", "-P", "-X", "-F", "-Z", "-C"])),
             draw(st.sampled_from(CHAINS))]
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 5))
        if choice < 2:
            words += list(draw(st.sampled_from(_RULE_OPTIONS)))
        elif choice < 4:
            words += draw(extension_words())
        else:
            words.append(draw(garbage_word()))
    line = " ".join(_quote(draw, word) for word in words)
    if draw(st.integers(0, 4)) == 0:
        counters = draw(st.sampled_from(["1:2", "0:0", "-1:5", "x:y", "1:", "9" * 20 + ":1"]))
        line = f"[{counters}] {line}"
    return line


def _quote(draw: st.DrawFn, word: str) -> str:
    """Restore lines quote with double quotes; sometimes not when they should, or half."""
    if word == "" or any(character in word for character in " \t\"'"):
        style = draw(st.integers(0, 3))
        if style == 0:
            return word
        if style == 1:
            return '"' + word  # unterminated
        return '"' + word.replace('"', '\\"') + '"'
    return word


@st.composite
def restore_text(draw: st.DrawFn) -> str:
    """A restore file: tables with chain lines, rules and COMMIT, in the right places mostly."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        table = draw(st.sampled_from(TABLES + ("bogus", "")))
        lines.append(draw(st.sampled_from([f"*{table}", f"*{table} extra", f" *{table}"]))
                     if draw(st.integers(0, 9)) == 0 else f"*{table}")
        chains = TABLE_BUILTINS.get(table, BUILTIN_CHAINS[:2])
        for chain in chains:
            if draw(st.integers(0, 3)):
                policy = draw(st.sampled_from(["ACCEPT", "DROP", "-", "RETURN", "garbage"]))
                counters = draw(st.sampled_from(["[0:0]", "[1:2]", "[x:y]", "", "[1:2"]))
                lines.append(f":{chain} {policy} {counters}".rstrip())
        for _ in range(draw(st.integers(0, 2))):
            lines.append(f":{draw(st.sampled_from(USER_CHAINS + ('',)))} - [0:0]")
        for _ in range(draw(st.integers(0, 5))):
            choice = draw(st.integers(0, 12))
            if choice < 9:
                lines.append(_rule_line(draw))
            elif choice == 9:
                lines.append("# " + draw(garbage_word()))
            elif choice == 10:
                lines.append("")
            else:
                lines.append(draw(garbage_word(allow_nul=True)))
        if draw(st.integers(0, 5)):
            lines.append(draw(st.sampled_from(["COMMIT", "COMMIT", "COMMIT", "commit",
                                               "COMMIT extra", " COMMIT"])))
    text = "\n".join(lines)
    if draw(st.integers(0, 5)):
        text += "\n"
    return text


@st.composite
def restore_argv(draw: st.DrawFn) -> list[str]:
    return draw(st.lists(st.sampled_from(
        ["--noflush", "-n", "--counters", "-c", "--test", "-t", "-v", "-Tnat", "--table=bogus",
         "-T", "-w", "-w5", "-W1000", "--wait=1", "-b", "-x", "--bogus", "--modprobe=/bin/true"]),
        max_size=3))


SAVE_ARGV = st.lists(st.sampled_from(["-t", "nat", "filter", "bogus", "-c", "--counters", "-M",
                                      "/bin/true", "-x", "--bogus", "-V", "-h"]), max_size=3)


# --- the base rule set every example starts from --------------------------------------------

BASE_RESTORE = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-X - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 198.18.100.1/32 -p udp -m udp --dport 53 -j KUBE-SVC-X
-A KUBE-SVC-X -p udp -m statistic --mode random --probability 0.5 -j DNAT --to-destination 198.18.1.1:53
-A KUBE-SVC-X -p udp -j DNAT --to-destination 198.18.1.2:53
COMMIT
*filter
:INPUT ACCEPT [3:4]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:FOO - [0:0]
-A INPUT -s 198.18.0.1/32 -j FOO
-A FOO -p tcp -m tcp --dport 80 -m comment --comment "a b" -j ACCEPT
-A FOO -j RETURN
COMMIT
"""  # noqa: E501


def table_texts(ruleset: Ruleset, names: set[str] | None = None) -> dict[str, list[str]]:
    """Every table's save lines with counters; tables that do not exist count as empty
    (a failing iptables command still creates the table it named, as the kernel does)."""
    wanted = set(ruleset.tables) | (names or set())
    return {name: table_save_lines(ruleset.table(name) if name in ruleset.tables
                                   else Table.empty(name), counters=True)
            for name in sorted(wanted) if name in TABLE_BUILTINS}


# The forms of stderr a failing command may end with (iptables' own).
FAILURE_FORMS = re.compile(
    r"(iptables v1\.8\.9 \(legacy\): |iptables-restore v1\.8\.9 \(legacy\): |"
    r"iptables-restore: line \d+ failed|iptables: |iptables-save v1\.8\.9|"
    r"Try `iptables|Error occurred at line|can't initialize iptables table|"
    r"Bad argument|unrecognized option|invalid option|option requires an argument|"
    r"Unknown arguments|Can't open|Another app is currently holding|Option --wait-interval|"
    r"iptables-save: |Failed|Fatal: |Unable to|iptables-restore: |"
    r"requires an argument|not a supported command)")


def fuzz_examples(default: int) -> int:
    """Examples per property: ``default`` in CI, BPFTABLES_FUZZ_EXAMPLES for the long run."""
    return int(os.environ.get("BPFTABLES_FUZZ_EXAMPLES", default))
