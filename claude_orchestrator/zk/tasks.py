"""The task store: push, read, list and every state change of a task.

Each record lives at ``tasks/records/<id>``; an index entry named
``<priority>-<sequence>`` sits in the folder of its state (the pending queue
buckets, ``waiting``, ``active``, ``blocked``, ``failed``, ``completed``,
``cancelled``; ``paths.index_folder`` says which). Every change of a record
(claim, transition, promotion, annotation, recovery) is one ``commit``: one
``multi()`` that sets the record with the version read and moves the index
entry, plus the fencing and dependency checks.

SUSPENDED: every step raises ConnectionLoss and is retried by ``retrying``
until its deadline; a write whose outcome is unknown is recognised on the
re-read by the token (``_op``) it put in the record. LOST: the step fails;
claims are not affected (they are persistent), but an owner that registered
again under a new id no longer passes the fencing check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from kazoo.exceptions import KazooException, NoNodeError

from claude_orchestrator.errors import NotFoundError, TaskStateError, ZkError
from claude_orchestrator.zk.codec import decode, decode_task, encode_task, iso, token
from claude_orchestrator.zk.layout import Layout
from claude_orchestrator.zk.paths import ACTIVE, WAITING, TeamPaths, child
from claude_orchestrator.zk.registry import Actor, Registry, alive
from claude_orchestrator.zk.taskmodel import (
    HELD,
    OWNER_ACTIONS,
    Action,
    Change,
    Task,
    TaskStatus,
    apply,
    entry_name,
    task_id_of_entry,
)
from claude_orchestrator.zk.txn import Txn, TxnConflict, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient


T = TypeVar("T")


class Reread(Exception):
    """The record (or a dependency pinned with it) changed under us: read it again and
    re-decide."""


class FenceLost(Exception):
    """The fencing instance node is gone: the actor's identity, and so its claim, ended."""


def index_folder(paths: TeamPaths, task: Task) -> str:
    """The folder that holds a record's index entry, from its state alone."""
    return paths.index_folder(task.status, task.ready, task.assignee)


def index_path(paths: TeamPaths, task: Task) -> str:
    return child(index_folder(paths, task), entry_name(task))


#: operations a caller adds to a task's transaction, given the record being written
Extra = Callable[[Txn, Task], None]


