"""One supervised worker: its spec, process, state and restart history."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from claude_orchestrator.conf.team import WorkerSpec
from claude_orchestrator.supervisor.policy import RestartPolicy, RestartTracker
from claude_orchestrator.supervisor.states import ProcState, check_transition


class AfterStop(StrEnum):
    """What the pool does with a worker once a stop it asked for is done."""

    STOP = "stop"  # leave it stopped (down)
    RESTART = "restart"  # start it again (restart, a changed spec at reload)
    REMOVE = "remove"  # forget it (removed from the team file at reload)


class Proc(Protocol):
    """A started worker process, as the pool sees it (spawn's ``Child``, or a test's fake)."""

    @property
    def pid(self) -> int | None: ...


@dataclass
class Slot:
    spec: WorkerSpec
    tracker: RestartTracker
    state: ProcState = ProcState.STOPPED
    proc: Proc | None = None
    started_at: float | None = None
    last_exit: str | None = None
    due_mono: float | None = None  # BACKOFF: when to start again
    next_try_at: float | None = None  # the same, as epoch seconds for people
    stop_deadline: float | None = None  # STOPPING: when to SIGKILL the group
    after_stop: AfterStop = AfterStop.STOP  # what to do once stopped

    @classmethod
    def for_spec(cls, spec: WorkerSpec, policy: RestartPolicy | None = None) -> Slot:
        return cls(spec, RestartTracker(policy or RestartPolicy(mode=spec.restart)))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def move(self, new: ProcState) -> None:
        """The one place a slot changes state, checked against the table."""
        if new is not self.state:
            check_transition(self.state, new)
            self.state = new
