"""Publishing the supervisor's snapshot: ``supervisors/<host>`` (ephemeral JSON).

``ps`` and the dashboard read it. Changes are batched: at most one write per
PUBLISH_GAP while a dashboard watches (UNWATCHED_GAP otherwise: a busy team's
publishes are most of its supervisor's ZooKeeper work, and ``ps`` does not
need them faster); while a dashboard watches, it is refreshed every REFRESH
seconds so task counts stay current, and every KEEPALIVE seconds otherwise
(``ps`` calls an older snapshot stale). A change in the task state folders
asks for a publish at once, so a task event shows within that gap.

One publish is three steps, each where it belongs: the ZooKeeper lane reads
(``read_team``: instances, leadership, the task board, the task records that
moved; on a full reading the publisher's ``ChainReader`` adds the chain board,
teamread.py); the loop keeps the events it has not shown yet (``EventMarks``, the
diff), emits them, and builds the snapshot with the pure ``build_snapshot``;
the lane writes it. Nothing here changes supervisor state off the loop.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

from claude_orchestrator.supervisor.config import SupervisorConfig
from claude_orchestrator.supervisor.events import Call, Event
from claude_orchestrator.supervisor.governorview import GovernorState, GovernorView, read_governor
from claude_orchestrator.supervisor.hookfire import SupervisorHooks, supervisor_hooks
from claude_orchestrator.supervisor.lanejobs import InstanceIds
from claude_orchestrator.supervisor.leadership import Leadership
from claude_orchestrator.supervisor.slots import Slot
from claude_orchestrator.supervisor.snapshot import KEEPALIVE, EventLine, Snapshot, WorkerRow
from claude_orchestrator.supervisor.states import ProcState
from claude_orchestrator.supervisor.taskevents import EventMarks, TaskEventFeed
from claude_orchestrator.supervisor.teamread import (
    Board,
    ChainBoard,
    ChainReader,
    instance_rows,
    read_board,
    watch_chains,
)
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.chains import Chain
from claude_orchestrator.zk.hosts import HostRecord, forget_host, record_host
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.team import Team

PUBLISH_GAP = 0.25
UNWATCHED_GAP = 1.0
REFRESH = 2.0
EVENTS_KEPT = 50


@dataclass(frozen=True)
class Meta:
    """What a snapshot says about the supervisor itself."""

    team: str
    host: str
    pid: int
    zookeeper: str
    embedded: bool
    name: str | None  # ``leader --name``


@dataclass(frozen=True)
class Reading:
    """What the lane read from ZooKeeper for one snapshot."""

    connected: bool = False
    leader: bool = False
    instances: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    unmanaged: tuple[WorkerRow, ...] | None = None  # ``leader``: the registered instances
    board: Board | None = None
    found: tuple[EventLine, ...] = ()  # task events in the records that moved
    chains: ChainBoard | None = None  # read with the rest on a full reading (Publisher)
    governor: GovernorState | None = None  # pauses and spend, likewise (governorview.py)


def read_team(
    ids: InstanceIds,
    leadership: Leadership | None,
    running: list[tuple[str, int]],
    managed: bool,
    feed: TaskEventFeed,
    last: Reading | None = None,
) -> Reading:
    """Runs on the lane: everything a snapshot needs from ZooKeeper. With ``last`` (nothing
    was marked changed since it was read: a keepalive), only leadership is read again: every
    change to the rest is watched (task folders, pushes, instances; lanejobs.py)."""
    team = ids.team
    if not team.client.connected:
        return Reading()
    leader = bool(leadership is not None and leadership.is_leader())
    if last is not None and last.connected:
        return replace(last, leader=leader, found=())
    instances = {name: inst for (name, _), inst in ids.records(running).items()}
    unmanaged = None if managed else tuple(instance_rows(team, time.time()))
    board = read_board(team)
    found = tuple(feed.scan(team.tasks))
    return Reading(True, leader, instances, unmanaged, board, found)


def build_snapshot(
    meta: Meta,
    rows: list[tuple[WorkerRow, bool]],
    reading: Reading,
    events: tuple[EventLine, ...],
    taken_at: float,
) -> Snapshot:
    """The snapshot of the workers as the loop knows them (``rows``, with whether each
    runs) and what the lane read. Pure."""
    workers = tuple(
        _with_instance(row, reading.instances.get(row.name) or {}) if up else row
        for row, up in rows
    )
    snap = Snapshot(
        team=meta.team,
        host=meta.host,
        pid=meta.pid,
        zookeeper=meta.zookeeper,
        embedded=meta.embedded,
        leader=reading.leader,
        taken_at=taken_at,
        workers=reading.unmanaged if reading.unmanaged is not None else workers,
        events=events[-EVENTS_KEPT:],
        name=meta.name,
    )
    if reading.chains is not None:
        snap = replace(snap, chains=reading.chains.lines, chains_more=reading.chains.more)
    board = reading.board
    if board is None:
        return snap
    return replace(
        snap,
        counts=board.counts,
        pending_head=board.pending_head,
        in_progress=board.in_progress,
        blocked=board.blocked,
    )


def worker_rows(slots: Iterable[Slot], host: str) -> list[tuple[WorkerRow, bool]]:
    """Each worker's row as the loop knows it, with whether it runs (its instance's fields
    are filled from what the lane read)."""
    return [
        (
            WorkerRow(
                name=slot.name,
                role=slot.spec.role,
                host=host,
                state=slot.state.value,
                pid=slot.pid,
                started_at=slot.started_at,
                restarts=slot.tracker.restarts,
                last_exit=slot.last_exit,
                next_try_at=slot.next_try_at,
            ),
            slot.state is ProcState.RUNNING,
        )
        for slot in slots
    ]


def _with_instance(row: WorkerRow, inst: Mapping[str, Any]) -> WorkerRow:
    return replace(
        row,
        current_task=inst.get("current_task"),
        cost_usd=float(inst.get("cost_usd") or 0.0),
        instance_id=inst.get("id"),
    )


class Publisher:
    """Decides on the loop when to publish; reads and writes on the lane."""

    def __init__(
        self,
        team: Team,
        lane: ZkLane,
        post: Callable[[Event], None],
        emit_line: Callable[[EventLine], None],
        host: str,
        session_timeout: float,
    ) -> None:
        self.team, self.lane, self.post, self.emit_line = team, lane, post, emit_line
        self.path = TeamPaths(team.name).supervisor(host)
        self.host, self.session_timeout = host, session_timeout
        self.recorded: tuple[tuple[str, str], ...] | None = None  # in the host's record
        self.events: deque[EventLine] = deque(maxlen=EVENTS_KEPT)
        self.pending_due: float | None = time.monotonic()
        self.watchers: list[Callable[[Snapshot], None]] = []
        # the lane's cursor over the state folders; its listings' watches ask for a publish
        #: a one-shot watch that fired asks the loop for a publish (from kazoo's thread)
        self.ask: Callable[[Any], None] = lambda _event: post(Call(self.mark))
        self.feed = TaskEventFeed(changed=self.ask)
        self.marks = EventMarks(self.feed.since)  # the loop's: which events were shown
        self.chains = ChainReader(changed=self.ask, moved=self._chain_moved)  # the lane's
        self.hooks: SupervisorHooks | None = None  # the team file's [hooks] (hookfire.py)
        self.governor: GovernorView | None = None  # the workers' holds (governorview.py)
        self.last: Reading | None = None  # the last full reading (the loop's)
        self.marked = True  # something changed since the last full reading was asked for
        self.full_pending = False  # a full reading is on its way (a keepalive waits for it)

    def baseline(self) -> None:
        """Before the loop runs (ZooKeeper calls are fine here): the folders as they are,
        and the first watches on them (a folder must exist for its listing to set one)."""
        self.team.tasks.ensure_layout()
        self.feed.scan(self.team.tasks)
        watch_chains(self.team, lambda: self.post(Call(self.mark)))

    def configure(self, cfg: SupervisorConfig, is_leader: Callable[[], bool]) -> None:
        """Before the loop runs: the team file's hooks, and the governor's records watched."""
        self.hooks = supervisor_hooks(cfg, is_leader)
        self.governor = GovernorView(cfg.team)
        self.governor.watch(self.team.client, self.team.name, lambda: self.post(Call(self.mark)))

    def mark(self) -> None:
        self.marked = True
        due = time.monotonic() + (PUBLISH_GAP if self.watchers else UNWATCHED_GAP)
        if self.pending_due is None or self.pending_due > due:
            self.pending_due = due

    def record(self, line: EventLine) -> None:
        self.events.append(line)
        self.mark()
        if self.hooks is not None:
            self.hooks.on_line(line)

    def _chain_moved(self, chain: Chain) -> None:
        """The lane's: a chain changed status; its hook fires from the loop."""
        if self.hooks is not None:
            self.post(Call(partial(self.hooks.on_chain, chain)))

    def due(self) -> bool:
        return self.pending_due is not None and self.pending_due <= time.monotonic()

    def maybe_publish(
        self,
        meta: Meta,
        rows: list[tuple[WorkerRow, bool]],
        reader: Callable[[Reading | None], Reading],
        then: Callable[[], None] | None = None,
    ) -> None:
        now = time.monotonic()
        if self.pending_due is None or self.pending_due > now:
            return
        # Republished even when nothing changes, so `ps` can tell a silent supervisor; such
        # a keepalive reads again only what no watch reports (``read_team``).
        self.pending_due = now + (REFRESH if self.watchers else KEEPALIVE)
        last = None if self.marked or self.full_pending else self.last
        self.marked, self.full_pending = False, last is None

        def read() -> None:
            reading = reader(last)
            if last is None and reading.connected:
                reading = self._full(reading)
            self.post(Call(partial(self._built, meta, rows, reading, then, full=last is None)))

        self.lane.submit(read, key="publish")

    def _full(self, reading: Reading) -> Reading:
        """On the lane: ``reading`` with the chain board and the governor's records (a full
        reading's parts)."""
        running = reading.board.in_progress if reading.board is not None else ()
        active = {task.id for task in running}
        client, team = self.team.client, self.team.name
        board = self.chains.read(client, team, active, time.time())
        governor = read_governor(client, team) if self.governor is not None else None
        return replace(reading, chains=board, governor=governor)

    def _built(
        self,
        meta: Meta,
        rows: list[tuple[WorkerRow, bool]],
        reading: Reading,
        then: Callable[[], None] | None,
        full: bool,
    ) -> None:
        """On the loop: show the new task events, build the snapshot, hand it to the lane."""
        self.last = reading
        self.full_pending = self.full_pending and not full
        for line in self.marks.fresh(reading.found):
            self.emit_line(line)
        events = tuple(sorted(self.events, key=lambda line: line.at))
        rows = self._held(rows, reading.governor)
        snap = build_snapshot(meta, rows, reading, events, time.time())
        for watcher in self.watchers:
            watcher(snap)

        def write() -> None:
            if not self._write(snap):
                self.post(Call(self.mark))  # try again shortly
            if then is not None:
                self.post(Call(then))

        # keyed (a newer snapshot replaces a queued one) unless someone waits for this one
        self.lane.submit(write, key=None if then is not None else "publish-write")

    def _held(
        self, rows: list[tuple[WorkerRow, bool]], state: GovernorState | None
    ) -> list[tuple[WorkerRow, bool]]:
        """The rows with the workers' holds; a pause that ends by the clock is published
        ended (a snapshot is due then)."""
        if self.governor is None:
            return rows
        now = time.time()
        held = self.governor.rows([row for row, _ in rows], state, now)
        end = self.governor.next_end(state, now)
        if end is not None:
            due = time.monotonic() + end - now + 0.05
            self.pending_due = due if self.pending_due is None else min(self.pending_due, due)
        return [(row, up) for row, (_, up) in zip(held, rows, strict=True)]

    def _write(self, snap: Snapshot) -> bool:
        client = self.team.client
        if not client.connected:
            return True
        data = json.dumps(snap.to_dict()).encode()
        workers = tuple((row.name, row.role) for row in snap.workers)
        try:
            try:
                client.set(self.path, data)
            except NoNodeError:
                client.create(self.path, data, ephemeral=True, makepath=True)
            if workers != self.recorded:  # the host's record, when its workers change
                record = HostRecord(snap.pid, workers, self.session_timeout)
                record_host(client, self.team.name, snap.host, record)
                self.recorded = workers
        except (NodeExistsError, KazooException):
            return False
        return True

    def withdraw(self, clean: bool) -> None:
        """On the lane, when the supervisor stops; ``clean``: its workers stopped, so the
        host's record goes too (else ``ps`` shows them lost)."""
        if self.team.client.connected:
            try:
                self.team.client.delete(self.path)
                if clean:
                    forget_host(self.team.client, self.team.name, self.host)
            except KazooException:
                pass
