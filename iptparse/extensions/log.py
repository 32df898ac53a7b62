"""``-j LOG``: log matching packets to the kernel log.

Behaviour read off iptables-legacy 1.8.9 (see tests/unit/test_ext_log.py):

- ``--log-level`` takes a syslog name (case-sensitive: emerg, panic, alert, crit, error,
  warning, notice, info, debug) or a number 0-7 read like ``strtoul(.., 0)``; the default 4 is
  not saved; a name saves as its number.
- ``--log-prefix`` keeps at most 29 bytes (silently cut); empty and newline-bearing prefixes are
  refused.
- The flag options save in a fixed order whatever the command line order.
- LOG is allowed in every table and chain.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import (
    Opt,
    OptionCall,
    RuleInProgress,
    TargetExtension,
    save_string,
)
from iptparse.grammar.tokens import c_uint
from iptparse.model import frozen_value

PREFIX_MAX_BYTES = 29  # the kernel's prefix[30] with its NUL
DEFAULT_LEVEL = 4

LEVEL_NAMES = {"alert": 1, "crit": 2, "debug": 7, "emerg": 0, "error": 3, "info": 6,
               "notice": 5, "panic": 0, "warning": 4}
# What -L (without -n) prints for each level.
LEVEL_LISTING = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")

# (option, bit, -L word) in the order iptables prints them.
LOG_FLAGS: tuple[tuple[str, int, str], ...] = (
    ("log-tcp-sequence", 0x01, "tcp-sequence"),
    ("log-tcp-options", 0x02, "tcp-options"),
    ("log-ip-options", 0x04, "ip-options"),
    ("log-uid", 0x08, "uid"),
    ("log-macdecode", 0x20, "macdecode"),
)


@lru_cache(maxsize=64)
def parse_log_level(text: str) -> int:
    if text in LEVEL_NAMES:
        return LEVEL_NAMES[text]
    value = c_uint(text)
    if value is None or value > 7:
        raise ParameterProblem(f'log level "{text}" unknown\n')
    return value


def truncate_prefix(text: str) -> str:
    """The prefix the kernel keeps: the first 29 bytes (a cut character stays cut)."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= PREFIX_MAX_BYTES:
        return text
    return data[:PREFIX_MAX_BYTES].decode("utf-8", "surrogateescape")


@frozen_value
class LogOptions:
    level: int = DEFAULT_LEVEL
    prefix: str = ""
    flags: int = 0


class LogTarget(TargetExtension):
    name = "LOG"
    options = (
        Opt("log-level"),
        Opt("log-prefix"),
        *(Opt(option, arg=False) for option, _, _ in LOG_FLAGS),
    )

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        if opt.name == "log-level":
            assert value is not None
            return parse_log_level(value)
        if opt.name == "log-prefix":
            assert value is not None
            if not value:
                raise ParameterProblem("Argument must have a minimum length of 1 characters\n")
            if "\n" in value:
                raise ParameterProblem("Newlines not allowed in --log-prefix")
            return truncate_prefix(value)
        return True

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> LogOptions:
        flags = 0
        for option, bit, _ in LOG_FLAGS:
            if option in state:
                flags |= bit
        level = state["log-level"][0] if "log-level" in state else DEFAULT_LEVEL
        prefix = state["log-prefix"][0] if "log-prefix" in state else ""
        return LogOptions(level, prefix, flags)

    def save(self, options: LogOptions) -> str:
        text = ""
        if options.prefix:
            text += " --log-prefix" + save_string(options.prefix)
        if options.level != DEFAULT_LEVEL:
            text += f" --log-level {options.level}"
        for option, bit, _ in LOG_FLAGS:
            if options.flags & bit:
                text += f" --{option}"
        return text

    def listing(self, options: LogOptions, numeric: bool) -> str:
        if numeric:
            text = f" LOG flags {options.flags} level {options.level}"
        else:
            text = f" LOG level {LEVEL_LISTING[options.level]}"
            for _, bit, word in LOG_FLAGS:
                if options.flags & bit:
                    text += f" {word}"
        if options.prefix:
            text += f' prefix "{options.prefix}"'
        return text


EXTENSIONS = (LogTarget(),)
