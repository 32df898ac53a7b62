"""``-m mark --mark VALUE[/MASK]`` and ``-j MARK`` (revision 2: set-xmark and its shorthands).

Behaviour read off iptables-legacy 1.8.9 (the oracle):

* Every MARK operation is stored as one XOR-mark pair (``mark``, ``mask``): the packet mark
  becomes ``(nfmark & ~mask) ^ mark``. ``--set-mark V/M`` is ``V/(M|V)``, ``--and-mark V`` is
  ``0/~V``, ``--or-mark V`` is ``V/V``, ``--xor-mark V`` is ``V/0``; iptables-save always prints
  ``--set-xmark 0xV/0xM`` and ``-L`` names the operation the pair amounts to.
* The MARK target is accepted in every table and chain of this kernel.
* Numbers are read as C's strtoul with base 0 (leading blanks and ``+`` allowed, ``-`` refused,
  ``010`` is octal); the helpers below are shared with :mod:`iptparse.extensions.connmark`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import (
    MatchExtension,
    Opt,
    OptionCall,
    RuleInProgress,
    TargetExtension,
)
from iptparse.grammar.tokens import c_strtoul_rest, c_uint
from iptparse.model import frozen_value

UINT32_MAX = 0xFFFFFFFF


def read_c_ulong(text: str, high: int = UINT32_MAX) -> tuple[int | None, str]:
    """``strtoul(text, &end, 0)`` as xtables checks it: (value, text after the number).

    The value is None when there is no number, when it is negative or exceeds ``high``.
    """
    found = c_strtoul_rest(text)
    if found is None or found[0] > high:
        return None, text
    return found


# Outcomes of parse_mark_mask_word besides a (value, mask) pair.
BAD_INTEGER = "bad"
TRAILING_GARBAGE = "garbage"


@lru_cache(maxsize=4096)
def parse_mark_mask_word(text: str) -> tuple[int, int] | str:
    """``VALUE[/MASK]`` (xtables XTTYPE_MARKMASK32): the pair, or BAD_INTEGER/TRAILING_GARBAGE.

    The mask defaults to 0xffffffff.
    """
    value, rest = read_c_ulong(text)
    if value is None:
        return BAD_INTEGER
    if rest == "":
        return value, UINT32_MAX
    if rest[0] != "/":
        return TRAILING_GARBAGE
    mask, rest = read_c_ulong(rest[1:])
    if mask is None:
        return BAD_INTEGER
    if rest:
        return TRAILING_GARBAGE
    return value, mask


def mark_mask_value(ext_name: str, option: str, text: str) -> tuple[int, int]:
    """parse_mark_mask_word with xtables' messages for option ``--option``."""
    result = parse_mark_mask_word(text)
    if isinstance(result, tuple):
        return result
    if result == BAD_INTEGER:
        raise ParameterProblem(
            f'{ext_name}: bad integer value for option "--{option}", or out of range.\n'
        )
    raise ParameterProblem(f'{ext_name}: trailing garbage after value for option "--{option}".\n')


def uint_value(ext_name: str, option: str, text: str, high: int = UINT32_MAX) -> int:
    """c_uint with xtables' message for option ``--option``."""
    value = c_uint(text, high)
    if value is None:
        raise ParameterProblem(
            f'{ext_name}: bad value for option "--{option}", or out of range (0-{high}).\n'
        )
    return value


def check_exclusive(ext_name: str, state: Mapping[str, Any], table_order: tuple[str, ...],
                    id_order: tuple[str, ...], excludes: Mapping[str, frozenset[str]]) -> None:
    """xtables' final check of mutually exclusive options.

    The option reported first is the first one given in ``table_order`` that conflicts with
    another given one; the second is its first conflicting option in ``id_order``. (The two
    orders differ in some extensions; both were read off the oracle's messages.)
    """
    if len(state) < 2:
        return  # one option cannot conflict (the common case)
    for name in table_order:
        if name not in state:
            continue
        conflicts = excludes.get(name, frozenset())
        for other in id_order:
            if other != name and other in conflicts and other in state:
                raise ParameterProblem(
                    f'{ext_name}: option "--{name}" cannot be used together with "--{other}".\n'
                )


