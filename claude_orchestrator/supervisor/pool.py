"""The pool: the supervisor's workers converging on their target.

``WorkerPool(specs, spawner, clock)`` owns the slots — one per worker of the
team file — and nothing else: it starts processes through its ``Spawner``,
reads time from its ``Clock``, and returns what the rest of the supervisor
must do as effects (supervisor/effects.py): event lines, a dead worker's tasks
to put back, "the states changed". No ZooKeeper, no files, no threads, so the
whole lifecycle is testable with a fake spawner and a fake clock
(tests/test_pool.py). Everything here runs on the supervisor's one loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from claude_orchestrator.conf.team import WorkerSpec
from claude_orchestrator.errors import ConfigError, SpawnError
from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.process import ExitInfo
from claude_orchestrator.supervisor.effects import CHANGED, Effect, Note, Outcome, PutBack
from claude_orchestrator.supervisor.policy import Decision, Exit
from claude_orchestrator.supervisor.slots import AfterStop, Proc, Slot
from claude_orchestrator.supervisor.states import ProcState

S = ProcState

#: the event shown when an exited worker moves on to each state
_EXIT_EVENTS = {
    S.STARTING: "restarted",
    S.BACKOFF: "backoff",
    S.FATAL: "fatal",
    S.STOPPED: "stopped",
}


class Spawner(Protocol):
    """Starts worker processes and signals their process groups (supervisor/spawner.py)."""

    def spawn(self, spec: WorkerSpec) -> Proc: ...

    def terminate(self, pid: int) -> None: ...

    def kill(self, pid: int) -> None: ...

    def after_exit(self, pid: int) -> None: ...

    def exit_reason(self, name: str, status: ExitStatus) -> str: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The clock of a real supervisor."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class WorkerPool:
    def __init__(
        self,
        specs: Iterable[WorkerSpec],
        spawner: Spawner,
        clock: Clock,
        down_timeout: float = 10.0,
    ) -> None:
        self.specs = {spec.name: spec for spec in specs}  # the target
        self.spawner = spawner
        self.clock = clock
        self.down_timeout = down_timeout
        self.slots: dict[str, Slot] = {}

    # -- queries ------------------------------------------------------------
    def states(self) -> dict[str, str]:
        return {name: slot.state.value for name, slot in self.slots.items()}

    def all_stopped(self) -> bool:
        return all(slot.proc is None for slot in self.slots.values())

    def any_starting(self) -> bool:
        return any(slot.state is S.STARTING for slot in self.slots.values())

    def in_state(self, state: ProcState) -> list[tuple[str, int]]:
        """(name, pid) of the workers in ``state`` that have a process."""
        return [
            (s.name, s.pid) for s in self.slots.values() if s.state is state and s.pid is not None
        ]

    def next_due(self) -> float | None:
        """The earliest monotonic time ``converge`` has something to do."""
        dues = [
            due
            for slot in self.slots.values()
            for due in (slot.due_mono, slot.stop_deadline)
            if due is not None
        ]
        return min(dues, default=None)

    # -- commands -----------------------------------------------------------
    def bring_up(self, only: tuple[str, ...] = ()) -> Outcome:
        """Start the named (or all) workers that are not running; clear FATAL."""
        out: list[Effect] = []
        started, kept = [], []
        for spec in self._specs(only):
            slot = self.slots.setdefault(spec.name, Slot.for_spec(spec))
            if slot.state in (S.STOPPED, S.FATAL, S.BACKOFF):
                slot.tracker.reset()
                self._start(slot, out)
                started.append(spec.name)
            else:
                kept.append(spec.name)
        return Outcome({"started": started, "kept": kept}, out)

    def _specs(self, only: tuple[str, ...]) -> list[WorkerSpec]:
        unknown = [n for n in only if n not in self.specs]
        if unknown:
            raise ConfigError(
                f"unknown worker(s) {', '.join(unknown)} "
                f"(the team file has: {', '.join(self.specs) or 'none'})"
            )
        return [self.specs[n] for n in only] if only else list(self.specs.values())

    def restart(self, names: tuple[str, ...] = ()) -> Outcome:
        """Stop and start the named (or all) workers; one not running starts at once."""
        chosen = list(names or self.slots)
        unknown = [n for n in chosen if n not in self.slots]
        if unknown:
            return Outcome({"error": f"unknown worker(s): {', '.join(unknown)}"}, [])
        out: list[Effect] = []
        for name in chosen:
            slot = self.slots[name]
            if not self._stop(slot, AfterStop.RESTART, None, out):
                slot.tracker.reset()
                self._start(slot, out)
        return Outcome({"restarted": chosen, "started": [], "stopped": [], "kept": []}, out)

    def reload(self, specs: Iterable[WorkerSpec]) -> Outcome:
        """A new target: start added workers, stop removed ones, restart changed ones."""
        self.specs = {spec.name: spec for spec in specs}
        out: list[Effect] = []
        reply: dict[str, list[str]] = {"started": [], "stopped": [], "restarted": [], "kept": []}
        for name in [n for n in self.slots if n not in self.specs]:
            if not self._stop(self.slots[name], AfterStop.REMOVE, None, out):
                self.slots.pop(name, None)
            reply["stopped"].append(name)
        for name, spec in self.specs.items():
            slot = self.slots.get(name)
            if slot is None:
                self.slots[name] = slot = Slot.for_spec(spec)
                self._start(slot, out)
                reply["started"].append(name)
            elif slot.spec != spec:
                slot.spec = spec
                if not self._stop(slot, AfterStop.RESTART, None, out):
                    self._start(slot, out)
                reply["restarted"].append(name)
            else:
                reply["kept"].append(name)
        out.append(Note("reloaded", None, ", ".join(f"{k}: {len(v)}" for k, v in reply.items())))
        out.append(CHANGED)
        return Outcome(dict(reply), out)

    def stop_all(self, timeout: float | None = None) -> Outcome:
        """Stop every worker (``down``); the reply names those that were running."""
        out: list[Effect] = []
        slots = list(self.slots.values())
        stopping = [s.name for s in slots if self._stop(s, AfterStop.STOP, timeout, out)]
        return Outcome({"stopped": stopping}, out)

    # -- starting and stopping ----------------------------------------------
    def _start(self, slot: Slot, out: list[Effect]) -> None:
        slot.proc = self.spawner.spawn(slot.spec)  # SpawnError: the slot stays as it was
        slot.started_at = self.clock.time()
        slot.due_mono = slot.next_try_at = None
        slot.after_stop = AfterStop.STOP
        slot.move(S.STARTING)
        out.append(CHANGED)

    def _stop(self, slot: Slot, after: AfterStop, timeout: float | None, out: list[Effect]) -> bool:
        """TERM the worker's group; KILL it after the timeout. False if nothing ran."""
        slot.after_stop = after
        if slot.state is S.BACKOFF:
            slot.due_mono = slot.next_try_at = None
            slot.move(S.STOPPED)
            self._after_stopped(slot, out)
            return False
        if slot.pid is None or slot.state not in (S.STARTING, S.RUNNING):
            return False
        slot.move(S.STOPPING)
        self.spawner.terminate(slot.pid)
        slot.stop_deadline = self.clock.monotonic() + (timeout or self.down_timeout)
        out.append(CHANGED)
        return True

    def _after_stopped(self, slot: Slot, out: list[Effect]) -> None:
        if slot.after_stop is AfterStop.RESTART:
            slot.tracker.reset()
            self._start(slot, out)
        elif slot.after_stop is AfterStop.REMOVE:
            self.slots.pop(slot.name, None)
        out.append(CHANGED)

    # -- what happens on its own --------------------------------------------
    def on_exit(self, name: str, proc: Proc, info: ExitInfo) -> list[Effect]:
        """A worker process was reaped: decide and apply what follows. The respawn comes
        first; putting its tasks back is an effect (ZooKeeper work, off the loop)."""
        slot = self.slots.get(name)
        pid = None if slot is None or slot.proc is not proc else slot.pid
        if slot is None or pid is None:
            return []  # an earlier start of a slot that has moved on
        self.spawner.after_exit(pid)
        requested = slot.state is S.STOPPING
        status = ExitStatus(info.exit_code, info.signal)
        slot.proc, slot.stop_deadline = None, None
        slot.last_exit = info.describe() if requested else self.spawner.exit_reason(name, status)
        ex = Exit(info.exit_code, info.signal, info.duration_s, requested)
        decision = slot.tracker.on_exit(ex, self.clock.time())
        out: list[Effect] = []
        if requested:
            slot.move(S.STOPPED)  # STOPPING -> STOPPED: the stop we asked for
            self._after_stopped(slot, out)
        else:
            slot.move(S.EXITED)  # RUNNING|STARTING -> EXITED: it died on its own
            self.apply_decision(slot, decision, out)
        out.append(PutBack(name, pid, counted=not requested))
        return out

    def apply_decision(self, slot: Slot, decision: Decision, out: list[Effect]) -> None:
        """Move an EXITED slot to the state the policy's decision names."""
        state = decision.next_state
        reason = decision.reason
        if state is S.STARTING:
            try:
                self._start(slot, out)  # at once
            except SpawnError as exc:
                state, reason = S.FATAL, f"{reason}; {exc}"
        if state is not S.STARTING:
            slot.move(state)
        if state is S.BACKOFF:
            slot.due_mono = self.clock.monotonic() + decision.delay
            slot.next_try_at = self.clock.time() + decision.delay
        out += [Note(_EXIT_EVENTS[state], slot.name, reason), CHANGED]

    def converge(self) -> list[Effect]:
        """What is due: start workers whose backoff is over, KILL overdue stops."""
        now = self.clock.monotonic()
        out: list[Effect] = []
        for slot in list(self.slots.values()):
            if slot.state is S.BACKOFF and slot.due_mono is not None and slot.due_mono <= now:
                try:
                    self._start(slot, out)
                except SpawnError as exc:
                    slot.due_mono = slot.next_try_at = None
                    slot.move(S.FATAL)
                    out += [Note("fatal", slot.name, str(exc)), CHANGED]
            if slot.stop_deadline is not None and slot.stop_deadline <= now and slot.pid:
                self.spawner.kill(slot.pid)
                slot.stop_deadline = None
        return out

    def registered(self, pids: dict[str, int]) -> list[Effect]:
        """STARTING workers whose instance registered with their own pid are RUNNING."""
        out: list[Effect] = []
        for slot in [s for s in self.slots.values() if s.state is S.STARTING]:
            if slot.pid is not None and pids.get(slot.name) == slot.pid:
                slot.move(S.RUNNING)
                out += [Note("joined", slot.name, f"pid {slot.pid}"), CHANGED]
        return out

    def kill_silent(
        self, ages: dict[tuple[str, int], float | None], stuck_after: float
    ) -> list[Effect]:
        """Kill RUNNING workers whose heartbeat is older than ``stuck_after`` — only if the
        same process still runs; the exit path then restarts them and recovers their tasks."""
        out: list[Effect] = []
        for (name, pid), age in ages.items():
            slot = self.slots.get(name)
            if slot is None or slot.pid != pid or slot.state is not S.RUNNING:
                continue
            if age is not None and age > stuck_after:
                out.append(Note("stuck", name, f"no heartbeat for {age:.0f}s; killing it"))
                self.spawner.kill(pid)
        return out
