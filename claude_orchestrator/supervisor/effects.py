"""What the pool asks the supervisor to do: its methods return these, the supervisor applies
them (supervisor/arbiter.py). The pool itself touches no ZooKeeper, no files, no screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Note:
    """An event line for people (the dashboard, ``up``'s output, the snapshot)."""

    kind: str
    worker: str | None
    text: str


@dataclass(frozen=True)
class PutBack:
    """A worker process is gone: remove its instance and put its tasks back — recovered
    (a retry counted) after a crash, released after a stop we asked for."""

    name: str
    pid: int
    counted: bool


@dataclass(frozen=True)
class Changed:
    """The workers' states changed: record them (run/workers.json) and republish."""


Effect = Note | PutBack | Changed

CHANGED = Changed()


class Outcome(NamedTuple):
    """A pool operation that answers a command: its reply and its effects."""

    reply: dict[str, Any]
    effects: list[Effect]
