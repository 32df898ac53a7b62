"""The contract every extension (match or target) follows.

An extension is an immutable object describing one iptables extension: its long options, how
each option's value is read, what its options look like once parsed (a frozen dataclass of its
own), how they print in ``iptables-save`` / ``-S`` and in ``-L``, and what the kernel's
checkentry would refuse (table, hooks, protocol). Parsing keeps its working state in a plain
dict the command parser owns, so extensions hold no state.

The generic messages below are xtables' own (``xtoptions.c``); an extension that, in iptables,
parses the old way with messages of its own overrides :meth:`Extension.parse`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from iptparse.errors import KernelRejection, ParameterProblem


@dataclass(frozen=True, slots=True)
class Opt:
    """One long option of an extension.

    ``key`` groups aliases (``--dport`` and ``--destination-port`` share one); ``arg`` says
    whether getopt requires a value; ``invert`` whether ``!`` may precede it; ``multi`` whether
    it may repeat; ``mandatory`` whether the extension needs it.
    """

    name: str
    arg: bool = True
    invert: bool = False
    key: str = ""
    multi: bool = False
    mandatory: bool = False
    # Where the parse state keeps the option: ``key`` or ``name`` (stored, read on every option).
    dest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dest", self.key or self.name)


class RuleInProgress:
    """The parts of the rule being parsed that extensions look at (``cb->xt_entry`` in xtables).

    Mutable on purpose: like iptables, an option sees the rule as it stands at that point in argv.
    """

    __slots__ = ("ipsets", "protocol", "protocol_invert", "table")

    def __init__(self, table: str, ipsets: frozenset[str] | None = None) -> None:
        self.table = table
        self.protocol: int | None = None
        self.protocol_invert = False
        # The ipsets that exist (iptables asks the kernel while parsing); None: any name goes.
        self.ipsets = ipsets


@dataclass(slots=True)
class OptionCall:
    """One occurrence of an option on the command line, handed to :meth:`Extension.parse`.

    ``take_word`` returns the next argv word and consumes it, or None at the end (for options
    that read more than one word, like ``--tcp-flags MASK COMP``); ``warn`` reports a warning
    iptables prints while parsing (the rule is still accepted).
    """

    opt: Opt
    value: str | None
    invert: bool
    rule: RuleInProgress
    take_word: Callable[[], str | None]
    peek_word: Callable[[], str | None]
    warn: Callable[[str], None] = lambda message: None  # the command parser collects them


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the kernel knows when it checks an entry at commit time."""

    table: str
    hooks: frozenset[str]  # built-in chains this rule can be reached from
    protocol: int | None
    protocol_invert: bool


