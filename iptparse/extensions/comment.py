"""``-m comment --comment TEXT``: matches everything, carries a note (at most 255 characters)."""

from __future__ import annotations

from typing import Any

from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress, save_string
from iptparse.model import frozen_value

COMMENT_MAX = 256  # XT_MAX_COMMENT_LEN, NUL included


@frozen_value
class CommentOptions:
    comment: str


class CommentMatch(MatchExtension):
    name = "comment"
    options = (Opt("comment", mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        if value.isascii() and len(value) < COMMENT_MAX:
            return value  # one byte per character: nothing to cut
        # iptables copies at most 255 bytes into the kernel structure and drops the rest.
        return value.encode()[: COMMENT_MAX - 1].decode(errors="ignore")

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> CommentOptions:
        return CommentOptions(state["comment"][0])

    def parse_one(self, opt: Opt, value: str, rule: RuleInProgress) -> CommentOptions | None:
        if value.isascii() and len(value) < COMMENT_MAX:
            return CommentOptions(value)
        return None

    def save(self, options: CommentOptions) -> str:
        return " --comment" + save_string(options.comment)

    def listing(self, options: CommentOptions, numeric: bool) -> str:
        return f" /* {options.comment} */"


EXTENSIONS = (CommentMatch(),)
