"""The xtables lock as iptables-legacy 1.8.9 takes it: ``flock`` on a lock file.

What the oracle showed (tests/differential/test_commands_vs_legacy.py keeps it true):

- the file is ``$XTABLES_LOCKFILE`` when set and not empty, else ``/run/xtables.lock``; it is
  opened ``O_CREAT`` read-only, mode 0600; when that fails iptables prints
  ``Fatal: can't open lock file PATH: STRERROR`` and exits 4;
- without ``-w``, with ``-w`` alone and with ``-w 0`` (or a negative value) iptables waits for
  the lock as long as it takes; ``-w N`` (N > 0) waits N seconds, then prints
  ``Can't lock PATH: Resource temporarily unavailable`` and
  ``Another app is currently holding the xtables lock. Stopped waiting after Ns.``, exit 4;
- ``-W`` (the wait interval) is deprecated and changes nothing; nothing is printed while waiting.

One :class:`XtablesLock` is one open file description, so two of them in one process conflict
exactly like two iptables processes.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field

from iptparse.errors import ResourceProblem

DEFAULT_LOCK_PATH = "/run/xtables.lock"
# How often a bounded wait retries the non-blocking flock.
_RETRY_SECONDS = 0.01


class LockFailed(ResourceProblem):
    """The lock was not obtained: ``stderr`` is everything iptables printed (exit 4)."""

    def __init__(self, stderr: str) -> None:
        super().__init__(stderr.rstrip("\n"))
        self.stderr = stderr


def lock_path(env_value: str | None) -> str:
    """The lock file iptables uses given the caller's ``XTABLES_LOCKFILE`` (None: unset)."""
    return env_value if env_value else DEFAULT_LOCK_PATH


@dataclass
class XtablesLock:
    """The lock of one command; :meth:`acquire` as iptables does, :meth:`release` at its end."""

    path: str = DEFAULT_LOCK_PATH
    fd: int | None = field(default=None, init=False)

    def acquire(self, wait: float | None, interval: float | None = None) -> list[str]:
        """Take the lock; ``wait`` is ``-w``'s seconds (None: no ``-w``; ``math.inf``: ``-w``).

        Returns the stderr lines printed while waiting (none in 1.8.9); raises
        :class:`LockFailed` when the file cannot be opened or the wait ran out. ``interval``
        (``-W``) is accepted and ignored, as 1.8.9 ignores it.
        """
        del interval
        if self.fd is not None:
            return []
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise LockFailed(
                f"Fatal: can't open lock file {self.path}: {os.strerror(error.errno or 0)}\n"
            ) from error
        try:
            if wait is None or wait <= 0 or wait == float("inf"):
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                self._wait_bounded(fd, int(wait))
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return []

    def _wait_bounded(self, fd: int, seconds: int) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockFailed(
                    f"Can't lock {self.path}: Resource temporarily unavailable\n"
                    "Another app is currently holding the xtables lock. "
                    f"Stopped waiting after {seconds}s.\n"
                )
            time.sleep(min(_RETRY_SECONDS, remaining))

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> XtablesLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
