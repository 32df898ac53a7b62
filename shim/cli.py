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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
