"""The supervisor: brings a team's workers up, keeps them running, leads the team.

One loop owns all state (STYLE 3): the workers' exit callbacks (spawn's
``Child``), ZooKeeper watches and signal handlers only post events to its
queue. Backoff restarts, stop deadlines and the periodic sweep are due-times
the loop computes its wait from — there is no polling tick; a reaped worker is
respawned the moment its exit is posted.

After start-up the loop never calls ZooKeeper itself: kazoo blocks a call
made while disconnected until the reconnect, so every ZooKeeper step runs on
the ZooKeeper lane (zklane.py) and hands back what changes state as a
``Call`` event. Reaping, respawning, killing agents, signals and ``down``
go on through a ZooKeeper outage.

Connection states: SUSPENDED — workers keep running (they are our children,
not ZooKeeper's); sweeping stops while we are not connected and leading.
After a reconnect the supervisor re-checks leadership (re-contends if its
node went with a lost session), re-publishes its snapshot and sweeps.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from claude_orchestrator.conf.team import TeamConfig, load_team
from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.kill import kill_group
from claude_orchestrator.supervisor import events as ev
from claude_orchestrator.supervisor.control import ControlServer
from claude_orchestrator.supervisor.embedded import EmbeddedZk
from claude_orchestrator.supervisor.leadership import Leadership
from claude_orchestrator.supervisor.pool import SupervisorConfig, WorkerPool
from claude_orchestrator.supervisor.publish import Publisher
from claude_orchestrator.supervisor.runfiles import RunFiles
from claude_orchestrator.supervisor.slots import Slot
from claude_orchestrator.supervisor.snapshot import EventLine
from claude_orchestrator.supervisor.states import ProcState
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.acls import check_team_tree
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.team import Team

log = logging.getLogger("claude_orchestrator.supervisor")

LEAVE_TIMEOUT = 2.0  # at most this long for the last ZooKeeper steps of a stopping supervisor

S = ProcState


class Supervisor(WorkerPool):
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
        self.slots: dict[str, Slot] = {}
        self.stopping = False
        self.ready_sent = False
        self.on_event = on_event
        self.on_ready = on_ready
        self.embedded: EmbeddedZk | None = None
        self.team: Team | None = None
        self.hosts = cfg.zk.hosts if cfg.zk else ""
        self.run_files = RunFiles(cfg.team.state_dir)
        self.sweep_due = 0.0
        self.stuck_due = time.monotonic() + cfg.stuck_after / 3
        self.publisher: Publisher | None = None
        self.leadership: Leadership | None = None
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
            self.bring_up(self.cfg.only)
            while not (self.stopping and self._all_stopped()):
                self._step()
        finally:
            self.teardown()
        return 0

    def prepare(self) -> None:
        self.run_files.claim_pid_file()
        self.hosts = self._zookeeper()
        opts = self._zk_options()
        client = connect(opts)
        client.add_listener(lambda state: self.post(ev.Conn(str(state))))
        self.team = Team(client, self.cfg.team_name)
        check_team_tree(client, self.cfg.team_name, opts)  # open or foreign ACLs: refuse
        self.leadership = Leadership(client, self.cfg.team_name, opts.session_timeout)
        self.leadership.acquire()
        self._replace_leftovers()
        self.publisher = Publisher(self)
        self.publisher.watchers.extend(self.snapshot_watchers)
        self.control = ControlServer(
            client, self.cfg.team_name, lambda: self.post(ev.ControlPending())
        )
        self.control.arm()
        self._watch_instances()
        self.emit("started", None, f"supervisor up (zookeeper {self.hosts})")

    def _replace_leftovers(self) -> None:
        """Workers a dead supervisor left running are stopped cleanly (their tasks
        released), then started again by us: nothing is duplicated."""
        from claude_orchestrator.supervisor import cleanup

        leftovers = cleanup.recorded_workers(self.cfg.team.state_dir)
        if not leftovers:
            return
        cleanup.stop_groups(leftovers, self.cfg.down_timeout)
        cleanup.release_tasks(self._team(), leftovers)
        self.emit("stopped", None, f"replaced leftover workers: {', '.join(sorted(leftovers))}")

    def _zookeeper(self) -> str:
        if self.cfg.zk is not None:
            return self.cfg.zk.hosts
        self.embedded = EmbeddedZk(
            self.cfg.team.state_dir,
            heap=self.cfg.team.zookeeper_heap,
            on_server_exit=lambda info: self.post(ev.ServerExit(info)),
        )
        return self.embedded.ensure_running()

    def _zk_options(self) -> ZkOptions:
        base = self.cfg.zk or ZkOptions(
            self.hosts, self.cfg.connect_timeout, self.cfg.session_timeout, self.cfg.auth
        )
        return ZkOptions(self.hosts, base.connect_timeout, base.session_timeout, base.auth)

    def _watch_instances(self) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        team = self._team()
        ChildrenWatch(
            team.client, team.registry.paths.names, lambda _c: self.post(ev.InstancesChanged())
        )
        active = team.tasks.paths.state_folder("active")
        ChildrenWatch(team.client, active, lambda _c: self.post(ev.TasksChanged()))

    def _abandon_start(self) -> None:
        """prepare() failed before any worker started: leave no pid file or server of ours
        behind (the workers file stays: it may name a crashed predecessor's workers)."""
        team, self.team = self.team, None
        if team is not None:
            disconnect(team.client)
        if self.embedded is not None and self.embedded.server is not None:
            self.embedded.stop()  # started by us, not adopted
        self.run_files.release_pid_file()

    def teardown(self) -> None:
        team, self.team = self.team, None
        if team is not None:
            self._leave(team)
        if self.stopping and self._all_stopped():
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
        # A supervisor must outlive its own mistakes: one failed step is logged, the
        # loop goes on (the workers are still running and still need supervising).
        if event is not None:
            self._guarded(self._handle, event)
        for work in (self._due_work, self._check_ready, self._publish):
            self._guarded(work)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("supervisor step failed")

    def _publish(self) -> None:
        if self.publisher is not None:
            self.publisher.maybe_publish()

    def _wait_time(self) -> float:
        now = time.monotonic()
        dues = [self.sweep_due, self.stuck_due]
        for slot in self.slots.values():
            dues += [d for d in (slot.due_mono, slot.stop_deadline) if d is not None]
        if self.publisher is not None and self.publisher.pending_due is not None:
            dues.append(self.publisher.pending_due)
        return max(0.0, min(dues) - now)

    def _leave(self, team: Team) -> None:
        """Withdraw, resign and disconnect on the lane, but never wait on ZooKeeper for
        long: with the server gone, stopping the team must not hang."""
        publisher, leadership = self.publisher, self.leadership

        def job() -> None:
            if publisher is not None:
                publisher.withdraw(team)
            if leadership is not None:
                leadership.release()

        self.lane.submit(job)
        self.lane.drain(LEAVE_TIMEOUT)
        self.lane.close()
        closer = threading.Thread(target=disconnect, args=(team.client,), daemon=True)
        closer.start()
        closer.join(LEAVE_TIMEOUT)

    def _handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.Call):
            event.fn()
        elif isinstance(event, ev.ChildExit):
            self.on_child_exit(event)
        elif isinstance(event, ev.InstancesChanged):
            self.check_registered()
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

    def _due_work(self) -> None:
        now = time.monotonic()
        for slot in list(self.slots.values()):
            if slot.state is S.BACKOFF and slot.due_mono is not None and slot.due_mono <= now:
                self.start(slot)
            if slot.stop_deadline is not None and slot.stop_deadline <= now and slot.pid:
                kill_group(slot.pid)
                slot.stop_deadline = None
        if self.sweep_due <= now:
            self.sweep_due = now + self.cfg.sweep_every
            self.sweep()
            self._run_control()  # also prunes replies nobody collected (control.py)
        if self.stuck_due <= now:
            self.stuck_due = now + min(10.0, self.cfg.stuck_after / 3)
            self.kill_stuck()

    def kill_stuck(self) -> None:
        """A worker alive but silent (its loop's heartbeat stopped) is killed; the normal
        exit path then restarts it and recovers what it held. Heartbeats are read on the
        lane; the kill happens on the loop, only if the same process still runs."""
        team = self.team
        running = [(s.name, s.pid) for s in self.slots.values() if s.state is S.RUNNING]
        if team is None or not running:
            return

        def job() -> None:
            if not team.client.connected:
                return
            now = time.time()
            ages = {(n, p): team.registry.heartbeat_age(n, p, now) for n, p in running if p}
            self.post(ev.Call(lambda: self._kill_silent(ages)))

        self.lane.submit(job, key="stuck")

    def _kill_silent(self, ages: dict[tuple[str, int], float | None]) -> None:
        for (name, pid), age in ages.items():
            slot = self.slots.get(name)
            if slot is None or slot.pid != pid or slot.state is not S.RUNNING:
                continue
            if age is not None and age > self.cfg.stuck_after:
                self.emit("stuck", name, f"no heartbeat for {age:.0f}s; killing it")
                kill_group(pid)

    # -- leadership work ------------------------------------------------------
    def sweep(self) -> None:
        from claude_orchestrator.zk.recovery import sweep

        team, leadership = self.team, self.leadership
        if team is None or leadership is None:
            return

        def job() -> None:
            if not leadership.is_leader():
                return
            sweep(team.tasks, time.time())  # its recoveries show as task events (taskevents.py)

        self.lane.submit(job, key="sweep")

    # -- control, signals, connection -------------------------------------------
    def _run_control(self) -> None:
        """List pending requests on the lane, execute each once on the loop, reply on
        the lane; a result whose reply could not be written is sent on the next pass
        instead of running the command twice."""
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

    def _execute(self, req_name: str, request: Any) -> None:
        from claude_orchestrator.supervisor.commands import execute

        control = self.control
        if control is None or req_name in self.control_inflight:
            return
        self.control_inflight.add(req_name)
        result = execute(self, request)

        def job() -> None:
            try:
                control.reply(req_name, result)
            except Exception:
                control.unsent[req_name] = result
                raise
            finally:
                self.post(ev.Call(lambda: self.control_inflight.discard(req_name)))

        self.lane.submit(job)

    def _on_signal(self, kind: ev.Signal) -> None:
        if kind is ev.Signal.HUP:
            from claude_orchestrator.supervisor.commands import reload

            reload(self)
        elif kind is ev.Signal.KILL:
            self.shut_down(0.1)
        else:  # TERM from `down` (its timeout in run/down.json), or INT
            from claude_orchestrator.supervisor.runfiles import take_down_request

            asked = take_down_request(self.cfg.team.state_dir) if kind is ev.Signal.TERM else None
            self.shut_down(self.cfg.down_timeout if asked is None else asked)

    def shut_down(self, timeout: float) -> list[str]:
        self.stopping = True
        return [s.name for s in list(self.slots.values()) if self.stop(s, timeout=timeout)]

    def _on_connection(self, state: str) -> None:
        leadership = self.leadership
        if state == "CONNECTED" and leadership is not None:
            self.lane.submit(leadership.ensure, key="lead")
            self.sweep_due = time.monotonic()
            self._run_control()
            self.changed()

    def _on_server_exit(self, status: ExitStatus) -> None:
        if self.stopping or self.embedded is None or self.embedded.server is None:
            return
        self.emit("restarted", "zookeeper", f"embedded server {status.describe()}")
        self.embedded.start(self.embedded.server.port)

    # -- helpers ---------------------------------------------------------------
    def _all_stopped(self) -> bool:
        return all(s.proc is None for s in self.slots.values())

    def _check_ready(self) -> None:
        if self.ready_sent or any(s.state is S.STARTING for s in self.slots.values()):
            return
        self.ready_sent = True
        summary = {s.name: s.state.value for s in self.slots.values()}

        def ready() -> None:  # after the first snapshot is out, so `ps` sees the team
            self.run_files.write_ready(self.hosts, summary)
            if self.on_ready is not None:
                self.on_ready(summary)

        if self.publisher is not None:
            self.publisher.publish_now(ready)
        else:
            ready()

    def changed(self) -> None:
        if self.publisher is not None:
            self.publisher.mark()

    def emit(self, kind: str, worker: str | None, text: str, task: str | None = None) -> None:
        self.emit_line(EventLine(at=time.time(), kind=kind, worker=worker, task=task, text=text))

    def emit_line(self, line: EventLine) -> None:
        kind, worker, text = line.kind, line.worker, line.text
        if self.publisher is not None:
            self.publisher.record(line)
        log.info("%s %s %s", kind, worker or "-", text)
        if self.on_event is not None:
            self.on_event(line)

    def _team(self) -> Team:
        if self.team is None:
            raise RuntimeError("supervisor is not connected")
        return self.team


def reload_team(sup: Supervisor) -> TeamConfig:
    if sup.cfg.team_file is None:
        return sup.cfg.team
    return load_team(sup.cfg.team_file)
