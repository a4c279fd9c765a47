"""What a snapshot shows from ZooKeeper: the task lines and counts, the chain board, the
registered instances as rows (``leader``, and ``ps`` without a supervisor), every
published snapshot (``ps``). Reads only; the supervisor runs them on its ZooKeeper lane.

SUSPENDED: the reads wait in their kazoo calls like every lane job (the chain board's
are retried until their deadline). LOST: nothing here holds a session-bound node; the
chain records' watch is re-set by kazoo's ``ChildrenWatch`` on reconnecting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import ChildrenWatch

from claude_orchestrator.errors import NotFoundError, ZkError
from claude_orchestrator.supervisor.snapshot import (
    ChainLine,
    ItemLine,
    Snapshot,
    TaskLine,
    WorkerRow,
)
from claude_orchestrator.zk.chains import FINAL, Chain, ChainStatus
from claude_orchestrator.zk.codec import decode, parse_iso
from claude_orchestrator.zk.paths import ACTIVE, WAITING, TeamPaths
from claude_orchestrator.zk.query import counts
from claude_orchestrator.zk.taskmodel import TaskStatus, task_id_of_entry
from claude_orchestrator.zk.tasks import TaskStore
from claude_orchestrator.zk.txn import retrying

HEAD = 5
BLOCKED_SHOWN = 8
#: the chain board: every chain not final (at most CHAINS_SHOWN), then the last few
#: (RECENT_SHOWN) that finished within RECENT seconds while there is room
CHAINS_SHOWN = 20
RECENT_SHOWN = 5
RECENT = 3600.0
ITEMS_KEPT = 8  # per chain, the most telling first
GOAL_CHARS = 100
REASON_CHARS = 200
#: which chains not final come first: those someone must act on
ATTENTION = {
    ChainStatus.NEEDS_HUMAN: 0,
    ChainStatus.AWAITING_APPROVAL: 1,
    ChainStatus.RUNNING: 2,
    ChainStatus.PLANNING: 3,
}
#: an item's place in its chain's line: the ones to look at first
ITEM_RANK = {"needs_human": 0, "running": 1, "planned": 2, "passed": 3}
PASS = "pass"


class Board(NamedTuple):
    """The task board of a snapshot: counts per state, the pending head, what runs, what
    is blocked (the first few, with their reasons)."""

    counts: dict[str, int]
    pending_head: tuple[TaskLine, ...]
    in_progress: tuple[TaskLine, ...]
    blocked: tuple[TaskLine, ...]


def read_board(team: Any) -> Board:
    store = team.tasks
    queues = [f for f in store.pending_folders() if f != store.paths.state_folder(WAITING)]
    head = [
        (e, task_id_of_entry(e)) for entries in store.entries_of(queues) for e in entries[:HEAD]
    ]
    pending = [task_line(store, tid) for _, tid in sorted(head)[:HEAD]]
    active = store.entries(store.paths.state_folder(ACTIVE))
    running = [task_line(store, task_id_of_entry(e)) for e in active]
    held = store.entries(store.paths.index_folder(TaskStatus.BLOCKED))[:BLOCKED_SHOWN]
    blocked = [task_line(store, task_id_of_entry(e)) for e in held]
    return Board(
        counts=counts(store),
        pending_head=tuple(t for t in pending if t),
        in_progress=tuple(t for t in running if t),
        blocked=tuple(t for t in blocked if t),
    )


def task_line(store: TaskStore, task_id: str) -> TaskLine | None:
    try:
        task = store.read(task_id)[0]
    except NotFoundError:
        return None
    since = task.started_at or task.claimed_at
    return TaskLine(
        id=task.id,
        title=task.title,
        priority=task.priority,
        status=task.status.value,
        worker=task.claimed_by,
        since=parse_iso(since) if since else None,
        reason=task.reason,
    )


def instance_rows(team: Any, now: float) -> list[WorkerRow]:
    """The registered instances as team rows (``leader``, and ``ps`` without a supervisor):
    running while alive (session or lease), else stopped."""

    rows = []
    for inst in team.registry.describe_all(now):
        rows.append(
            WorkerRow(
                name=inst["name"],
                role=inst["role"],
                host=inst["host"],
                state="running" if inst["alive"] else "stopped",
                pid=inst.get("pid"),
                started_at=parse_iso(inst["registered_at"]),
                current_task=inst.get("current_task"),
                cost_usd=float(inst.get("cost_usd") or 0.0),
                instance_id=inst["id"],
                **paused_fields(inst.get("paused")),
            )
        )
    return rows


def paused_fields(paused: Any) -> dict[str, Any]:
    """A worker instance's ``paused`` ({agent, until, reason, budget}, worker/governor.py)
    as row fields; anything else (not paused, or unreadable) as none."""
    if not isinstance(paused, Mapping) or not paused.get("reason"):
        return {}
    until = paused.get("until")
    if until is None:  # a budget holds it: until the spend or the budget changes
        return {"paused_until": None, "paused_reason": str(paused["reason"])}
    try:
        return {"paused_until": parse_iso(str(until)), "paused_reason": str(paused["reason"])}
    except ValueError:
        return {}


def read_snapshots(client: Any, team: str) -> list[Snapshot]:
    """Every published supervisor snapshot of a team (for ``ps``)."""

    paths = TeamPaths(team)
    try:
        hosts = sorted(client.get_children(paths.supervisors))
    except NoNodeError:
        return []
    out = []
    for host in hosts:
        try:
            data, _ = client.get(paths.supervisor(host))
        except NoNodeError:
            continue
        out.append(Snapshot.from_dict(json.loads(data.decode())))
    return out


# -- the chain board --------------------------------------------------------------------------


class ChainBoard(NamedTuple):
    """The chains a snapshot shows, and how many chains not final it left out."""

    lines: tuple[ChainLine, ...] = ()
    more: int = 0


class _Known(NamedTuple):
    version: int
    chain: Chain | None  # None: a record this version cannot read (left off the board)
    ended: float  # its last change (its last history entry), epoch seconds


class ChainReader:
    """The chain board, read on the supervisor's lane (its state is the lane's).

    Cheap on purpose: one listing of the chain records, one pipelined ``exists`` for the
    chains still in view, and a read of only those whose record changed since. A chain
    that finished more than RECENT seconds ago is never looked at again.

    The publisher reads the board on a full reading only, never on a keepalive. A full
    reading follows every task event, and nearly every change of a chain record is made
    in the transaction of one of its tasks' changes (zk/chains.py) — but not all: a chain
    cancelled while it has no open task (awaiting approval) changes no task. So the
    ``exists`` of each reading sets a one-shot watch on each chain in view (``changed``,
    called from kazoo's thread): no request of its own, and a chain changed alone still
    asks for a full reading. A chain created or removed is reported by the records'
    folder watch (``watch_chains``).
    """

    def __init__(
        self,
        changed: Callable[[Any], None] | None = None,
        moved: Callable[[Chain], None] | None = None,
    ) -> None:
        self.changed = changed  # the one-shot watch on each chain in view
        self.moved = moved  # a chain read again whose status changed (the lane's thread)
        self.known: dict[str, _Known] = {}
        self.settled: set[str] = set()  # finished before the window: not read again

    def read(self, client: Any, team: str, active: Collection[str], now: float) -> ChainBoard:
        """The board as of ``now``; ``active``: the ids of the tasks in progress."""
        paths = TeamPaths(team)

        def step() -> None:
            try:
                names = client.get_children(paths.chain_records)
            except NoNodeError:
                names = []
            self._refresh(client, paths, [n for n in names if n not in self.settled])

        retrying(client, step)
        return self._board(active, now)

    def _refresh(self, client: Any, paths: TeamPaths, names: list[str]) -> None:
        stats = [(n, client.exists_async(paths.chain(n), self.changed)) for n in names]
        versions = {n: stat.version for n, r in stats if (stat := r.get()) is not None}
        changed = [n for n, v in versions.items() if n not in self.known or self.known[n][0] != v]
        replies = [(n, client.get_async(paths.chain(n))) for n in changed]
        for name in list(self.known):
            if name not in versions:
                del self.known[name]  # removed
        for name, reply in replies:
            try:
                data, stat = reply.get()
            except NoNodeError:
                continue  # removed since it was listed
            before = self.known.get(name)
            self.known[name] = fresh = _known(stat.version, data, paths.chain(name))
            was = before.chain.status if before is not None and before.chain else None
            if self.moved and was is not None and fresh.chain and fresh.chain.status is not was:
                self.moved(fresh.chain)

    def _board(self, active: Collection[str], now: float) -> ChainBoard:
        """Settle what finished before the window; the chains not final, those someone
        must act on first, then the latest finished while there is room."""
        for name, known in list(self.known.items()):
            if _final(known.chain) and known.ended < now - RECENT:
                del self.known[name]
                self.settled.add(name)
        read = [(k.chain, k.ended) for k in self.known.values() if k.chain is not None]
        live = sorted(
            (c for c, _ in read if c.status not in FINAL),
            key=lambda c: (ATTENTION.get(c.status, len(ATTENTION)), c.id),
        )
        recent = [c for c, _ in sorted(read, key=lambda r: -r[1]) if c.status in FINAL]
        room = max(0, min(RECENT_SHOWN, CHAINS_SHOWN - len(live)))
        shown = [*live[:CHAINS_SHOWN], *recent[:room]]
        lines = tuple(chain_line(c, active) for c in shown)
        return ChainBoard(lines, max(0, len(live) - CHAINS_SHOWN))


def _final(chain: Chain | None) -> bool:
    return chain is not None and chain.status in FINAL


def _known(version: int, data: bytes, path: str) -> _Known:
    try:
        chain = Chain.from_dict(decode(data, path))
    except (ZkError, KeyError, TypeError, ValueError):
        return _Known(version, None, 0.0)
    last = chain.history[-1].get("at") if chain.history else None
    try:
        ended = parse_iso(str(last or chain.created_at))
    except ValueError:
        ended = 0.0
    return _Known(version, chain, ended)


def watch_chains(team: Any, changed: Callable[[], None]) -> None:
    """Not a job: set before the loop runs. ``changed`` is called from kazoo's thread when
    a chain record is created or removed (a change of one is watched by ``ChainReader``)."""
    folder = TeamPaths(team.name).chain_records
    team.client.ensure_path(folder)  # a ChildrenWatch on a missing node stops silently
    ChildrenWatch(team.client, folder, lambda _children: changed())


def chain_line(chain: Chain, active: Collection[str]) -> ChainLine:
    """A chain as its board line: ``active``, the ids of the tasks in progress, tells which
    stage of an item is at work."""
    items = sorted(_item_lines(chain, active), key=lambda i: ITEM_RANK.get(i.status, 1))
    title = _one_line(chain.title, GOAL_CHARS) if chain.title else None
    return ChainLine(
        id=chain.id,
        status=chain.status.value,
        goal=_one_line(chain.goal, GOAL_CHARS),
        title=title or None,
        cost_usd=chain.cost_usd,
        reason=_one_line(chain.reason, REASON_CHARS) if chain.reason else None,
        items=tuple(items[:ITEMS_KEPT]),
        items_more=max(0, len(items) - ITEMS_KEPT),
        git=_git_line(chain),
    )


def _git_line(chain: Chain) -> str | None:
    """``merge queued`` / ``merge conflict: a.txt`` / ``may conflict with main in a.txt``."""
    merge = chain.extra.get("merge")
    ahead = chain.extra.get("conflicts_ahead")
    if chain.status is ChainStatus.RUNNING and isinstance(ahead, list) and ahead:
        first = ahead[0] if isinstance(ahead[0], Mapping) else {}
        paths = ", ".join(str(p) for p in first.get("paths") or ())
        return _one_line(f"may conflict with {first.get('with')} in {paths}", REASON_CHARS)
    if isinstance(merge, Mapping) and merge.get("status"):
        paths = ", ".join(str(p) for p in merge.get("conflicts") or ())
        return _one_line(f"merge {merge['status']}" + (f": {paths}" if paths else ""), REASON_CHARS)
    return None


def _item_lines(chain: Chain, active: Collection[str]) -> list[ItemLine]:
    if not chain.items:  # not pushed yet: the plan's items, when there is one
        graph = chain.extra.get("graph")
        planned = graph.get("items") if isinstance(graph, Mapping) else None
        keys = [i.get("key") for i in planned or () if isinstance(i, Mapping)]
        return [ItemLine(str(k), 0, None, None, "planned") for k in keys if k]
    stages = chain.options.stages
    return [
        item_line(str(key), state, stages, active)
        for key, state in chain.items.items()
        if isinstance(state, Mapping)
    ]


def item_line(
    key: str, state: Mapping[str, Any], stages: Sequence[str], active: Collection[str]
) -> ItemLine:
    """Where an item stands: the furthest stage of its round that is at work (its task in
    progress) or gave a verdict; a stage that passed hands on to the next one. A finished
    work stage leaves no mark on the chain, so its next stage shows once it is claimed."""
    round_ = int(state.get("round") or 1)
    status = str(state.get("status") or "running")
    if not stages:
        return ItemLine(key, round_, None, None, status)
    tasks = state.get("tasks")
    working = tasks if isinstance(tasks, Mapping) else {}
    given = {
        str(v.get("stage")): str(v.get("verdict"))
        for v in state.get("verdicts") or ()
        if isinstance(v, Mapping) and v.get("round") == round_
    }
    at = 0
    for n, stage in enumerate(stages):
        if stage in given or working.get(stage) in active:
            at = n
    verdict = given.get(stages[at])
    if verdict == PASS and at + 1 < len(stages):
        return ItemLine(key, round_, stages[at + 1], None, status)
    return ItemLine(key, round_, stages[at], verdict, status)


def _one_line(text: str | None, limit: int) -> str:
    """The first line that says something, whitespace folded, cut to ``limit``."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    line = next((line for line in lines if line), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
