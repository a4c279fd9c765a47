"""Task events for the dashboard and ``up --no-tui``, read from the task records' history.

Every state change of a task appends ``{at, from, to, by, note}`` to its record's
``history`` in the same transaction, so the history is the one complete account:
a task claimed and completed between two snapshots still shows both, each once,
at the time it happened. What changed is found without reading every record: the
entries of the state folders (``active``, ``blocked``, ``failed``, ``completed``,
``cancelled``) are listed in one round trip, and only the tasks whose entry moved
(arrived, left, or changed folder) since the last scan are read, and the active
tasks whose record version changed (one pipelined ``exists`` for all of them: a task
recovered and claimed again between two scans never leaves ``active``). The scan's
own listing sets a one-shot watch on those folders, which asks the loop for a
publish (and so a scan) as soon as one changes.

Runs on the ZooKeeper lane (the scan) and kazoo's event thread (the watch, which
only calls back). SUSPENDED: the scan waits in its kazoo call like every lane job.
LOST (and any disconnect): kazoo drops the watches; the supervisor publishes, and so
scans and sets them again, on every reconnect.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from claude_orchestrator.supervisor.snapshot import EventLine
from claude_orchestrator.zk.paths import ACTIVE, STATUS_FOLDERS
from claude_orchestrator.zk.taskmodel import HELD, HistoryEntry, Task, TaskStatus

#: the state folders whose entries are listed (the pending queue's are not)
WATCHED = STATUS_FOLDERS
MARKS_KEPT = 2000  # tasks whose last emitted change is remembered (to emit each once)
_INSTANCE_ID = re.compile(r"^(?P<name>.+)-[0-9a-f]{8}$")
#: the event of a change into these states, whatever it came from
_ARRIVED = {
    TaskStatus.CLAIMED: "claimed",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.BLOCKED: "blocked",
    TaskStatus.CANCELLED: "cancelled",
}
#: the event of a change back to pending, by the state it left (held: see kind_of)
_REQUEUED = {TaskStatus.FAILED: "retried", TaskStatus.BLOCKED: "unblocked"}


def kind_of(change: HistoryEntry) -> str | None:
    """The event a history entry stands for; None for the ones not worth a line
    (created, claimed → in progress)."""
    frm, to = change.frm, change.to
    if to is TaskStatus.PENDING:
        if frm in HELD:
            return "released" if (change.note or "").startswith("released") else "recovered"
        return _REQUEUED.get(frm) if frm is not None else None
    if to is TaskStatus.IN_PROGRESS:
        return "unblocked" if frm is TaskStatus.BLOCKED else None
    return _ARRIVED.get(to)


def worker_of(by: object) -> str | None:
    """The worker name in an instance id (``jerry-1a2b3c4d``); None for others."""
    match = _INSTANCE_ID.match(str(by or ""))
    return match.group("name") if match else None


def events_of(task: Task, after: float) -> list[EventLine]:
    """The events of one task record's history newer than ``after``, oldest first."""
    from claude_orchestrator.zk.codec import parse_iso

    out = []
    holder = None  # who held the task: a recovery or release is about that worker
    for change in task.history:
        kind = kind_of(change)
        by = change.by
        holder = worker_of(by) if change.to is TaskStatus.CLAIMED else holder
        at = parse_iso(change.at) if change.at else 0.0
        if kind is None or at <= after:
            continue
        note = change.note or ""
        if not note and kind in ("blocked", "failed"):
            note = task.reason or ""
        text = (task.title or "") + (f" — {note}" if note else "")
        worker = holder if kind in ("recovered", "released") else worker_of(by)
        text += "" if worker or not by else f" (by {by})"
        out.append(EventLine(at=at, kind=kind, worker=worker, task=task.id, text=text))
    return out


class TaskEventFeed:
    """The records that moved since the last scan, as their events since ``since`` (some
    maybe shown already: ``EventMarks`` keeps each once); its state belongs to the lane."""

    def __init__(
        self, since: float | None = None, changed: Callable[[Any], None] | None = None
    ) -> None:
        self.since = time.time() if since is None else since
        #: called (from kazoo's thread) once a folder listed by the last scan changes: each
        #: scan's listing sets a one-shot watch, so a busy team costs one event per folder
        #: per scan, not one listing per change (kazoo drops the watches on a disconnect:
        #: the owner scans again on reconnecting)
        self.changed = changed
        self.where: dict[str, str] | None = None  # index entry -> watched folder
        self.versions: dict[str, int] = {}  # active task id -> its record's version

    def scan(self, store: Any) -> list[EventLine]:
        """List the watched folders, read the tasks that moved, return their new events."""
        from claude_orchestrator.zk.taskmodel import task_id_of_entry

        listings = store.entries_of([store.paths.state_folder(n) for n in WATCHED], self.changed)
        where = {e: name for name, entries in zip(WATCHED, listings, strict=True) for e in entries}
        before, self.where = self.where, where
        active = [task_id_of_entry(e) for e, name in where.items() if name == ACTIVE]
        versions, self.versions = self.versions, _versions(store, active)
        if before is None:  # the first listing is the baseline: nothing has moved yet
            return []
        moved = {
            task_id_of_entry(e)
            for e in where.keys() | before.keys()
            if where.get(e) != before.get(e)
        }
        moved |= {t for t, v in self.versions.items() if versions.get(t, v) != v}
        found: list[EventLine] = []
        for task_id in sorted(moved):
            found += self._new_events(store, task_id)
        return sorted(found, key=lambda line: line.at)

    def _new_events(self, store: Any, task_id: str) -> list[EventLine]:
        from claude_orchestrator.errors import NotFoundError

        try:
            rec = store.read(task_id)[0]
        except NotFoundError:  # pruned meanwhile
            return []
        return events_of(rec, self.since)


class EventMarks:
    """Which task events were shown already: the diff of one scan against the last, kept
    on the supervisor's loop, so each change shows once however often its record is read."""

    def __init__(self, since: float) -> None:
        self.since = since
        self.marks: OrderedDict[str, float] = OrderedDict()  # task id -> last shown at

    def fresh(self, found: Iterable[EventLine]) -> list[EventLine]:
        """The events of ``found`` not shown yet, oldest first; remembers them as shown."""
        out = []
        for line in sorted(found, key=lambda line: line.at):
            task = str(line.task)
            if line.at <= max(self.since, self.marks.get(task, 0.0)):
                continue
            out.append(line)
            self.marks[task] = line.at
            self.marks.move_to_end(task)
        while len(self.marks) > MARKS_KEPT:
            self.marks.popitem(last=False)
        return out


def _versions(store: Any, task_ids: list[str]) -> dict[str, int]:
    """Each task's record version, in one round trip (pipelined); gone ones left out."""
    pending = [(t, store.client.exists_async(store.paths.record(t))) for t in task_ids]
    out = {}
    for task_id, result in pending:
        stat = result.get()
        if stat is not None:
            out[task_id] = stat.version
    return out
