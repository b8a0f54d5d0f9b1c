"""Small helpers shared by the benchmarks: timing and a plain-text results table."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """Measure wall-clock seconds of a block: ``with stopwatch() as t: ...; t["seconds"]``."""
    result = {"seconds": 0.0}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Run `fn` and return its result and the seconds it took."""
    with stopwatch() as clock:
        value = fn()
    return value, clock["seconds"]


def table(rows: list[dict[str, object]]) -> str:
    """Left-aligned text table of `rows` (dicts with the same keys); floats get 2 decimals."""
    if not rows:
        return ""
    heads = list(rows[0])
    cells = [[f"{r[h]:.2f}" if isinstance(r[h], float) else str(r[h]) for h in heads] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
