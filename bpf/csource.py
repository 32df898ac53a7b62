"""C source of the datapath as bcc must see it: one text with the local headers inlined.

bcc rewrites map operations (``ct_map.lookup(&key)``) only in the main file it compiles, not
in ``#include``d headers, so the headers of ``bpf/include/`` are pasted into the text in
place of their ``#include "name.h"`` lines (each once, like their include guards would).
System headers (``<uapi/linux/...>``) stay includes for bcc's own preprocessor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

INCLUDE_DIR = Path(__file__).resolve().parent / "include"
_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.MULTILINE)


def inline_includes(text: str, include_dir: Path = INCLUDE_DIR,
                    _seen: set[str] | None = None) -> str:
    """``text`` with every ``#include "x.h"`` replaced by x.h's (recursively inlined) text."""
    seen = set() if _seen is None else _seen

    def paste(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            return f"/* {name}: already included */"
        seen.add(name)
        body = (include_dir / name).read_text()
        return f"/* --- {name} --- */\n{inline_includes(body, include_dir, seen)}"

    return _LOCAL_INCLUDE.sub(paste, text)


def program_source(path: Path, defines: Mapping[str, int | str] | None = None,
                   include_dir: Path = INCLUDE_DIR) -> str:
    """The text of the C program at ``path`` with the datapath headers inlined, after
    ``#define``s overriding limits (consts.h's ``#ifndef`` defaults, BPFT_TABLE)."""
    head = "".join(f"#define {name} {value}\n" for name, value in (defines or {}).items())
    return head + inline_includes(path.read_text(), include_dir)
