"""``bpftables trace``: the reference model's walk of one packet, as text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shim.cli import main

pytestmark = pytest.mark.unit

RULES = """*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 198.18.5.5/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -p tcp -j DNAT --to-destination 198.18.1.2:8080
-A POSTROUTING -o eth1 -j MASQUERADE
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT
COMMIT
"""

NODE = ["--local-addr", "eth0=198.18.0.1/24", "--local-addr", "eth1=198.18.1.1/24"]


def _trace(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    rules = tmp_path / "rules"
    rules.write_text(RULES)
    assert main(["trace", "--rules", str(rules), *NODE, *args]) == 0
    return capsys.readouterr().out


def test_json_names_the_chains_and_the_translated_packet(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _trace(tmp_path, capsys, "--json", "-s", "198.18.0.2", "-d", "198.18.5.5",
                 "--dport", "80", "--in", "eth0")
    result = json.loads(out)
    assert result["verdict"] == "ACCEPT" and result["path"] == "FORWARD"
    assert result["packet"]["src"] == "198.18.1.1"
    assert (result["packet"]["dst"], result["packet"]["dport"]) == ("198.18.1.2", 8080)
    chains = [(step["table"], step["chain"]) for step in result["trace"] if step["matched"]]
    assert ("nat", "KUBE-SVC-A") in chains and ("filter", "FORWARD") in chains


def test_state_file_makes_the_answer_established(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "state.json")
    _trace(tmp_path, capsys, "--state-file", state, "-s", "198.18.0.2", "-d", "198.18.5.5",
           "--dport", "80", "--sport", "41000", "--in", "eth0")
    out = _trace(tmp_path, capsys, "--json", "--state-file", state, "-s", "198.18.1.2", "-d",
                 "198.18.1.1", "--sport", "8080", "--dport", "41000", "--tcp-flags",
                 "SYN,ACK", "--in", "eth1")
    result = json.loads(out)
    assert result["state"] == "ESTABLISHED"
    assert (result["packet"]["src"], result["packet"]["sport"]) == ("198.18.5.5", 80)
    assert (result["packet"]["dst"], result["packet"]["dport"]) == ("198.18.0.2", 41000)


def test_text_lists_each_rule_and_the_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _trace(tmp_path, capsys, "-s", "198.18.0.2", "-d", "198.18.1.9", "-p", "udp",
                 "--dport", "53", "--in", "eth0")
    assert "filter  FORWARD policy DROP" in out
    assert out.splitlines()[-2].startswith("verdict: DROP (FORWARD)")
