"""The pool follows the restart policy's ``Decision.next_state`` when a worker exits on its own.

A unit test of ``WorkerPool._apply_decision``: no process, no ZooKeeper; starting a worker is
replaced by a recorder, and the events the pool emits are collected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.conf.team import WorkerSpec
from claude_orchestrator.supervisor import events as ev
from claude_orchestrator.supervisor.policy import Action, Decision
from claude_orchestrator.supervisor.pool import WorkerPool
from claude_orchestrator.supervisor.runfiles import RunFiles
from claude_orchestrator.supervisor.slots import Slot
from claude_orchestrator.supervisor.states import ProcState

S = ProcState


class RecordingPool(WorkerPool):
    """A pool whose starts and events are recorded instead of run."""

    def __init__(self, state_dir: Path) -> None:
        self.slots = {}
        self.run_files = RunFiles(state_dir)
        self.emitted: list[tuple[str, str | None, str]] = []
        self.started: list[str] = []

    def start(self, slot: Slot) -> None:
        self.started.append(slot.name)
        slot.move(S.STARTING)

    def emit(self, kind: str, worker: str | None, text: str, task: str | None = None) -> None:
        self.emitted.append((kind, worker, text))

    def post(self, event: ev.Event) -> None:
        raise AssertionError("not expected here")

    def changed(self) -> None:
        pass


def exited_slot(pool: RecordingPool, tmp_path: Path) -> Slot:
    slot = Slot.for_spec(WorkerSpec("w", "worker", tmp_path, "shell"))
    slot.state = S.EXITED  # as on_child_exit leaves it before applying the decision
    pool.slots[slot.name] = slot
    return slot


@pytest.mark.parametrize(
    ("decision", "state", "event", "started"),
    [
        (Decision(Action.RESTART, 0.0, "r"), S.STARTING, "restarted", ["w"]),
        (Decision(Action.RESTART, 2.0, "r"), S.BACKOFF, "backoff", []),
        (Decision(Action.FATAL, 0.0, "r"), S.FATAL, "fatal", []),
        (Decision(Action.STOP, 0.0, "r"), S.STOPPED, "stopped", []),
    ],
)
def test_pool_moves_an_exited_worker_to_the_decisions_next_state(
    tmp_path: Path, decision: Decision, state: ProcState, event: str, started: list[str]
) -> None:
    (tmp_path / "run").mkdir()
    pool = RecordingPool(tmp_path)
    slot = exited_slot(pool, tmp_path)
    pool._apply_decision(slot, decision)
    assert slot.state is state is decision.next_state
    assert pool.emitted == [(event, "w", "r")] and pool.started == started
    assert (slot.due_mono is not None) is (state is S.BACKOFF)
