"""The supervisor: brings a team's workers up, keeps them running, leads the team.

Composition, circus-shaped: the ``WorkerPool`` (pool.py) owns the workers and returns
effects; the ``Supervisor`` routes events to it, applies its effects and owns ZooKeeper —
leadership, the snapshot (publish.py), control (control.py, commands.py), the merge queue
(merger.py, its own thread) and putting dead workers' tasks back.

One loop owns all state (STYLE 3): exit callbacks, watches and signal handlers
only post events to its queue. Backoffs, stop deadlines, sweeps and heartbeat
looks are due-times it computes its wait from — no polling tick; a reaped worker
is respawned the moment its exit is posted. After start-up the loop never calls
ZooKeeper (kazoo blocks a call made while disconnected): every ZooKeeper step runs on the
lane (zklane.py, lanejobs.py) and hands back what changes state as a ``Call`` event, so
reaping, respawning, signals and ``down`` go on through an outage.

Connection states: SUSPENDED — workers keep running (they are our children);
sweeping stops while not connected and leading. After a reconnect: leadership
re-checked (re-contended if the node went with a lost session), republished, swept.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.supervisor import events as ev
from claude_orchestrator.supervisor import lanejobs
from claude_orchestrator.supervisor.commands import execute
from claude_orchestrator.supervisor.config import SupervisorConfig
from claude_orchestrator.supervisor.control import ControlServer
from claude_orchestrator.supervisor.control_schema import Request
from claude_orchestrator.supervisor.effects import Changed, Effect, Note, Outcome, PutBack
from claude_orchestrator.supervisor.embedded import EmbeddedZk
from claude_orchestrator.supervisor.leaderinbox import LeaderInbox
from claude_orchestrator.supervisor.leadership import Leadership
from claude_orchestrator.supervisor.merger import Merger, start_merger
from claude_orchestrator.supervisor.pool import SystemClock, WorkerPool
from claude_orchestrator.supervisor.publish import Meta, Publisher, read_team, worker_rows
from claude_orchestrator.supervisor.runfiles import RunFiles, take_down_request
from claude_orchestrator.supervisor.snapshot import EventLine
from claude_orchestrator.supervisor.spawner import WorkerSpawner
from claude_orchestrator.supervisor.startstop import (
    embedded_server,
    leave,
    replace_leftovers,
    zk_options,
)
from claude_orchestrator.supervisor.states import ProcState
from claude_orchestrator.supervisor.stuck import StuckWatch
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.acls import check_team_tree
from claude_orchestrator.zk.client import connect, disconnect
from claude_orchestrator.zk.team import Team

log = logging.getLogger("claude_orchestrator.supervisor")


class Supervisor:
    def __init__(
        self,
        cfg: SupervisorConfig,
        on_event: Callable[[EventLine], None] | None = None,
        on_ready: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.cfg = cfg
        # SimpleQueue: its put() is reentrant, so the signal handlers' post() cannot deadlock
        # on a lock the loop holds inside get() (queue.Queue's can).
        self.events: queue.SimpleQueue[ev.Event] = queue.SimpleQueue()
        self.spawner = WorkerSpawner(
            cfg.team, cfg.team_file, cfg.env, self.post, cfg.team_name, cfg.auth, cfg.host
        )
        self.pool = WorkerPool(cfg.team.workers, self.spawner, SystemClock(), cfg.down_timeout)
        self.stopping = False
        self.ready_sent = False
        self.on_event = on_event
        self.on_ready = on_ready
        self.embedded: EmbeddedZk | None = None
        self.team: Team | None = None
        self.instance_ids: lanejobs.InstanceIds | None = None  # the lane's
        self.hosts = cfg.zk.hosts if cfg.zk else ""
        self.run_files = RunFiles(cfg.team.state_dir)
        self.sweep_due = 0.0
        self.stuck = StuckWatch(cfg.stuck_after)
        self.finished_chains: set[str] = set()  # the lane's: chains the sweep never reads again
        self.publisher: Publisher | None = None
        self.leadership: Leadership | None = None
        self.inbox: LeaderInbox | None = None
        self.merger: Merger | None = None  # worktree isolation: the merge queue
        self.snapshot_watchers: list[Callable[[Any], None]] = []
        self.name: str | None = None  # `leader --name`: shown on the dashboard
        self.control: ControlServer | None = None
        self.control_inflight: set[str] = set()
        self.lane = ZkLane()

    # -- any thread --------------------------------------------------------
    def post(self, event: ev.Event) -> None:
        self.events.put(event)

    # -- lifecycle -----------------------------------------------------------
    def run(self) -> int:
        try:
            self.prepare()
        except BaseException:
            self._abandon_start()
            raise
        try:
            self.apply(self.bring_up(self.cfg.only).effects)
            while not (self.stopping and self.pool.all_stopped()):
                self._step()
        finally:
            self.teardown()
        return 0

    def prepare(self) -> None:
        self.run_files.claim_pid_file()
        self.embedded = embedded_server(self.cfg, lambda info: self.post(ev.ServerExit(info)))
        self.hosts = self.spawner.hosts = (
            self.embedded.ensure_running() if self.embedded else self.hosts
        )
        opts = zk_options(self.cfg, self.hosts)
        client = connect(opts)
        client.add_listener(lambda state: self.post(ev.Conn(str(state))))
        self.team = team = Team(client, self.cfg.team_name)
        self.instance_ids = lanejobs.InstanceIds(team)
        check_team_tree(client, self.cfg.team_name, opts)  # open or foreign ACLs: refuse
        host = self.cfg.host_name
        won = partial(self.post, ev.Call(self._became_leader))
        self.leadership = Leadership(client, self.cfg.team_name, host, self.lane, won)
        self.inbox = LeaderInbox(team, self.cfg, self.lane, self.post, self.emit)
        self.leadership.start()
        self.merger = start_merger(team, self.cfg.team, self.leadership, self.post, self.emit)
        leftovers = replace_leftovers(self.cfg, team)
        if leftovers:
            self.emit("stopped", None, f"replaced leftover workers: {', '.join(leftovers)}")
        gone_after = opts.session_timeout  # what `ps` deducts for a lost host's last sight
        self.publisher = Publisher(team, self.lane, self.post, self.emit_line, host, gone_after)
        self.publisher.watchers.extend(self.snapshot_watchers)
        self.publisher.configure(self.cfg, self.leadership.is_leader)
        self.publisher.baseline()
        lanejobs.watch_pushes(team, lambda: self.post(ev.TasksChanged()))
        self.control = ControlServer(
            client, self.cfg.team_name, lambda: self.post(ev.ControlPending()), host=host
        )
        self.control.arm()
        lanejobs.watch_members(team, lambda: self.post(ev.InstancesChanged()))
        self.emit("started", None, f"supervisor up (zookeeper {self.hosts})")

    def _abandon_start(self) -> None:
        """prepare() failed before any worker ran: leave no pid file or server of ours."""
        team, self.team = self.team, None
        if team is not None:
            disconnect(team.client)
        if self.embedded is not None and self.embedded.server is not None:
            self.embedded.stop()  # started by us, not adopted
        self.run_files.release_pid_file()

    def teardown(self) -> None:
        team, self.team = self.team, None
        if team is not None:
            clean = self.stopping and self.pool.all_stopped()
            leave(team, self.lane, self.publisher, self.leadership, clean, self.merger)
        if self.stopping and self.pool.all_stopped():
            if self.embedded is not None:
                self.embedded.stop()
            self.run_files.clear()
        # else (a crash): keep the run files, so `down` or the next `up` can clean up
        self.emit("stopped", None, "supervisor stopped")

    # -- the loop ------------------------------------------------------------
    def _step(self) -> None:
        try:
            event = self.events.get(timeout=self._wait_time())
        except queue.Empty:
            event = None
        # A supervisor outlives its own mistakes: one failed step is logged, the loop goes on
        if event is not None:
            self._guarded(self._handle, event)
        for work in (self._due_work, self._check_ready, self._publish):
            self._guarded(work)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("supervisor step failed")

    def _wait_time(self) -> float:
        publish = self.publisher.pending_due if self.publisher is not None else None
        dues = [self.sweep_due, self.pool.next_due(), self.stuck.next_due(), publish]
        return max(0.0, min(d for d in dues if d is not None) - time.monotonic())

    def _handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.Call):
            event.fn()
        elif isinstance(event, ev.ChildExit):
            self.apply(self.pool.on_exit(event.name, event.child, event.info))
        elif isinstance(event, ev.InstancesChanged):
            self.changed()
            self._check_registered()
            self.sweep_due = min(self.sweep_due, time.monotonic() + 0.05)
        elif isinstance(event, ev.TasksChanged):
            self.changed()
        elif isinstance(event, ev.ControlPending):
            self._run_control()
        elif isinstance(event, ev.SignalReceived):
            self._on_signal(event.kind)
        elif isinstance(event, ev.Conn):
            self._on_connection(event.state)
        elif isinstance(event, ev.ServerExit):
            self._on_server_exit(event.status)

    def apply(self, effects: Iterable[Effect]) -> None:
        """Carry out what the pool asked for."""
        changed = False
        for effect in effects:
            if isinstance(effect, Note):
                self.emit(effect.kind, effect.worker, effect.text)
            elif isinstance(effect, PutBack):
                self._put_back(effect)
            elif isinstance(effect, Changed):
                changed = True
        if changed:
            self.stuck.track(self.pool.in_state(ProcState.RUNNING), time.monotonic())
            self.run_files.write_workers(self.pool.slots)
            self.changed()

    def _due_work(self) -> None:
        now = time.monotonic()
        self.apply(self.pool.converge())
        if self.sweep_due <= now:
            self.sweep_due = now + self.cfg.sweep_every
            self._sweep()
            self._run_control()  # also prunes replies nobody collected (control.py)
        self._check_stuck(self.stuck.take_due(now))

    # -- ZooKeeper work, on the lane (lanejobs.py) -----------------------------
    def _put_back(self, effect: PutBack) -> None:
        if self.instance_ids is not None:
            killed = self._on_loop(partial(self.emit, "killed", effect.name))
            self.lane.submit(lanejobs.put_back(self.instance_ids, effect, killed), urgent=True)

    def _check_registered(self) -> None:
        """Which STARTING workers have registered: read on the lane, applied on the loop."""
        names = [name for name, _ in self.pool.in_state(ProcState.STARTING)]
        if self.instance_ids is not None and names:
            done = self._on_loop(lambda pids: self.apply(self.pool.registered(pids)))
            job = lanejobs.registered_pids(self.instance_ids, names, done)
            self.lane.submit(job, key="registered")

    def _check_stuck(self, due: list[tuple[str, int]]) -> None:
        """A worker alive but silent (its loop's heartbeat stopped) is killed; the normal
        exit path then restarts it and recovers what it held. Each is looked at when it
        would be stuck (stuck.py)."""
        if self.instance_ids is not None and due:
            done = self._on_loop(self._heartbeats_read)
            self.lane.submit(lanejobs.heartbeat_ages(self.instance_ids, due, done))

    def _heartbeats_read(self, ages: dict[tuple[str, int], float | None]) -> None:
        ages = self.stuck.seen(ages, time.monotonic())
        self.apply(self.pool.kill_silent(ages, self.cfg.stuck_after))

    def _sweep(self) -> None:
        if self.team is not None and self.leadership is not None:
            done = self._on_loop(self._swept)
            job = lanejobs.sweep(self.team, self.leadership, done, self.finished_chains)
            self.lane.submit(job, key="sweep")

    def _became_leader(self) -> None:
        """The first act of a new leader: a full sweep, now; then its inbox opens."""
        self.emit("leader", None, f"leading the team from {self.cfg.host_name}")
        self.sweep_due = time.monotonic()
        self.changed()
        if self.inbox is not None:  # named by `leader --name`, else [team] leader
            self.lane.submit(partial(self.inbox.open, self.name or self.cfg.team.leader))

    def _swept(self, lease_end: float | None) -> None:
        """Sweep again when the next lease runs out (DESIGN: on lease expiry)."""
        if lease_end is not None:
            at = time.monotonic() + max(0.0, lease_end - time.time()) + 0.05
            self.sweep_due = min(self.sweep_due, at)

    def _on_loop(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        """A callback for a lane job that runs ``fn`` with its result on the loop."""
        return lambda result: self.post(ev.Call(partial(fn, result)))

    # -- control ---------------------------------------------------------------
    def _run_control(self) -> None:
        """List pending requests on the lane, execute each once on the loop, reply on the
        lane; a reply not written is sent on the next pass (the command never runs twice)."""
        control = self.control
        if control is None:
            return

        def job() -> None:
            for req_name, request in control.pending():
                if req_name in control.unsent:
                    control.reply(req_name, control.unsent.pop(req_name))
                else:
                    self.post(ev.Call(partial(self._execute, req_name, request)))

        self.lane.submit(job, key="control")

    def _execute(self, req_name: str, request: Request) -> None:
        control = self.control
        if control is None or req_name in self.control_inflight:
            return
        self.control_inflight.add(req_name)
        outcome = execute(self, request)
        self.apply(outcome.effects)
        done = self._on_loop(lambda _: self.control_inflight.discard(req_name))
        self.lane.submit(lanejobs.reply(control, req_name, outcome.reply, done))

    # the executors' surface (commands.CommandTarget) ------------------------------
    def bring_up(self, only: tuple[str, ...]) -> Outcome:
        if not self.cfg.spawn_workers:  # `leader` coordinates and shows, spawns nothing
            return Outcome({"started": [], "kept": []}, [])
        return self.pool.bring_up(only)

    def reread_team(self) -> Outcome:
        self.cfg = self.cfg.reread()
        self.spawner.team = self.cfg.team
        return self.pool.reload(self.cfg.team.workers)

    def shut_down(self, timeout: float | None) -> Outcome:
        self.stopping = True
        stopped = self.pool.stop_all(timeout)
        return Outcome({**stopped.reply, "supervisor": "stopping"}, stopped.effects)

    # -- signals, connection, the embedded server ---------------------------------
    def _on_signal(self, kind: ev.Signal) -> None:
        if kind is ev.Signal.HUP:
            self.apply(self.reread_team().effects)
        elif kind is ev.Signal.KILL:
            self.apply(self.shut_down(0.1).effects)
        else:  # TERM from `down` (its timeout in run/down.json), or INT
            asked = take_down_request(self.cfg.team.state_dir) if kind is ev.Signal.TERM else None
            self.apply(self.shut_down(asked).effects)

    def _on_connection(self, state: str) -> None:
        if state == "CONNECTED" and self.leadership is not None:
            self.leadership.contend()
            self.sweep_due = time.monotonic()
            self._run_control()
            self.changed()

    def _on_server_exit(self, status: ExitStatus) -> None:
        if self.stopping or self.embedded is None or self.embedded.server is None:
            return
        self.emit("restarted", "zookeeper", f"embedded server {status.describe()}")
        self.embedded.start(self.embedded.server.port)

    # -- the snapshot and events ---------------------------------------------------
    def _check_ready(self) -> None:
        if self.ready_sent or self.pool.any_starting():
            return
        self.ready_sent = True
        summary = self.pool.states()

        def ready() -> None:  # after the first snapshot is out, so `ps` sees the team
            self.run_files.write_ready(self.hosts, summary)
            if self.on_ready is not None:
                self.on_ready(summary)

        if self.publisher is not None:
            self.publisher.pending_due = time.monotonic()
            self._publish(ready)
        else:
            ready()

    def _publish(self, then: Callable[[], None] | None = None) -> None:
        publisher, ids = self.publisher, self.instance_ids
        if publisher is None or ids is None or not publisher.due():
            return
        host, embedded = self.cfg.host_name, self.embedded is not None
        meta = Meta(self.cfg.team_name, host, os.getpid(), self.hosts, embedded, self.name)
        rows = worker_rows(self.pool.slots.values(), host)
        running = [(row.name, row.pid) for row, up in rows if up and row.pid is not None]
        read = partial(read_team, ids, self.leadership, running, self.cfg.spawn_workers)
        publisher.maybe_publish(meta, rows, partial(read, publisher.feed), then)

    def changed(self) -> None:
        if self.publisher is not None:
            self.publisher.mark()

    def emit(self, kind: str, worker: str | None, text: str, task: str | None = None) -> None:
        self.emit_line(EventLine(at=time.time(), kind=kind, worker=worker, task=task, text=text))

    def emit_line(self, line: EventLine) -> None:
        if self.publisher is not None:
            self.publisher.record(line)
        log.info("%s %s %s", line.kind, line.worker or "-", line.text)
        if self.on_event is not None:
            self.on_event(line)
