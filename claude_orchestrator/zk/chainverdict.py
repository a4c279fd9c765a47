"""A chain stage's completion and the chain's next step, in one transaction (issue 11;
docs/pipelines.md).

The first stage of an item (``build``) does the work; every later stage and ``accept``
give a verdict, ``{verdict: pass|revise|reject, reason, feedback, evidence}``, recorded on
the task and on the chain. A verdict stage that completes without one is refused
(``NoVerdictError``): the worker records the run as failed, never as a pass.

- ``pass``: the next stage's task becomes claimable (its dependency is done); the item's
  last stage passing marks the item passed; ``accept`` passing ends the chain ``done``.
- ``revise``: a new round of the item's stages, the first carrying the feedback, assigned
  to the worker that built the previous round while it is alive (its agent session resumed);
  the old round's later stages are cancelled and whatever waited on the old last stage waits
  on the new one. At most ``max_rounds`` per item, counted on the chain: past it, the item
  and the chain need a human.
- ``reject`` (or an ``accept`` that does not pass): the chain needs a human, with the reason.

A chain that is not running (cancelled, stopped, needing a human) takes no step: the task
completes alone. Either way the session's cost is added to the chain's, in the same
transaction; past its budget the chain needs a human (``chains.spent``).

SUSPENDED / LOST: as ``TaskStore.transition``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import NoNodeError

from claude_orchestrator.errors import NotFoundError, TaskStateError
from claude_orchestrator.zk.chaingraph import ACCEPT, Item, graph_from_dict
from claude_orchestrator.zk.chains import FINAL, PLAN, Chain, ChainStatus, ChainStore, spent
from claude_orchestrator.zk.codec import decode_task, encode, encode_task, iso, token
from claude_orchestrator.zk.merges import enqueue
from claude_orchestrator.zk.push import add_batch, prefer_previous
from claude_orchestrator.zk.taskmodel import Action, Change, Task, TaskStatus, apply
from claude_orchestrator.zk.tasks import index_folder, index_path
from claude_orchestrator.zk.txn import Txn

if TYPE_CHECKING:
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.tasks import TaskStore

PASS, REVISE = "pass", "revise"  # any other verdict (reject) needs a human


class NoVerdictError(TaskStateError):
    """A verdict stage ended without a verdict: a failed run of the stage, never a pass."""


def needs_verdict(chain: Chain, link: str | None) -> bool:
    return link == ACCEPT or (link in chain.options.stages and link != chain.options.stages[0])


def complete_stage(
    tasks: TaskStore,
    task_id: str,
    change: Change,
    actor: Actor,
    now: float,
    guard: Callable[[Task], None] | None = None,
) -> Task:
    """Complete a chain's stage task with ``change`` (its ``fields`` carry the verdict)
    and take the chain's next step in the same transaction."""
    chains = ChainStore(tasks.client, tasks.paths.team)
    verdict = dict((change.fields or {}).get("verdict") or {})

    def next_step(t: Txn, done: Task) -> None:
        if done.chain_id is None or done.link in (None, PLAN):
            return
        chain, version = chains.read(done.chain_id)
        if needs_verdict(chain, done.link) and not verdict:
            raise NoVerdictError(
                f"{done.id}: the {done.link} stage ended without a verdict (pass, revise or "
                "reject): a failed run, never a pass"
            )
        new = chain
        if chain.status is ChainStatus.RUNNING:
            new = _after(tasks, t, chain, done, verdict, actor.label, now) or chain
        new = spent(new, done)
        if new is not chain:
            t.set_data(chains.paths.chain(chain.id), encode(new.to_dict(), "task record"), version)

    return tasks.transition(task_id, change, actor, now, guard, extra=next_step)


def _after(
    tasks: TaskStore,
    t: Txn,
    chain: Chain,
    done: Task,
    verdict: Mapping[str, Any],
    by: str,
    now: float,
) -> Chain | None:
    at, link = iso(now), str(done.link)
    if link == ACCEPT:
        return _accepted(tasks, t, chain, verdict, by, at)
    extra = done.extra or {}
    key, round_ = str(extra.get("item")), int(extra.get("round") or 1)
    if key not in chain.items or not verdict:
        return None  # the work stage: its completion alone makes the next claimable
    items = {k: dict(v) for k, v in chain.items.items()}
    state = items[key]
    entry = {"stage": link, "round": round_, "task": done.id, **verdict}
    state["verdicts"] = [*state.get("verdicts", []), entry]
    outcome = verdict.get("verdict")
    if outcome == PASS:
        if link == chain.options.stages[-1]:
            state["status"] = "passed"
        return chain.noted(at, by, f"{key}: {link} passed", items=items)
    if outcome == REVISE and round_ < chain.options.max_rounds:
        _next_round(tasks, t, chain, state, key, link, round_, verdict, by, now)
        return chain.noted(at, by, f"{key}: round {round_ + 1}", items=items)
    state["status"] = "needs_human"
    why = verdict.get("reason") or "; ".join(verdict.get("feedback") or ()) or outcome
    if outcome == REVISE:
        why = f"{chain.options.max_rounds} rounds without passing {link}: {why}"
    reason = f"item {key}: {why}"
    status = ChainStatus.NEEDS_HUMAN
    return chain.noted(at, by, "needs a human", items=items, status=status, reason=reason)


