"""The worker loop: watch → claim (or take a message) → render → run agent → report.

One thread owns the worker's state; ZooKeeper watches, the connection listener, signal
handlers and the agent's exit callback only post events (events.py). While its agent is
paused (governor.py) the worker claims nothing and says so on its instance.

Connection states: SUSPENDED — no new claims or messages are taken; a running agent goes on
and its report waits (``retrying``) for the connection. CONNECTED after any suspension — the
instance node is checked: if the session was lost (node gone, or owned by another session)
the worker registers again under a new id, re-arms its inbox watch, and any result of the old
claim is refused by fencing and kept in the session log as stale. SIGTERM — stop claiming; a
running agent gets ``grace`` seconds to finish, then is stopped and its task released to
pending without counting a retry.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import KazooException

from claude_orchestrator.errors import IdentityError, SpawnError, ZkError
from claude_orchestrator.spawn.git import GitError
from claude_orchestrator.worker import gitstage, stages
from claude_orchestrator.worker.events import AgentExited, Connection, Event, Stop, Wake
from claude_orchestrator.worker.governor import Governor, open_governor
from claude_orchestrator.worker.nameholder import running_holder
from claude_orchestrator.worker.report import Reporter
from claude_orchestrator.worker.runs import RunBuilder
from claude_orchestrator.worker.session import AgentRun, SessionResult, cannot_start
from claude_orchestrator.worker.settings import WorkerSettings
from claude_orchestrator.zk.acls import check_team_tree
from claude_orchestrator.zk.claim import Claimer
from claude_orchestrator.zk.client import connect, disconnect
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.team import Team
from claude_orchestrator.zk.txn import retrying

if TYPE_CHECKING:
    from claude_orchestrator.spawn.process import ExitInfo
    from claude_orchestrator.zk.taskmodel import Task

log = logging.getLogger("claude_orchestrator.worker")

KILL_NOW_GRACE = 2.0
ZK_ERROR_PAUSE = 1.0  # after a ZooKeeper error, look again this soon (or on a connection event)
# ZooKeeper errors, and "our instance is gone" (a session that expired while cut off): the
# loop checks its registration again and goes on, whatever step raised them
ZK_ERRORS: tuple[type[Exception], ...] = (ZkError, KazooException, IdentityError)


class Worker:
    def __init__(
        self,
        ws: WorkerSettings,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.ws = ws
        self.clock = clock
        self.environ = dict(os.environ if environ is None else environ)
        # SimpleQueue: its put() is reentrant, so a signal handler that posts while this
        # thread is inside get() cannot deadlock on the queue's lock (queue.Queue's can).
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.stopping = False
        self.suspended = False
        self.needs_check = False
        self.team: Team | None = None
        self.actor = Actor(label=ws.name)
        self.claimer: Claimer | None = None
        self.governor: Governor | None = None  # its agent's pause (worker/governor.py)
        self.current_set = False  # the instance still names the last task as current
        # the agent's exit is posted by its Child: no waiter thread of ours
        self.builder = RunBuilder(ws, self.environ, lambda info: self.events.put(AgentExited(info)))
        self.watched: set[str] = set()
        self.inbox_dirty = True  # look at the inbox only after its watch fired
        self.held_unknown = False  # a ZooKeeper error may have left a claim we do not work on
        self.next_beat = time.monotonic() + ws.heartbeat_every

    # -- control (any thread) -------------------------------------------
    def request_stop(self, now: bool = False) -> None:
        self.events.put(Stop(now))

    # -- lifecycle -------------------------------------------------------
    def run(self) -> int:
        """Run until stopped; 0 after a graceful stop."""
        self.start()
        try:
            while not self.stopping:
                self.step()
        finally:
            self.shutdown()
        return 0

    def start(self) -> None:
        ws = self.ws
        client = connect(ws.zk)
        client.add_listener(lambda state: self.events.put(Connection(str(state))))
        self.team = Team(client, ws.team)
        check_team_tree(client, ws.team, ws.zk)  # open or foreign ACLs: refuse
        self.governor = open_governor(client, ws, self._held)
        self.register()
        paths = self.team.tasks.paths  # a listing's watch needs its folder there
        for folder in (paths.queue_any, paths.queue_name(ws.name), paths.queue_role(ws.role)):
            self.team.tasks.ensure_folder(folder)

    def register(self) -> None:
        team = self._team()
        ws = self.ws
        reg = Registration(ws.name, ws.role, str(ws.work_dir), session_bound=True, host=ws.host)
        inst = self._register_retrying(reg)
        iid = inst["id"]
        self.actor = Actor(
            label=iid, instance_id=iid, name=self.ws.name, role=self.ws.role, session_bound=True
        )
        # the queue watch is set by the claimer's own listings (zk/claim.py)
        self.claimer = Claimer(team.tasks, self.actor, on_change=self._queue_changed)
        self.reporter = Reporter(team, self.actor, self.clock, self.governor)
        self.arm(team.inboxes.paths.unread(iid), "inbox")
        log.info("%s registered as %s (role %s)", self.ws.name, iid, self.ws.role)

    def _register_retrying(self, reg: Registration) -> dict[str, Any]:
        """A previous process of ours may still hold the name until its session expires."""
        deadline = time.monotonic() + self.ws.zk.session_timeout * 2 + 5
        while True:
            try:
                return self._team().registry.register(reg, self.clock())
            except IdentityError:
                holder = running_holder(self._team(), reg.name, self.ws.host)
                if holder is not None:  # another worker runs under this name: waiting cannot help
                    raise IdentityError(
                        f"the name '{reg.name}' is taken by a live instance ({holder}): "
                        "stop or unregister it first, or start this one with another --name"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                log.info("%s: name still held by an old session; waiting", reg.name)
                self._wait_event(1.0)

    def arm(self, path: str, reason: str) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        team = self._team()
        if path in self.watched:
            return
        self.watched.add(path)
        team.tasks.ensure_folder(path)

        def fire(children: list[str]) -> None:
            self.events.put(Wake(reason))

        ChildrenWatch(team.client, path, fire)

    def _queue_changed(self, event: Any) -> None:
        """kazoo's thread: a queue folder changed since the claimer last listed it."""
        self.events.put(Wake("queue", getattr(event, "path", None)))

    def shutdown(self) -> None:
        team, self.team = self.team, None
        if team is None:
            return
        try:
            if self.actor.instance_id is not None and team.client.connected:
                team.registry.unregister(self.actor.instance_id)
        finally:
            disconnect(team.client)
        log.info("%s stopped", self.ws.name)

    # -- the loop ----------------------------------------------------------
    def step(self) -> None:
        """Do one unit of work, or wait for a reason to look again. No ZooKeeper error
        ends the worker: it waits for the connection like in any other state."""
        self._drain()
        if self.stopping:
            return
        if self.suspended:
            self._wait_event(None)
            return
        try:
            if self.needs_check:
                self.verify_registration()
            if self.held_unknown:
                self.reporter.release_held()
                self.held_unknown = False
            if self.answer_one_message() or self.work_one_task():
                return
        except ZK_ERRORS as exc:
            log.warning("%s: ZooKeeper error, looking again shortly: %s", self.ws.name, exc)
            self.needs_check = self.held_unknown = True
            self._wait_event(ZK_ERROR_PAUSE)
            return
        wait = self.ws.reconcile_s
        self._wait_event(self.governor.wait(wait, self.clock()) if self.governor else wait)

    def verify_registration(self) -> None:
        """After a reconnect: is our instance node still ours? If not, register again."""
        team = self._team()
        self.needs_check = False
        iid = self.actor.instance_id
        path = team.registry.paths.instance(str(iid))
        stat = retrying(team.client, lambda: team.client.exists(path))
        session_id = team.client.client_id[0] if team.client.client_id else None
        if stat is not None and stat.ephemeralOwner == session_id:
            return
        log.warning("%s: session lost; registering again (old id %s)", self.ws.name, iid)
        self.register()

    def answer_one_message(self) -> bool:
        if not self.inbox_dirty or (self.governor and self.governor.blocks(self.clock())):
            return False
        team = self._team()
        iid = str(self.actor.instance_id)
        ids = team.inboxes.unread_ids(iid)
        self.inbox_dirty = bool(ids)  # stays dirty until a listing comes back empty
        for mid in ids:
            msg = team.inboxes.take(iid, mid, iid, self.clock())
            if msg is not None:
                self._answer(msg)
                return True
        return False

    def _answer(self, msg: dict[str, Any]) -> None:
        log.info("%s: message %s from %s", self.ws.name, msg["id"], msg.get("from"))
        run = self.builder.for_message(msg, str(self.actor.instance_id))
        try:
            run.start()
        except SpawnError as exc:  # the agent cannot be executed: say so and stop
            self.reporter.message_unstarted(msg, str(exc))
            raise cannot_start(self.ws.name, exc, f"message {msg['id']} is marked not ok") from None
        result = run.finish(self.supervise(run))
        self.reporter.message_done(msg, result)

    def work_one_task(self) -> bool:
        if self.claimer is None or (self.governor and self.governor.blocks(self.clock())):
            return False
        try:
            task = self.claimer.claim(self.clock())
        except IdentityError:
            self.needs_check = True
            return False
        if task is None:
            if self.current_set:
                self.reporter.set_current("")
                self.current_set = False
            return False
        self._work_on(task)
        return True

    def _work_on(self, task: Task) -> None:
        log.info("%s: claimed %s %r", self.ws.name, task.id, task.title)
        try:
            stage = stages.values_for(self.reporter.team, task)
            builder = self.builder.for_stage(task.link)
            run, started = builder.for_task(task, str(self.actor.instance_id), stage)
            place = gitstage.begin(self.ws, task, stage)
        except SpawnError as exc:  # e.g. a prompt no argv or stdin of this agent can carry
            self.reporter.fail_unstarted(task.id, str(exc))
            return
        except GitError as exc:  # the worktree could not be put at the chain's tip
            self.reporter.fail_unstarted(task.id, f"git: {exc}")
            return
        if not self.reporter.start(task, started):
            return
        self.reporter.set_current(task.id)
        try:
            run.start()
        except SpawnError as exc:  # not executable, bad interpreter, work dir gone, …: stop
            # rather than claim the next task to fail it too; the task never started
            self.reporter.release(task.id, None, f"released: agent not started ({exc})")
            back = f"task {task.id} is pending again (no retry counted)"
            raise cannot_start(self.ws.name, exc, back) from None
        except Exception:
            self.reporter.release(task.id, None, "the agent could not be started")
            raise
        result = run.finish(self.supervise(run))
        iid = str(self.actor.instance_id)
        result, step = stages.after_run(task, result, builder, iid, self._run_to_end, place)
        self.reporter.task_done(task.id, result, self._released(result), step)
        # the instance's current task is cleared once the queue is found empty: with more
        # work waiting, the next task's start overwrites it (one write per task, not two)
        self.current_set = True

    def _held(self) -> None:
        self.events.put(Wake("governor"))

    def _run_to_end(self, run: AgentRun) -> SessionResult:
        """Another run of the same task (a plan's repair), supervised like the first."""
        run.start()
        return run.finish(self.supervise(run))

    def _released(self, result: SessionResult) -> bool:
        """A run cut short because we are stopping (our stop, or the group's TERM from
        ``down``) gives the task back; one that finished well is still reported."""
        info = result.info
        if not self.stopping or info.timed_out or info.idle_timed_out:
            return False
        return not result.outcome.ok

    # -- while an agent runs -------------------------------------------------
    def supervise(self, run: AgentRun) -> ExitInfo:
        """Wait for the agent's exit (posted by its ``Child``); meanwhile handle events
        (stop requests, watches) and beat."""
        deadline: float | None = time.monotonic() + self.ws.grace if self.stopping else None
        while True:
            try:
                ev = self.events.get(timeout=self._timeout(deadline))
            except queue.Empty:
                self._beat_if_due()
                if deadline is not None and time.monotonic() >= deadline:
                    run.child.stop()
                    deadline = None
                continue
            if isinstance(ev, AgentExited):
                return ev.info
            deadline = self._during_run(ev, run, deadline)

    def _timeout(self, deadline: float | None) -> float:
        until = self.next_beat if deadline is None else min(deadline, self.next_beat)
        return max(0.0, until - time.monotonic())

    def _beat_if_due(self) -> None:
        """The loop itself proves it is alive (a heartbeat thread could not: it would beat
        on while the loop hung); the supervisor restarts a worker whose beat stops."""
        if time.monotonic() < self.next_beat:
            return
        self.next_beat = time.monotonic() + self.ws.heartbeat_every
        registered = self.claimer is not None  # the name-wait loop beats before registering
        if registered and self.team is not None and self.team.client.connected:
            self.reporter.set_current(None)

    def _during_run(self, ev: Event, run: AgentRun, deadline: float | None) -> float | None:
        if isinstance(ev, Stop):
            self.stopping = True
            if ev.now:
                run.child.stop(grace=KILL_NOW_GRACE)
                return None
            if deadline is None:
                log.info(
                    "%s: stopping after the running agent (grace %gs)", self.ws.name, self.ws.grace
                )
                return time.monotonic() + self.ws.grace
            return deadline
        self._handle(ev)
        return deadline

    # -- events --------------------------------------------------------------
    def _wait_event(self, timeout: float | None) -> None:
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self._handle(self.events.get(timeout=self._timeout(until)))
                break
            except queue.Empty:
                self._beat_if_due()
            if until is not None and time.monotonic() >= until:
                self.inbox_dirty = True  # periodic reconciliation: re-read everything
                if self.claimer is not None:
                    self.claimer.refresh()
                break
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._handle(self.events.get_nowait())
            except queue.Empty:
                return

    def _handle(self, ev: Event) -> None:
        if isinstance(ev, Stop):
            self.stopping = True
        elif isinstance(ev, Connection):
            self._on_connection(ev.state)
        elif isinstance(ev, Wake) and ev.reason == "inbox":
            self.inbox_dirty = True
        elif isinstance(ev, Wake) and ev.reason == "queue" and self.claimer is not None:
            self.claimer.refresh(ev.path)

    def _on_connection(self, state: str) -> None:
        if state == "SUSPENDED":
            self.suspended = True
            log.warning("%s: connection suspended; not claiming", self.ws.name)
        else:  # CONNECTED after a suspension, or LOST (kazoo reconnects with a new session)
            self.suspended = state != "CONNECTED"
            self.needs_check = True
            self.inbox_dirty = True
            if self.claimer is not None:
                self.claimer.refresh()

    def _team(self) -> Team:
        if self.team is None:
            raise IdentityError("the worker is not connected")
        return self.team
