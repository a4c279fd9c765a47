"""The task record, its states and the one transition table (DESIGN §4).

``Task`` is the record, typed and frozen (its JSON form is ``to_dict``; zk/codec.py
reads and writes it); pure functions over it, no ZooKeeper access here, so
connection states do not apply. ``apply`` is the only way a record changes
state; it refuses anything the table does not allow with TaskStateError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from claude_orchestrator.errors import ConfigError, TaskStateError

TASK_ID_RE = re.compile(r"task-([0-9]{10})")  # fullmatch only: "$" lets a trailing "\n" in
HISTORY_KEEP = 50
DEFAULT_PRIORITY = 1
DEFAULT_MAX_RETRIES = 3
#: releases on a stop (worker stopped mid-run) that count no retry; past this a release
#: counts one, so a task that stops its own worker cannot bounce forever
FREE_RELEASES = 3
SESSIONS_KEEP = 10  # finished runs listed on a task (``sessions``)
SESSION_KEYS = ("session_id", "cost_usd", "num_turns", "duration_ms", "exit_code", "log")


class TaskStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    FAILED = "failed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


FINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED})
HELD = frozenset({TaskStatus.CLAIMED, TaskStatus.IN_PROGRESS})


class Action(StrEnum):
    CLAIM = "claim"
    START = "start"
    COMPLETE = "complete"
    BLOCK = "block"
    FAIL = "fail"
    UNBLOCK = "unblock"
    RESUME = "resume"
    RETRY = "retry"
    RECOVER = "recover"
    RELEASE = "release"
    CANCEL = "cancel"


P, C, IP, B, F = (
    TaskStatus.PENDING,
    TaskStatus.CLAIMED,
    TaskStatus.IN_PROGRESS,
    TaskStatus.BLOCKED,
    TaskStatus.FAILED,
)

#: action -> (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[TaskStatus], TaskStatus]] = {
    Action.CLAIM: (frozenset({P}), C),  # PENDING -> CLAIMED
    Action.START: (frozenset({C}), IP),  # CLAIMED -> IN_PROGRESS
    # CLAIMED|IN_PROGRESS|BLOCKED -> COMPLETED: the claimer may finish a task it blocked
    # (the seed's block, wait for a message, complete)
    Action.COMPLETE: (HELD | {B}, TaskStatus.COMPLETED),
    Action.BLOCK: (HELD, B),  # CLAIMED|IN_PROGRESS -> BLOCKED
    Action.FAIL: (HELD, F),  # CLAIMED|IN_PROGRESS -> FAILED
    Action.UNBLOCK: (frozenset({B}), P),  # BLOCKED -> PENDING, no retry counted
    Action.RESUME: (frozenset({B}), IP),  # BLOCKED -> IN_PROGRESS, its claimer unblocks
    Action.RETRY: (frozenset({F, B}), P),  # FAILED|BLOCKED -> PENDING, retry_count + 1
    Action.RECOVER: (HELD, P),  # claimer gone -> PENDING (+1) or FAILED when spent
    Action.RELEASE: (HELD, P),  # given back on purpose -> PENDING (FREE_RELEASES uncounted)
    Action.CANCEL: (frozenset({P, C, IP, B, F}), TaskStatus.CANCELLED),  # non-final -> CANCELLED
}

#: actions only the current claimer may take (fenced by its instance node)
OWNER_ACTIONS = frozenset({Action.START, Action.COMPLETE, Action.BLOCK, Action.FAIL, Action.RESUME})


class Change(NamedTuple):
    """What one transition writes beside the status."""

    action: Action
    by: str
    at: str
    note: str | None = None
    result: str | None = None
    reason: str | None = None
    claimer: str | None = None  # instance id, for CLAIM
    session: dict[str, Any] | None = None  # the agent session's record, set when given
    on_stop: bool = False  # RELEASE because the worker was stopped mid-run (bounded)
    #: record keys of their own it sets (a stage's ``verdict``, its ``checks``)
    fields: Mapping[str, Any] | None = None


class HistoryEntry(NamedTuple):
    """One state change in a record's ``history``: ``{at, from, to, by, note}``."""

    at: str
    frm: TaskStatus | None  # "from"; None for the creation
    to: TaskStatus
    by: str
    note: str | None = None
    extra: Mapping[str, Any] | None = None  # keys a newer writer added, kept as they were

    def to_dict(self) -> dict[str, Any]:
        frm = None if self.frm is None else self.frm.value
        out = {"at": self.at, "from": frm, "to": self.to.value, "by": self.by, "note": self.note}
        return out if not self.extra else {**out, **self.extra}


