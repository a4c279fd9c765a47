"""JSON encoding of node data, with the size limits checked before any write, and
the task record's form: ``decode_task`` reads a record node into a ``Task`` (keeping
the keys it does not know), ``encode_task`` writes it back as it was, changes aside.

ZooKeeper drops the connection (the client sees ``ConnectionLoss``, not a
clear error) for a node over 1,048,522 bytes, so every value is measured here
first and refused with a :class:`SizeLimitError` naming the limit.
No ZooKeeper access happens here, so connection states do not apply.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from claude_orchestrator.errors import SizeLimitError, ZkError
from claude_orchestrator.zk.taskmodel import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_PRIORITY,
    HistoryEntry,
    Task,
    TaskStatus,
)

#: hard ceiling for any node we write (ZooKeeper's jute.maxbuffer leaves 1,048,522)
NODE_LIMIT = 1_000_000

LIMITS: dict[str, int] = {
    "title": 1_024,
    "description": 256 * 1024,
    "result": 64 * 1024,
    "reason": 16 * 1024,
    "message": 256 * 1024,
    "context value": 512 * 1024,
    "task record": 900_000,
}


def check_size(what: str, text: str | None) -> None:
    """Refuse a text over its limit, naming the field, its size and the limit."""
    if text is None:
        return
    size = len(text.encode("utf-8"))
    limit = LIMITS[what]
    if size > limit:
        raise SizeLimitError(
            f"{what} is {size:,} bytes; the limit is {limit:,} bytes "
            "(keep large outputs in files and pass their path)"
        )


def encode(obj: Any, what: str = "node") -> bytes:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    limit = LIMITS.get(what, NODE_LIMIT)
    if len(data) > limit:
        raise SizeLimitError(f"{what} is {len(data):,} bytes; the limit is {limit:,} bytes")
    return data


def decode(data: bytes | None, path: str = "") -> dict[str, Any]:
    if not data:
        return {}
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZkError(f"node {path} holds data that is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ZkError(f"node {path} holds JSON that is not an object")
    return obj


def decode_lenient(data: bytes | None) -> dict[str, Any]:
    """A node's JSON object, or ``{}`` for anything else (a record written by another
    version, or tampered with, reads as empty rather than failing its reader)."""
    try:
        return decode(data)
    except ZkError:
        return {}


#: the keys a Task reads; any other key of a record is kept in ``Task.extra``
_TASK_KEYS = frozenset(Task._fields) - {"op", "releases", "extra"} | {"_op", "_releases"}
_ENTRY_KEYS = frozenset({"at", "from", "to", "by", "note"})


def decode_task(data: bytes | None, path: str = "") -> Task:
    """A task record node's data as a Task (ZkError when it is not one)."""
    obj = decode(data, path)
    try:
        return _task(obj)
    except (KeyError, TypeError, ValueError) as exc:
        raise ZkError(f"node {path} does not hold a task record: {exc!r}") from exc


def _task(obj: dict[str, Any]) -> Task:
    extra = {k: v for k, v in obj.items() if k not in _TASK_KEYS}
    return Task(
        id=obj["id"],
        title=obj["title"],
        description=obj.get("description", ""),
        priority=obj.get("priority", DEFAULT_PRIORITY),
        status=TaskStatus(obj["status"]),
        assignee=obj.get("assignee"),
        created_by=obj["created_by"],
        created_at=obj["created_at"],
        claimed_by=obj.get("claimed_by"),
        claimed_at=obj.get("claimed_at"),
        started_at=obj.get("started_at"),
        finished_at=obj.get("finished_at"),
        result=obj.get("result"),
        reason=obj.get("reason"),
        retry_count=obj.get("retry_count", 0),
        max_retries=obj.get("max_retries", DEFAULT_MAX_RETRIES),
        depends_on=tuple(obj.get("depends_on") or ()),
        ready=obj.get("ready", True),
        chain_id=obj.get("chain_id"),
        link=obj.get("link"),
        session=obj.get("session"),
        history=tuple(_entry(e) for e in obj.get("history") or ()),
        op=obj.get("_op"),
        releases=obj.get("_releases"),
        extra=extra or None,
    )


def _entry(obj: dict[str, Any]) -> HistoryEntry:
    frm = obj.get("from")
    extra = {k: v for k, v in obj.items() if k not in _ENTRY_KEYS}
    return HistoryEntry(
        at=obj["at"],
        frm=None if frm is None else TaskStatus(frm),
        to=TaskStatus(obj["to"]),
        by=obj["by"],
        note=obj.get("note"),
        extra=extra or None,
    )


def task_data(task: Task) -> dict[str, Any]:
    """The record as stored: ``to_dict`` plus the internal keys (``_op``, ``_releases``
    and any unknown one it was read with)."""
    out = task.to_dict()
    out.update((k, v) for k, v in (task.extra or {}).items() if k.startswith("_"))
    if task.op is not None:
        out["_op"] = task.op
    if task.releases is not None:
        out["_releases"] = task.releases
    return out


def encode_task(task: Task) -> bytes:
    return encode(task_data(task), "task record")


def iso(ts: float) -> str:
    """Seconds since the epoch → ISO 8601 UTC with microseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def token() -> str:
    """A client-generated id put into a write so a retry can recognise it."""
    return os.urandom(8).hex()
