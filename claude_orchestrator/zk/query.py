"""Read-only views of the task store: lists, counts (not on any hot path).

``list_tasks`` reads the records of the folders it is asked about — fine for
people and scripts; claimers never call it. SUSPENDED: reads are retried
after reconnection until the deadline. LOST: nothing held, nothing to do.
"""

from __future__ import annotations

from claude_orchestrator.errors import NotFoundError, UsageError
from claude_orchestrator.zk.paths import STATUS_FOLDERS, WAITING
from claude_orchestrator.zk.taskmodel import Task, TaskStatus, task_id_of_entry
from claude_orchestrator.zk.tasks import TaskStore
from claude_orchestrator.zk.txn import retrying

STATUSES = [s.value for s in TaskStatus]


def folders_for(store: TaskStore, status: str | None) -> list[str]:
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status '{status}' (valid: {', '.join(STATUSES)})")
    wanted = [TaskStatus(status)] if status else list(TaskStatus)
    folders: list[str] = []
    for st in wanted:
        if st is TaskStatus.PENDING:  # the queue's folders (by name, role, anyone) and waiting
            folders += [f for f in store.pending_folders() if f not in folders]
        elif (folder := store.paths.index_folder(st)) not in folders:
            folders.append(folder)
    return folders


def list_tasks(
    store: TaskStore,
    status: str | None = None,
    assignee: str | None = None,
    chain_id: str | None = None,
) -> list[Task]:
    def step() -> list[Task]:
        store.ensure_layout()
        entries = []
        for folder in folders_for(store, status):
            entries += store.entries(folder)
        return _read_matching(store, sorted(set(entries)), status, assignee, chain_id)

    return retrying(store.client, step)


def _read_matching(
    store: TaskStore,
    entries: list[str],
    status: str | None,
    assignee: str | None,
    chain_id: str | None,
) -> list[Task]:
    out = []
    for entry in entries:
        try:
            rec = store.read(task_id_of_entry(entry))[0]
        except NotFoundError:
            continue  # moved on (pruned) between the listing and the read
        if status and rec.status is not TaskStatus(status):
            continue
        if assignee and assignee not in (rec.assignee, rec.claimed_by):
            continue
        if chain_id and rec.chain_id != chain_id:
            continue
        out.append(rec)
    return out


def counts(store: TaskStore) -> dict[str, int]:
    """Tasks per index folder, from the folders' sizes alone: one pipelined round of
    ``exists`` (no listing: the finished folders hold up to thousands of entries)."""

    def step() -> dict[str, int]:
        store.ensure_layout()
        queues = store.pending_folders()
        states = [store.paths.state_folder(name) for name in STATUS_FOLDERS]
        sizes = [store.client.exists_async(folder) for folder in [*queues, *states]]
        n = [int(s.numChildren) if s is not None else 0 for s in (r.get() for r in sizes)]
        waiting = store.paths.state_folder(WAITING)
        queued = list(zip(queues, n[: len(queues)], strict=True))
        out = {
            TaskStatus.PENDING.value: sum(k for f, k in queued if f != waiting),
            WAITING: sum(k for f, k in queued if f == waiting),
        }
        out.update(zip(STATUS_FOLDERS, n[len(queues) :], strict=True))
        return out

    return retrying(store.client, step)
