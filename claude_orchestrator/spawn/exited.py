"""Waiting for processes that are not our children to exit.

A process has exited once it is a zombie: what is left is its parent's (or init's) reaping,
which for a detached supervisor or its orphaned workers is init's and takes up to seconds
here. ``psutil.wait_procs`` waits for the pid itself to vanish, so it would wait for that too.
No event tells another process's exit: this polls, backing off.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import psutil


def running(proc: psutil.Process) -> bool:
    """Not exited: the same process (not one that reused its pid) and not a zombie."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def wait_exited(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` for every process to exit; those still running then."""
    left = [proc for proc in procs if running(proc)]
    deadline = time.monotonic() + timeout
    pause = 0.001
    while left and time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.05)
        left = [proc for proc in left if running(proc)]
    return left
