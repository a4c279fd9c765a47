"""Events posted to the supervisor loop (frozen, small, typed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.process import Child, ExitInfo


@dataclass(frozen=True)
class ChildExit:
    """A worker process was reaped (posted by its ``Child``'s exit callback)."""

    name: str
    child: Child  # which start of the worker: a slot matches it by identity, not by pid
    info: ExitInfo


@dataclass(frozen=True)
class InstancesChanged:
    """The names folder changed: someone registered or left."""


@dataclass(frozen=True)
class TasksChanged:
    """Tasks were pushed (the task counter changed)."""


@dataclass(frozen=True)
class ControlPending:
    """A control request may be waiting."""


class Signal(StrEnum):
    """What a signal asks of the supervisor (supervisor/signals.py receives them)."""

    TERM = "term"  # stop gracefully, with the timeout a `down` left in run/down.json
    INT = "int"  # stop gracefully (Ctrl-C, the dashboard's quit key)
    KILL = "kill"  # a second INT: stop now
    HUP = "hup"  # re-read the team file, as `reload`


@dataclass(frozen=True)
class SignalReceived:
    kind: Signal


@dataclass(frozen=True)
class Conn:
    state: str


@dataclass(frozen=True)
class ServerExit:
    """The embedded ZooKeeper server we started exited."""

    status: ExitStatus


@dataclass(frozen=True)
class Call:
    """Work the ZooKeeper lane hands back: it changes supervisor state, so it runs on
    the loop (the one writer)."""

    fn: Callable[[], None]


Event = (
    ChildExit
    | InstancesChanged
    | TasksChanged
    | ControlPending
    | SignalReceived
    | Conn
    | ServerExit
    | Call
)
