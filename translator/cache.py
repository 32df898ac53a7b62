"""Results remembered per object, for objects that are reused rather than rebuilt: the restore
parser hands back the same Rule and Chain objects for unchanged lines and chains, the compiler
the same ChainPlan for an unchanged chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class IdentityCache(Generic[Key, Value]):
    """``compute(obj)`` once per object, keyed by identity (frozen dataclasses compare and
    hash field by field, which costs what computing would). The object is held with its
    result, so its id is never reused while the entry lives."""

    def __init__(self, compute: Callable[[Key], Value]) -> None:
        self._compute = compute
        self._known: dict[int, tuple[Key, Value]] = {}

    def __call__(self, obj: Key) -> Value:
        known = self._known.get(id(obj))
        if known is None or known[0] is not obj:
            known = (obj, self._compute(obj))
            self._known[id(obj)] = known
        return known[1]

    def get(self, obj: Key) -> Value | None:
        """The result known for ``obj``, or None (nothing is computed)."""
        known = self._known.get(id(obj))
        return known[1] if known is not None and known[0] is obj else None

    def put(self, obj: Key, value: Value) -> None:
        """Remember ``value`` as ``obj``'s result (found another way than computing it)."""
        self._known[id(obj)] = (obj, value)

    def __len__(self) -> int:
        return len(self._known)

    def keep_only(self, live: Iterable[Key]) -> None:
        """Forget every object but ``live`` ones (call when the cache has grown well past what
        is live, so the cost is spread)."""
        wanted = {id(obj) for obj in live}
        self._known = {key: value for key, value in self._known.items() if key in wanted}
