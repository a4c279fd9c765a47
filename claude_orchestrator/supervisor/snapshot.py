"""The state snapshot the supervisor publishes: what the dashboard and ``ps --json`` show.

Frozen dataclasses with ``to_dict()`` (plain JSON-ready dicts and lists) and
``from_dict()`` (tolerant of missing optional keys, so an older supervisor's
snapshot still reads). Pure data: no ZooKeeper access and no I/O here, so
connection states do not apply.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from claude_orchestrator.textsafe import escape

#: task-board states in display order; a snapshot may carry others after these
COUNT_KEYS = ("pending", "waiting", "active", "blocked", "failed", "completed", "cancelled")
#: a live supervisor republishes at least this often, even with nothing changing
KEEPALIVE = 10.0
#: a snapshot older than this is from a supervisor that stopped publishing (frozen, cut off)
STALE_AFTER = 3 * KEEPALIVE

Data = Mapping[str, Any]


@dataclass(frozen=True)
class WorkerRow:
    """One supervised worker, as a row of ``ps``."""

    name: str
    role: str
    host: str
    state: str  # stopped|starting|running|backoff|stopping|exited|fatal (ps: unknown, lost)
    pid: int | None = None
    started_at: float | None = None  # epoch seconds
    restarts: int = 0
    last_exit: str | None = None  # e.g. "killed by SIGKILL", "exited 1"
    next_try_at: float | None = None  # when in backoff
    current_task: str | None = None
    cost_usd: float = 0.0  # sum of its sessions so far
    instance_id: str | None = None
    last_seen: float | None = None  # a lost host's worker: when its host was last seen
    paused_until: float | None = None  # its agent is paused (the governor) until then
    paused_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)

    @classmethod
    def from_dict(cls, data: Data) -> WorkerRow:
        return cls(
            name=_str(data, "name"),
            role=_str(data, "role", ""),
            host=_str(data, "host", ""),
            state=_str(data, "state"),
            pid=_opt_int(data, "pid"),
            started_at=_opt_float(data, "started_at"),
            restarts=int(data.get("restarts") or 0),
            last_exit=_opt_str(data, "last_exit"),
            next_try_at=_opt_float(data, "next_try_at"),
            current_task=_opt_str(data, "current_task"),
            cost_usd=float(data.get("cost_usd") or 0.0),
            instance_id=_opt_str(data, "instance_id"),
            last_seen=_opt_float(data, "last_seen"),
            paused_until=_opt_float(data, "paused_until"),
            paused_reason=_opt_str(data, "paused_reason"),
        )


@dataclass(frozen=True)
class TaskLine:
    """A task as the board shows it: the pending head or one in progress."""

    id: str
    title: str
    priority: int
    status: str
    worker: str | None = None
    since: float | None = None  # claimed/started, epoch seconds
    reason: str | None = None  # why it is blocked or failed

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)

    @classmethod
    def from_dict(cls, data: Data) -> TaskLine:
        return cls(
            id=_str(data, "id"),
            title=_str(data, "title", ""),
            priority=int(data.get("priority") or 0),
            status=_str(data, "status", ""),
            worker=_opt_str(data, "worker"),
            since=_opt_float(data, "since"),
            reason=_opt_str(data, "reason"),
        )


@dataclass(frozen=True)
class EventLine:
    """One thing that happened to the team, for the event list and ``up --no-tui``."""

    at: float
    kind: str  # joined|left|restarted|claimed|completed|failed|recovered|fatal|backoff|...
    worker: str | None = None
    task: str | None = None
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)

    @classmethod
    def from_dict(cls, data: Data) -> EventLine:
        return cls(
            at=float(_required(data, "at")),
            kind=_str(data, "kind"),
            worker=_opt_str(data, "worker"),
            task=_opt_str(data, "task"),
            text=_str(data, "text", ""),
        )


@dataclass(frozen=True)
class ItemLine:
    """One item of a chain as its board shows it: where it stands in its stages."""

    key: str
    round: int = 1
    stage: str | None = None  # the stage it is at (None: planned, no round pushed yet)
    verdict: str | None = None  # that stage's verdict this round (None: not given yet)
    status: str = ""  # running|passed|needs_human, or planned

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)

    @classmethod
    def from_dict(cls, data: Data) -> ItemLine:
        return cls(
            key=_str(data, "key"),
            round=int(data.get("round") or 0),
            stage=_opt_str(data, "stage"),
            verdict=_opt_str(data, "verdict"),
            status=_str(data, "status", ""),
        )


@dataclass(frozen=True)
class ChainLine:
    """A chain as the board shows it: its goal, status, spend and items (the most telling
    first; ``items_more`` counts those left out)."""

    id: str
    status: str  # planning|awaiting_approval|running|needs_human|done|failed|cancelled
    goal: str = ""  # one line, cut
    title: str | None = None  # the plan's title, once planned
    cost_usd: float = 0.0
    reason: str | None = None  # why it needs a human, failed or was cancelled (one line, cut)
    items: tuple[ItemLine, ...] = ()
    items_more: int = 0
    git: str | None = None  # the merge's status, or a conflict the leader sees ahead

    def to_dict(self) -> dict[str, Any]:
        return {**_flat(self), "items": [item.to_dict() for item in self.items]}

    @classmethod
    def from_dict(cls, data: Data) -> ChainLine:
        return cls(
            id=_str(data, "id"),
            status=_str(data, "status", ""),
            goal=_str(data, "goal", ""),
            title=_opt_str(data, "title"),
            cost_usd=float(data.get("cost_usd") or 0.0),
            reason=_opt_str(data, "reason"),
            git=_opt_str(data, "git"),
            items=tuple(ItemLine.from_dict(i) for i in data.get("items") or ()),
            items_more=int(data.get("items_more") or 0),
        )


@dataclass(frozen=True)
class Snapshot:
    """Everything the dashboard renders, taken at one instant by the supervisor."""

    team: str
    host: str
    pid: int
    zookeeper: str
    embedded: bool
    leader: bool
    taken_at: float
    workers: tuple[WorkerRow, ...] = ()
    # Excluded from the hash: a mapping is not hashable, and the tuples identify a snapshot.
    counts: Mapping[str, int] = field(default_factory=dict, hash=False)
    pending_head: tuple[TaskLine, ...] = ()  # first few pending, in claim order
    in_progress: tuple[TaskLine, ...] = ()
    events: tuple[EventLine, ...] = ()  # newest last
    blocked: tuple[TaskLine, ...] = ()  # the first few blocked tasks, with their reasons
    name: str | None = None  # the supervisor's label (``leader --name``)
    chains: tuple[ChainLine, ...] = ()  # those not final, then the last few finished
    chains_more: int = 0  # chains not final that the board left out

    def __post_init__(self) -> None:
        # A frozen snapshot should not share a mutable dict with its producer.
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "host": self.host,
            "pid": self.pid,
            "zookeeper": self.zookeeper,
            "embedded": self.embedded,
            "leader": self.leader,
            "taken_at": self.taken_at,
            "workers": [w.to_dict() for w in self.workers],
            "counts": dict(self.counts),
            "pending_head": [t.to_dict() for t in self.pending_head],
            "in_progress": [t.to_dict() for t in self.in_progress],
            "events": [e.to_dict() for e in self.events],
            "blocked": [t.to_dict() for t in self.blocked],
            "name": self.name,
            "chains": [c.to_dict() for c in self.chains],
            "chains_more": self.chains_more,
        }

    @classmethod
    def from_dict(cls, data: Data) -> Snapshot:
        return cls(
            team=_str(data, "team"),
            host=_str(data, "host", ""),
            pid=int(data.get("pid") or 0),
            zookeeper=_str(data, "zookeeper", ""),
            embedded=bool(data.get("embedded", False)),
            leader=bool(data.get("leader", False)),
            taken_at=float(_required(data, "taken_at")),
            workers=tuple(WorkerRow.from_dict(w) for w in data.get("workers") or ()),
            counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
            pending_head=_tasks(data, "pending_head"),
            in_progress=_tasks(data, "in_progress"),
            events=tuple(EventLine.from_dict(e) for e in data.get("events") or ()),
            blocked=_tasks(data, "blocked"),
            name=_opt_str(data, "name"),
            chains=tuple(ChainLine.from_dict(c) for c in data.get("chains") or ()),
            chains_more=int(data.get("chains_more") or 0),
        )


def _flat(record: WorkerRow | TaskLine | EventLine | ItemLine | ChainLine) -> dict[str, Any]:
    """A flat record's fields as a dict (``asdict`` without its deep copy: every field here
    is a plain value, and a supervisor of fifty workers serialises its rows every publish)."""
    return {name: getattr(record, name) for name in _FIELDS[type(record)]}


def _tasks(data: Data, key: str) -> tuple[TaskLine, ...]:
    return tuple(TaskLine.from_dict(t) for t in data.get(key) or ())


_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls))
    for cls in (WorkerRow, TaskLine, EventLine, ItemLine, ChainLine)
}


def _required(data: Data, key: str) -> Any:
    if data.get(key) is None:
        raise ValueError(f"snapshot record lacks required key {key!r}: {dict(data)!r:.200}")
    return data[key]


def _str(data: Data, key: str, default: str | None = None) -> str:
    """A string field; required unless a default is given."""
    if default is not None and data.get(key) is None:
        return default
    return str(_required(data, key))


def _opt_str(data: Data, key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _opt_int(data: Data, key: str) -> int | None:
    value = data.get(key)
    return None if value is None else int(value)


def _opt_float(data: Data, key: str) -> float | None:
    value = data.get(key)
    return None if value is None else float(value)


def event_line_text(ev: EventLine) -> str:
    """The one-line form printed by ``up --no-tui``: UTC timestamp, kind, subject, text.

    Lives here, not in the dashboard, so a detached supervisor never loads rich. Task
    titles and agents' words are in it: control characters are spelled out (textsafe).
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ev.at))
    subject = " ".join(part for part in (ev.worker, ev.task) if part)
    text = " ".join(ev.text.split())  # one line, whatever the text held
    if subject and text:
        subject += ":"
    line = " ".join(part for part in (stamp, ev.kind, subject, text) if part)
    return escape(line, one_line=True)


def is_stale(snap: Snapshot, now: float) -> bool:
    """Whether the supervisor stopped publishing: its workers' states are unknown."""
    return now - snap.taken_at > STALE_AFTER


def rows_as_known(snap: Snapshot, now: float) -> tuple[WorkerRow, ...]:
    """The snapshot's rows; a stale snapshot's states become ``unknown`` (not ``running``)."""
    if not is_stale(snap, now):
        return snap.workers
    return tuple(replace(row, state="unknown") for row in snap.workers)
