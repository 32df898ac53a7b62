"""``-m physdev``: the bridge ports a bridged packet came in on or goes out of.

Behaviour read off iptables-legacy 1.8.9 on this kernel: every option may be negated with a
preceding ``!``; each may be given once; at least one is required. iptables-save prints them in
a fixed order (is-in, in, is-out, out, is-bridged) whatever the command-line order, interface
names exactly as given (no quoting, ``+`` wildcard kept), and ``-L`` prints the same words after
``PHYSDEV match``. The kernel refuses ``--physdev-out`` / ``--physdev-is-out`` in a rule reachable
from OUTPUT unless ``--physdev-is-bridged`` (not negated) is also given; FORWARD and POSTROUTING
are accepted by today's kernel.
"""

from __future__ import annotations

from typing import Any

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import CheckContext, MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import check_interface
from iptparse.model import frozen_value


@frozen_value
class PhysdevOptions:
    physdev_in: str | None = None
    physdev_in_invert: bool = False
    physdev_out: str | None = None
    physdev_out_invert: bool = False
    is_in: bool = False
    is_in_invert: bool = False
    is_out: bool = False
    is_out_invert: bool = False
    is_bridged: bool = False
    is_bridged_invert: bool = False


def _interface(text: str, call: OptionCall) -> str:
    return check_interface(text, call.warn)


class PhysdevMatch(MatchExtension):
    name = "physdev"
    options = (
        Opt("physdev-in", invert=True),
        Opt("physdev-out", invert=True),
        Opt("physdev-is-in", arg=False, invert=True),
        Opt("physdev-is-out", arg=False, invert=True),
        Opt("physdev-is-bridged", arg=False, invert=True),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        if value is None:
            return True
        return _interface(value, call)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> PhysdevOptions:
        if not state:
            raise ParameterProblem("PHYSDEV: no physdev option specified")
        physdev_in, in_invert = state.get("physdev-in", (None, False))
        physdev_out, out_invert = state.get("physdev-out", (None, False))
        is_in, is_in_invert = state.get("physdev-is-in", (False, False))
        is_out, is_out_invert = state.get("physdev-is-out", (False, False))
        is_bridged, is_bridged_invert = state.get("physdev-is-bridged", (False, False))
        return PhysdevOptions(physdev_in, in_invert, physdev_out, out_invert, is_in,
                              is_in_invert, is_out, is_out_invert, is_bridged, is_bridged_invert)

    def save(self, options: PhysdevOptions) -> str:
        parts: list[str] = []
        if options.is_in:
            parts.append(f"{' !' if options.is_in_invert else ''} --physdev-is-in")
        if options.physdev_in is not None:
            parts.append(f"{' !' if options.physdev_in_invert else ''} --physdev-in "
                         f"{options.physdev_in}")
        if options.is_out:
            parts.append(f"{' !' if options.is_out_invert else ''} --physdev-is-out")
        if options.physdev_out is not None:
            parts.append(f"{' !' if options.physdev_out_invert else ''} --physdev-out "
                         f"{options.physdev_out}")
        if options.is_bridged:
            parts.append(f"{' !' if options.is_bridged_invert else ''} --physdev-is-bridged")
        return "".join(parts)

    def listing(self, options: PhysdevOptions, numeric: bool) -> str:
        return " PHYSDEV match" + self.save(options)

    def check_entry(self, options: PhysdevOptions, ctx: CheckContext) -> None:
        # Outgoing bridge port is unknown for locally generated packets until bridging, so the
        # kernel only allows it from OUTPUT together with a (positive) --physdev-is-bridged.
        uses_out = options.physdev_out is not None or options.is_out
        bridged = options.is_bridged and not options.is_bridged_invert
        if uses_out and not bridged and "OUTPUT" in ctx.hooks:
            raise KernelRejection(
                "physdev: --physdev-out and --physdev-is-out only supported in the FORWARD and "
                "POSTROUTING chains with bridged traffic"
            )


EXTENSIONS = (PhysdevMatch(),)
