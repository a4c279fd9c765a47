"""The orphan sweep: a function of (ZooKeeper state, now), idempotent.

Run by the leader at leadership start, on instance changes, on lease expiry
and periodically (DESIGN §3.4); safe to run from anywhere, any number of
times, concurrently; while no leader is alive, one-shot commands run its expiry
part themselves (``sweep_if_leaderless``). It expires run-out leases, re-queues (or fails, when
spent) tasks held by instances that are gone, promotes waiting tasks whose
dependencies are done, removes inboxes of vanished instances and prunes
finished tasks beyond the retention limit.

SUSPENDED: the sweep's steps are retried until their deadline, then it
stops; the next sweep starts over. LOST: nothing is held by the sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from kazoo.exceptions import NoNodeError

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.zk.paths import ACTIVE, WAITING, child
from claude_orchestrator.zk.quota import delete_finished
from claude_orchestrator.zk.registry import is_alive
from claude_orchestrator.zk.taskmodel import (
    FINAL,
    Task,
    TaskStatus,
    seq_of,
    task_id_of_entry,
)
from claude_orchestrator.zk.tasks import TaskStore
from claude_orchestrator.zk.txn import retrying

FINISHED_KEEP = 10_000


class SweepReport:
    """What one sweep did (a plain class: the short commands import this module)."""

    def __init__(self, expired: list[str] | None = None) -> None:
        self.expired: list[str] = expired if expired is not None else []
        self.recovered: list[str] = []
        self.failed: list[str] = []
        self.promoted: list[str] = []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SweepReport) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"SweepReport({vars(self)})"


def sweep(store: TaskStore, now: float, finished_keep: int = FINISHED_KEEP) -> SweepReport:
    store.ensure_layout()
    report = SweepReport(expired=store.registry.expire_leases(now))
    recover_orphans(store, now, report)
    for entry in store.entries(store.paths.state_folder(WAITING)):
        if store.promote(task_id_of_entry(entry), now):
            report.promoted.append(task_id_of_entry(entry))
    remove_stale_inboxes(store)
    prune_finished(store, finished_keep)
    return report


def sweep_if_leaderless(store: TaskStore, now: float) -> SweepReport | None:
    """The expiry part of the sweep, run by one-shot commands while no leader is alive.

    Costs one ``exists()`` when a leader holds ``/leader`` (it sweeps itself). Without
    one, run-out leases are expired and the tasks of gone or expired claimers recovered,
    so a team of hand-registered instances recovers too. A team whose tree does not
    exist yet has nothing to sweep (and nothing is created for it).
    """
    if retrying(store.client, lambda: store.client.exists(store.paths.leader)) is not None:
        return None
    try:
        report = SweepReport(expired=store.registry.expire_leases(now))
        recover_orphans(store, now, report)
    except NoNodeError:
        return None  # no tree (yet), or a folder removed under us: the next sweep sees it
    return report


def recover_orphans(store: TaskStore, now: float, report: SweepReport) -> None:
    """Re-queue every held task whose claimer is no longer alive."""
    for entry in store.entries(store.paths.state_folder(ACTIVE)):
        task_id = task_id_of_entry(entry)
        try:
            rec = store.read(task_id)[0]
        except NotFoundError:
            continue
        claimer = rec.claimed_by
        if claimer is None or _alive(store, claimer, now):
            continue
        new = store.recover(task_id, claimer, now, note=f"recovered: claimer {claimer} is gone")
        if new is not None:
            target = report.recovered if new.status is TaskStatus.PENDING else report.failed
            target.append(task_id)


def release_held(
    store: TaskStore, instance_id: str, now: float, note: str, by: str, on_stop: bool = False
) -> list[Task]:
    """Release every task an instance gives back on purpose (no retry counted); what
    moved on meanwhile is skipped."""
    held = store.held_by(instance_id)
    released = [store.release(t, instance_id, now, note, by, on_stop) for t in held]
    return [rec for rec in released if rec is not None]


def recover_worker(
    store: TaskStore, name: str, pid: int, now: float, instance_id: str | None = None
) -> list[tuple[str, str]]:
    """The supervisor's fast path for a worker that died: recover the tasks of the instance
    that process ``pid`` registered as ``name`` (``instance_id``: its id, when known),
    then unregister it."""
    note = f"recovered: worker {name} died (supervisor)"

    def put(task_id: str, iid: str) -> Task | None:
        return store.recover(task_id, iid, now, note, "supervisor")

    return _put_back_worker(store, name, pid, instance_id, put)


def release_worker(
    store: TaskStore, name: str, pid: int, now: float, instance_id: str | None = None
) -> list[tuple[str, str]]:
    """For a worker stopped on purpose: release its tasks, then unregister its instance
    (free only the first few times a task stops its worker: ``FREE_RELEASES``)."""
    note = f"released: worker {name} stopped"

    def put(task_id: str, iid: str) -> Task | None:
        return store.release(task_id, iid, now, note, "supervisor", on_stop=True)

    return _put_back_worker(store, name, pid, instance_id, put)


def _put_back_worker(
    store: TaskStore,
    name: str,
    pid: int,
    instance_id: str | None,
    put: Callable[[str, str], Task | None],
) -> list[tuple[str, str]]:
    """The task its instance names as current first (one read of the record, one write:
    the re-queue a crash waits for), then whatever else it holds (a claim not started
    yet), then the instance goes (a new process of the worker registers only after)."""
    inst = _instance_of(store, name, pid, instance_id)
    if inst is None:
        return []
    iid = str(inst["id"])
    current = inst.get("current_task")
    first = [put(current, iid)] if isinstance(current, str) and current else []
    rest = [put(task_id, iid) for task_id in store.held_by(iid)]
    store.registry.unregister(iid)
    return _outcomes([rec for rec in [*first, *rest] if rec is not None])


def _instance_of(
    store: TaskStore, name: str, pid: int, instance_id: str | None
) -> dict[str, Any] | None:
    """The instance ``pid`` registered as ``name``: by its id when known (one read)."""
    inst = store.registry.find(instance_id) if instance_id else None
    if inst is not None and inst.get("pid") == pid:
        return inst
    return store.registry.named_by(name, pid)


def _outcomes(recs: list[Task]) -> list[tuple[str, str]]:
    return [(rec.id, rec.status.value) for rec in recs]


def _alive(store: TaskStore, instance_id: str, now: float) -> bool:
    inst = store.registry.find(instance_id)
    return inst is not None and is_alive(inst, now)


def remove_stale_inboxes(store: TaskStore) -> list[str]:
    live = set(store.registry.ids())
    stale = [i for i in store.entries(store.paths.inboxes) if i not in live]
    for iid in stale:
        if store.registry.find(iid) is None:  # re-check: it may have just registered
            store.registry.remove_inbox(iid)
    return stale


def prune_finished(store: TaskStore, keep: int) -> int:
    """Delete the oldest completed/cancelled tasks beyond ``keep`` (by sequence). The
    folders are listed only when their sizes (one ``exists`` each) say there is excess."""
    folders = [store.paths.index_folder(status) for status in FINAL]
    if sum(_size(store, folder) for folder in folders) <= keep:
        return 0
    entries: list[tuple[int, str]] = []
    for folder in folders:
        entries += [(seq_of(task_id_of_entry(e)), child(folder, e)) for e in store.entries(folder)]
    entries.sort()
    excess = entries[: max(0, len(entries) - keep)]
    for _, path in excess:
        task_id = task_id_of_entry(path.rsplit("/", 1)[1])
        retrying(store.client, partial(delete_finished, store.client, store.paths, path, task_id))
    return len(excess)


def _size(store: TaskStore, folder: str) -> int:
    stat = retrying(store.client, lambda: store.client.exists(folder))
    return int(stat.numChildren) if stat is not None else 0
