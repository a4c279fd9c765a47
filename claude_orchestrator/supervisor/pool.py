"""The pool: the supervisor's workers converging on their target.

Starting, stopping and reaping worker processes, and applying the restart
policy's decisions. The supervisor (arbiter.py) routes events here; all of it
runs on the supervisor's one loop.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from claude_orchestrator.conf.team import TeamConfig, WorkerSpec
from claude_orchestrator.errors import SpawnError
from claude_orchestrator.spawn.kill import kill_group, kill_session, signal_group
from claude_orchestrator.spawn.process import Child, ChildSpec
from claude_orchestrator.supervisor import events as ev
from claude_orchestrator.supervisor.exitreason import exit_reason
from claude_orchestrator.supervisor.policy import Decision, Exit
from claude_orchestrator.supervisor.procs import worker_argv
from claude_orchestrator.supervisor.runfiles import RunFiles
from claude_orchestrator.supervisor.slots import AfterStop, Slot
from claude_orchestrator.supervisor.states import ProcState
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.client import ZkOptions
from claude_orchestrator.zk.team import Team

S = ProcState

#: the event shown when an exited worker moves on to each state
_EXIT_EVENTS = {
    S.STARTING: "restarted",
    S.BACKOFF: "backoff",
    S.FATAL: "fatal",
    S.STOPPED: "stopped",
}


@dataclass(frozen=True)
class SupervisorConfig:
    team: TeamConfig
    team_name: str
    team_file: Path | None
    zk: ZkOptions | None  # None: the embedded server (hosts filled in at start)
    only: tuple[str, ...] = ()  # workers to start (empty: all)
    spawn_workers: bool = True  # False: `leader` — coordinate and show, spawn nothing
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    down_timeout: float = 10.0
    sweep_every: float = 10.0
    auth: str | None = None  # digest "user:password" for the embedded server's clients
    stuck_after: float = 90.0  # a RUNNING worker whose heartbeat is older is killed
    connect_timeout: float = 10.0
    session_timeout: float = 10.0


class WorkerPool:
    """Slot lifecycle; the supervisor subclass provides events, emit and ZooKeeper."""

    cfg: SupervisorConfig
    slots: dict[str, Slot]
    hosts: str
    run_files: RunFiles
    team: Team | None
    lane: ZkLane

    def post(self, event: ev.Event) -> None:
        raise NotImplementedError

    def emit(self, kind: str, worker: str | None, text: str, task: str | None = None) -> None:
        raise NotImplementedError

    def changed(self) -> None:
        raise NotImplementedError

    # -- bring-up, start, stop -------------------------------------------------
    def bring_up(self, only: tuple[str, ...]) -> dict[str, list[str]]:
        """Start the named (or all) workers that are not running; clear FATAL."""
        if not self.cfg.spawn_workers:
            return {"started": [], "kept": []}
        specs = self._specs(only)
        started, kept = [], []
        for spec in specs:
            slot = self.slots.setdefault(spec.name, Slot.for_spec(spec))
            if slot.state in (S.STOPPED, S.FATAL, S.BACKOFF):
                slot.tracker.reset()
                self.start(slot)
                started.append(spec.name)
            else:
                kept.append(spec.name)
        return {"started": started, "kept": kept}

    def _specs(self, only: tuple[str, ...]) -> list[WorkerSpec]:
        from claude_orchestrator.errors import ConfigError

        specs = list(self.cfg.team.workers)
        if not only:
            return specs
        known = {s.name: s for s in specs}
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ConfigError(
                f"unknown worker(s) {', '.join(unknown)} "
                f"(the team file has: {', '.join(known) or 'none'})"
            )
        return [known[n] for n in only]

    def start(self, slot: Slot) -> None:
        argv = worker_argv(self.cfg.team_file, slot.name, slot.spec.role)
        env = {
            **self.cfg.env,
            "ZK_HOSTS": self.hosts,
            "CO_TEAM": self.cfg.team_name,
            "CO_INSTANCE_ID": "",
            **({"CO_ZK_AUTH": self.cfg.auth} if self.cfg.auth else {}),  # the team's own
        }
        slot.proc = self._spawn(slot.name, argv, env)
        slot.started_at = time.time()
        slot.due_mono = slot.next_try_at = None
        slot.after_stop = AfterStop.STOP
        slot.move(S.STARTING)
        self.run_files.write_workers(self.slots)
        self.changed()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        """Start a worker as its session's leader, its output appended to its log; its
        exit is posted to the loop the moment the child is reaped (spawn/process.py)."""
        spec = ChildSpec(
            tuple(argv),
            self.cfg.team.root,
            env,
            label=name,
            output=self.log_path(name),
            new_session=True,
        )
        child = Child(spec, on_exit=lambda info: self.post(ev.ChildExit(name, child, info)))
        try:
            child.start()
        except SpawnError as exc:
            raise SpawnError(f"cannot start worker {name}: {exc}") from exc
        return child

    def stop(
        self, slot: Slot, after: AfterStop = AfterStop.STOP, timeout: float | None = None
    ) -> bool:
        """TERM the worker's group; KILL it after the timeout. False if nothing ran."""
        slot.after_stop = after
        if slot.state is S.BACKOFF:
            slot.due_mono = slot.next_try_at = None
            slot.move(S.STOPPED)
            self._after_stopped(slot)
            return False
        if slot.pid is None or slot.state not in (S.STARTING, S.RUNNING):
            return False
        slot.move(S.STOPPING)
        signal_group(slot.pid, signal.SIGTERM)
        slot.stop_deadline = time.monotonic() + (timeout or self.cfg.down_timeout)
        self.changed()
        return True

    def _after_stopped(self, slot: Slot) -> None:
        if slot.after_stop is AfterStop.RESTART:
            slot.tracker.reset()
            self.start(slot)
        elif slot.after_stop is AfterStop.REMOVE:
            self.slots.pop(slot.name, None)
        self.run_files.write_workers(self.slots)

    # -- reaping ---------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        """Where worker ``name``'s stderr goes (``logs/<name>.log``)."""
        return self.cfg.team.state_dir / "logs" / f"{name}.log"

    def on_child_exit(self, e: ev.ChildExit) -> None:
        slot = self.slots.get(e.name)
        pid = None if slot is None or slot.proc is not e.child else slot.pid
        if slot is None or pid is None:
            return
        # The worker led its session; its agent has a group of its own in that session and
        # outlives the worker unless killed: one quick pass here, before the respawn; the
        # lane's recovery job makes sure all of it is gone before the tasks are requeued.
        kill_group(pid)
        kill_session(pid, wait=False)
        requested = slot.state is S.STOPPING
        info = e.info
        slot.proc, slot.stop_deadline = None, None
        slot.last_exit = (
            info.describe() if requested else exit_reason(info, self.log_path(slot.name))
        )
        ex = Exit(info.exit_code, info.signal, info.duration_s, requested)
        decision = slot.tracker.on_exit(ex, time.time())
        if requested:
            slot.move(S.STOPPED)  # STOPPING -> STOPPED: the stop we asked for
            self._after_stopped(slot)
        else:
            slot.move(S.EXITED)  # RUNNING|STARTING -> EXITED: it died on its own
            self._apply_decision(slot, decision)
        self.cleanup_instance(slot.name, pid, counted=not requested)
        self.changed()

    def _apply_decision(self, slot: Slot, decision: Decision) -> None:
        """Move an EXITED slot to the state the policy's decision names."""
        state = decision.next_state
        if state is S.STARTING:
            self.start(slot)  # at once: the respawn comes before any ZooKeeper work
        else:
            slot.move(state)
        if state is S.BACKOFF:
            slot.due_mono = time.monotonic() + decision.delay
            slot.next_try_at = time.time() + decision.delay
        self.emit(_EXIT_EVENTS[state], slot.name, decision.reason)
        self.run_files.write_workers(self.slots)

    def cleanup_instance(self, name: str, pid: int, counted: bool) -> None:
        """Remove a dead worker's instance node and put its tasks back (on the lane):
        recovered after a crash (``counted``), released after a stop we asked for."""
        from claude_orchestrator.zk.recovery import recover_worker, release_worker

        team = self.team
        put_back = recover_worker if counted else release_worker
        if team is None:
            return

        def job() -> None:
            for agent in kill_session(pid):  # whatever the quick pass missed or forked
                self.post(ev.Call(partial(self.emit, "killed", name, f"pid {agent} outlived it")))
            # what happened to its tasks shows as task events, from their history
            put_back(team.tasks, name, pid, time.time())

        self.lane.submit(job, urgent=True)

    def check_registered(self) -> None:
        """Which STARTING workers have registered: read on the lane, applied on the loop."""
        team = self.team
        names = [s.name for s in self.slots.values() if s.state is S.STARTING]
        if team is None or not names:
            return

        def job() -> None:
            pids = team.registry.pids(names)
            self.post(ev.Call(lambda: self._mark_registered(pids)))

        self.lane.submit(job, key="registered")

    def _mark_registered(self, pids: dict[str, int]) -> None:
        for slot in [s for s in self.slots.values() if s.state is S.STARTING]:
            if slot.pid is not None and pids.get(slot.name) == slot.pid:
                slot.move(S.RUNNING)
                self.emit("joined", slot.name, f"pid {slot.pid}")
        self.changed()
