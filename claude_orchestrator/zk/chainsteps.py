"""A chain's next step, written in the transaction of the stage completion that causes it
(issue 11; docs/pipelines.md).

``complete_plan``: the planner's answer ends the ``plan`` task; in the same transaction the
chain records the graph and, unless it waits for approval or is a dry run, its first
round's stage tasks are created (one ``multi()``: the plan task completed, the chain record
set on the version read, every stage task with its index entry and dependencies). An answer
that stayed invalid through its repairs completes the plan task with the chain
``needs_human``, the raw answer kept on the chain. A chain that left ``planning`` meanwhile
(cancelled) is not touched: the plan task completes alone.

SUSPENDED / LOST: as ``TaskStore.transition`` (retried until its deadline; a commit whose
outcome was lost is recognised by its token).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from claude_orchestrator.errors import TaskStateError
from claude_orchestrator.zk.chaingraph import Graph, graph_from_dict, graph_to_dict, stage_specs
from claude_orchestrator.zk.chains import PLAN, Chain, ChainStatus, ChainStore, spent
from claude_orchestrator.zk.codec import check_size, encode, iso, token
from claude_orchestrator.zk.push import add_batch, prefer_previous
from claude_orchestrator.zk.taskmodel import Change, Task
from claude_orchestrator.zk.txn import Txn, TxnConflict, retrying

if TYPE_CHECKING:
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.tasks import TaskStore

RAW_KEPT = 16 * 1024  # of an answer that could not be repaired, kept on the chain


class PlanAnswer(NamedTuple):
    """What the planner answered: the graph, or the errors of its last answer."""

    raw: str
    graph: Graph | None = None
    errors: tuple[str, ...] = ()
    repairs: int = 0


def complete_plan(
    tasks: TaskStore,
    task_id: str,
    change: Change,
    actor: Actor,
    now: float,
    answer: PlanAnswer,
    guard: Callable[[Task], None] | None = None,
) -> Task:
    """Complete the plan task ``task_id`` with ``change`` and take the chain's next step."""
    chains = ChainStore(tasks.client, tasks.paths.team)

    def next_step(t: Txn, done: Task) -> None:
        if done.chain_id is None or done.link != PLAN:
            return
        chain, version = chains.read(done.chain_id)
        new = chain  # cancelled (or already planned) meanwhile: the plan task ends alone
        if chain.status is ChainStatus.PLANNING:
            new = _planned(tasks, t, chain, answer, actor.label, now)
        new = spent(new, done)
        if new is not chain:
            t.set_data(chains.paths.chain(chain.id), encode(new.to_dict(), "task record"), version)

    return tasks.transition(task_id, change, actor, now, guard, extra=next_step)


def _planned(
    tasks: TaskStore, t: Txn, chain: Chain, answer: PlanAnswer, by: str, now: float
) -> Chain:
    at = iso(now)
    graph = answer.graph
    if graph is None:
        why = "; ".join(answer.errors[:5])
        reason = f"the plan stayed invalid after {answer.repairs} repair(s): {why}"
        raw = answer.raw[:RAW_KEPT]
        status = ChainStatus.NEEDS_HUMAN
        return chain.noted(at, by, "needs a human", status=status, reason=reason, raw_answer=raw)
    planned = {"title": graph.title, "extra": {**chain.extra, "graph": graph_to_dict(graph)}}
    if chain.options.dry_run:
        note = "dry run: validated, nothing pushed"
        return chain.noted(at, by, note, status=ChainStatus.DONE, reason=note, **planned)
    if chain.options.approve_plan:
        status = ChainStatus.AWAITING_APPROVAL
        return chain.noted(at, by, "planned; awaiting approval", status=status, **planned)
    items, accept = push_round_one(tasks, t, chain, graph, by, now)
    status = ChainStatus.RUNNING
    return chain.noted(at, by, "planned", status=status, items=items, accept_task=accept, **planned)


