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


def command_status(args: argparse.Namespace) -> int:
    """What the namespace's agent holds and runs."""
    import json

    from shim import client

    try:
        status = client.call({"op": "status"}, start=False)["status"]
    except client.AgentUnavailable as error:
        sys.stderr.write(f"bpftables: {error}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
        return 0
    out = [f"agent: pid {status['pid']}, up {status['uptime_s']} s, "
           f"{status['requests']} requests, state in {status['state_dir']}",
           f"journal: seq {status['journal_seq']}, snapshot at {status['snapshot_seq']}"]
    for name, table in status["tables"].items():
        out.append(f"table {name}: {table['chains']} chains, {table['rules']} rules")
    datapath = status["datapath"]
    if datapath is None:
        out.append(f"datapath: off ({status.get('datapath_off')})")
    else:
        out.append(f"datapath: generation {datapath['generation']}, {datapath['compiles']} "
                   f"compiles, {datapath['applies']} applies, last {datapath['last_apply_ms']} "
                   f"ms ({datapath['last_map_writes']} map writes)")
        out.append(f"interfaces: {', '.join(datapath['interfaces']) or '-'}")
        for where, prog_id in datapath["programs"].items():
            out.append(f"  program {prog_id} on {where}")
    if status["last_error"]:
        out.append(f"last error: {status['last_error']}")
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0


def command_agent(args: argparse.Namespace) -> int:
    """Run the agent in the foreground, or stop the running one."""
    from shim import client

    if args.action == "run":
        from shim.agent import main as agent_main

        return agent_main(["--foreground"])
    try:
        client.call({"op": "stop", "forget": args.forget}, start=False)
    except client.AgentUnavailable:
        if args.forget:  # no agent: its state and pins may still be there
            import os
            import shutil
            from pathlib import Path

            from bpf.bpffs import BPFFS_ROOT, PIN_DIR_PREFIX, current_netns_cookie, remove_tree
            from shim.state import STATE_ROOT

            cookie = current_netns_cookie()
            root = Path(os.environ.get("BPFTABLES_STATE_ROOT", STATE_ROOT))
            shutil.rmtree(root / f"net-{cookie}", ignore_errors=True)
            remove_tree(BPFFS_ROOT / f"{PIN_DIR_PREFIX}{cookie}")
    return 0


def command_shim_dir(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shim.install import fill_shim_dir

    for link in fill_shim_dir(Path(args.dir)):
        sys.stdout.write(f"{link} -> {link.readlink()}\n")
    return 0


def command_alternatives(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shim.install import Alternatives, default_links_dir, fill_shim_dir

    links = Path(args.links) if args.links else default_links_dir()
    alternatives = Alternatives(Path(args.link_dir),
                                Path(args.altdir) if args.altdir else None,
                                Path(args.admindir) if args.admindir else None)
    if args.action == "install":
        fill_shim_dir(links)
        alternatives.install(links)
    else:
        alternatives.remove(links)
    return 0


def command_takeover(args: argparse.Namespace) -> int:
    from shim.takeover import export_rules, import_rules

    return import_rules() if args.command == "import" else export_rules()


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

    status = commands.add_parser("status", help="what this namespace's agent holds and runs")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=command_status)

    agent = commands.add_parser("agent", help="run this namespace's agent, or stop it")
    agent.add_argument("action", choices=["run", "stop"])
    agent.add_argument("--forget", action="store_true",
                       help="with stop: take the programs off the links, drop pins and state")
    agent.set_defaults(handler=command_agent)

    shim_dir = commands.add_parser(
        "shim-dir", help="fill DIR with iptables, iptables-save, ... links to bpftables-multi")
    shim_dir.add_argument("dir")
    shim_dir.set_defaults(handler=command_shim_dir)

    alternatives = commands.add_parser(
        "alternatives", help="register bpftables with update-alternatives as iptables")
    alternatives.add_argument("action", choices=["install", "remove"])
    alternatives.add_argument("--links", help="folder of links (default "
                              "/usr/local/lib/bpftables/bin or $BPFTABLES_LINKS)")
    alternatives.add_argument("--link-dir", default="/usr/sbin",
                              help="where the iptables link lives (default /usr/sbin)")
    alternatives.add_argument("--altdir", help="update-alternatives --altdir")
    alternatives.add_argument("--admindir", help="update-alternatives --admindir")
    alternatives.set_defaults(handler=command_alternatives)

    for name, text in (("import", "move the kernel's legacy tables into bpftables"),
                       ("export", "put bpftables' rules back into the kernel's legacy tables")):
        takeover = commands.add_parser(name, help=text)
        takeover.set_defaults(handler=command_takeover)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
