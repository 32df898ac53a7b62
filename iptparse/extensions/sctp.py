"""``-m sctp`` (also loaded by ``-p sctp``): SCTP ports and chunk types.

Behaviour read off iptables-legacy 1.8.9:

* ``[!] --sport``/``--source-port`` and ``[!] --dport``/``--destination-port`` take ``PORT`` or
  ``[FIRST]:[LAST]`` (service names looked up for sctp); each once (``Only one `--source-port'
  allowed``). Saved as one number when first == last, else ``FIRST:LAST``.
* ``[!] --chunk-types any|all|only LIST`` (type case-insensitive): LIST is ``ALL``, ``NONE`` or
  comma-separated chunk names (case-insensitive, empty items skipped), each with optional
  ``:FLAGS``. DATA and I_DATA take I U B E, ABORT and SHUTDOWN_COMPLETE take T; an upper-case
  letter requires the flag set, a lower-case one requires it clear, and once required set it
  stays set. Saved in chunk-number order, flags in the fixed order I U B E; I_DATA's flags are
  accepted but never printed.
* ``-L`` prints ``sctp``, ports as ``spt:``/``spts:`` (nothing for an uninverted 0:65535), and
  chunks by name, or as ``0x%04X`` with ``-n``.
* The kernel wants ``-p sctp`` (not negated).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress
from iptparse.grammar.tokens import parse_port_range, port_service_name
from iptparse.model import frozen_value

IPPROTO_SCTP = 132

# Known chunk types, in iptables' table order (the index is what "Invalid flags for chunk type N"
# reports): name, chunk type, flag letters accepted.
CHUNK_TABLE: tuple[tuple[str, int, str], ...] = (
    ("DATA", 0, "IUBE"), ("INIT", 1, ""), ("INIT_ACK", 2, ""), ("SACK", 3, ""),
    ("HEARTBEAT", 4, ""), ("HEARTBEAT_ACK", 5, ""), ("ABORT", 6, "T"), ("SHUTDOWN", 7, ""),
    ("SHUTDOWN_ACK", 8, ""), ("ERROR", 9, ""), ("COOKIE_ECHO", 10, ""), ("COOKIE_ACK", 11, ""),
    ("ECN_ECNE", 12, ""), ("ECN_CWR", 13, ""), ("SHUTDOWN_COMPLETE", 14, "T"),
    ("I_DATA", 64, "IUBE"), ("RE_CONFIG", 130, ""), ("PAD", 132, ""), ("ASCONF", 193, ""),
    ("ASCONF_ACK", 128, ""), ("FORWARD_TSN", 192, ""), ("I_FORWARD_TSN", 194, ""),
)
_CHUNK_BY_NAME = {name: (index, ctype, letters)
                  for index, (name, ctype, letters) in enumerate(CHUNK_TABLE)}
_CHUNK_NAME = {ctype: name for name, ctype, _ in CHUNK_TABLE}
# Flags iptables prints back (it keeps I_DATA's but does not show them).
_PRINTED_FLAGS = {0: "IUBE", 6: "T", 14: "T"}
_MATCH_TYPES = ("any", "all", "only")


@frozen_value
class ChunkFlags:
    """Flag requirements on one chunk type; bit i stands for the chunk's i-th flag letter."""

    chunk_type: int
    mask: int  # flags that must have a given value
    value: int  # of those, the ones that must be set


@frozen_value
class ChunkTypes:
    match_type: str  # "any", "all" or "only"
    types: tuple[int, ...]  # ascending; empty with all_types False is NONE
    all_types: bool = False
    flags: tuple[ChunkFlags, ...] = ()  # ascending by chunk type
    invert: bool = False


@frozen_value
class SctpOptions:
    sport: tuple[int, int] | None = None
    sport_invert: bool = False
    dport: tuple[int, int] | None = None
    dport_invert: bool = False
    chunks: ChunkTypes | None = None


@lru_cache(maxsize=256)
def parse_chunk_list(text: str) -> tuple[tuple[int, ...], bool, tuple[ChunkFlags, ...]]:
    """The chunk LIST of ``--chunk-types``: (types, all types, flag requirements)."""
    upper = text.upper()
    if upper == "ALL":
        return (), True, ()
    if upper == "NONE":
        return (), False, ()
    types: set[int] = set()
    masks: dict[int, list[int]] = {}
    for item in text.split(","):
        if not item:
            continue
        name, _, letters = item.partition(":")
        entry = _CHUNK_BY_NAME.get(name.upper())
        if entry is None:
            raise ParameterProblem(f"Unknown sctp chunk `{name}'")
        index, ctype, allowed = entry
        types.add(ctype)
        if not letters:
            continue
        mask_value = masks.setdefault(ctype, [0, 0])
        for letter in letters:
            position = allowed.find(letter.upper())
            if position < 0:
                raise ParameterProblem(f"Invalid flags for chunk type {index}")
            mask_value[0] |= 1 << position
            if letter.isupper():
                mask_value[1] |= 1 << position
    flags = tuple(ChunkFlags(ctype, mask, value)
                  for ctype, (mask, value) in sorted(masks.items()))
    return tuple(sorted(types)), False, flags