def push_round_one(
    tasks: TaskStore, t: Txn, chain: Chain, graph: Graph, by: str, now: float
) -> tuple[dict[str, Any], str]:
    """Add the first round's stage tasks to ``t``: the items' state for the chain record,
    and the accept task's id."""
    specs = stage_specs(graph, chain.options.stages, chain.options.roles)
    by_key = {item.key: item for item in graph.items}
    pushed = []
    for spec in specs:
        item = by_key.get(spec.item) if spec.item is not None else None
        task: dict[str, Any] = {
            "title": spec.title,
            "description": _description(chain, graph, item),
            "chain_id": chain.id,
            "link": spec.link,
            "round": 1,
            "depends_on": [f"#{i + 1}" for i in spec.depends_on],
        }
        if spec.item is not None:
            task["item"] = spec.item
        if spec.role:
            task["assignee"] = f"role:{spec.role}"
        pushed.append(task)
    records, _ = add_batch(tasks, t, pushed, [], by, now, token())
    items: dict[str, Any] = {}
    for spec, rec in zip(specs, records, strict=True):
        if spec.item is not None:
            state = items.setdefault(spec.item, _item_state(by_key[spec.item]))
            state["tasks"][spec.link] = rec.id
    return items, records[-1].id


def _item_state(item: Any) -> dict[str, Any]:
    return {"title": item.title, "round": 1, "status": "running", "tasks": {}, "verdicts": []}


def _description(chain: Chain, graph: Graph, item: Any) -> str:
    """A stage task's description: its item with the criteria, or (accept) the goal with
    every item."""
    if item is None:
        return accept_description(chain, graph)
    criteria = "\n".join(f"- {c}" for c in item.criteria) or "- (none given)"
    return f"{item.description}\n\nAcceptance criteria:\n{criteria}\n\nPart of: {graph.title}"


def accept_description(chain: Chain, graph: Graph) -> str:
    listed = "\n".join(f"- {i.key}: {i.title}" for i in graph.items)
    return f"Goal:\n\n{chain.goal}\n\nItems:\n{listed}"


def approve(tasks: TaskStore, chain_id: str, by: str, now: float) -> Chain:
    """``approve``: a chain awaiting approval runs — its first round's stage tasks pushed
    and the chain set running, in one transaction."""

    def step(t: Txn, chain: Chain) -> Chain:
        graph = graph_from_dict(chain.extra.get("graph") or {})
        items, accept = push_round_one(tasks, t, chain, graph, by, now)
        status = ChainStatus.RUNNING
        return chain.noted(iso(now), by, "approved", status=status, items=items, accept_task=accept)

    return _decide(tasks, chain_id, step)


def reject(tasks: TaskStore, chain_id: str, feedback: str, by: str, now: float) -> Chain:
    """``reject``: the plan goes back to the planner with the feedback — a new plan task
    (its planner's session resumed while that worker is alive) and the chain planning again,
    in one transaction."""
    check_size("description", feedback)

    def step(t: Txn, chain: Chain) -> Chain:
        spec: dict[str, Any] = {
            "title": f"plan: {chain.title or chain.goal[:60]} (again)",
            "description": _replan(chain, feedback),
            "chain_id": chain.id,
            "link": PLAN,
        }
        if chain.options.planner:
            spec["assignee"] = chain.options.planner
        if chain.plan_task:
            prefer_previous(tasks, spec, chain.plan_task)
        [task], _ = add_batch(tasks, t, [spec], [], by, now, token())
        note = f"plan rejected: {feedback[:200]}"
        return chain.noted(
            iso(now), by, note, status=ChainStatus.PLANNING, plan_task=task.id, reason=None
        )

    return _decide(tasks, chain_id, step)


def _replan(chain: Chain, feedback: str) -> str:
    previous = json.dumps(chain.extra.get("graph") or {}, indent=2)
    return (
        f"{chain.goal}\n\n## Your previous plan was rejected\n\n{feedback}\n\n"
        f"The rejected plan:\n\n```json\n{previous}\n```"
    )


def _decide(tasks: TaskStore, chain_id: str, step: Callable[[Txn, Chain], Chain]) -> Chain:
    """Apply a human's decision to a chain awaiting approval: ``step`` adds its operations;
    the chain record is set on the version read. Re-read on a race."""
    chains = ChainStore(tasks.client, tasks.paths.team)

    def attempt() -> Chain:
        while True:
            chain, version = chains.read(chain_id)
            if chain.status is not ChainStatus.AWAITING_APPROVAL:
                raise TaskStateError(
                    f"{chain_id} is {chain.status.value}: only a chain awaiting approval "
                    "can be approved or rejected"
                )
            t = Txn(tasks.client)
            new = step(t, chain)
            t.set_data(chains.paths.chain(chain_id), encode(new.to_dict(), "task record"), version)
            try:
                t.commit()
            except TxnConflict:
                continue
            return new

    tasks.ensure_layout()
    return retrying(tasks.client, attempt)
