"""Signalling and clearing whole process groups and sessions.

A worker is its session's leader (the supervisor starts it with ``setsid``);
the agent it runs gets a process group of its own *inside the worker's
session*. So the session id names everything a worker started, whichever
group it sits in, and it outlives the worker: an agent whose worker was
SIGKILLed keeps the dead worker's pid as its session id. ``kill_session``
is how the supervisor makes sure no agent outlives its worker.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

STRAGGLER_TIMEOUT = 2.0  # how long SIGKILLed members may take to die


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a whole process group; False when nothing of it is left (or not ours)."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(pgid: int) -> bool:
    return signal_group(pgid, signal.SIGKILL)


def clear_group(pgid: int) -> None:
    """After the leader's exit, SIGKILL whatever is left of its group until it is dead."""
    if signal_group(pgid, 0):  # the cheap check first: the usual case is an empty group
        _clear(lambda pid: os.getpgid(pid) == pgid, f"process group {pgid}")


def kill_session(sid: int, wait: bool = True) -> list[int]:
    """SIGKILL every live process of session ``sid`` (never our own); return their pids.

    Members are killed one by one (they may sit in several process groups). With ``wait``
    the scan repeats until none is left running, so a member that forked meanwhile is
    caught too; without, one pass (about a millisecond) and no waiting.
    """
    if sid <= 1 or sid == os.getsid(0):
        return []
    belongs = _in_session(sid)
    if wait:
        return _clear(belongs, f"session {sid}")
    members = _members(belongs)
    for pid in members:
        _kill(pid)
    return members


def _in_session(sid: int) -> Callable[[int], bool]:
    return lambda pid: os.getsid(pid) == sid


def _clear(belongs: Callable[[int], bool], what: str) -> list[int]:
    killed: list[int] = []
    deadline = time.monotonic() + STRAGGLER_TIMEOUT
    while members := _members(belongs):
        for pid in members:
            _kill(pid)
        killed += [p for p in members if p not in killed]
        if time.monotonic() > deadline:
            log.warning("%s still running after SIGKILL: %s", what, members)
            break
        time.sleep(0.002)  # SIGKILL takes effect at the target's next scheduling
    if killed:
        log.info("%s: killed %s", what, killed)
    return killed


def _members(belongs: Callable[[int], bool]) -> list[int]:
    import psutil  # here: a worker imports this module long before any group is left to clear

    me = os.getpid()
    out = []
    for pid in psutil.pids():
        if pid == me:
            continue
        try:
            if belongs(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except (OSError, psutil.Error):
            continue
    return out


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
