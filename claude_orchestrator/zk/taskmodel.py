"""The task record, its states and the one transition table (DESIGN §4).

Pure functions over plain JSON dicts: no ZooKeeper access here, so
connection states do not apply. ``apply`` is the only way a record changes
state; it refuses anything the table does not allow with TaskStateError.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, NamedTuple

from claude_orchestrator.errors import ConfigError, TaskStateError

TaskRecord = dict[str, Any]

TASK_ID_RE = re.compile(r"task-([0-9]{10})")  # fullmatch only: "$" lets a trailing "\n" in
HISTORY_KEEP = 50
DEFAULT_PRIORITY = 1
DEFAULT_MAX_RETRIES = 3
#: releases on a stop (worker stopped mid-run) that count no retry; past this a release
#: counts one, so a task that stops its own worker cannot bounce forever
FREE_RELEASES = 3


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


def task_id_for(seq: int) -> str:
    return f"task-{seq:010d}"


def seq_of(task_id: str) -> int:
    m = TASK_ID_RE.fullmatch(task_id)
    if not m:
        raise ConfigError(f"'{task_id}' is not a task id (expected task-NNNNNNNNNN)")
    return int(m.group(1))


def entry_name(rec: TaskRecord) -> str:
    """Index entry name: priority then FIFO sequence, the same in every folder."""
    return f"{rec['priority']}-{seq_of(rec['id']):010d}"


def task_id_of_entry(entry: str) -> str:
    return "task-" + entry.split("-", 1)[1]


def new_record(fields: dict[str, Any], task_id: str, by: str, at: str) -> TaskRecord:
    rec: TaskRecord = {
        "id": task_id,
        "title": fields["title"],
        "description": fields.get("description") or "",
        "priority": fields.get("priority", DEFAULT_PRIORITY),
        "status": TaskStatus.PENDING.value,
        "assignee": fields.get("assignee"),
        "created_by": by,
        "created_at": at,
        "claimed_by": None,
        "claimed_at": None,
        "started_at": None,
        "finished_at": None,
        "result": None,
        "reason": None,
        "retry_count": 0,
        "max_retries": fields.get("max_retries", DEFAULT_MAX_RETRIES),
        "depends_on": list(fields.get("depends_on") or []),
        "ready": True,
        "chain_id": fields.get("chain_id"),
        "link": fields.get("link"),
        "session": None,
        "history": [
            {"at": at, "from": None, "to": TaskStatus.PENDING.value, "by": by, "note": "created"}
        ],
    }
    return rec


def apply(rec: TaskRecord, change: Change) -> TaskRecord:
    """Return the record after ``change``, or raise TaskStateError."""
    current = TaskStatus(rec["status"])
    allowed, target = TRANSITIONS[change.action]
    if current not in allowed:
        need = " or ".join(sorted(s.value for s in allowed))
        raise TaskStateError(
            f"cannot {change.action.value} {rec['id']}: it is {current.value} "
            f"({change.action.value} needs {need})"
        )
    new = dict(rec)
    target = _EFFECTS[change.action](new, change)
    if change.session is not None:
        new["session"] = change.session
    _log(new, change, current, target)
    new["status"] = target.value
    return new


def _log(rec: TaskRecord, change: Change, old: TaskStatus | None, new: TaskStatus) -> None:
    entry = {
        "at": change.at,
        "from": old.value if old else None,
        "to": new.value,
        "by": change.by,
        "note": change.note,
    }
    rec["history"] = [*rec.get("history", []), entry][-HISTORY_KEEP:]


def _claim(rec: TaskRecord, ch: Change) -> TaskStatus:
    rec.update(claimed_by=ch.claimer, claimed_at=ch.at, started_at=None, finished_at=None)
    return C


def _start(rec: TaskRecord, ch: Change) -> TaskStatus:
    rec["started_at"] = ch.at
    return IP


def _finish(target: TaskStatus) -> Any:
    def effect(rec: TaskRecord, ch: Change) -> TaskStatus:
        rec["finished_at"] = ch.at
        if ch.result is not None:
            rec["result"] = ch.result
        if ch.reason is not None or target is TaskStatus.COMPLETED:
            rec["reason"] = ch.reason  # a completed task keeps no stale block reason
        return target

    return effect


def _requeue(count_retry: bool) -> Any:
    def effect(rec: TaskRecord, ch: Change) -> TaskStatus:
        if count_retry:
            _count_retry(rec)
        rec.update(claimed_by=None, claimed_at=None, started_at=None, finished_at=None)
        if ch.reason is not None:
            rec["reason"] = ch.reason
        return P

    return effect


def _count_retry(rec: TaskRecord) -> None:
    if rec["retry_count"] >= rec["max_retries"]:
        raise TaskStateError(
            f"cannot retry {rec['id']}: its {rec['max_retries']} retries are spent"
        )
    rec["retry_count"] += 1


def unblock_action(rec: TaskRecord, instance_id: str | None) -> Action:
    """``task-unblock`` by the claimer resumes the task for itself; by anyone else it
    goes back to the queue."""
    mine = instance_id is not None and rec.get("claimed_by") == instance_id
    return Action.RESUME if mine and rec["status"] == B else Action.UNBLOCK


def _resume(rec: TaskRecord, ch: Change) -> TaskStatus:
    if rec.get("started_at") is None:
        rec["started_at"] = ch.at
    return IP


def _block(rec: TaskRecord, ch: Change) -> TaskStatus:
    if ch.reason is not None:
        rec["reason"] = ch.reason
    return B


def _recover(rec: TaskRecord, ch: Change) -> TaskStatus:
    if rec["retry_count"] >= rec["max_retries"]:
        rec["finished_at"] = ch.at
        rec["reason"] = ch.reason or "claimer vanished and max_retries is spent"
        return F
    return _requeue(True)(rec, ch)  # type: ignore[no-any-return]


def _release(rec: TaskRecord, ch: Change) -> TaskStatus:
    """Given back on purpose. On stop, free the first FREE_RELEASES times, then it counts a retry
    (and fails the task once they are spent), like a recovery."""
    if ch.on_stop:
        rec["_releases"] = rec.get("_releases", 0) + 1
    if not ch.on_stop or rec["_releases"] <= FREE_RELEASES:
        return _requeue(False)(rec, ch)  # type: ignore[no-any-return]
    note = f"released on stop {rec['_releases']} times (only {FREE_RELEASES} are free)"
    return _recover(rec, Change(ch.action, ch.by, ch.at, ch.note, reason=ch.reason or note))


def _cancel(rec: TaskRecord, ch: Change) -> TaskStatus:
    rec["finished_at"] = ch.at
    if ch.reason is not None:
        rec["reason"] = ch.reason
    return TaskStatus.CANCELLED


_EFFECTS: dict[Action, Any] = {
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


def public(rec: TaskRecord) -> TaskRecord:
    """The record as the CLI prints it: internal keys (leading '_') removed."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}
