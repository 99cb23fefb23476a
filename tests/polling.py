"""The one way tests wait for something another thread or process does: poll a condition, fail by name."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(predicate: Callable[[], object], timeout: float = 5.0, what: str = "the condition", *,
               step: Callable[[], object] | None = None, interval: float = 0.02,
               explain: Callable[[], str] | None = None) -> None:
    """Return once `predicate()` is true; `step` runs before each look (e.g. pump a loop) instead of a sleep."""
    deadline = time.monotonic() + timeout
    while True:
        if step is not None:
            step()
        if predicate():
            return
        if time.monotonic() >= deadline:
            break
        if step is None:
            time.sleep(interval)
    why = f"; {explain()}" if explain is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{why}")
