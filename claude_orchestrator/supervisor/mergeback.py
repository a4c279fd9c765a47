"""Which items a merge sends back, and with what feedback (issue 12 §3; docs/git.md).

A commit is traced to its item through the task its trailer names (an agent's own commit:
the next orchestrator commit after it, the same build), and only a task of this chain
counts. A conflict sends back the items whose commits were left out, with the paths and
hunks; a failing check the items whose files its output names, else every item that
landed something. A commit traced to no item sends back every item of the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.spawn.gitcommit import TASK_TRAILER
from claude_orchestrator.spawn.gitmerge import Skipped, builds_of, files_of
from claude_orchestrator.zk.chains import Chain
from claude_orchestrator.zk.tasks import TaskStore

Verdicts = dict[str, dict[str, Any]]


def items_by_commit(
    tasks: TaskStore, repo: Path, chain: Chain, old: str, new: str
) -> dict[str, str | None]:
    """sha -> item key (None: not traced) for each commit of ``old..new``."""
    items: dict[str, str | None] = {}
    cache: dict[str, str | None] = {}
    for sha, task_id in builds_of(repo, old, new, TASK_TRAILER):
        if task_id is not None and task_id not in cache:
            cache[task_id] = _item_of_task(tasks, chain, task_id)
        items[sha] = cache.get(task_id) if task_id is not None else None
    return items


def _item_of_task(tasks: TaskStore, chain: Chain, task_id: str) -> str | None:
    try:
        task = tasks.get(task_id)
    except (NotFoundError, ValueError):
        return None
    item = (task.extra or {}).get("item")
    ok = task.chain_id == chain.id and isinstance(item, str) and item in chain.items
    return item if ok else None


def conflict_verdicts(
    chain: Chain,
    by_commit: Mapping[str, str | None],
    skipped: Sequence[Skipped],
    target: str,
    kept: str,
) -> Verdicts:
    """One revise per item whose commits did not apply on ``target``."""
    wanted: dict[str, list[Skipped]] = {}
    for skip in skipped:
        for key in _keys(chain, by_commit.get(skip.sha)):
            wanted.setdefault(key, []).append(skip)
    return {key: _conflict(skips, chain.id, target, kept) for key, skips in wanted.items()}


def _conflict(skips: list[Skipped], chain_id: str, target: str, kept: str) -> dict[str, Any]:
    paths = sorted({p for s in skips for p in s.paths}) or ["(no path reported)"]
    shown = ", ".join(paths)
    hunks = "\n".join(s.hunks for s in skips)[-4000:]
    return {
        "verdict": "revise",
        "reason": f"landing on {target} conflicted in {shown}",
        "feedback": [
            f"{target} changed {shown} since this chain began. The chain branch co/{chain_id} "
            f"now starts from the current {target}, without this item's conflicting commits: "
            "make the change again on top of it",
            f"the commits left out are kept on the branch {kept}",
        ],
        "evidence": hunks or None,
    }


def check_verdicts(
    chain: Chain,
    repo: Path,
    by_commit: Mapping[str, str | None],
    record: Mapping[str, Any],
    target: str,
) -> Verdicts:
    """One revise per item a failing check's output points at (else every item built)."""
    output = str(record.get("output_tail") or "")
    named: set[str] = set()
    every: set[str] = set()
    for sha, key in by_commit.items():
        keys = _keys(chain, key)
        every.update(keys)
        if any(Path(f).name in output for f in files_of(repo, sha)):
            named.update(keys)
    shown = " ".join(record.get("argv") or ())
    verdict = {
        "verdict": "revise",
        "reason": f"the check `{shown}` failed on the chain rebased onto {target}",
        "feedback": [f"make `{shown}` pass on top of the current {target}; it printed:\n{output}"],
        "evidence": None,
    }
    return {key: dict(verdict) for key in sorted(named or every or set(chain.items))}


def _keys(chain: Chain, key: str | None) -> list[str]:
    return [key] if key is not None else sorted(chain.items)