def _accepted(
    tasks: TaskStore, t: Txn, chain: Chain, verdict: Mapping[str, Any], by: str, at: str
) -> Chain:
    if verdict.get("verdict") == PASS and chain.options.merge:  # done once it has landed
        return enqueue(t, tasks.paths, chain, by, at)
    if verdict.get("verdict") == PASS:
        return chain.noted(at, by, "accepted", status=ChainStatus.DONE)
    why = verdict.get("reason") or "; ".join(verdict.get("feedback") or ()) or "not accepted"
    reason = f"accept: {verdict.get('verdict')}: {why}"
    return chain.noted(at, by, "needs a human", status=ChainStatus.NEEDS_HUMAN, reason=reason)


def _next_round(
    tasks: TaskStore,
    t: Txn,
    chain: Chain,
    state: dict[str, Any],
    key: str,
    link: str,
    round_: int,
    verdict: Mapping[str, Any],
    by: str,
    now: float,
) -> None:
    """Add round ``round_ + 1`` of item ``key`` to ``t``: the new stage tasks, the old
    round's later stages cancelled, the dependents of its last stage moved to the new one."""
    stages = chain.options.stages
    old = dict(state["tasks"])
    for stage in stages[stages.index(link) + 1 :]:
        _cancel(tasks, t, old[stage], by, now, f"superseded by round {round_ + 1}")
    item = item_of(chain, key)
    specs = round_specs(tasks, chain, item, round_ + 1, old[stages[0]], verdict, link)
    records, _ = add_batch(tasks, t, specs, [], by, now, token())
    _rewire(tasks, t, old[stages[-1]], records[-1].id)
    state.update(round=round_ + 1, status="running")
    state["tasks"] = {spec["link"]: rec.id for spec, rec in zip(specs, records, strict=True)}


def item_of(chain: Chain, key: str) -> Item:
    graph = graph_from_dict(chain.extra.get("graph") or {"title": "", "items": []})
    found = next((item for item in graph.items if item.key == key), None)
    return found if found is not None else Item(key, str(chain.items[key].get("title") or key))


def round_specs(
    tasks: TaskStore,
    chain: Chain,
    item: Item,
    round_: int,
    built_by: str,
    verdict: Mapping[str, Any],
    link: str,
) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    for n, stage in enumerate(chain.options.stages):
        spec: dict[str, Any] = {
            "title": f"{stage}: {item.title} (round {round_})",
            "description": _round_description(chain, item, round_, verdict, link),
            "chain_id": chain.id,
            "link": stage,
            "item": item.key,
            "round": round_,
            "depends_on": [f"#{n}"] if n else [],
        }
        role = (item.role if n == 0 and item.role else None) or chain.options.roles.get(stage)
        if role:
            spec["assignee"] = f"role:{role}"
        specs.append(spec)
    prefer_previous(tasks, specs[0], built_by)
    return specs


def _round_description(
    chain: Chain, item: Item, round_: int, verdict: Mapping[str, Any], link: str
) -> str:
    criteria = "\n".join(f"- {c}" for c in item.criteria) or "- (none given)"
    feedback = "\n".join(f"- {f}" for f in verdict.get("feedback") or ()) or "- (none)"
    evidence = verdict.get("evidence")
    return (
        f"{item.description}\n\nAcceptance criteria:\n{criteria}\n\n"
        f"## Round {round_}: the {link} stage asked for changes\n\n"
        f"{verdict.get('reason') or ''}\n\nFeedback:\n{feedback}\n"
        + (f"\nEvidence:\n{evidence}\n" if evidence else "")
        + f"\nPart of chain {chain.id}: {chain.title or chain.goal[:80]}"
    )