class Task(NamedTuple):
    """A task record (DESIGN §4), frozen: a change makes a new one (``apply``, ``_replace``).

    ``op`` and ``releases`` are the internal ``_op`` (the token of the last write, to
    recognise it after a lost connection) and ``_releases`` (releases on stop so far);
    ``extra`` keeps the keys this version does not know, so a rewrite does not drop what
    a newer writer added."""

    id: str
    title: str
    description: str
    priority: int
    status: TaskStatus
    assignee: str | None
    created_by: str
    created_at: str
    claimed_by: str | None = None
    claimed_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result: str | None = None
    reason: str | None = None
    retry_count: int = 0
    max_retries: int = DEFAULT_MAX_RETRIES
    depends_on: tuple[str, ...] = ()
    ready: bool = True
    chain_id: str | None = None
    link: str | None = None
    session: Mapping[str, Any] | None = None  # {log, session_id, cost_usd, ...} once run
    history: tuple[HistoryEntry, ...] = ()
    op: str | None = None
    releases: int | None = None
    extra: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as the CLI prints it (DESIGN §4's fields, in this order), with the
        unknown keys it was read with; internal keys (leading '_') left out."""
        out = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "priority": self.priority,
            "status": self.status.value,
            "assignee": self.assignee,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "claimed_by": self.claimed_by,
            "claimed_at": self.claimed_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "reason": self.reason,
            "retry_count": self.retry_count,
            "max_retries": self.max_retries,
            "depends_on": list(self.depends_on),
            "ready": self.ready,
            "chain_id": self.chain_id,
            "link": self.link,
            "session": None if self.session is None else dict(self.session),
            "history": [entry.to_dict() for entry in self.history],
        }
        for key, value in (self.extra or {}).items():
            if not key.startswith("_"):
                out[key] = value
        return out


#: what an action does to a record beside its history (the new status included)
Effect = Callable[[Task, Change], Task]


def task_id_for(seq: int) -> str:
    return f"task-{seq:010d}"


def seq_of(task_id: str) -> int:
    m = TASK_ID_RE.fullmatch(task_id)
    if not m:
        raise ConfigError(f"'{task_id}' is not a task id (expected task-NNNNNNNNNN)")
    return int(m.group(1))


def entry_name(task: Task) -> str:
    """Index entry name: priority then FIFO sequence, the same in every folder."""
    return f"{task.priority}-{seq_of(task.id):010d}"


def task_id_of_entry(entry: str) -> str:
    return "task-" + entry.split("-", 1)[1]


#: a pipeline stage task's place in its chain (zk/chains.py), kept as record keys of its own
STAGE_KEYS = ("item", "round", "budget_usd")  # kept on the record as they were pushed


def new_record(fields: Mapping[str, Any], task_id: str, by: str, at: str) -> Task:
    stage = {key: fields[key] for key in STAGE_KEYS if fields.get(key) is not None}
    return Task(
        id=task_id,
        title=fields["title"],
        description=fields.get("description") or "",
        priority=fields.get("priority", DEFAULT_PRIORITY),
        status=P,
        assignee=fields.get("assignee"),
        created_by=by,
        created_at=at,
        max_retries=fields.get("max_retries", DEFAULT_MAX_RETRIES),
        depends_on=tuple(fields.get("depends_on") or ()),
        chain_id=fields.get("chain_id"),
        link=fields.get("link"),
        history=(HistoryEntry(at, None, P, by, "created"),),
        session=fields.get("session"),  # a revised build resumes its builder's session
        extra=stage or None,
    )


def apply(task: Task, change: Change) -> Task:
    """Return the record after ``change``, or raise TaskStateError."""
    current = task.status
    allowed, _ = TRANSITIONS[change.action]
    if current not in allowed:
        need = " or ".join(sorted(s.value for s in allowed))
        raise TaskStateError(
            f"cannot {change.action.value} {task.id}: it is {current.value} "
            f"({change.action.value} needs {need})"
        )
    new = _EFFECTS[change.action](task, change)
    entry = HistoryEntry(change.at, current, new.status, change.by, change.note)
    if change.fields:
        new = new._replace(extra={**(new.extra or {}), **change.fields})
    return _with_run(new, change)._replace(
        session=task.session if change.session is None else change.session,
        history=(*task.history, entry)[-HISTORY_KEEP:],
    )


def _with_run(task: Task, change: Change) -> Task:
    """A change that reports a finished run (its session has an exit code or a cost) adds
    it to ``sessions``: one line per attempt, the last SESSIONS_KEEP (``show-task``)."""
    run = change.session
    if run is None or (run.get("exit_code") is None and run.get("cost_usd") is None):
        return task
    line = {"at": change.at, "to": task.status.value, **{k: run.get(k) for k in SESSION_KEYS}}
    runs = [*((task.extra or {}).get("sessions") or ()), line][-SESSIONS_KEEP:]
    return task._replace(extra={**(task.extra or {}), "sessions": runs})


def _claim(task: Task, ch: Change) -> Task:
    return task._replace(
        status=C, claimed_by=ch.claimer, claimed_at=ch.at, started_at=None, finished_at=None
    )


def _start(task: Task, ch: Change) -> Task:
    return task._replace(status=IP, started_at=ch.at)


def _finish(target: TaskStatus) -> Effect:
    def effect(task: Task, ch: Change) -> Task:
        result = task.result if ch.result is None else ch.result
        # a completed task keeps no stale block reason
        keep = ch.reason is None and target is not TaskStatus.COMPLETED
        reason = task.reason if keep else ch.reason
        return task._replace(status=target, finished_at=ch.at, result=result, reason=reason)

    return effect


def _requeue(count_retry: bool) -> Effect:
    def effect(task: Task, ch: Change) -> Task:
        retries = _counted_retry(task) if count_retry else task.retry_count
        return task._replace(
            status=P,
            retry_count=retries,
            claimed_by=None,
            claimed_at=None,
            started_at=None,
            finished_at=None,
            reason=task.reason if ch.reason is None else ch.reason,
        )

    return effect


def _counted_retry(task: Task) -> int:
    if task.retry_count >= task.max_retries:
        raise TaskStateError(f"cannot retry {task.id}: its {task.max_retries} retries are spent")
    return task.retry_count + 1


def unblock_action(task: Task, instance_id: str | None) -> Action:
    """``task-unblock`` by the claimer resumes the task for itself; by anyone else it
    goes back to the queue."""
    mine = instance_id is not None and task.claimed_by == instance_id
    return Action.RESUME if mine and task.status is B else Action.UNBLOCK


def _resume(task: Task, ch: Change) -> Task:
    return task._replace(
        status=IP, started_at=ch.at if task.started_at is None else task.started_at
    )


def _block(task: Task, ch: Change) -> Task:
    return task._replace(status=B, reason=task.reason if ch.reason is None else ch.reason)


def _recover(task: Task, ch: Change) -> Task:
    if task.retry_count >= task.max_retries:
        reason = ch.reason or "claimer vanished and max_retries is spent"
        return task._replace(status=F, finished_at=ch.at, reason=reason)
    return _requeue(True)(task, ch)


def _release(task: Task, ch: Change) -> Task:
    """Given back on purpose. On stop, free the first FREE_RELEASES times, then it counts a retry
    (and fails the task once they are spent), like a recovery."""
    if not ch.on_stop:
        return _requeue(False)(task, ch)
    released = task._replace(releases=(task.releases or 0) + 1)
    if released.releases is not None and released.releases <= FREE_RELEASES:
        return _requeue(False)(released, ch)
    note = f"released on stop {released.releases} times (only {FREE_RELEASES} are free)"
    return _recover(released, ch._replace(reason=ch.reason or note))


def _cancel(task: Task, ch: Change) -> Task:
    reason = task.reason if ch.reason is None else ch.reason
    return task._replace(status=TaskStatus.CANCELLED, finished_at=ch.at, reason=reason)


_EFFECTS: dict[Action, Effect] = {
    Action.CLAIM: _claim,
    Action.START: _start,
    Action.COMPLETE: _finish(TaskStatus.COMPLETED),
    Action.BLOCK: _block,
    Action.FAIL: _finish(F),
    Action.UNBLOCK: _requeue(False),
    Action.RESUME: _resume,
    Action.RETRY: _requeue(True),
    Action.RECOVER: _recover,
    Action.RELEASE: _release,
    Action.CANCEL: _cancel,
}
