"""The fleet governor's pauses (issue 13 §1; docs/governor.md).

One record per agent, ``governor/pauses/<agent>``: ``{agent, until, until_ts, reason, by,
hits, set_at}``. Every worker running that agent watches it (a DataWatch: kazoo re-arms it
after a reconnect and reads it again) and claims nothing while ``until_ts`` is ahead; it
resumes by itself when the time comes. The record stays after that: ``hits`` carries the
backoff when the limit is hit again within ``BACKOFF_RESET_S``.

- A worker whose run ends on a limit writes it: ``until`` is the reset time the agent
  printed, else ``60 s * 2^(hits-1)``, at most an hour. A pause already running is only
  lengthened (several workers hitting the same wall at once count once).
- ``pause --agent A --for 30m`` and ``resume [--agent A]`` do it by hand (``resume`` deletes
  the records: the backoff starts again).

SUSPENDED / LOST: writes retried by ``retrying`` until their deadline; the watch re-reads
after a reconnect, so a pause written meanwhile is seen then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import NoNodeError

from claude_orchestrator.zk.codec import decode, encode, iso, parse_iso
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.spend import Spend
from claude_orchestrator.zk.txn import put_versioned, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient

FIRST_BACKOFF_S = 60.0
MAX_BACKOFF_S = 3600.0
BACKOFF_RESET_S = 3600.0  # a limit hit this long after the last pause ended starts afresh


class Pause(NamedTuple):
    agent: str
    until_ts: float
    reason: str
    by: str
    hits: int = 0  # consecutive pauses on limits (0: set by hand)
    set_at: float = 0.0

    def active(self, now: float) -> bool:
        return now < self.until_ts

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "until": iso(self.until_ts),
            "until_ts": self.until_ts,
            "reason": self.reason,
            "by": self.by,
            "hits": self.hits,
            "set_at": iso(self.set_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pause:
        return cls(
            agent=str(data.get("agent") or ""),
            until_ts=float(data.get("until_ts") or 0.0),
            reason=str(data.get("reason") or ""),
            by=str(data.get("by") or ""),
            hits=int(data.get("hits") or 0),
            set_at=_epoch(data.get("set_at")),
        )


def _epoch(value: Any) -> float:
    try:
        return parse_iso(str(value)) if value else 0.0
    except ValueError:
        return 0.0


class Budgets(NamedTuple):
    team_usd: float | None = None  # [team] budget_usd
    worker_usd: float | None = None  # [[worker]] budget_usd

    def any(self) -> bool:
        return self.team_usd is not None or self.worker_usd is not None


NO_BUDGETS = Budgets()


class Hold(NamedTuple):
    """Why a worker claims nothing now."""

    reason: str
    until: float | None = None  # None: until the budget or the spend changes
    budget: bool = False


def hold_of(
    pause: Pause | None, spend: Spend, budgets: Budgets, worker: str, now: float
) -> Hold | None:
    """Whether ``worker`` must not claim now: its agent's ``pause`` is running, or a budget it
    runs under is spent (the worker decides by it, and ``ps`` and the dashboard show it)."""
    if pause is not None and pause.active(now):
        return Hold(pause.reason, pause.until_ts)
    team, mine = budgets.team_usd, budgets.worker_usd
    total, own = spend.total_usd, spend.by_worker.get(worker, 0.0)
    if team is not None and total >= team:
        return Hold(f"team budget ${team:.2f} reached (${total:.4f} spent)", None, True)
    if mine is not None and own >= mine:
        return Hold(f"worker budget ${mine:.2f} reached (${own:.4f} spent)", None, True)
    return None


def backoff(hits: int) -> float:
    return float(min(FIRST_BACKOFF_S * 2.0 ** max(0, hits - 1), MAX_BACKOFF_S))


def parse_pause(data: bytes | None, path: str) -> Pause | None:
    """A record as a watch hands it over (None: no record, or one that cannot be read)."""
    if not data:
        return None
    try:
        return Pause.from_dict(decode(data, path))
    except (ValueError, TypeError):
        return None


class Pauses:
    def __init__(self, client: KazooClient, team: str) -> None:
        self.client, self.paths = client, TeamPaths(team)

    def path(self, agent: str) -> str:
        return self.paths.pause(agent)

    def read(self, agent: str) -> tuple[Pause | None, int | None]:
        try:
            data, stat = self.client.get(self.path(agent))
        except NoNodeError:
            return None, None
        return parse_pause(data, self.path(agent)), stat.version

    def all(self) -> list[Pause]:
        def step() -> list[Pause]:
            try:
                names = sorted(self.client.get_children(self.paths.pauses))
            except NoNodeError:
                return []
            return [p for n in names if (p := self.read(n)[0]) is not None]

        return retrying(self.client, step)

    def on_limit(
        self, agent: str, reset_at: float | None, reason: str, by: str, now: float | None = None
    ) -> Pause:
        """A run of ``agent`` ended on a limit: pause it (lengthen a running pause)."""
        at = time.time() if now is None else now

        def make(old: Pause | None) -> Pause:
            if old is not None and old.active(at):
                if reset_at is None or reset_at <= old.until_ts:
                    return old  # already paused at least that long
                return old._replace(until_ts=reset_at, reason=reason, by=by)
            again = old is not None and old.hits and at - old.until_ts < BACKOFF_RESET_S
            hits = old.hits + 1 if old is not None and again else 1
            until = reset_at if reset_at is not None and reset_at > at else at + backoff(hits)
            return Pause(agent, until, reason, by, hits, at)

        return self._write(agent, make)

    def by_hand(self, agent: str, seconds: float, reason: str, by: str, now: float) -> Pause:
        """``pause --agent A --for D``: until now + D, whatever was there."""
        return self._write(agent, lambda old: Pause(agent, now + seconds, reason, by, 0, now))

    def resume(self, agent: str | None) -> list[str]:
        """Delete the pause of ``agent`` (every one when None); the agents resumed."""
        resumed = []
        for pause in self.all():
            if agent is None or pause.agent == agent:
                retrying(self.client, partial(self._delete, pause.agent))
                resumed.append(pause.agent)
        return resumed

    def _delete(self, agent: str) -> None:
        try:
            self.client.delete(self.path(agent))
        except NoNodeError:
            pass

    def _write(self, agent: str, make: Callable[[Pause | None], Pause]) -> Pause:
        """Write ``make(old)`` over the record, version-checked (``old`` itself: kept)."""
        path = self.path(agent)

        def step() -> Pause:
            while True:
                old, version = self.read(agent)
                new = make(old)
                if new is old:
                    return new
                if put_versioned(self.client, path, encode(new.to_dict(), "pause"), version):
                    return new

        return retrying(self.client, step)


def paused_agents(client: KazooClient, team: str, now: float) -> list[dict[str, Any]]:
    """The pauses holding now (``status``, ``ps``)."""
    return [p.to_dict() for p in Pauses(client, team).all() if p.active(now)]
