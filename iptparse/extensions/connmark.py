"""``-m connmark --mark VALUE[/MASK]`` and ``-j CONNMARK`` (revision 2, with mark shifts).

Behaviour read off iptables-legacy 1.8.9 (the oracle):

* CONNMARK options are applied in command-line order to one structure (ctmark, ctmask, nfmask,
  mode, shift): both masks start at 0xffffffff; ``--set-*``/``--and/or/xor-mark`` set the
  XOR-mark pair (ctmark, ctmask) like MARK does; ``--mask`` sets both masks, ``--ctmask`` and
  ``--nfmask`` one each, so ``--ctmask 0xff --set-mark 1`` keeps mask 0xffffffff while
  ``--set-mark 1 --ctmask 0xff`` gets 0xff. ``--left/right-shift-mark N`` set the direction
  and the bit count (the last one wins); a shift of 0 bits is not printed.
* Masks the save format does not print (nfmask in set mode, a 0-bit right shift) still take part
  in rule identity (``-C``/``-D``), so they are kept in the options value.
* The kernel refuses shifts of more than 31 bits; CONNMARK and connmark work in every table.
"""

from __future__ import annotations

from typing import Any

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.base import (
    CheckContext,
    MatchExtension,
    Opt,
    OptionCall,
    RuleInProgress,
    TargetExtension,
)
from iptparse.extensions.mark import (
    MARK_OPERATIONS,
    UINT32_MAX,
    check_exclusive,
    format_mark_mask,
    mark_mask_value,
    uint_value,
    xmark_operation,
    xmark_pair,
)
from iptparse.model import frozen_value

# --- -m connmark --------------------------------------------------------------------------------


@frozen_value
class ConnmarkMatchOptions:
    mark: int
    mask: int = UINT32_MAX
    invert: bool = False


