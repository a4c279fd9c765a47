"""The team's total-size quota for task data, checked before a push writes anything.

The running total of stored task-record bytes lives in the data of ``tasks/counter`` as
``{"task_bytes": N}``. Every push already sets that node in its ``multi()`` (the node's version
hands out task ids), so keeping the total there costs no extra operation, no extra node and no
extra contention, and the version check makes the total exact for pushes.

The total only grows with pushes: records deleted by retention, and results or history added to
a record later, are not tracked on their (hot) paths. Instead, when a push would cross the quota,
or the total is unknown (a tree from before the quota), the real size is recounted from the
records' stats — one listing and one pipelined ``exists()`` per record, on that path only — and
the push is judged against the recount, which the same ``multi()`` then stores. Finished
(completed, cancelled) tasks count too, as they use the server's memory; when they are what
stands in the way, the oldest are pruned (as retention would) until the push fits. A push is
refused only when unfinished tasks alone leave no room.

SUSPENDED / LOST: reads raise ``ConnectionLoss``; callers run inside ``retrying``. Nothing is
held here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from kazoo.exceptions import NoNodeError

from claude_orchestrator.errors import QuotaError
from claude_orchestrator.zk.codec import decode, encode
from claude_orchestrator.zk.paths import TeamPaths, child
from claude_orchestrator.zk.taskmodel import FINAL, seq_of, task_id_of_entry

if TYPE_CHECKING:
    from kazoo.client import KazooClient

TASK_BYTES = "task_bytes"


class Usage(NamedTuple):
    """The stored total (None when unknown) and the counter's version it was read at."""

    task_bytes: int | None
    version: int


def read_usage(client: KazooClient, paths: TeamPaths) -> Usage:
    data, stat = client.get(paths.counter)
    total = decode(data, paths.counter).get(TASK_BYTES)
    known = isinstance(total, int) and not isinstance(total, bool) and total >= 0
    return Usage(total if known else None, stat.version)


def usage_data(total: int) -> bytes:
    return encode({TASK_BYTES: total})


def recount(client: KazooClient, paths: TeamPaths) -> int:
    """The bytes of every task record stored now (O(N): the quota's slow path only)."""
    names = client.get_children(paths.records)
    return sum(_record_sizes(client, paths, names).values())


def _record_sizes(client: KazooClient, paths: TeamPaths, task_ids: list[str]) -> dict[str, int]:
    pending = [(tid, client.exists_async(paths.record(tid))) for tid in task_ids]
    return {tid: stat.dataLength for tid, result in pending if (stat := result.get()) is not None}


def admit(client: KazooClient, paths: TeamPaths, usage: Usage, adding: int, quota: int) -> int:
    """The total after storing ``adding`` more bytes, making room by pruning the oldest
    finished tasks if needed; QuotaError when unfinished tasks leave no room."""
    total = usage.task_bytes
    if total is not None and total + adding <= quota:
        return total + adding
    total = recount(client, paths)
    if total + adding > quota:
        total -= _prune_oldest_finished(client, paths, total + adding - quota)
    if total + adding > quota:
        raise QuotaError(
            f"this push adds {adding:,} bytes of task data to {total:,} bytes of unfinished "
            f"tasks; the team's quota is {quota:,} bytes ([team] max_task_bytes). "
            "Finish or cancel tasks, or raise the quota (and the server's heap with it)"
        )
    return total + adding


def _prune_oldest_finished(client: KazooClient, paths: TeamPaths, needed: int) -> int:
    """Delete the oldest finished tasks until ``needed`` bytes are free; return bytes freed.

    Deletes nothing when all of them together would not free enough (the push is refused
    anyway, and the history is worth more than nothing)."""
    entries = sorted(
        (seq_of(task_id_of_entry(e)), child(paths.index_folder(status), e))
        for status in FINAL
        for e in client.get_children(paths.index_folder(status))
    )
    sizes = _record_sizes(
        client, paths, [task_id_of_entry(p.rsplit("/", 1)[1]) for _, p in entries]
    )
    if sum(sizes.values()) < needed:
        return 0
    freed = 0
    for _, entry_path in entries:
        if freed >= needed:
            break
        task_id = task_id_of_entry(entry_path.rsplit("/", 1)[1])
        delete_finished(client, paths, entry_path, task_id)
        freed += sizes.get(task_id, 0)
    return freed


def delete_finished(client: KazooClient, paths: TeamPaths, entry_path: str, task_id: str) -> None:
    """Remove a finished task: its index entry, its record and its dependents folder."""
    for node in (entry_path, paths.record(task_id), paths.dependents(task_id)):
        try:
            client.delete(node, recursive=True)
        except NoNodeError:
            pass
