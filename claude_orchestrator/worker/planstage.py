"""The plan stage of a chain, on the worker (issue 11; docs/pipelines.md).

The planner's answer must end with a JSON graph (spawn/answer.py); the worker validates it
(zk/chaingraph.py). An invalid answer goes back to the same agent session with the
validator's exact errors, at most ``MAX_REPAIRS`` times; then the chain needs a human, the
raw answer kept on it. Either way the plan task completes and the chain's next step is taken
in the same transaction (zk/chainsteps.py): never dropped, never half-pushed. A run that
failed (the agent's error, a crash, a timeout) is reported as any task's, and retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from claude_orchestrator.conf.pipeline import DEFAULT_MAX_ITEMS
from claude_orchestrator.errors import UsageError
from claude_orchestrator.spawn.answer import last_json_block
from claude_orchestrator.worker.session import AgentRun, SessionResult
from claude_orchestrator.zk.chaingraph import Graph, validate_graph
from claude_orchestrator.zk.chainsteps import PlanAnswer
from claude_orchestrator.zk.taskmodel import Task

log = logging.getLogger("claude_orchestrator.worker")

MAX_REPAIRS = 2

RunToEnd = Callable[[AgentRun], SessionResult]
Repair = Callable[[SessionResult, str, int], AgentRun]


def read_plan(
    result: SessionResult, max_items: int = DEFAULT_MAX_ITEMS
) -> tuple[Graph | None, tuple[str, ...]]:
    """The graph the answer ends with, or why there is none."""
    text = result.outcome.result or ""
    raw = last_json_block(text)
    if raw is None:
        return None, ("answer: no JSON graph found; end the answer with one ```json block",)
    try:
        return validate_graph(raw, max_items), ()
    except UsageError as exc:  # GraphError: every problem, one line each
        errors = getattr(exc, "errors", None) or [str(exc)]
        return None, tuple(errors)


def repair_prompt(errors: tuple[str, ...]) -> str:
    listed = "\n".join(f"- {line}" for line in errors)
    return (
        "Your plan was not accepted. The orchestrator's validator found:\n\n"
        f"{listed}\n\n"
        "Answer again with the whole corrected graph as one ```json block at the end."
    )


def settle(
    task: Task,
    first: SessionResult,
    repair: Repair,
    run_to_end: RunToEnd,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> tuple[SessionResult, PlanAnswer]:
    """Read the planner's answer, repairing it through its session while it is invalid.
    The last run (whose session the task records) and the answer."""
    result = first
    graph, errors = read_plan(result, max_items)
    repairs = 0
    while graph is None and repairs < MAX_REPAIRS and result.outcome.ok:
        repairs += 1
        log.info("%s: plan invalid (%d error(s)); repair %d", task.id, len(errors), repairs)
        result = run_to_end(repair(result, repair_prompt(errors), repairs))
        if result.outcome.ok:
            graph, errors = read_plan(result, max_items)
    raw = result.outcome.result or ""
    return result, PlanAnswer(raw=raw, graph=graph, errors=errors, repairs=repairs)
