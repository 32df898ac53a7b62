"""Differential: generated rule sets, real iptables-legacy-restore/save vs `bpftables parse`.

Hypothesis builds restore files from the supported vocabulary (valid and invalid combinations);
real iptables-legacy loads them in a throwaway namespace. bpftables must print byte for byte
what iptables-legacy-save prints, or fail with the same message and exit code.
``BPFTABLES_EXAMPLES`` raises the number of examples for long runs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oracle import LegacyIptables

pytestmark = pytest.mark.netns

EXAMPLES = int(os.environ.get("BPFTABLES_EXAMPLES", "150"))

ADDRESSES = ["198.18.0.1", "198.18.2.3/16", "198.18.0.0/15", "0.0.0.0/0", "10.1.2.3/255.0.255.0",
             "198.18.0.1,198.18.0.2", "1.2.3"]
IFACES = ["eth0", "veth+", "lo", "cni0"]
PROTOS = ["tcp", "udp", "icmp", "all", "47", "TCP", "sctp"]


def _maybe_not(draw: st.DrawFn, words: list[str]) -> list[str]:
    return (["!"] + words) if draw(st.booleans()) and draw(st.booleans()) else words


@st.composite
def rule_spec(draw: st.DrawFn, table: str, chains: list[str]) -> str:
    words: list[str] = []
    for letter in ("-s", "-d"):
        if draw(st.booleans()):
            words += _maybe_not(draw, [letter, draw(st.sampled_from(ADDRESSES))])
    for letter in ("-i", "-o"):
        if draw(st.integers(0, 3)) == 0:
            words += _maybe_not(draw, [letter, draw(st.sampled_from(IFACES))])
    proto = None
    if draw(st.booleans()):
        proto = draw(st.sampled_from(PROTOS))
        words += _maybe_not(draw, ["-p", proto])
    if draw(st.integers(0, 6)) == 0:
        words += _maybe_not(draw, ["-f"])
    port = st.sampled_from(["80", "53", "1024:65535", ":80", "http", "8080"])
    pieces = [
        lambda: _maybe_not(draw, ["--dport", draw(port)]),
        lambda: _maybe_not(draw, ["--sport", draw(port)]),
        lambda: ["-m", "multiport", "--dports", draw(st.sampled_from(["80,443", "53,1000:2000"]))],
        lambda: ["-m", "comment", "--comment", draw(st.sampled_from(
            ['"ns1/svc1:p80 cluster IP"', "plain", '"quote \\" inside"', '""']))],
        lambda: ["-m", "mark"] + _maybe_not(draw, ["--mark", draw(st.sampled_from(
            ["0x4000/0x4000", "1", "0x8000/0xc000"]))]),
        lambda: ["-m", "conntrack"] + _maybe_not(draw, ["--ctstate", draw(st.sampled_from(
            ["NEW", "ESTABLISHED,RELATED", "INVALID", "DNAT"]))]),
        lambda: ["-m", "state", "--state", draw(st.sampled_from(["NEW", "RELATED,ESTABLISHED"]))],
        lambda: ["-m", "addrtype"] + _maybe_not(draw, ["--dst-type", draw(st.sampled_from(
            ["LOCAL", "UNICAST", "BROADCAST"]))]),
        lambda: ["-m", "statistic", "--mode", "random", "--probability", draw(st.sampled_from(
            ["0.33333333349", "0.5", "0.20000000019", "0.25000000000"]))],
        lambda: ["-m", "recent", "--name", "KUBE-SEP-X", "--mask", "255.255.255.255",
                 "--rsource", "--rcheck", "--seconds", "10800", "--reap"],
        lambda: ["-m", "recent", "--name", "KUBE-SEP-X", "--mask", "255.255.255.255",
                 "--rsource", "--set"],
        lambda: ["-m", "tcp", "--tcp-flags", "SYN,ACK", "SYN"],
        lambda: ["-m", "udp", "--dport", draw(port)],
        lambda: ["-m", "icmp", "--icmp-type", draw(st.sampled_from(["echo-request", "8", "3/4"]))],
        lambda: ["-m", "length", "--length", "0:1500"],
        lambda: ["-m", "limit", "--limit", "3/min", "--limit-burst", "7"],
    ]
    for index in draw(st.lists(st.integers(0, len(pieces) - 1), max_size=3)):
        words += pieces[index]()
    targets = [["-j", "ACCEPT"], ["-j", "DROP"], ["-j", "RETURN"], [],
               ["-j", "MARK", "--or-mark", "0x4000"], ["-j", "MARK", "--set-xmark", "0x1/0xff"],
               ["-j", "LOG", "--log-prefix", '"bpf: "', "--log-level", "4"],
               ["-j", "REJECT"], ["-j", "REJECT", "--reject-with", "tcp-reset"],
               ["-j", "DNAT", "--to-destination", "198.18.1.1:8080"],
               ["-j", "SNAT", "--to-source", "198.18.0.9"],
               ["-j", "MASQUERADE", "--random-fully"], ["-j", "REDIRECT", "--to-ports", "8080"]]
    targets += [["-j", chain] for chain in chains] + [["-g", chain] for chain in chains]
    words += draw(st.sampled_from(targets))
    return " ".join(words)


TABLE_CHAINS = {"filter": ["INPUT", "FORWARD", "OUTPUT"],
                "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
                "mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
                "raw": ["PREROUTING", "OUTPUT"]}


@st.composite
def restore_file(draw: st.DrawFn) -> str:
    table = draw(st.sampled_from(sorted(TABLE_CHAINS)))
    users = draw(st.lists(st.sampled_from(["KUBE-SVC-A", "KUBE-SEP-B", "user", "Z_9"]),
                          unique=True, max_size=3))
    lines = [f"*{table}"]
    for chain in TABLE_CHAINS[table]:
        if draw(st.booleans()):
            lines.append(f":{chain} {draw(st.sampled_from(['ACCEPT', 'DROP']))} [0:0]")
    lines += [f":{chain} - [0:0]" for chain in users]
    for _ in range(draw(st.integers(1, 6))):
        chain = draw(st.sampled_from(TABLE_CHAINS[table] + users))
        lines.append(f"-A {chain} {draw(rule_spec(table, users))}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def bpftables_parse(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shim.cli", "parse", "-"], input=text,
                          capture_output=True, text=True, timeout=60)


def check_same(oracle: LegacyIptables, text: str) -> None:
    oracle.reset()
    real = oracle.restore(text)
    ours = bpftables_parse(text)
    assert (ours.returncode, ours.stderr) == (real.code, real.err), text
    if real.code == 0:
        tables = dict.fromkeys(line[1:].split()[0] for line in text.splitlines()
                               if line.startswith("*") and line[1:].split())
        assert ours.stdout == "".join(oracle.save(table) for table in tables), text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=restore_file())
def test_generated_rulesets_print_like_iptables_save(oracle_session: LegacyIptables,
                                                     text: str) -> None:
    check_same(oracle_session, text)
