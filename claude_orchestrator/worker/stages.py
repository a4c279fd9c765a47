"""What a worker adds after a chain stage's run, before reporting it (docs/pipelines.md):
the planner's answer settled (planstage.py), the checks run after a build (checks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.spawn.checks import check_verdict, failed, run_checks
from claude_orchestrator.spawn.git import GitError
from claude_orchestrator.worker import gitstage, planstage
from claude_orchestrator.worker.gitstage import GitPlace
from claude_orchestrator.worker.runs import RunBuilder
from claude_orchestrator.worker.session import AgentRun, SessionResult
from claude_orchestrator.worker.stagevalues import stage_values
from claude_orchestrator.zk.chains import PLAN
from claude_orchestrator.zk.chainsteps import PlanAnswer
from claude_orchestrator.zk.taskmodel import Task
from claude_orchestrator.zk.team import Team


class ChainStep(NamedTuple):
    """How the report of a chain's task takes the chain's next step."""

    plan: PlanAnswer | None = None  # the plan task: the settled answer
    stage: bool = False  # any other stage: its completion goes through the chain
    fields: dict[str, Any] | None = None  # record keys the worker sets (``checks``, a verdict)


def values_for(team: Team, task: Task) -> dict[str, Any] | None:
    """A chain stage's prompt values (stagevalues.py); None for any other task."""
    if task.chain_id is None or task.link in (None, PLAN):
        return None
    try:
        return stage_values(team, task)
    except NotFoundError:  # its chain is gone: the task's own text is all there is
        return None


def after_run(
    task: Task,
    result: SessionResult,
    builder: RunBuilder,
    instance_id: str,
    run_to_end: Callable[[AgentRun], SessionResult],
    place: GitPlace | None = None,
) -> tuple[SessionResult, ChainStep]:
    """The run to report and the chain step that goes with it; ``place``: where the
    stage's git started (gitstage.py), with worktree isolation."""
    if task.chain_id is None or task.link is None:
        return result, ChainStep()
    if task.link == PLAN:
        if not result.outcome.ok:
            return result, ChainStep()

        def repair(previous: SessionResult, prompt: str, n: int) -> AgentRun:
            return builder.for_repair(task, instance_id, previous, prompt, n)

        max_items = builder.ws.pipeline.max_items
        result, answer = planstage.settle(task, result, repair, run_to_end, max_items)
        return result, ChainStep(plan=answer)
    fields = _git_fields(task, result, builder, place)
    if "verdict" not in fields:
        fields.update(_checked(task, result, builder, instance_id))
    return result, ChainStep(stage=True, fields=fields or None)


def _git_fields(
    task: Task, result: SessionResult, builder: RunBuilder, place: GitPlace | None
) -> dict[str, Any]:
    """With worktree isolation: the build committed and landed on the chain branch."""
    if place is None:
        return {}
    built = result.outcome.ok and task.link == builder.ws.pipeline.stages[0]
    try:
        return gitstage.finish(builder.ws, task, place, built)
    except GitError as exc:  # the task says what git refused; a build not landed never passes
        fields: dict[str, Any] = {"branch": place.branch, "git": {"error": str(exc)}}
        if built:
            fields["verdict"] = gitstage.unlanded_verdict(place.branch, str(exc))
        return fields


def _checked(
    task: Task, result: SessionResult, builder: RunBuilder, instance_id: str
) -> dict[str, Any]:
    """After a build that succeeded: the checks' records, and a revise if one failed."""
    pipe = builder.ws.pipeline
    if not result.outcome.ok or not pipe.checks or task.link != pipe.stages[0]:
        return {}
    env = builder.task_env(task, instance_id)
    records = run_checks(pipe.checks, builder.ws.work_dir, env, pipe.check_timeout)
    fields: dict[str, Any] = {"checks": records}
    bad = failed(records)
    if bad is not None:
        fields["verdict"] = check_verdict(bad)
    return fields
