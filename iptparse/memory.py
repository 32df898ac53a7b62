"""Building many long-lived objects without the cyclic garbage collector in the way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def building_long_lived() -> Iterator[None]:
    """For code that allocates a few objects per rule and frees few, the worst case for the
    cyclic collector (it scanned the whole heap again and again: over half the time of a
    compile of 10,000 services). Rule sets, Plans and their parts hold no reference cycles,
    so the collector is off meanwhile, and what was built is moved out of its sight afterwards
    (gc.freeze); objects dropped later are still freed, by their reference counts."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.freeze()
            gc.enable()
