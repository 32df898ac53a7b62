"""What a restarted agent comes back with: a snapshot in canonical save format and a journal.

Printing a 10,000-service rule set takes about a second, too long to do on every commit. So a
commit appends the command that made it (one JSON line, written with a single ``write``) to
``journal``, and a background thread now and then writes the whole rule set to ``rules.save``
(``iptables-save -c`` format, first line ``# bpftables snapshot seq=N``) and drops the journal's
lines it covers. Loading reads the snapshot and replays the journal lines after it; a line cut
short by a crash is not a command and is dropped, so a restart finds every table either as it
was before that command or as it was after, never a mix.

Folder and files are root's alone (0700/0600).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from iptparse.printer import table_save_lines

log = logging.getLogger(__name__)

STATE_ROOT = Path("/run/bpftables/state")
SNAPSHOT = "rules.save"
JOURNAL = "journal"
_SNAPSHOT_HEADER = re.compile(r"# bpftables snapshot seq=(\d+)")
# A snapshot is written once this many commands wait in the journal, or this long after a
# commit, whichever comes first.
SNAPSHOT_AFTER_RECORDS = 200
SNAPSHOT_DELAY_S = 2.0

# Replays one journaled command on a rule set: (ruleset, record) -> the rule set after it.
Replayer = Callable[[Ruleset, dict[str, Any]], Ruleset]


def state_folder(cookie: int, root: Path = STATE_ROOT) -> Path:
    """The namespace's state folder (named after its cookie, like its pin folder)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / f"net-{cookie}"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def ruleset_save_text(ruleset: Ruleset) -> str:
    lines: list[str] = []
    for table in ruleset.tables.values():
        lines.extend(table_save_lines(table, counters=True))
    return "".join(line + "\n" for line in lines)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class StateStore:
    """The snapshot and journal of one namespace's rule set."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seq = 0  # the last journaled command's number
        self.snapshot_seq = 0
        self._wake = threading.Event()

    # --- loading ---------------------------------------------------------------------------

    def load(self, replay: Replayer) -> Ruleset:
        ruleset = Ruleset()
        snapshot = self.folder / SNAPSHOT
        if snapshot.exists():
            text = snapshot.read_text(encoding="utf-8", errors="surrogateescape")
            found = _SNAPSHOT_HEADER.match(text)
            self.snapshot_seq = int(found.group(1)) if found else 0
            ruleset = Restorer().restore(text, Ruleset(), RestoreOptions(counters=True))
        self.seq = self.snapshot_seq
        replayed = 0
        for record in self._records():
            if record["seq"] <= self.seq:
                continue
            ruleset = replay(ruleset, record)
            self.seq = record["seq"]
            replayed += 1
        log.info("state: snapshot seq %d, %d journaled commands replayed", self.snapshot_seq,
                 replayed)
        return ruleset

    def _records(self) -> list[dict[str, Any]]:
        journal = self.folder / JOURNAL
        if not journal.exists():
            return []
        records = []
        with open(journal, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    log.warning("state: dropping a journal line cut short")
                    break
                try:
                    records.append(json.loads(raw))
                except ValueError:
                    log.warning("state: dropping an unreadable journal line")
                    break
        return records

    # --- writing ---------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> None:
        """Journal one committed command (caller holds the agent's state lock)."""
        self.seq += 1
        line = json.dumps({**record, "seq": self.seq}, ensure_ascii=False).encode(
            "utf-8", "surrogateescape") + b"\n"
        descriptor = os.open(self.folder / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                             0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
        self._wake.set()

    def write_snapshot(self, ruleset: Ruleset, seq: int) -> None:
        """The whole rule set as of journal number ``seq``."""
        _write_atomically(self.folder / SNAPSHOT,
                          f"# bpftables snapshot seq={seq}\n" + ruleset_save_text(ruleset))
        self.snapshot_seq = seq

    def compact(self) -> None:
        """Drop the journal lines the snapshot covers (caller holds the state lock)."""
        kept = [record for record in self._records() if record["seq"] > self.snapshot_seq]
        _write_atomically(self.folder / JOURNAL, "".join(
            json.dumps(record, ensure_ascii=False) + "\n" for record in kept))

    def snapshot_loop(self, current: Callable[[], tuple[Ruleset, int]],
                      state_lock: threading.RLock) -> threading.Thread:
        """A thread writing snapshots a little after commits (printing happens outside the
        lock; only the journal's compaction holds it)."""
        def loop() -> None:
            while True:
                self._wake.wait()
                self._wake.clear()
                deadline = time.monotonic() + SNAPSHOT_DELAY_S  # let a burst of commits end
                while (self.seq - self.snapshot_seq < SNAPSHOT_AFTER_RECORDS
                       and time.monotonic() < deadline):
                    time.sleep(0.05)
                try:
                    with state_lock:
                        ruleset, seq = current()
                    if seq == self.snapshot_seq:
                        continue
                    self.write_snapshot(ruleset, seq)
                    with state_lock:
                        self.compact()
                except Exception:  # the journal still has everything
                    log.exception("state: writing the snapshot failed")

        thread = threading.Thread(target=loop, name="snapshots", daemon=True)
        thread.start()
        return thread

    def flush(self, ruleset: Ruleset) -> None:
        """Snapshot now (an agent stopping cleanly)."""
        if self.seq != self.snapshot_seq:
            self.write_snapshot(ruleset, self.seq)
            self.compact()