def _cancel(tasks: TaskStore, t: Txn, task_id: str, by: str, now: float, note: str) -> None:
    rec, version = tasks.read(task_id)
    if rec.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED):
        return
    new = apply(rec, Change(Action.CANCEL, by=by, at=iso(now), note=note))
    t.set_data(tasks.paths.record(task_id), encode_task(new), version)
    old_path, new_path = index_path(tasks.paths, rec), index_path(tasks.paths, new)
    if old_path != new_path:
        tasks.ensure_folder(index_folder(tasks.paths, new))
        t.delete(old_path)
        t.create(new_path)


def _rewire(tasks: TaskStore, t: Txn, old_last: str, new_last: str) -> None:
    """What waited on ``old_last`` waits on ``new_last``: its record and its entry under
    the dependents folders."""
    paths = tasks.paths
    for dep_id in tasks.entries(paths.dependents(old_last)):
        try:
            rec, version = tasks.read(dep_id)
        except NotFoundError:
            continue
        if rec.status is not TaskStatus.PENDING:
            continue
        deps = tuple(new_last if d == old_last else d for d in rec.depends_on)
        t.set_data(paths.record(dep_id), encode_task(rec._replace(depends_on=deps)), version)
        t.delete(paths.dependent(old_last, dep_id))
        t.create(paths.dependent(new_last, dep_id))


def fail_stage(
    tasks: TaskStore,
    task_id: str,
    change: Change,
    actor: Actor,
    now: float,
    guard: Callable[[Task], None] | None = None,
) -> Task:
    """A chain task's run that did not complete (``change``: recover, release, fail). When
    that leaves it failed for good (its retries spent), its chain needs a human, in the
    same transaction: no chain waits forever on a stage that will not run again."""
    chains = ChainStore(tasks.client, tasks.paths.team)

    def next_step(t: Txn, done: Task) -> None:
        if done.chain_id is None or done.status is not TaskStatus.FAILED:
            return
        chain, version = chains.read(done.chain_id)
        new = _stalled(chain, done, actor.label, now)
        if new is not None:
            t.set_data(chains.paths.chain(chain.id), encode(new.to_dict(), "task record"), version)

    return tasks.transition(task_id, change, actor, now, guard, extra=next_step)


def _stalled(chain: Chain, failed: Task, by: str, now: float) -> Chain | None:
    if chain.status not in (ChainStatus.PLANNING, ChainStatus.RUNNING):
        return None
    item = (failed.extra or {}).get("item")
    where = f"{failed.link} of {item}" if item else str(failed.link)
    reason = f"{where} ({failed.id}) failed after {failed.retry_count} retries: {failed.reason}"
    status = ChainStatus.NEEDS_HUMAN
    return chain.noted(iso(now), by, "needs a human", status=status, reason=reason)


def sweep_chains(
    tasks: TaskStore, by: str, now: float, finished: set[str] | None = None
) -> list[str]:
    """The leader's look at the chains that could be stuck. Every step of a chain is taken in
    its stage's own transaction, so only a stage failed for good outside a worker's report
    (its claimer vanished with its retries spent, a hand's ``task-fail``) can leave a chain
    waiting: such a chain needs a human. Reads each planning or running chain's current
    tasks (pipelined). ``finished``: the caller's memory of the chains that ended (they
    never change again): not read again, and the newly ended are added to it. The ids of
    the chains marked."""
    chains = ChainStore(tasks.client, tasks.paths.team)
    finished = set() if finished is None else finished
    marked = []
    for chain in chains.all(skip=finished):
        if chain.status in FINAL:
            finished.add(chain.id)
        if chain.status not in (ChainStatus.PLANNING, ChainStatus.RUNNING):
            continue
        failed = _failed_current(tasks, chain)
        if failed is None:
            continue
        stalled = partial(_stalled_fields, failed=failed, by=by, now=now)
        chains.update(chain.id, stalled, by, now, "needs a human")
        marked.append(chain.id)
    return marked


def _stalled_fields(chain: Chain, failed: Task, by: str, now: float) -> dict[str, Any] | None:
    new = _stalled(chain, failed, by, now)
    return None if new is None else {"status": new.status, "reason": new.reason}


def _failed_current(tasks: TaskStore, chain: Chain) -> Task | None:
    ids = [chain.plan_task, chain.accept_task]
    for state in chain.items.values():
        ids += [str(tid) for tid in (state.get("tasks") or {}).values()]
    pending = [tasks.client.get_async(tasks.paths.record(tid)) for tid in ids if tid]
    for reply in pending:
        try:
            data, _ = reply.get()
        except NoNodeError:
            continue
        task = decode_task(data)
        if task.status is TaskStatus.FAILED:
            return task
    return None
