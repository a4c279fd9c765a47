"""Publishing the supervisor's snapshot: ``supervisors/<host>`` (ephemeral JSON).

``ps`` and the dashboard read it. Changes are batched: at most one write per
PUBLISH_GAP; while a dashboard watches, it is refreshed every REFRESH
seconds so task counts stay current, and every KEEPALIVE seconds otherwise
(``ps`` calls an older snapshot stale). The loop decides when and copies the
workers' rows; reading tasks and instances and writing the node run on the
ZooKeeper lane, and the task events found there (from the records' history,
taskevents.py) are posted back to the loop. A change in the task state folders
asks for a publish at once, so an event shows within PUBLISH_GAP.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from claude_orchestrator.supervisor.events import Call
from claude_orchestrator.supervisor.snapshot import (
    KEEPALIVE,
    EventLine,
    Snapshot,
    WorkerRow,
)
from claude_orchestrator.supervisor.taskevents import TaskEventFeed, watch_folders
from claude_orchestrator.supervisor.teamread import instance_rows, with_tasks
from claude_orchestrator.zk.paths import TeamPaths

if TYPE_CHECKING:
    from claude_orchestrator.supervisor.arbiter import Supervisor

PUBLISH_GAP = 0.25
REFRESH = 2.0
EVENTS_KEPT = 50


class Publisher:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.path = TeamPaths(sup.cfg.team_name).supervisor(socket.gethostname())
        self.events: deque[EventLine] = deque(maxlen=EVENTS_KEPT)
        self.pending_due: float | None = time.monotonic()
        self.watchers: list[Callable[[Snapshot], None]] = []
        self.feed = TaskEventFeed()  # the feed and ``found`` belong to the lane
        self.found: deque[EventLine] = deque(maxlen=EVENTS_KEPT)
        team = sup.team
        if team is not None:  # prepare(), before the loop runs: ZooKeeper calls are fine here
            self.feed.scan(team.tasks)  # the baseline
            watch_folders(team.client, team.tasks, lambda: sup.post(Call(self.mark)))

    def mark(self) -> None:
        due = time.monotonic() + PUBLISH_GAP
        if self.pending_due is None or self.pending_due > due:
            self.pending_due = due

    def record(self, line: EventLine) -> None:
        self.events.append(line)
        self.mark()

    def publish_now(self, then: Callable[[], None] | None = None) -> None:
        """Publish at once; ``then`` runs on the loop once the snapshot is written."""
        self.pending_due = time.monotonic()
        self.maybe_publish(then)

    def maybe_publish(self, then: Callable[[], None] | None = None) -> None:
        now = time.monotonic()
        if self.pending_due is None or self.pending_due > now:
            return
        # Republished even when nothing changes, so `ps` can tell a silent supervisor.
        self.pending_due = now + (REFRESH if self.watchers else KEEPALIVE)
        rows = [
            (self._row(slot), slot.state.value == "running") for slot in self.sup.slots.values()
        ]
        events = tuple(self.events)

        def job() -> None:
            snap = self.snapshot(rows, events)
            self._write(snap)
            for watcher in self.watchers:
                watcher(snap)
            if then is not None:
                self.sup.post(Call(then))

        self.sup.lane.submit(job, key="publish")

    def snapshot(
        self, rows: list[tuple[WorkerRow, bool]], events: tuple[EventLine, ...]
    ) -> Snapshot:
        """Runs on the lane: ``rows`` were copied on the loop (with whether each runs)."""
        sup = self.sup
        team = sup.team
        leader = bool(
            sup.leadership and team and team.client.connected and sup.leadership.is_leader()
        )
        snap = Snapshot(
            team=sup.cfg.team_name,
            host=socket.gethostname(),
            pid=os.getpid(),
            zookeeper=sup.hosts,
            embedded=sup.embedded is not None,
            leader=leader,
            taken_at=time.time(),
            workers=tuple(self._with_instance(row) if up else row for row, up in rows),
            events=events,
            name=sup.name,
        )
        if team is None or not team.client.connected:
            return snap
        if not sup.cfg.spawn_workers:  # `leader`: the team is whoever registered by hand
            snap = replace(snap, workers=tuple(instance_rows(team, time.time())))
        snap = with_tasks(snap, team)
        found = self.feed.scan(team.tasks)
        for line in found:
            self.sup.post(Call(partial(self.sup.emit_line, line)))
        # The loop records them a moment later; until then this lane's copy shows them.
        self.found.extend(found)
        merged = sorted({*events, *self.found}, key=lambda line: line.at)
        return replace(snap, events=tuple(merged[-EVENTS_KEPT:]))

    def _with_instance(self, row: WorkerRow) -> WorkerRow:
        inst = self._instance(row.name)
        return replace(
            row,
            current_task=inst.get("current_task"),
            cost_usd=float(inst.get("cost_usd") or 0.0),
            instance_id=inst.get("id"),
        )

    def _row(self, slot: Any) -> WorkerRow:
        """The worker's row as the loop knows it (instance fields are filled on the lane)."""
        return WorkerRow(
            name=slot.name,
            role=slot.spec.role,
            host=socket.gethostname(),
            state=slot.state.value,
            pid=slot.pid,
            started_at=slot.started_at,
            restarts=slot.tracker.restarts,
            last_exit=slot.last_exit,
            next_try_at=slot.next_try_at,
            current_task=None,
            cost_usd=0.0,
            instance_id=None,
        )

    def _instance(self, name: str) -> dict[str, Any]:
        team = self.sup.team
        if team is None or not team.client.connected:
            return {}
        return team.registry.named(name) or {}

    def _write(self, snap: Snapshot) -> None:
        from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

        team = self.sup.team
        if team is None or not team.client.connected:
            return
        data = json.dumps(snap.to_dict()).encode()
        try:
            try:
                team.client.set(self.path, data)
            except NoNodeError:
                team.client.create(self.path, data, ephemeral=True, makepath=True)
        except (NodeExistsError, KazooException):
            self.mark()  # try again shortly

    def withdraw(self, team: Any) -> None:
        from kazoo.exceptions import KazooException

        if team.client.connected:
            try:
                team.client.delete(self.path)
            except KazooException:
                pass
