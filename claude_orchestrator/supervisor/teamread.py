"""What a snapshot shows from ZooKeeper: the task lines and counts, the registered
instances as rows (``leader``, and ``ps`` without a supervisor), every published
snapshot (``ps``). Reads only; the supervisor runs them on its ZooKeeper lane.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from kazoo.exceptions import NoNodeError

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.supervisor.snapshot import Snapshot, TaskLine, WorkerRow
from claude_orchestrator.zk.codec import parse_iso
from claude_orchestrator.zk.paths import ACTIVE, WAITING, TeamPaths
from claude_orchestrator.zk.query import counts
from claude_orchestrator.zk.taskmodel import TaskStatus, task_id_of_entry
from claude_orchestrator.zk.tasks import TaskStore

HEAD = 5
BLOCKED_SHOWN = 8


class Board(NamedTuple):
    """The task board of a snapshot: counts per state, the pending head, what runs, what
    is blocked (the first few, with their reasons)."""

    counts: dict[str, int]
    pending_head: tuple[TaskLine, ...]
    in_progress: tuple[TaskLine, ...]
    blocked: tuple[TaskLine, ...]


def read_board(team: Any) -> Board:
    store = team.tasks
    queues = [f for f in store.pending_folders() if f != store.paths.state_folder(WAITING)]
    head = [
        (e, task_id_of_entry(e)) for entries in store.entries_of(queues) for e in entries[:HEAD]
    ]
    pending = [task_line(store, tid) for _, tid in sorted(head)[:HEAD]]
    active = store.entries(store.paths.state_folder(ACTIVE))
    running = [task_line(store, task_id_of_entry(e)) for e in active]
    held = store.entries(store.paths.index_folder(TaskStatus.BLOCKED))[:BLOCKED_SHOWN]
    blocked = [task_line(store, task_id_of_entry(e)) for e in held]
    return Board(
        counts=counts(store),
        pending_head=tuple(t for t in pending if t),
        in_progress=tuple(t for t in running if t),
        blocked=tuple(t for t in blocked if t),
    )


def task_line(store: TaskStore, task_id: str) -> TaskLine | None:
    try:
        task = store.read(task_id)[0]
    except NotFoundError:
        return None
    since = task.started_at or task.claimed_at
    return TaskLine(
        id=task.id,
        title=task.title,
        priority=task.priority,
        status=task.status.value,
        worker=task.claimed_by,
        since=parse_iso(since) if since else None,
        reason=task.reason,
    )


def instance_rows(team: Any, now: float) -> list[WorkerRow]:
    """The registered instances as team rows (``leader``, and ``ps`` without a supervisor):
    running while alive (session or lease), else stopped."""

    rows = []
    for inst in team.registry.describe_all(now):
        rows.append(
            WorkerRow(
                name=inst["name"],
                role=inst["role"],
                host=inst["host"],
                state="running" if inst["alive"] else "stopped",
                pid=inst.get("pid"),
                started_at=parse_iso(inst["registered_at"]),
                current_task=inst.get("current_task"),
                cost_usd=float(inst.get("cost_usd") or 0.0),
                instance_id=inst["id"],
            )
        )
    return rows


def read_snapshots(client: Any, team: str) -> list[Snapshot]:
    """Every published supervisor snapshot of a team (for ``ps``)."""

    paths = TeamPaths(team)
    try:
        hosts = sorted(client.get_children(paths.supervisors))
    except NoNodeError:
        return []
    out = []
    for host in hosts:
        try:
            data, _ = client.get(paths.supervisor(host))
        except NoNodeError:
            continue
        out.append(Snapshot.from_dict(json.loads(data.decode())))
    return out
