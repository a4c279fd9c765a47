"""Where a chain's stage task stands in its chain, for its prompt (docs/pipelines.md): the
goal, the item and its criteria, the round, the last feedback, what the round's build
reported and the orchestrator's checks of it. One read of the chain record, and one of the
round's build for a verdict stage.

SUSPENDED / LOST: the reads are retried until their deadline (``retrying``); a ZooKeeper
error fails the run's preparation like any other, and the task goes back to the queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.zk.chaingraph import ACCEPT, graph_from_dict
from claude_orchestrator.zk.chains import Chain, ChainStore
from claude_orchestrator.zk.taskmodel import Task
from claude_orchestrator.zk.team import Team

NONE = "(none)"
RESULT_SHOWN = 4000


def stage_values(team: Team, task: Task) -> dict[str, Any]:
    """The stage template's values for ``task`` (a chain's task other than ``plan``)."""
    chain = ChainStore(team.client, team.name).get(str(task.chain_id))
    extra = task.extra or {}
    key = str(extra.get("item") or "")
    values = {
        "chain_id": chain.id,
        "goal": chain.goal,
        "link": task.link or "",
        "item": key,
        "round": extra.get("round") or 1,
    }
    if task.link == ACCEPT:
        return {**values, **_accept_values(chain)}
    return {**values, **_item_values(team, chain, key, task)}


def _accept_values(chain: Chain) -> dict[str, Any]:
    lines = [
        f"- {key}: {state.get('title', '')} ({state.get('status', '')}, round "
        f"{state.get('round', 1)})"
        for key, state in chain.items.items()
    ]
    return {
        "item_title": chain.title or "",
        "criteria": "\n".join(lines) or NONE,
        "feedback": NONE,
        "checks": NONE,
        "build_result": NONE,
    }


def _item_values(team: Team, chain: Chain, key: str, task: Task) -> dict[str, Any]:
    graph = graph_from_dict(chain.extra.get("graph") or {"title": "", "items": []})
    item = next((i for i in graph.items if i.key == key), None)
    state = chain.items.get(key) or {}
    build = _build_of_round(team, chain, state, task)
    return {
        "item_title": item.title if item is not None else state.get("title", key),
        "criteria": _bullets(item.criteria if item is not None else ()),
        "feedback": _feedback(state.get("verdicts") or ()),
        "checks": _checks((build.extra or {}).get("checks") if build else None),
        "build_result": (build.result or NONE)[:RESULT_SHOWN] if build else NONE,
    }


def _build_of_round(team: Team, chain: Chain, state: Mapping[str, Any], task: Task) -> Task | None:
    """The build of the task's round, for a verdict stage (None for the build itself)."""
    first = chain.options.stages[0]
    build_id = (state.get("tasks") or {}).get(first)
    if task.link == first or not build_id:
        return None
    try:
        return team.tasks.get(str(build_id))
    except NotFoundError:
        return None


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"- {line}" for line in lines) or NONE


def _feedback(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """The last verdict that asked for changes: its reason and feedback."""
    asked = [v for v in verdicts if v.get("verdict") != "pass"]
    if not asked:
        return NONE
    last = asked[-1]
    head = f"{last.get('stage')} of round {last.get('round')}: {last.get('reason') or ''}"
    return f"{head}\n{_bullets(last.get('feedback') or ())}"


def _checks(records: Any) -> str:
    if not records:
        return "(no checks configured, or not run)"
    lines = []
    for rec in records:
        shown = " ".join(rec.get("argv") or ())
        lines.append(f"- `{shown}`: exit {rec.get('exit_code')} in {rec.get('duration_ms')} ms")
        tail = str(rec.get("output_tail") or "").strip()
        if tail and rec.get("exit_code") != 0:
            lines.append(f"  output ends with:\n  {tail[-1000:]}")
    return "\n".join(lines)
