"""The states of one supervised process and the one table of legal changes between them.

Pure data: no I/O, no clock. The value of each state is what ``ps`` shows and what is
stored in ZooKeeper. Whoever owns a process's state calls ``check_transition`` before
every change, so an edge missing from ``TRANSITIONS`` fails loudly instead of drifting.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from claude_orchestrator.errors import OrchestratorError


class ProcState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    EXITED = "exited"
    FATAL = "fatal"


class IllegalStateChange(OrchestratorError):
    """A process state change that ``TRANSITIONS`` does not allow (a supervisor bug)."""

    def __init__(self, old: ProcState, new: ProcState) -> None:
        super().__init__(f"illegal process state change {old} -> {new}")
        self.old = old
        self.new = new


_S = ProcState

#: state -> the states it may change to. A same-state "change" is never a transition.
TRANSITIONS: Mapping[ProcState, frozenset[ProcState]] = MappingProxyType(
    {
        _S.STOPPED: frozenset(
            {
                _S.STARTING,  # STOPPED -> STARTING: up / restart spawned it
            }
        ),
        _S.STARTING: frozenset(
            {
                _S.RUNNING,  # STARTING -> RUNNING: registered / stayed up startsecs
                _S.BACKOFF,  # STARTING -> BACKOFF: died before startsecs, retry after a delay
                _S.STOPPING,  # STARTING -> STOPPING: down / restart while it was starting
                _S.EXITED,  # STARTING -> EXITED: died before startsecs, policy decides next
            }
        ),
        _S.RUNNING: frozenset(
            {
                _S.EXITED,  # RUNNING -> EXITED: died (reaped without being asked to stop)
                _S.STOPPING,  # RUNNING -> STOPPING: down / restart / reload sent TERM
            }
        ),
        _S.BACKOFF: frozenset(
            {
                _S.STARTING,  # BACKOFF -> STARTING: the backoff delay elapsed, spawn again
                _S.FATAL,  # BACKOFF -> FATAL: too many failures, give up
                _S.STOPPED,  # BACKOFF -> STOPPED: stop requested while waiting to retry
            }
        ),
        _S.STOPPING: frozenset(
            {
                _S.STOPPED,  # STOPPING -> STOPPED: reaped after TERM (or KILL at timeout)
            }
        ),
        _S.EXITED: frozenset(
            {
                _S.STARTING,  # EXITED -> STARTING: policy says restart now (delay 0)
                _S.BACKOFF,  # EXITED -> BACKOFF: policy says restart after a delay
                _S.STOPPED,  # EXITED -> STOPPED: policy says no restart
                _S.FATAL,  # EXITED -> FATAL: too many failures within the window
            }
        ),
        _S.FATAL: frozenset(
            {
                _S.STARTING,  # FATAL -> STARTING: an explicit up / restart clears it
                _S.STOPPED,  # FATAL -> STOPPED: down, or removed by reload
            }
        ),
    }
)


def check_transition(old: ProcState, new: ProcState) -> None:
    """Raise IllegalStateChange unless ``old -> new`` is an edge of ``TRANSITIONS``."""
    if new not in TRANSITIONS[old]:
        raise IllegalStateChange(old, new)