def _parse_ports(text: str) -> tuple[int, int]:
    return parse_port_range(text, "sctp")


def _ports_save(option: str, ports: tuple[int, int] | None, invert: bool) -> str:
    if ports is None:
        return ""
    low, high = ports
    text = str(low) if low == high else f"{low}:{high}"
    return f"{' !' if invert else ''} --{option} {text}"


def _port_name(port: int, numeric: bool) -> str:
    if numeric:
        return str(port)
    return port_service_name(port, "sctp") or str(port)


def _ports_listing(label: str, ports: tuple[int, int] | None, invert: bool,
                   numeric: bool) -> str:
    if ports is None:
        return ""
    low, high = ports
    if low == 0 and high == 0xFFFF and not invert:
        return ""
    mark = "!" if invert else ""
    if low == high:
        return f" {label}pt:{mark}{_port_name(low, numeric)}"
    return f" {label}pts:{mark}{_port_name(low, numeric)}:{_port_name(high, numeric)}"


def _chunk_list_text(chunks: ChunkTypes, numeric: bool) -> str:
    if chunks.all_types:
        return "ALL"
    if not chunks.types:
        return "NONE"
    flags = {item.chunk_type: item for item in chunks.flags}
    words: list[str] = []
    for ctype in chunks.types:
        word = f"0x{ctype:04X}" if numeric else _CHUNK_NAME.get(ctype, f"0x{ctype:04X}")
        requirement = flags.get(ctype)
        letters = _PRINTED_FLAGS.get(ctype, "")
        if requirement is not None and letters:
            shown = "".join(
                letter if requirement.value >> position & 1 else letter.lower()
                for position, letter in enumerate(letters)
                if requirement.mask >> position & 1
            )
            if shown:
                word += ":" + shown
        words.append(word)
    return ",".join(words)


class SctpMatch(MatchExtension):
    name = "sctp"
    proto = IPPROTO_SCTP
    options = (
        Opt("source-port", invert=True, key="sport"),
        Opt("sport", invert=True),
        Opt("destination-port", invert=True, key="dport"),
        Opt("dport", invert=True),
        Opt("chunk-types", invert=True),
    )

    def parse(self, state: dict[str, Any], call: OptionCall) -> None:
        # libxt_sctp reads its options itself, with messages of its own.
        dest = call.opt.dest
        assert call.value is not None
        if dest in ("sport", "dport"):
            if dest in state:
                long_name = "source-port" if dest == "sport" else "destination-port"
                raise ParameterProblem(f"Only one `--{long_name}' allowed")
            state[dest] = (_parse_ports(call.value), call.invert)
            return
        if "chunk-types" in state:
            raise ParameterProblem("Only one `--chunk-types' allowed")
        following = call.peek_word()
        if following is None or following[:1] in ("-", "!"):
            raise ParameterProblem("--chunk-types requires two args")
        call.take_word()
        match_type = call.value.lower()
        if match_type not in _MATCH_TYPES:
            raise ParameterProblem('Match type has to be one of "ALL", "ANY" or "ONLY"')
        types, all_types, flags = parse_chunk_list(following)
        state["chunk-types"] = ChunkTypes(match_type, types, all_types, flags, call.invert)

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> SctpOptions:
        sport, sport_invert = state.get("sport", (None, False))
        dport, dport_invert = state.get("dport", (None, False))
        return SctpOptions(sport, sport_invert, dport, dport_invert, state.get("chunk-types"))

    def save(self, options: SctpOptions) -> str:
        text = _ports_save("sport", options.sport, options.sport_invert)
        text += _ports_save("dport", options.dport, options.dport_invert)
        chunks = options.chunks
        if chunks is not None:
            text += (f"{' !' if chunks.invert else ''} --chunk-types {chunks.match_type} "
                     f"{_chunk_list_text(chunks, numeric=False)}")
        return text

    def listing(self, options: SctpOptions, numeric: bool) -> str:
        text = " sctp"
        text += _ports_listing("s", options.sport, options.sport_invert, numeric)
        text += _ports_listing("d", options.dport, options.dport_invert, numeric)
        chunks = options.chunks
        if chunks is not None:
            text += (f"{' !' if chunks.invert else ''} {chunks.match_type} "
                     f"{_chunk_list_text(chunks, numeric)}")
        return text


EXTENSIONS = (SctpMatch(),)