class ConnmarkMatch(MatchExtension):
    needs_conntrack = True
    name = "connmark"
    options = (Opt("mark", invert=True, mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        return mark_mask_value(self.name, opt.name, value)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> ConnmarkMatchOptions:
        (mark, mask), invert = state["mark"]
        return ConnmarkMatchOptions(mark, mask, invert)

    def save(self, options: ConnmarkMatchOptions) -> str:
        inverted = " !" if options.invert else ""
        return f"{inverted} --mark {format_mark_mask(options.mark, options.mask)}"

    def listing(self, options: ConnmarkMatchOptions, numeric: bool) -> str:
        # iptables prints two spaces before a mark that is not inverted.
        inverted = "!" if options.invert else ""
        return f" connmark match {inverted} {format_mark_mask(options.mark, options.mask)}"


# --- -j CONNMARK --------------------------------------------------------------------------------

MODE_SET = "set"
MODE_SAVE = "save"
MODE_RESTORE = "restore"
SHIFT_LEFT = "left"
SHIFT_RIGHT = "right"
MAX_SHIFT_BITS = 31  # the kernel's limit; iptables itself accepts up to 32

_OPERATIONS = (*MARK_OPERATIONS, "save-mark", "restore-mark")
# Which given option iptables names first in a conflict, and which second (see check_exclusive).
_TABLE_ORDER = (*_OPERATIONS, "ctmask", "nfmask")
_ID_ORDER = ("set-xmark", "set-mark", "save-mark", "restore-mark", "and-mark", "or-mark",
             "xor-mark", "mask")
_EXCLUDES = {
    **{name: frozenset(_OPERATIONS) for name in _OPERATIONS},
    "ctmask": frozenset({"mask"}),
    "nfmask": frozenset({"mask"}),
}
_WORKING = "__connmark__"  # state key of the structure the options are applied to, in order


@frozen_value
class ConnmarkTargetOptions:
    """The kernel's xt_connmark_tginfo2."""

    mode: str
    ctmark: int = 0
    ctmask: int = UINT32_MAX
    nfmask: int = UINT32_MAX
    shift_dir: str = SHIFT_LEFT
    shift_bits: int = 0


class ConnmarkTarget(TargetExtension):
    needs_conntrack = True
    kind = "target"
    name = "CONNMARK"
    options = (
        Opt("set-xmark"),
        Opt("save-mark", arg=False),
        Opt("restore-mark", arg=False),
        Opt("set-mark"),
        Opt("and-mark"),
        Opt("or-mark"),
        Opt("xor-mark"),
        Opt("mask"),
        Opt("nfmask"),
        Opt("ctmask"),
        Opt("left-shift-mark"),
        Opt("right-shift-mark"),
    )

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        super().parse(state, call)  # generic checks, value conversion
        name = call.opt.name
        value = state[name][0]
        working: dict[str, Any] = state.setdefault(
            _WORKING, {"mode": None, "ctmark": 0, "ctmask": UINT32_MAX, "nfmask": UINT32_MAX,
                       "shift_dir": SHIFT_LEFT, "shift_bits": 0})
        if name in MARK_OPERATIONS:
            working["mode"] = MODE_SET
            working["ctmark"], working["ctmask"] = xmark_pair(name, value)
        elif name == "save-mark":
            working["mode"] = MODE_SAVE
        elif name == "restore-mark":
            working["mode"] = MODE_RESTORE
        elif name == "mask":
            working["ctmask"] = working["nfmask"] = value
        elif name in ("ctmask", "nfmask"):
            working[name] = value
        else:
            working["shift_dir"] = SHIFT_LEFT if name == "left-shift-mark" else SHIFT_RIGHT
            working["shift_bits"] = value

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        name = opt.name
        if name in ("save-mark", "restore-mark"):
            return None
        assert value is not None
        if name in ("set-xmark", "set-mark"):
            return mark_mask_value(self.name, name, value)
        if name in ("left-shift-mark", "right-shift-mark"):
            return uint_value(self.name, name, value, 32)
        return uint_value(self.name, name, value)

    def finish(self, state: dict[str, Any], rule: RuleInProgress) -> ConnmarkTargetOptions:
        working = state.get(_WORKING)
        if working is None or working["mode"] is None:
            raise ParameterProblem("CONNMARK target: No operation specified")
        if len(state) > 2:  # the working structure and at least two options
            check_exclusive(self.name, state, _TABLE_ORDER, _ID_ORDER, _EXCLUDES)
        return self.build(state, rule)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> ConnmarkTargetOptions:
        return ConnmarkTargetOptions(**state[_WORKING])

    def save(self, options: ConnmarkTargetOptions) -> str:
        if options.mode == MODE_SET:
            text = f" --set-xmark {options.ctmark:#x}/{options.ctmask:#x}"
        else:
            text = (f" --{options.mode}-mark --nfmask {options.nfmask:#x}"
                    f" --ctmask {options.ctmask:#x}")
        if options.shift_bits:
            text += f" --{options.shift_dir}-shift-mark {options.shift_bits}"
        return text

    def listing(self, options: ConnmarkTargetOptions, numeric: bool) -> str:
        if options.mode == MODE_SET:
            text = f" CONNMARK {xmark_operation(options.ctmark, options.ctmask)}"
        else:
            # save copies ctmark -> nfmark under (nfmask, ctmask); restore the other way round.
            if options.mode == MODE_SAVE:
                first, second = ("nfmask", options.nfmask), ("ctmask", options.ctmask)
            else:
                first, second = ("ctmask", options.ctmask), ("nfmask", options.nfmask)
            text = f" CONNMARK {options.mode}"
            if first[1] != second[1]:
                text += f" {first[0]} {first[1]:#x} {second[0]} ~{second[1]:#x}"
            elif first[1] != UINT32_MAX:
                text += f" mask {first[1]:#x}"
        if options.shift_bits:
            text += f" {options.shift_dir}-shift-mark {options.shift_bits}"
        return text

    def check_entry(self, options: ConnmarkTargetOptions, ctx: CheckContext) -> None:
        if options.shift_bits > MAX_SHIFT_BITS:
            raise KernelRejection(f"CONNMARK: shift of {options.shift_bits} bits (at most 31)")


EXTENSIONS = (ConnmarkMatch(), ConnmarkTarget())