def format_mark_mask(value: int, mask: int) -> str:
    """``0xV`` when the mask is all ones, else ``0xV/0xM`` (mark and connmark matches)."""
    if mask == UINT32_MAX:
        return f"{value:#x}"
    return f"{value:#x}/{mask:#x}"


def xmark_operation(mark: int, mask: int) -> str:
    """How ``-L`` names an XOR-mark pair (MARK and CONNMARK targets): ``set 0x1`` etc."""
    if mark == 0:
        return f"and {~mask & UINT32_MAX:#x}"
    if mark == mask:
        return f"or {mark:#x}"
    if mask == 0:
        return f"xor {mark:#x}"
    if mask == UINT32_MAX:
        return f"set {mark:#x}"
    return f"xset {mark:#x}/{mask:#x}"


def xmark_pair(option: str, value: Any) -> tuple[int, int]:
    """The XOR-mark pair one MARK/CONNMARK operation option stands for."""
    if option == "set-xmark":
        return value
    if option == "set-mark":
        mark, mask = value
        return mark, mask | mark
    if option == "and-mark":
        return 0, ~value & UINT32_MAX
    if option == "or-mark":
        return value, value
    assert option == "xor-mark", option
    return value, 0


# --- -m mark ------------------------------------------------------------------------------------


@frozen_value
class MarkMatchOptions:
    mark: int
    mask: int = UINT32_MAX
    invert: bool = False


class MarkMatch(MatchExtension):
    name = "mark"
    options = (Opt("mark", invert=True, mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        return mark_mask_value(self.name, opt.name, value)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> MarkMatchOptions:
        (mark, mask), invert = state["mark"]
        return MarkMatchOptions(mark, mask, invert)

    def save(self, options: MarkMatchOptions) -> str:
        inverted = " !" if options.invert else ""
        return f"{inverted} --mark {format_mark_mask(options.mark, options.mask)}"

    def listing(self, options: MarkMatchOptions, numeric: bool) -> str:
        inverted = "! " if options.invert else ""
        return f" mark match {inverted}{format_mark_mask(options.mark, options.mask)}"


# --- -j MARK ------------------------------------------------------------------------------------

MARK_OPERATIONS = ("set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark")
_MARK_EXCLUDES = {name: frozenset(MARK_OPERATIONS) for name in MARK_OPERATIONS}


@frozen_value
class MarkTargetOptions:
    """The kernel's xt_mark_tginfo2: the new mark is ``(old & ~mask) ^ mark``."""

    mark: int
    mask: int


class MarkTarget(TargetExtension):
    kind = "target"
    name = "MARK"
    options = (
        Opt("set-xmark"),
        Opt("set-mark"),
        Opt("and-mark"),
        Opt("or-mark"),
        Opt("xor-mark"),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        if opt.name in ("set-xmark", "set-mark"):
            return mark_mask_value(self.name, opt.name, value)
        return uint_value(self.name, opt.name, value)

    def finish(self, state: dict[str, Any], rule: RuleInProgress) -> MarkTargetOptions:
        if not state:
            raise ParameterProblem(
                "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required"
            )
        check_exclusive(self.name, state, MARK_OPERATIONS, MARK_OPERATIONS, _MARK_EXCLUDES)
        return self.build(state, rule)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> MarkTargetOptions:
        (option, (value, _invert)), = state.items()
        return MarkTargetOptions(*xmark_pair(option, value))

    def save(self, options: MarkTargetOptions) -> str:
        return f" --set-xmark {options.mark:#x}/{options.mask:#x}"

    def listing(self, options: MarkTargetOptions, numeric: bool) -> str:
        return f" MARK {xmark_operation(options.mark, options.mask)}"


EXTENSIONS = (MarkMatch(), MarkTarget())