class Extension:
    """Base of all matches and targets. Subclasses set the class attributes and override methods."""

    kind: ClassVar[str] = "match"  # "match" or "target"
    name: ClassVar[str] = ""
    options: ClassVar[tuple[Opt, ...]] = ()
    # Kernel constraints (xt_match/xt_target .table, .hooks, .proto); None means any.
    tables: ClassVar[frozenset[str] | None] = None
    hooks: ClassVar[frozenset[str] | None] = None
    proto: ClassVar[int | None] = None
    # Whether the kernel's checkentry turns connection tracking on in the namespace
    # (nf_ct_netns_get): without such a rule, packets carry no connection and nat never runs.
    needs_conntrack: ClassVar[bool] = False

    # --- parsing ----------------------------------------------------------------------------

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        """Record one option in ``state``: xtables' generic checks, then :meth:`convert`."""
        opt = call.opt
        if opt.dest in state and not opt.multi:
            raise ParameterProblem(f'{self.name}: option "--{opt.name}" can only be used once.\n')
        if call.invert and not opt.invert:
            raise ParameterProblem(f'{self.name}: option "--{opt.name}" cannot be inverted.\n')
        state[opt.dest] = (self.convert(opt, call.value, call), call.invert)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        """Turn one option's text into its value; default keeps the text."""
        return value

    def finish(self, state: dict[str, Any], rule: RuleInProgress) -> Any:
        """All options seen (x6_fcheck): check mandatory options and build the options value."""
        for opt in self.options:
            if opt.mandatory and opt.dest not in state:
                raise ParameterProblem(f'{self.name}: option "--{opt.name}" must be specified\n')
        return self.build(state, rule)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> Any:
        """Build the frozen options value from the parse state."""
        return None

    def parse_one(self, opt: Opt, value: str, rule: RuleInProgress) -> Any:
        """A shortcut for learned line shapes (grammar/shapes.py): the options value that
        :meth:`parse` then :meth:`finish` give when ``opt``, not inverted, with ``value`` is
        this extension's only option (``rule`` as it stands at that option, read only), or
        None when only they can say (an error, or a warning they would print). Overridden
        where kube-proxy's unique values make that path hot."""
        return None

    # (option, options it excludes, options it needs), in the extension's option order:
    # xtables' generic final check of .excl / .also (xtables_options_fcheck).
    combinations: ClassVar[tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = ()

    def check_combinations(self, state: dict[str, Any]) -> None:
        """xtables' messages for options used together that exclude or need each other."""
        for option, excluded, required in self.combinations:
            if option not in state:
                continue
            for other in excluded:
                if other in state:
                    raise ParameterProblem(
                        f'{self.name}: option "--{option}" cannot be used together with '
                        f'"--{other}".\n'
                    )
            for other in required:
                if other not in state:
                    raise ParameterProblem(
                        f'{self.name}: option "--{option}" also requires "--{other}".\n'
                    )

    # --- printing ---------------------------------------------------------------------------

    def save_name(self, options: Any) -> str:
        """The name printed after ``-m`` / ``-j`` (an alias may print another name)."""
        return self.name

    def save(self, options: Any) -> str:
        """Text printed after ``-m NAME`` / ``-j NAME`` in iptables-save and ``-S``.

        Like iptables' save functions, every word is preceded by one space: ``" --dport 80"``.
        """
        return ""

    def listing(self, options: Any, numeric: bool) -> str:
        """Text appended to a ``-L`` line (the C print function), leading space included."""
        return ""

    # --- kernel checks ----------------------------------------------------------------------

    def check(self, options: Any, ctx: CheckContext) -> None:
        """Refuse what the kernel's checkentry refuses; raise :class:`KernelRejection`."""
        if self.tables is not None and ctx.table not in self.tables:
            raise KernelRejection(f"{self.name}: only valid in table {sorted(self.tables)}")
        if self.hooks is not None and not ctx.hooks <= self.hooks:
            raise KernelRejection(f"{self.name}: bad hook {sorted(ctx.hooks - self.hooks)}")
        if self.proto is not None and (ctx.protocol != self.proto or ctx.protocol_invert):
            raise KernelRejection(f"{self.name}: only valid for protocol {self.proto}")
        self.check_entry(options, ctx)

    def check_entry(self, options: Any, ctx: CheckContext) -> None:
        """Extension-specific kernel checks beyond table/hook/protocol."""

    @property
    def checks_anything(self) -> bool:
        """Whether :meth:`check` can refuse anything (a commit skips extensions that cannot)."""
        return (self.tables is not None or self.hooks is not None or self.proto is not None
                or type(self).check is not Extension.check
                or type(self).check_entry is not Extension.check_entry)

    def enables_conntrack(self, options: Any) -> bool:
        """Whether a rule with these options turns connection tracking on (see
        ``needs_conntrack``; some targets decide by their options)."""
        return self.needs_conntrack


class MatchExtension(Extension):
    kind: ClassVar[str] = "match"


class TargetExtension(Extension):
    kind: ClassVar[str] = "target"


# Characters xtables_save_string prints without quotes.
_NO_QUOTE_CHARS = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def save_string(value: str) -> str:
    """A string option as iptables-save prints it (xtables_save_string), leading space included.

    Plain words print as they are; anything else is double-quoted with ``"``, ``\\`` and ``'``
    escaped by a backslash.
    """
    if value and all(ch in _NO_QUOTE_CHARS for ch in value):
        return " " + value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return f' "{escaped}"'
