"""``bpftables-multi``: iptables, iptables-save and iptables-restore in one program.

Like ``xtables-legacy-multi`` it acts as the command it is called as: through a link named
``iptables``, ``iptables-save``, ``iptables-restore``, their ``-legacy`` names or
``xtables-legacy-multi``, or with that name as its first argument
(``bpftables-multi iptables -S``). The work is done by the namespace's agent; this side only
forwards argv, standard input and the caller's working directory, and prints the answer.
"""

from __future__ import annotations

import os
import sys

from iptparse.errors import VERSION
from shim import client

# What each name a caller may use runs.
PROGRAMS = {
    "iptables": "iptables", "iptables-legacy": "iptables",
    "iptables-save": "iptables-save", "iptables-legacy-save": "iptables-save",
    "iptables-restore": "iptables-restore", "iptables-legacy-restore": "iptables-restore",
}
# Names that take the command's name as their first argument.
MULTI_NAMES = ("bpftables-multi", "xtables-legacy-multi", "xtables-multi")
# Every name `bpftables shim-dir` links (the IPv6 ones answer that IPv6 is not enforced).
LINK_NAMES = (*PROGRAMS, "xtables-legacy-multi", "ip6tables", "ip6tables-save",
              "ip6tables-restore", "ip6tables-legacy", "ip6tables-legacy-save",
              "ip6tables-legacy-restore")
IPV6_REFUSAL = ("{name}: bpftables does not enforce IPv6 yet; use ip6tables-legacy or "
                "ip6tables-nft for IPv6 rules.\n")
# ip6tables' own version answer: go-iptables runs `ip6tables --version` before anything else
# and CNI's firewall plugin gives up on IPv4 too when that fails. A version accepts no rule.
IPV6_VERSION_NAMES = ("ip6tables", "ip6tables-legacy")
IPV6_VERSION = f"ip6tables {VERSION}\n"
# iptables-restore's options that take a value in the next word (-w takes one only when it is
# a number): whatever else does not start with '-' is the input FILE.
_RESTORE_VALUE_OPTIONS = frozenset({"-W", "--wait-interval", "-T", "--table", "-M",
                                    "--modprobe"})


def restore_reads_stdin(argv: list[str]) -> bool:
    """Whether iptables-restore reads standard input (no FILE argument)."""
    words = iter(argv)
    for word in words:
        if word in _RESTORE_VALUE_OPTIONS:
            next(words, None)
        elif word in ("-w", "--wait"):
            continue  # a following number is its value, and not a FILE either
        elif not word.startswith("-") and not word.isdigit():
            return False
    return True


def resolve(argv: list[str]) -> tuple[str | None, str, list[str]]:
    """(program or None when unknown, the name it was called as, its arguments)."""
    name = os.path.basename(argv[0]) if argv else "bpftables-multi"
    args = argv[1:]
    if name in MULTI_NAMES:
        if not args:
            return None, name, []
        name, args = os.path.basename(args[0]), args[1:]
    return PROGRAMS.get(name), name, args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    program, name, args = resolve(argv)
    if program is None:
        if name in IPV6_VERSION_NAMES and args[:1] in (["-V"], ["--version"]):
            # like iptables, -V first ends the command before anything else is read
            sys.stdout.write(IPV6_VERSION)
            return 0
        if name.startswith("ip6tables"):
            sys.stderr.write(IPV6_REFUSAL.format(name=name))
            return 1
        sys.stderr.write(f"ERROR: No valid subcommand given.\nValid subcommands: "
                         f"{', '.join(PROGRAMS)}.\n")
        return 1
    if args in (["-V"], ["--version"]):
        # version probes (kube-proxy, go-iptables) are answered without starting the agent
        sys.stdout.write(f"{program} {VERSION}\n")
        return 0
    stdin = ""
    try:
        if program == "iptables-restore" and restore_reads_stdin(args):
            stdin = client.read_input(sys.stdin.buffer)
        request = {"op": "run", "program": program, "argv": args, "stdin": stdin,
                   "cwd": os.getcwd(), "lockfile": os.environ.get("XTABLES_LOCKFILE")}
        reply = client.call(request, start=client.is_root())
    except client.MessageTooLarge as error:  # refused here, as the agent would refuse it
        sys.stderr.write(f"bpftables: request refused: too large ({error})\n")
        return 1
    except (ConnectionError, ValueError) as error:  # the agent died mid-request
        sys.stderr.write(f"{program}: the bpftables agent did not answer: {error}\n")
        return 4
    except client.AgentUnavailable as error:
        if not client.is_root():
            import site

            site.main()  # the fast launcher starts without site-packages (scripts/setup.sh)
            from shim.commands import permission_denied

            lockfile = request["lockfile"] or "/run/xtables.lock"
            outcome = permission_denied(program, args, stdin, lockfile,
                                        os.access(lockfile, os.R_OK))
            sys.stdout.write(outcome.stdout)
            sys.stderr.write(outcome.stderr)
            return outcome.exit_code
        sys.stderr.write(f"{program}: {error}\n")
        return 4
    sys.stdout.buffer.write(reply["stdout"].encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    sys.stderr.buffer.write(reply["stderr"].encode("utf-8", "surrogateescape"))
    return int(reply["code"])


if __name__ == "__main__":
    sys.exit(main())
