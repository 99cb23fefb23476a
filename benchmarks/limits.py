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


def raise_open_files_to_hard(needed: int) -> int:
    """Lift the soft limit all the way to the hard one, for a bench whose children (a server, its broker)
    open sockets an estimate cannot count; warns if even the hard limit is below `needed`."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return raise_open_files(needed if hard == resource.RLIM_INFINITY else max(needed, hard))
