"""Watching the task queue: one JSON line per task state change.

Watches are hints (level-triggered): every callback only posts "rescan" to a
queue; the caller's thread then lists the index folders (names only) and
diffs them against what it saw, reading only the records that changed.
kazoo's ChildrenWatch / DataWatch re-arm and re-read after a reconnect, so
SUSPENDED just delays lines and LOST (a new session) triggers a full rescan.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.paths import ACTIVE, STATUS_FOLDERS
from claude_orchestrator.zk.taskmodel import task_id_of_entry
from claude_orchestrator.zk.tasks import TaskStore


class TaskWatcher:
    def __init__(self, store: TaskStore) -> None:
        self.store = store
        self.events: queue.Queue[str] = queue.Queue()
        self.watched: set[str] = set()
        self.seen: dict[str, str] = {}
        self._active = store.paths.state_folder(ACTIVE)

    def arm(self, folder: str) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        if folder not in self.watched:
            self.watched.add(folder)
            ChildrenWatch(self.store.client, folder, self._poke, send_event=False)

    def _poke(self, *_args: Any) -> None:
        self.events.put("rescan")

    def folders(self) -> list[str]:
        paths = self.store.paths
        self.arm(paths.queue_names)
        self.arm(paths.queue_roles)
        fixed = [paths.state_folder(f) for f in STATUS_FOLDERS]
        return [*self.store.pending_folders(), *fixed]

    def snapshot(self) -> dict[str, str]:
        """task id -> a fingerprint of where it is (folder, plus status when active)."""
        out: dict[str, str] = {}
        for folder in self.folders():
            self.arm(folder)
            for entry in self.store.entries(folder):
                out[task_id_of_entry(entry)] = folder
        return out

    def changes(self, now: float) -> list[dict[str, Any]]:
        current = self.snapshot()
        lines = []
        for task_id, folder in sorted(current.items()):
            rec = self._status(task_id, folder)
            if rec is not None and self.seen.get(task_id) != rec["fp"]:
                self.seen[task_id] = rec["fp"]
                lines.append(rec["line"] | {"at": iso(now)})
        for task_id in sorted(set(self.seen) - set(current)):
            del self.seen[task_id]
            lines.append({"id": task_id, "status": "removed", "at": iso(now)})
        return lines

    def _status(self, task_id: str, folder: str) -> dict[str, Any] | None:
        if self.seen.get(task_id, "").startswith(folder + "|") and folder != self._active:
            return {"fp": self.seen[task_id], "line": {}}
        try:
            rec = self.store.read(task_id)[0]
        except NotFoundError:
            return None
        if folder == self._active:
            self._watch_record(task_id)
        line = {
            "id": rec.id,
            "status": rec.status.value,
            "title": rec.title,
            "claimed_by": rec.claimed_by,
            "ready": rec.ready,
        }
        return {"fp": f"{folder}|{rec.status.value}", "line": line}

    def _watch_record(self, task_id: str) -> None:
        from kazoo.recipe.watchers import DataWatch

        key = f"record:{task_id}"
        if key not in self.watched:
            self.watched.add(key)
            DataWatch(self.store.client, self.store.paths.record(task_id), self._poke)


def watch_task_states(
    store: TaskStore,
    emit: Callable[[dict[str, Any]], None],
    once: bool = False,
    now: Callable[[], float] | None = None,
    initial: bool = False,
) -> None:
    import time

    clock = now or time.time
    store.ensure_layout()
    watcher = TaskWatcher(store)
    first = watcher.changes(clock())
    if initial:
        for line in first:
            emit(line)
    while True:
        watcher.events.get()
        for line in watcher.changes(clock()):
            emit(line)
            if once:
                return
