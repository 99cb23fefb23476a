"""Process limits a benchmark raises for itself, so it measures the server and not the open-file limit."""

from __future__ import annotations

import resource


def raise_open_files(needed: int) -> int:
    """Lift the soft RLIMIT_NOFILE to `needed` (capped by the hard limit); children (the broker) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, needed) if hard == resource.RLIM_INFINITY else min(hard, max(soft, needed))
    if want != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < needed:
        print(f"warning: open-file limit {want} < {needed} needed (hard limit {hard}); raise it with ulimit -Hn")
    return want
