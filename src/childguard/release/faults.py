"""Fault injection for the kill tests: `CHILDGUARD_KILL_AT=<point>[:<n>]` makes the process
SIGKILL itself the n-th time (default first) it passes `checkpoint(<point>)`.

This is a real `kill -9` at a chosen place, so the tests can prove that a release or an apply
killed there leaves nothing partial under a final name and that a re-run finishes correctly.
Unset (always, outside tests), a checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_seen: dict[str, int] = {}


def checkpoint(point: str) -> None:
    """SIGKILL this process here if `CHILDGUARD_KILL_AT` names this point (tests only)."""
    spec = os.environ.get("CHILDGUARD_KILL_AT")
    if not spec:
        return
    name, _, nth = spec.rpartition(":")
    if not nth.isdigit():
        name, nth = spec, "1"
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