class TaskStore:
    def __init__(self, client: KazooClient, team: str, create: bool = True) -> None:
        self.client = client
        self.paths = TeamPaths(team)
        self.registry = Registry(client, team)
        #: False for read-only commands: the store never creates a folder (docs/cli.md)
        self.create = create
        self.layout = Layout(client, self.paths, create)
        #: held tasks this process wrote last, with the version its write made: a worker's
        #: next transition of one writes on it without reading (a stale one fails its
        #: version check and the transition reads as usual)
        self._known: dict[str, tuple[Task, int]] = {}

    # -- layout (zk/layout.py) -------------------------------------------
    def ensure_layout(self) -> None:
        self.layout.ensure()

    def ensure_folder(self, path: str) -> None:
        """Create ``path`` if missing; a read-only store raises NoNodeError instead."""
        self.layout.folder(path)

    # -- reads ----------------------------------------------------------
    def read(self, task_id: str) -> tuple[Task, int]:
        """The record and its version (the version is the task's lock)."""
        return retrying(self.client, lambda: self._read(task_id))

    def _read(self, task_id: str) -> tuple[Task, int]:
        path = self.paths.record(task_id)
        try:
            data, stat = self.client.get(path)
        except NoNodeError:
            raise NotFoundError(f"no task {task_id} in team '{self.paths.team}'") from None
        return decode_task(data, path), stat.version

    def get(self, task_id: str) -> Task:
        return self.read(task_id)[0]

    def entries(self, folder: str) -> list[str]:
        """The names in ``folder``, sorted; a missing folder is empty."""

        def step() -> list[str]:
            try:
                return sorted(self.client.get_children(folder))
            except NoNodeError:
                return []

        return retrying(self.client, step)

    def entries_of(
        self, folders: list[str], watch: Callable[[Any], None] | None = None
    ) -> list[list[str]]:
        """Several listings in one round trip (pipelined), each sorted; missing → [].
        ``watch`` (kazoo's client only): a one-shot watch on each folder listed."""
        return retrying(self.client, lambda: self._entries_of(folders, watch))

    def _entries_of(
        self, folders: list[str], watch: Callable[[Any], None] | None
    ) -> list[list[str]]:
        if watch is None:
            pending = [self.client.get_children_async(f) for f in folders]
        else:
            pending = [self.client.get_children_async(f, watch=watch) for f in folders]
        out = []
        for result in pending:
            try:
                out.append(sorted(result.get()))
            except NoNodeError:
                out.append([])
        return out

    def pending_folders(self) -> list[str]:
        folders = [self.paths.queue_any, self.paths.state_folder(WAITING)]
        for base in (self.paths.queue_names, self.paths.queue_roles):
            folders += [child(base, name) for name in self.entries(base)]
        return folders

    # -- transitions ----------------------------------------------------
    def transition(
        self,
        task_id: str,
        change: Change,
        actor: Actor,
        now: float,
        guard: Callable[[Task], None] | None = None,
        extra: Extra | None = None,
    ) -> Task:
        """Apply one state change as one transaction; re-read and re-decide on a race.
        ``extra``: operations of the caller's own in the same transaction (see ``commit``)."""
        tok = token()

        quick = actor.session_bound and actor.instance_id is not None
        owner = actor.instance_id if change.action in OWNER_ACTIONS and not quick else None

        def step() -> Task:
            known = self._known.pop(task_id, None) if quick else None
            rec, version, inst = (*known, None) if known else self._read_with(task_id, owner)
            if rec.op == tok:
                return rec  # our write landed before the connection dropped
            if guard is not None:
                guard(rec)
            return self._commit_change(rec, version, change, actor, now, tok, inst, extra)

        new = _until_settled(lambda: retrying(self.client, step))
        if new.status is TaskStatus.COMPLETED:
            self._promote_after(task_id, now)
        return new

    def _promote_after(self, task_id: str, now: float) -> None:
        """Best effort: the completion has committed whatever happens here; dependents
        this misses (connection lost, say) are promoted by the leader's sweep."""
        try:
            self.promote_dependents(task_id, now)
        except (ZkError, TaskStateError, KazooException):
            pass

    def _read_with(
        self, task_id: str, instance_id: str | None
    ) -> tuple[Task, int, dict[str, Any] | None]:
        """The record, and the acting instance's record when an owner acts, in one round
        trip (the fence needs both)."""
        if instance_id is None:
            return (*self._read(task_id), None)
        inst_path = self.paths.instance(instance_id)
        rec_reply = self.client.get_async(self.paths.record(task_id))
        inst_reply = self.client.get_async(inst_path)
        try:
            data, stat = rec_reply.get()
        except NoNodeError:
            raise NotFoundError(f"no task {task_id} in team '{self.paths.team}'") from None
        try:
            inst = decode(inst_reply.get()[0], inst_path)
        except NoNodeError:
            inst = None
        return decode_task(data, self.paths.record(task_id)), stat.version, inst

    def _commit_change(
        self,
        rec: Task,
        version: int,
        change: Change,
        actor: Actor,
        now: float,
        tok: str,
        inst: dict[str, Any] | None,
        extra: Extra | None = None,
    ) -> Task:
        fence = self._fence(rec, change, actor, now, inst)
        new = apply(rec, change)._replace(op=tok)
        try:
            return self.commit(rec, version, new, fence, extra=extra)
        except FenceLost as exc:
            raise TaskStateError(
                f"{rec.id}: the claim of {rec.claimed_by} is no longer valid "
                "(its session or lease ended); result not recorded"
            ) from exc

    def _fence(
        self,
        rec: Task,
        change: Change,
        actor: Actor,
        now: float,
        inst: dict[str, Any] | None,
    ) -> str | None:
        """Owner actions need the current claimer, alive (``inst``: the actor's record, read
        with the task's): return its id to check."""
        if change.action not in OWNER_ACTIONS:
            return None
        claimer = rec.claimed_by
        if claimer is not None and claimer != actor.instance_id:
            who = actor.instance_id or actor.label
            raise TaskStateError(
                f"cannot {change.action.value} {rec.id}: it is claimed by {claimer}, not {who}"
            )
        if actor.instance_id is not None and claimer is not None and not actor.session_bound:
            alive(inst, actor.instance_id, now)
        return claimer

    def commit(
        self,
        old: Task,
        version: int,
        new: Task,
        fence: str | None = None,
        if_ready: bool = False,
        extra: Extra | None = None,
    ) -> Task:
        """Write ``new`` over ``old`` (read at ``version``) as one transaction, the one way
        a task's record changes: the check of the ``fence`` instance node when given, the
        versions of the dependencies when ``new`` is pending (its ``ready`` comes from
        them), the record set on ``version``, and its index entry moved when the folder
        changes. Returns what was written, and remembers its version (see ``_known``).

        Raises FenceLost when the fence's node is gone and Reread when the record or a
        dependency changed meanwhile; nothing is written then. ``if_ready`` (a promotion):
        while a dependency is not completed, nothing is written and ``old`` comes back.
        ``extra`` adds operations of its own to the same transaction (a chain's next step,
        zk/chains.py), given the record to be written; a conflict there is a Reread too."""
        t = Txn(self.client)
        if fence is not None:
            t.check(self.paths.instance(fence))
        if new.status is TaskStatus.PENDING:
            new = new._replace(ready=self._deps_ready(new, t))
            if if_ready and not new.ready:
                return old
        old_path, new_path = index_path(self.paths, old), index_path(self.paths, new)
        at = len(t.ops)
        t.set_data(self.paths.record(new.id), encode_task(new), version)
        if old_path != new_path:
            self.ensure_folder(index_folder(self.paths, new))
            t.delete(old_path)
            t.create(new_path)
        if extra is not None:
            extra(t, new)
        try:
            self.remember(new, t.commit()[at].version)
        except TxnConflict as exc:
            if fence is not None and exc.op == ("check", self.paths.instance(fence)):
                raise FenceLost(fence) from exc
            raise Reread from exc
        return new

    def remember(self, rec: Task, version: int) -> None:
        """Keep what this process just wrote to a held task (see ``_known``)."""
        if rec.status in HELD:
            self._known[rec.id] = (rec, version)
        else:
            self._known.pop(rec.id, None)

    def _deps_ready(self, rec: Task, t: Txn) -> bool:
        """True when every dependency is completed; pins the versions read. The first one
        not completed settles it (pinned: if it completes meanwhile the write is re-read;
        the ones after it are read by its completion's promotion), so a task waiting on
        many (a chain's accept) costs one read per check, not one per dependency."""
        for dep in rec.depends_on:
            try:
                dep_rec, dep_version = self._read(dep)
            except NotFoundError:
                continue  # pruned after it finished: counts as done
            t.check(self.paths.record(dep), dep_version)
            if dep_rec.status is not TaskStatus.COMPLETED:
                return False
        return True

    # -- dependencies ---------------------------------------------------
    def promote_dependents(self, task_id: str, now: float) -> list[str]:
        """Move dependents of a completed task whose dependencies are all done."""
        promoted = []
        for dep_id in self.entries(self.paths.dependents(task_id)):
            if self.promote(dep_id, now):
                promoted.append(dep_id)
        return promoted

    def promote(self, task_id: str, now: float) -> bool:
        def step() -> bool:
            try:
                rec, version = self._read(task_id)
            except NotFoundError:
                return False
            if rec.status is not TaskStatus.PENDING or rec.ready:
                return False
            return self.commit(rec, version, rec._replace(op=token()), if_ready=True).ready

        return _until_settled(lambda: retrying(self.client, step))

    def annotate(self, task_id: str, claimer: str, session: Mapping[str, Any]) -> Task | None:
        """Attach an agent session's record without a state change.

        Only while ``claimer`` still holds the claim (whatever state its agent moved
        the task to); None when someone else owns the task now.
        """

        def step() -> Task | None:
            rec, version = self._read(task_id)
            if rec.claimed_by != claimer:
                return None
            try:
                return self.commit(rec, version, rec._replace(session=session, op=token()), claimer)
            except FenceLost:
                return None

        return _until_settled(lambda: retrying(self.client, step))

    def held_by(self, instance_id: str) -> list[str]:
        """Ids of the tasks ``instance_id`` holds (reads only the ``active`` folder)."""
        held = []
        for entry in self.entries(self.paths.state_folder(ACTIVE)):
            task_id = task_id_of_entry(entry)
            try:
                if self.read(task_id)[0].claimed_by == instance_id:
                    held.append(task_id)
            except NotFoundError:  # moved on meanwhile
                continue
        return held

    def recover(
        self, task_id: str, claimer: str, now: float, note: str, by: str = "recovery"
    ) -> Task | None:
        """Recover a task whose claimer is gone (died, lease ran out): back to pending
        with a retry counted, or failed when its retries are spent. None when the task
        has moved on meanwhile; safe to repeat."""
        change = Change(Action.RECOVER, by=by, at=iso(now), note=note)
        return self._put_back(task_id, claimer, change, now)

    def release(
        self,
        task_id: str,
        claimer: str,
        now: float,
        note: str,
        by: str = "recovery",
        on_stop: bool = False,
    ) -> Task | None:
        """Release a task its claimer gives back on purpose (stopped, unregistered, lost
        track of it): back to pending with no retry counted (``on_stop``: only the first
        FREE_RELEASES times). None when the task has moved on meanwhile; safe to repeat."""
        change = Change(Action.RELEASE, by=by, at=iso(now), note=note, on_stop=on_stop)
        return self._put_back(task_id, claimer, change, now)

    def _put_back(self, task_id: str, claimer: str, change: Change, now: float) -> Task | None:
        def guard(rec: Task) -> None:
            if rec.claimed_by != claimer or rec.status not in HELD:
                raise _AlreadyHandled

        try:
            return self.transition(task_id, change, Actor(label=change.by), now, guard)
        except (_AlreadyHandled, NotFoundError, TaskStateError):
            return None


class _AlreadyHandled(Exception):
    """Someone else already moved the task on."""


def _until_settled(step: Callable[[], T]) -> T:
    """Run ``step`` until it does not lose a version race (bounded)."""
    for _ in range(50):
        try:
            return step()
        except Reread:
            continue
    raise TaskStateError("the task kept changing under us; try again")
