"""``bpftables``: the operator's command (parse; later translate, trace, status, ...)."""

from __future__ import annotations

import argparse
import sys

from iptparse.grammar.restore import RestoreError, RestoreOptions, Restorer
from iptparse.model import Ruleset
from iptparse.printer import table_save_lines


def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def table_names_in_order(text: str) -> list[str]:
    """Tables named by ``*table`` lines, first occurrence first."""
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("*"):
            words = line[1:].split()
            if words and words[0] not in names:
                names.append(words[0])
    return names


def command_parse(args: argparse.Namespace) -> int:
    """Print what iptables-legacy-save prints after restoring the input into empty tables."""
    text = _read_input(args.file)
    try:
        ruleset = Restorer().restore(text, Ruleset(), RestoreOptions(counters=args.counters))
    except RestoreError as error:
        sys.stderr.write(error.text)
        return error.exit_code
    out: list[str] = []
    for name in table_names_in_order(text):
        if name in ruleset.tables:
            out.extend(table_save_lines(ruleset.tables[name], counters=args.counters))
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0


def command_trace(args: argparse.Namespace) -> int:
    """Walk one packet through the rule set with the reference model and show every rule."""
    from shim.trace import run_trace

    return run_trace(args)


def command_translate(args: argparse.Namespace) -> int:
    """Show what the compiler makes of a rule set."""
    from shim.translate import run_translate

    return run_translate(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bpftables", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    parse = commands.add_parser(
        "parse", help="parse restore-format input and print it as iptables-save would"
    )
    parse.add_argument("-c", "--counters", action="store_true",
                       help="keep [packets:bytes] counters (iptables-restore -c / save -c)")
    parse.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")
    parse.set_defaults(handler=command_parse)

    trace = commands.add_parser(
        "trace", help="follow one packet through the rules (the reference model, like -j TRACE)"
    )
    trace.add_argument("--rules", required=True, help="restore-format rule set (- for stdin)")
    trace.add_argument("--local-addr", action="append", default=[], metavar="[IF=]ADDR[/LEN]",
                       help="an address of the node (repeat); its subnet is routed out of IF")
    trace.add_argument("--route", action="append", default=[], metavar="NET/LEN=IF",
                       help="a route of the node (repeat); 0.0.0.0/0=IF is the default route")
    trace.add_argument("--hook", default="PREROUTING", choices=["PREROUTING", "OUTPUT"],
                       help="PREROUTING: the packet arrives on --in; OUTPUT: the node sends it")
    trace.add_argument("--in", dest="in_iface", default="eth0", help="arrival interface")
    trace.add_argument("-p", "--protocol", default="tcp")
    trace.add_argument("-s", "--source", required=True)
    trace.add_argument("-d", "--destination", required=True)
    trace.add_argument("--sport", type=int, default=40000)
    trace.add_argument("--dport", type=int, default=80)
    trace.add_argument("--tcp-flags", default="SYN", help="flags set, comma separated")
    trace.add_argument("--icmp-type", type=int, default=8)
    trace.add_argument("--mark", type=lambda text: int(text, 0), default=0)
    trace.add_argument("--state-file", help="connections and recent lists kept between runs")
    trace.add_argument("--seed", type=int, help="seed of statistic's random draws")
    trace.add_argument("--json", action="store_true", help="machine-readable output")
    trace.set_defaults(handler=command_trace)

    translate = commands.add_parser(
        "translate", help="what the compiler makes of a rule set: blocks, families, shape")
    translate.add_argument("file", nargs="?", default="-", help="restore-format input, or -")
    translate.add_argument("--json", action="store_true", help="machine-readable output")
    translate.add_argument("--emit-c", action="store_true",
                           help="print the datapath's generated C instead")
    translate.set_defaults(handler=command_translate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
