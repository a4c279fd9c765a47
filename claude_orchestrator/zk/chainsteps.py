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

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from claude_orchestrator.zk.chaingraph import Graph, graph_to_dict, stage_specs
from claude_orchestrator.zk.chains import PLAN, Chain, ChainStatus, ChainStore, spent
from claude_orchestrator.zk.codec import encode, iso, token
from claude_orchestrator.zk.push import add_batch
from claude_orchestrator.zk.taskmodel import Change, Task
from claude_orchestrator.zk.txn import Txn

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
        listed = "\n".join(f"- {i.key}: {i.title}" for i in graph.items)
        return f"Goal:\n\n{chain.goal}\n\nItems:\n{listed}"
    criteria = "\n".join(f"- {c}" for c in item.criteria) or "- (none given)"
    return f"{item.description}\n\nAcceptance criteria:\n{criteria}\n\nPart of: {graph.title}"


def stage_roles(team_roles: set[str], defaults: Mapping[str, str]) -> dict[str, str | None]:
    """Each stage's role when a worker of the team has it, else None (any worker)."""
    return {stage: role if role in team_roles else None for stage, role in defaults.items()}
