"""``bpftables translate``: what the compiler makes of a rule set (translator/compile.py).

Per table and chain its blocks (LOOKUP, SELECT, AFFINITY or RULE), the rules each covers, LOOKUP
key layouts, storage and entry counts, why a rule stayed RULE; the families of look-alike chains
and their members; the Shape's hash, its RULE blocks and the most blocks one packet can run through.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from iptparse.grammar.restore import RestoreError, RestoreOptions, Restorer
from iptparse.model import Ruleset
from translator.compile import compile_ruleset
from translator.plan import (
    PROBABILITY_ONE,
    AffinityBlock,
    Block,
    KeyField,
    LookupBlock,
    Plan,
    SelectBlock,
)
from translator.shape import ShapeReport, analyze


def _ranges(numbers: tuple[int, ...]) -> str:
    if len(numbers) > 1 and numbers == tuple(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return ",".join(str(number) for number in numbers)


def _key_text(field: KeyField) -> str:
    return f"{field.name}/{field.length}" if field.match == "prefix" else (
        f"{field.name}/lpm" if field.lpm else field.name)


def block_json(block: Block) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": block.kind, "rules": list(block.rules)}
    if isinstance(block, LookupBlock):
        data["key"] = [_key_text(field) for field in block.key]
        data["storage"] = block.storage
        data["entries"] = len(block.entries)
        data["variants"] = len(block.variants)
    elif isinstance(block, SelectBlock):
        data["probabilities"] = [round(p / PROBABILITY_ONE, 10) for p in block.probabilities]
    elif isinstance(block, AffinityBlock):
        data["lists"] = list(block.names)
    else:
        data["reason"] = block.reason
    return data


def translation_json(plan: Plan, report: ShapeReport) -> dict[str, Any]:
    return {
        "shape_hash": report.shape_hash,
        "rule_blocks": report.rule_blocks,
        "max_blocks_per_packet": report.max_blocks_per_packet,
        "families": [{"table": family.table, "pattern": family.pattern,
                      "signature_hash": family.signature_hash[:16],
                      "members": list(family.members), "member_count": len(family.members)}
                     for family in report.families],
        "tables": {table.name: {"chains": {
            name: {"policy": chain.policy, "blocks": [block_json(b) for b in chain.blocks]}
            for name, chain in table.chains.items()}} for table in plan.tables.values()},
    }


def print_text(data: dict[str, Any], out) -> None:
    member_of = {(family["table"], member): family for family in data["families"]
                 if family["member_count"] > 1 for member in family["members"]}
    for table, content in data["tables"].items():
        out.write(f"*{table}\n")
        shown = set()
        for name, chain in content["chains"].items():
            family = member_of.get((table, name))
            if family is not None:
                if family["pattern"] in shown:
                    continue
                shown.add(family["pattern"])
                label = f"{family['pattern']} (family of {family['member_count']})"
            else:
                label = name
            parts = []
            for block in chain["blocks"]:
                rules = _ranges(tuple(block["rules"]))
                if block["kind"] == "LOOKUP":
                    parts.append(f"LOOKUP {block['storage']} {','.join(block['key'])} rules "
                                 f"{rules} ({block['entries']} keys, {block['variants']} "
                                 f"variant{'s' if block['variants'] > 1 else ''})")
                elif block["kind"] in ("SELECT", "AFFINITY"):
                    parts.append(f"{block['kind']} rules {rules}")
                else:
                    parts.append(f"RULE {rules}")
            out.write(f"  {label}: {' | '.join(parts) if parts else '(empty)'}\n")
    out.write(f"shape {data['shape_hash']}: {len(data['families'])} families, "
              f"{data['rule_blocks']} RULE blocks of code, at most "
              f"{data['max_blocks_per_packet']} blocks per packet\n")


def run_translate(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        ruleset = Restorer().restore(text, Ruleset(), RestoreOptions())
    except RestoreError as error:
        sys.stderr.write(error.text)
        return error.exit_code
    plan = compile_ruleset(ruleset)
    report = analyze(plan)
    if args.emit_c:
        from bpf.codegen import UnsupportedRule, generate

        try:
            sys.stdout.write(generate(plan, report).source())
        except UnsupportedRule as error:
            sys.stderr.write(f"bpftables: {error}\n")
            return 1
        return 0
    data = translation_json(plan, report)
    if args.json:
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    else:
        print_text(data, sys.stdout)
    return 0
