"""Chains: a goal decomposed into a task graph and run through its stages (issue 11;
docs/pipelines.md).

A chain record (``chains/records/chain-NNNNNNNNNN``, JSON) holds the goal, the status,
the graph once planned, each item's rounds and verdicts, the budget and the spend. A
chain changes only in the transaction of the task change that causes it, version-checked
(``TaskStore.commit``'s and ``push``'s ``extra``): it is created with its ``plan`` task,
and a stage's completion and the chain's next step commit together or not at all.

The claim gate: a chain's task is claimable only while its chain lets its stage run —
``plan`` while the chain is planning, every other stage while it is running. The claim
checks the version of the chain record it decided on in its own transaction
(zk/claim.py), so a chain stopped meanwhile (cancelled, over budget, needing a human)
hands out no more work.

SUSPENDED: calls are retried by ``retrying`` until its deadline. LOST: nothing here
holds a session-bound node; a create whose outcome was lost is recognised by its token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import NodeExistsError, NoNodeError

from claude_orchestrator.conf.pipeline import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_ROUNDS,
    DEFAULT_STAGES,
    PLAN_STAGE,
)
from claude_orchestrator.errors import NotFoundError, UsageError
from claude_orchestrator.zk.codec import check_size, decode, encode, iso, token
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.push import push
from claude_orchestrator.zk.taskmodel import Task
from claude_orchestrator.zk.txn import Txn, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from claude_orchestrator.conf.team import TeamConfig
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.tasks import TaskStore

CHAIN_ID_RE = re.compile(r"chain-([0-9]{10})")  # fullmatch only
PLAN = PLAN_STAGE
HISTORY_KEEP = 50


class ChainStatus(StrEnum):
    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    NEEDS_HUMAN = "needs_human"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({ChainStatus.DONE, ChainStatus.FAILED, ChainStatus.CANCELLED})


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class PlanOptions(NamedTuple):
    """What ``plan`` asks for besides the goal."""

    max_rounds: int = DEFAULT_MAX_ROUNDS
    budget_usd: float | None = None
    stages: tuple[str, ...] = DEFAULT_STAGES
    max_items: int = DEFAULT_MAX_ITEMS
    planner: str | None = None  # the plan task's assignee (``role:planner``), None: anyone
    roles: Mapping[str, str | None] = _EMPTY  # stage -> role, None: any
    approve_plan: bool = False
    dry_run: bool = False
    merge: bool = False  # worktree isolation: an accepted chain lands through the merge queue


class Chain(NamedTuple):
    """A chain record. ``items`` maps each graph key to its state (JSON, docs/pipelines.md);
    keys a newer writer added are kept in ``extra`` and written back as they were."""

    id: str
    goal: str
    status: ChainStatus
    created_at: str
    created_by: str
    options: PlanOptions
    plan_task: str | None = None
    title: str | None = None
    items: Mapping[str, Any] = _EMPTY
    accept_task: str | None = None
    reason: str | None = None
    raw_answer: str | None = None
    cost_usd: float = 0.0
    history: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = _EMPTY

    def to_dict(self) -> dict[str, Any]:
        opts = self.options
        return {
            **self.extra,
            "id": self.id,
            "goal": self.goal,
            "status": self.status.value,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "max_rounds": opts.max_rounds,
            "budget_usd": opts.budget_usd,
            "stages": list(opts.stages),
            "max_items": opts.max_items,
            "roles": dict(opts.roles),
            "approve_plan": opts.approve_plan,
            "dry_run": opts.dry_run,
            "merge_queue": opts.merge,
            "plan_task": self.plan_task,
            "title": self.title,
            "items": dict(self.items),
            "accept_task": self.accept_task,
            "reason": self.reason,
            "raw_answer": self.raw_answer,
            "cost_usd": round(self.cost_usd, 6),
            "history": [dict(h) for h in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chain:
        opts = PlanOptions(
            max_rounds=int(data.get("max_rounds") or DEFAULT_MAX_ROUNDS),
            budget_usd=data.get("budget_usd"),
            stages=tuple(data.get("stages") or DEFAULT_STAGES),
            max_items=int(data.get("max_items") or DEFAULT_MAX_ITEMS),
            roles=dict(data.get("roles") or {}),
            approve_plan=bool(data.get("approve_plan")),
            dry_run=bool(data.get("dry_run")),
            merge=bool(data.get("merge_queue")),
        )
        known = set(cls._fields) | {"max_rounds", "budget_usd", "stages"}
        known |= {"approve_plan", "dry_run", "roles", "max_items", "merge_queue"}
        return cls(
            id=str(data["id"]),
            goal=str(data.get("goal") or ""),
            status=ChainStatus(data["status"]),
            created_at=str(data.get("created_at") or ""),
            created_by=str(data.get("created_by") or ""),
            options=opts,
            plan_task=data.get("plan_task"),
            title=data.get("title"),
            items=dict(data.get("items") or {}),
            accept_task=data.get("accept_task"),
            reason=data.get("reason"),
            raw_answer=data.get("raw_answer"),
            cost_usd=float(data.get("cost_usd") or 0.0),
            history=tuple(data.get("history") or ()),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def noted(self, at: str, by: str, note: str, **changes: Any) -> Chain:
        """This chain with ``changes`` and a history entry saying so."""
        entry = {"at": at, "by": by, "note": note}
        history = (*self.history, entry)[-HISTORY_KEEP:]
        return self._replace(history=history, **changes)

    def allows(self, link: str | None) -> bool:
        """Whether a task of stage ``link`` may be claimed now (the claim gate)."""
        if link == PLAN:
            return self.status is ChainStatus.PLANNING
        return self.status is ChainStatus.RUNNING


def plan_options(
    team: TeamConfig,
    max_rounds: int | None = None,
    budget_usd: float | None = None,
    dry_run: bool = False,
) -> PlanOptions:
    """A new chain's options: the team's ``[pipeline]``, the arguments over it; each stage's
    role when a worker of the team has it, else any worker (None)."""
    pipe = team.pipeline
    workers = {spec.role for spec in team.workers}
    roles = {stage: role if role in workers else None for stage, role in pipe.roles.items()}
    planner = roles.pop(PLAN, None)
    return PlanOptions(
        max_rounds=max_rounds or pipe.max_rounds,
        budget_usd=budget_usd if budget_usd is not None else pipe.budget_usd,
        stages=pipe.stages,
        max_items=pipe.max_items,
        planner=f"role:{planner}" if planner else None,
        roles=roles,
        approve_plan=pipe.approve_plan,
        dry_run=dry_run,
        merge=team.git.worktrees,
    )


def spent(chain: Chain, task: Task) -> Chain:
    """``chain`` after ``task``'s session cost (its ``session.cost_usd``), needing a human
    once over its budget: no further stage of it is claimed (the claim gate)."""
    cost = (task.session or {}).get("cost_usd")
    return with_cost(chain, cost, task.finished_at or chain.created_at)


def with_cost(chain: Chain, cost: object, at: str) -> Chain:
    """``chain`` after spending ``cost`` (USD; anything else adds nothing)."""
    if not isinstance(cost, (int, float)) or isinstance(cost, bool) or cost <= 0:
        return chain
    total = chain.cost_usd + float(cost)
    budget = chain.options.budget_usd
    over = budget is not None and total > budget
    if not over or chain.status in FINAL or chain.status is ChainStatus.NEEDS_HUMAN:
        return chain._replace(cost_usd=total)
    reason = f"over budget: ${total:.4f} spent of ${budget:.4f}"
    status = ChainStatus.NEEDS_HUMAN
    return chain.noted(at, "budget", reason, cost_usd=total, status=status, reason=reason)


def stop_chain(
    tasks: TaskStore, chain_id: str, actor: Actor, now: float, reason: str
) -> tuple[Chain, list[str]]:
    """``cancel-chain`` (and ``cancel-task`` on one of its tasks): the chain ``cancelled``
    first — from then on none of its stages is claimed (the claim gate) — then each of its
    open tasks cancelled. The chain, and the tasks cancelled here."""
    from claude_orchestrator.zk.query import list_tasks
    from claude_orchestrator.zk.taskmodel import FINAL as TASK_FINAL
    from claude_orchestrator.zk.taskmodel import Action, Change

    def stop(chain: Chain) -> dict[str, Any] | None:
        if chain.status in FINAL:
            return None
        return {"status": ChainStatus.CANCELLED, "reason": reason}

    store = ChainStore(tasks.client, tasks.paths.team)
    chain = store.update(chain_id, stop, actor.label, now, "cancelled")
    change = Change(Action.CANCEL, by=actor.label, at=iso(now), note="chain cancelled")
    cancelled = []
    for task in list_tasks(tasks, chain_id=chain_id):
        if task.status not in TASK_FINAL:
            tasks.transition(task.id, change, actor, now)
            cancelled.append(task.id)
    return chain, cancelled


def check_chain_id(chain_id: str) -> str:
    if not CHAIN_ID_RE.fullmatch(chain_id):
        raise UsageError(f"--chain-id: '{chain_id}' is not a chain id (chain-NNNNNNNNNN)")
    return chain_id


class ChainStore:
    def __init__(self, client: KazooClient, team: str) -> None:
        self.client = client
        self.paths = TeamPaths(team)

    # -- reading -------------------------------------------------------------
    def read(self, chain_id: str) -> tuple[Chain, int]:
        path = self.paths.chain(chain_id)
        try:
            data, stat = self.client.get(path)
        except NoNodeError:
            raise NotFoundError(f"no chain {chain_id} in team '{self.paths.team}'") from None
        return Chain.from_dict(decode(data, path)), stat.version

    def get(self, chain_id: str) -> Chain:
        return retrying(self.client, lambda: self.read(chain_id))[0]

    def all(self, status: ChainStatus | None = None, skip: Collection[str] = ()) -> list[Chain]:
        """Every chain (oldest first), or those in ``status`` (the reads pipelined); the
        ids in ``skip`` are not read (a caller that remembers the finished ones)."""

        def step() -> list[Chain]:
            try:
                names = sorted(set(self.client.get_children(self.paths.chain_records)) - set(skip))
            except NoNodeError:
                return []
            pending = [(n, self.client.get_async(self.paths.chain(n))) for n in names]
            found = []
            for name, reply in pending:
                try:
                    found.append(Chain.from_dict(decode(reply.get()[0], self.paths.chain(name))))
                except NoNodeError:
                    continue
            return found

        chains = retrying(self.client, step)
        return [c for c in chains if status is None or c.status is status]

    def gate(self, task: Task) -> int | None:
        """The claim gate: the chain record's version when ``task`` may be claimed now,
        None when its chain holds it back (or is gone)."""
        if task.chain_id is None:
            return -1
        try:
            chain, version = self.read(task.chain_id)
        except NotFoundError:
            return None
        return version if chain.allows(task.link) else None

    # -- writing -------------------------------------------------------------
    def create(
        self, tasks: TaskStore, goal: str, by: str, now: float, opts: PlanOptions
    ) -> tuple[Chain, Task]:
        """A new chain and its ``plan`` task, in one transaction."""
        check_size("description", goal)
        if not goal.strip():
            raise UsageError("the goal is empty: say what the team should build")
        chain_id = self._next_id()
        at = iso(now)
        chain = Chain(chain_id, goal, ChainStatus.PLANNING, at, by, opts)
        spec = {
            "title": f"plan: {_headline(goal)}",
            "description": goal,
            "chain_id": chain_id,
            "link": PLAN,
        }
        if opts.planner:
            spec["assignee"] = opts.planner

        def add_chain(t: Txn, records: list[Task]) -> None:
            made = chain.noted(at, by, "created", plan_task=records[0].id)
            t.create(self.paths.chain(chain_id), encode(made.to_dict(), "task record"))

        tasks.ensure_layout()
        self.client.ensure_path(self.paths.chain_records)
        if opts.merge:  # its accept queues it there (zk/merges.py)
            self.client.ensure_path(self.paths.merge_queue)
        task = push(tasks, [spec], by, now, extra=add_chain)[0]
        return self.get(chain_id), task

    def _next_id(self) -> str:
        """A fresh chain id: the counter's version after one version-checked bump (a crash
        after it skips an id, never reuses one)."""
        tok = token().encode()

        def step() -> str:
            try:
                _, stat = self.client.get(self.paths.chain_counter)
            except NoNodeError:
                try:
                    self.client.create(self.paths.chain_counter, b"", makepath=True)
                except NodeExistsError:
                    pass
                return step()
            new = self.client.set(self.paths.chain_counter, tok, version=stat.version)
            return f"chain-{new.version:010d}"

        return retrying(self.client, step)

    def add_cost(self, chain_id: str, cost: float, now: float) -> None:
        """A run of the chain that did not complete (failed, crashed, released) cost this
        too: add it (no history entry: the run's task records it)."""
        self._rewrite(chain_id, lambda chain: with_cost(chain, cost, iso(now)))

    def update(self, chain_id: str, change: Any, by: str, now: float, note: str) -> Chain:
        """Apply ``change(chain) -> dict of fields`` (None: nothing to do), noted in the
        chain's history."""

        def noted(chain: Chain) -> Chain:
            fields = change(chain)
            return chain if fields is None else chain.noted(iso(now), by, note, **fields)

        return self._rewrite(chain_id, noted)

    def _rewrite(self, chain_id: str, make: Callable[[Chain], Chain]) -> Chain:
        """Write ``make(chain)`` over the chain read, version-checked; re-read and re-decide
        on a race. ``make`` returning the chain itself writes nothing."""
        from kazoo.exceptions import BadVersionError

        def step() -> Chain:
            while True:
                chain, version = self.read(chain_id)
                new = make(chain)
                if new is chain:
                    return chain
                data = encode(new.to_dict(), "task record")
                try:
                    self.client.set(self.paths.chain(chain_id), data, version)
                except BadVersionError:
                    continue
                return new

        return retrying(self.client, step)


def _headline(goal: str) -> str:
    line = goal.strip().splitlines()[0] if goal.strip() else ""
    return line if len(line) <= 80 else line[:79] + "…"
