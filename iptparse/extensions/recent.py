"""``-m recent``: keep a list of recently seen addresses and match against it.

Facts read off iptables-legacy 1.8.9 on this machine's kernel: exactly one of
``--set/--rcheck/--update/--remove`` (checked before xtables' generic checks); the name defaults
to DEFAULT and is cut to 199 bytes; ``--mask`` is an address as getaddrinfo reads it (``24`` is
0.0.0.24); seconds print as a signed 32-bit number. The kernel refuses ``--seconds`` or
``--hitcount`` with ``--set``/``--remove``, a hit count above 65535 and the names "", ".", ".."
or any name with a "/".
"""

from __future__ import annotations

from typing import Any

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import CheckContext, MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import c_uint, format_ipv4, resolve_address
from iptparse.model import frozen_value

UINT32_MAX = 0xFFFFFFFF
NAME_MAX = 200  # XT_RECENT_NAME_LEN, NUL included
HITCOUNT_LIMIT = 65536  # the kernel keeps at most 65535 time stamps per address

COMMANDS = ("set", "rcheck", "update", "remove")
# What -L calls each command.
_COMMAND_LISTING = {"set": "SET", "rcheck": "CHECK", "update": "UPDATE", "remove": "REMOVE"}

# xtables' generic checks, in option order: (option, excluded, required).
_COMBINATIONS = (
    ("set", ("rcheck", "update", "remove"), ()),
    ("rcheck", ("set", "update", "remove"), ()),
    ("update", ("set", "rcheck", "remove"), ()),
    ("remove", ("set", "rcheck", "update"), ()),
    ("reap", (), ("seconds",)),
    ("rttl", ("set", "remove"), ()),
)


@frozen_value
class RecentOptions:
    command: str  # one of COMMANDS
    invert: bool = False
    seconds: int = 0
    reap: bool = False
    hitcount: int = 0
    rttl: bool = False
    name: str = "DEFAULT"
    mask: int = UINT32_MAX
    dest: bool = False  # --rdest (else --rsource)


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


class RecentMatch(MatchExtension):
    name = "recent"
    combinations = _COMBINATIONS
    options = (
        Opt("set", arg=False, invert=True),
        Opt("rcheck", arg=False, invert=True),
        Opt("update", arg=False, invert=True),
        Opt("remove", arg=False, invert=True),
        Opt("seconds"),
        Opt("reap", arg=False),
        Opt("hitcount"),
        Opt("rttl", arg=False),
        Opt("name"),
        Opt("rsource", arg=False),
        Opt("rdest", arg=False),
        Opt("mask"),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        name = opt.name
        if value is None:
            return True
        if name == "seconds":
            seconds = c_uint(value, UINT32_MAX)
            if not seconds:
                raise ParameterProblem(
                    f'recent: bad value for option "--seconds", or out of range (1-{UINT32_MAX}).\n'
                )
            return seconds
        if name == "hitcount":
            hitcount = c_uint(value, UINT32_MAX)
            if hitcount is None:
                raise ParameterProblem(
                    f'recent: bad value for option "--hitcount", or out of range '
                    f"(0-{UINT32_MAX}).\n"
                )
            return hitcount
        if name == "name":
            # iptables copies at most NAME_MAX - 1 bytes into the kernel structure.
            return value.encode()[: NAME_MAX - 1].decode(errors="ignore")
        return resolve_address(value)

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        super().parse(state, call)
        if call.opt.name in ("rsource", "rdest"):
            state["side"] = call.opt.name  # the later of the two wins

    def finish(self, state: dict[str, Any], rule: RuleInProgress) -> RecentOptions:
        if not any(command in state for command in COMMANDS):
            raise ParameterProblem(
                "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'"
            )
        self.check_combinations(state)
        return self.build(state, rule)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> RecentOptions:
        command = next(command for command in COMMANDS if command in state)
        return RecentOptions(
            command=command,
            invert=state[command][1],
            seconds=state.get("seconds", (0,))[0],
            reap="reap" in state,
            hitcount=state.get("hitcount", (0,))[0],
            rttl="rttl" in state,
            name=state.get("name", ("DEFAULT",))[0],
            mask=state.get("mask", (UINT32_MAX,))[0],
            dest=state.get("side") == "rdest",
        )

    def save(self, options: RecentOptions) -> str:
        parts = [f"{' !' if options.invert else ''} --{options.command}"]
        if options.seconds:
            parts.append(f" --seconds {_signed32(options.seconds)}")
        if options.reap:
            parts.append(" --reap")
        if options.hitcount:
            parts.append(f" --hitcount {_signed32(options.hitcount)}")
        if options.rttl:
            parts.append(" --rttl")
        parts.append(f" --name {options.name}")
        parts.append(f" --mask {format_ipv4(options.mask)}")
        parts.append(" --rdest" if options.dest else " --rsource")
        return "".join(parts)

    def listing(self, options: RecentOptions, numeric: bool) -> str:
        parts = [f"{' !' if options.invert else ''} recent: {_COMMAND_LISTING[options.command]}"]
        if options.seconds:
            parts.append(f" seconds: {_signed32(options.seconds)}")
        if options.reap:
            parts.append(" reap")
        if options.hitcount:
            parts.append(f" hit_count: {_signed32(options.hitcount)}")
        if options.rttl:
            parts.append(" TTL-Match")
        parts.append(f" name: {options.name}")
        parts.append(" side: dest" if options.dest else " side: source")
        parts.append(f" mask: {format_ipv4(options.mask)}")
        return "".join(parts)

    def check_entry(self, options: RecentOptions, ctx: CheckContext) -> None:
        if options.command in ("set", "remove") and (options.seconds or options.hitcount):
            raise KernelRejection("recent: --seconds/--hitcount only with --rcheck/--update")
        if options.hitcount >= HITCOUNT_LIMIT:
            raise KernelRejection("recent: hitcount too large")
        name = options.name
        if name in ("", ".", "..") or "/" in name:
            raise KernelRejection(f"recent: invalid name {name!r}")


EXTENSIONS = (RecentMatch(),)
