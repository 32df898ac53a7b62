"""``bpftables trace``: one packet through the rule set, every rule it meets, as netfilter would.

Runs the reference model (:mod:`translator.model`), so it needs neither root nor the kernel.
Like ``iptables -j TRACE`` but readable: per table and chain, each rule looked at, whether it
matched and what it did; then the verdict and the packet as it leaves (after NAT).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from iptparse.grammar.restore import RestoreError, RestoreOptions, Restorer
from iptparse.grammar.tokens import format_ipv4, parse_host_mask, parse_protocol
from iptparse.model import Ruleset
from iptparse.printer import rule_spec_text
from translator.model.evaluate import Visit
from translator.model.node import Node, Outcome
from translator.model.packet import IPPROTO_ICMP, Host, Packet

TCP_FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20}


class TraceUsageError(Exception):
    """A trace argument bpftables cannot read."""


def _address(text: str) -> int:
    prefixes = parse_host_mask(text)
    if len(prefixes) != 1 or prefixes[0].mask != 0xFFFFFFFF:
        raise TraceUsageError(f"not one address: {text}")
    return prefixes[0].addr


def build_host(local_addrs: list[str], routes: list[str]) -> Host:
    """``[IF=]ADDR[/LEN]`` addresses (interface ``ethN`` by position when not named) and
    ``NET/LEN=IF`` routes."""
    interfaces: dict[str, tuple[int, int]] = {}
    for index, item in enumerate(local_addrs):
        name, equals, rest = item.partition("=")
        if not equals:
            name, rest = f"eth{index}", item
        address_text, slash, length_text = rest.partition("/")
        interfaces[name] = (_address(address_text), int(length_text) if slash else 32)
    table = []
    for item in routes:
        network_text, equals, name = item.partition("=")
        if not equals:
            raise TraceUsageError(f"route {item!r}: expected NET/LEN=IF")
        network_address, slash, length_text = network_text.partition("/")
        table.append((_address(network_address), int(length_text) if slash else 32, name))
    return Host(interfaces, tuple(table))


def build_packet(args: argparse.Namespace) -> Packet:
    protocol = parse_protocol(args.protocol.lower())
    flags = 0
    for name in filter(None, args.tcp_flags.upper().split(",")):
        if name not in TCP_FLAG_BITS:
            raise TraceUsageError(f"unknown TCP flag {name}")
        flags |= TCP_FLAG_BITS[name]
    return Packet(_address(args.source), _address(args.destination), protocol,
                  args.sport, args.dport if protocol != IPPROTO_ICMP else 0, tcp_flags=flags,
                  icmp_type=args.icmp_type, mark=args.mark)


def packet_json(packet: Packet) -> dict[str, object]:
    return {"protocol": packet.protocol, "src": format_ipv4(packet.src),
            "dst": format_ipv4(packet.dst), "sport": packet.sport, "dport": packet.dport,
            "mark": packet.mark, "in": packet.in_iface, "out": packet.out_iface}


def visit_json(ruleset: Ruleset, visit: Visit) -> dict[str, object]:
    rule_text = ""
    if visit.rule is not None:
        rule_text = rule_spec_text(ruleset.tables[visit.table].chains[visit.chain]
                                   .rules[visit.rule - 1])
    return {"table": visit.table, "chain": visit.chain, "rule": visit.rule,
            "matched": visit.matched, "action": visit.action, "text": rule_text}


def outcome_json(ruleset: Ruleset, outcome: Outcome) -> dict[str, object]:
    return {
        "verdict": outcome.verdict, "path": outcome.path, "state": outcome.state,
        "packet": packet_json(outcome.packet),
        "reply": packet_json(outcome.reply) if outcome.reply is not None else None,
        "trace": [visit_json(ruleset, visit) for visit in outcome.visits],
    }


def print_text(result: dict, out) -> None:
    for step in result["trace"]:
        where = f"{step['table']:<7} {step['chain']}"
        if step["rule"] is None:
            out.write(f"{where} policy {step['action'].split()[-1]}\n")
            continue
        result_text = (f"-> {step['action']}" if step["action"] else "match") if (
            step["matched"]) else "no match"
        out.write(f"{where + ' #' + str(step['rule']):<34} {result_text:<18} {step['text']}\n")
    packet = result["packet"]
    out.write(f"verdict: {result['verdict']} ({result['path']}), conntrack state "
              f"{result['state']}\n")
    out.write(f"packet: proto {packet['protocol']} {packet['src']}:{packet['sport']} -> "
              f"{packet['dst']}:{packet['dport']} out {packet['out'] or '-'}\n")
    if result["reply"] is not None:
        reply = result["reply"]
        out.write(f"answer: proto {reply['protocol']} {reply['src']} -> {reply['dst']}\n")


def run_trace(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.rules == "-" else Path(args.rules).read_text()
    try:
        ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    except RestoreError as error:
        sys.stderr.write(error.text)
        return error.exit_code
    try:
        host = build_host(args.local_addr, args.route)
        packet = build_packet(args)
    except (TraceUsageError, ValueError) as error:
        sys.stderr.write(f"bpftables trace: {error}\n")
        return 2
    node = Node(ruleset, host, random.Random(args.seed))
    node.now = time.time()
    state_path = Path(args.state_file) if args.state_file else None
    if state_path is not None and state_path.exists():
        node.import_state(json.loads(state_path.read_text()))
    outcome = node.receive(packet, args.in_iface) if args.hook == "PREROUTING" else node.send(
        packet)
    if state_path is not None:
        state_path.write_text(json.dumps(node.export_state()))
    result = outcome_json(ruleset, outcome)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_text(result, sys.stdout)
    return 0
