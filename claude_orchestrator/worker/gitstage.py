"""A chain stage's git around its agent run, with ``isolation = "worktree"`` (issue 12;
docs/git.md).

Before the run (``begin``): the chain's branch ``co/<chain-id>`` exists (made from the
target the first time), and the worker's worktree is on its own branch reset to that
branch's tip — uncommitted work committed first and anything only it held kept
(spawn/gitchain.py). The main checkout's status is noted.

After a build (``finish``): the orchestrator commits what the agent changed (argv git,
secrets refused), lands the commits on the chain branch by compare-and-swap, and records
``branch`` and ``commits`` on the task. A build that changed nothing, or whose commits
conflict with what landed meanwhile, is a ``revise`` with the reason. Writes the agent made
in the main checkout are reported on the task (``git.outside``) after every stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from claude_orchestrator.conf.layout import worktree_dir
from claude_orchestrator.spawn.git import git_text
from claude_orchestrator.spawn.gitchain import (
    KEPT_PREFIX,
    chain_branch,
    ensure_branch,
    land,
    start_at,
)
from claude_orchestrator.spawn.gitcommit import (
    TASK_TRAILER,
    Fingerprint,
    changed_outside,
    commit_changes,
    status_fingerprint,
)
from claude_orchestrator.spawn.gitrefs import Refs, compare_and_swap, refs_for
from claude_orchestrator.worker.isolation import worker_branch
from claude_orchestrator.worker.settings import WorkerSettings
from claude_orchestrator.zk.chains import PLAN
from claude_orchestrator.zk.taskmodel import Task


class GitPlace(NamedTuple):
    """Where a stage's run started: the chain branch and its tip, the item's title, what was
    kept aside, and the main checkout's state."""

    branch: str
    tip: str
    title: str
    kept: list[str]
    before: Fingerprint
    refs: Refs


def begin(ws: WorkerSettings, task: Task, stage: Mapping[str, Any] | None) -> GitPlace | None:
    """Put the worktree at the chain branch's tip; None for a task that is not a chain's
    stage, or without worktree isolation. GitError when git refuses."""
    if not ws.git.worktrees or task.chain_id is None or task.link in (None, PLAN):
        return None
    if ws.work_dir != worktree_dir(ws.state_dir, ws.name).resolve():
        return None  # a --work-dir of the user's choosing: its branches are not ours to move
    branch = chain_branch(task.chain_id)
    refs = refs_for(ws.work_dir, ws.git.remote)
    tip = ensure_branch(refs, branch, ws.git.target)
    kept = start_at(ws.work_dir, worker_branch(ws.name), tip, ws.name)
    title = str((stage or {}).get("item_title") or task.title)
    return GitPlace(branch, tip, title, kept, _fingerprint(ws), refs)


def finish(ws: WorkerSettings, task: Task, place: GitPlace, built: bool) -> dict[str, Any]:
    """The task's git fields after its run; ``built``: a build stage whose run succeeded."""
    notes: dict[str, Any] = {"kept": place.kept} if place.kept else {}
    fields: dict[str, Any] = {"branch": place.branch}
    if built:
        fields.update(_land(ws, task, place, notes))
    outside = changed_outside(main_checkout(ws), place.before, (ws.state_dir,))
    if outside:
        notes["outside"] = outside
    if notes:
        fields["git"] = notes
    return fields


def _land(ws: WorkerSettings, task: Task, place: GitPlace, notes: dict[str, Any]) -> dict[str, Any]:
    made = commit_changes(ws.work_dir, commit_message(task, place.title), ws.git.secrets)
    if made.refused:
        notes["refused"] = made.refused
    landing = land(ws.work_dir, place.refs, place.branch, place.tip)
    if landing.conflicts:
        kept = _keep_head(ws, place.refs)
        notes["conflicts"] = landing.conflicts
        return {"commits": [], "verdict": conflict_verdict(place.branch, landing.conflicts, kept)}
    if not landing.commits:
        return {"commits": [], "verdict": unchanged_verdict(place.branch, made.refused)}
    return {"commits": landing.commits}


def _keep_head(ws: WorkerSettings, refs: Refs) -> str:
    """The build's commits, which did not land, kept on a branch of their own (on the
    remote too, when there is one)."""
    sha = git_text(ws.work_dir, ["rev-parse", "HEAD"])
    name = f"{KEPT_PREFIX}{ws.name}-{sha[:12]}"
    compare_and_swap(ws.work_dir, f"refs/heads/{name}", sha, None)
    if ws.git.remote:
        refs.swap(name, sha, None)
    return name


def commit_message(task: Task, title: str) -> str:
    """``<item title> (chain-…, round N)`` and a trailer naming the task (verbatim text)."""
    round_ = (task.extra or {}).get("round") or 1
    return f"{title} ({task.chain_id}, round {round_})\n\n{TASK_TRAILER}: {task.id}\n"


def conflict_verdict(branch: str, paths: list[str], kept: str) -> dict[str, Any]:
    shown = ", ".join(paths)
    return {
        "verdict": "revise",
        "reason": f"the build conflicts with work that landed on {branch} meanwhile: {shown}",
        "feedback": [
            f"redo the change on top of the current {branch}; these files were changed by "
            f"another item meanwhile: {shown}",
            f"your previous commits are kept on the branch {kept} (git cherry-pick them if "
            "they still apply)",
        ],
        "evidence": None,
    }


def unlanded_verdict(branch: str, error: str) -> dict[str, Any]:
    """A build whose commits git could not land (its work is kept in the worktree)."""
    return {
        "verdict": "revise",
        "reason": f"the build could not be landed on {branch}: {error[:300]}",
        "feedback": [
            "your commits were kept aside (worktrees lists the co/kept branches); this round "
            "starts again from the chain branch: bring your change back and finish"
        ],
        "evidence": None,
    }


def unchanged_verdict(branch: str, refused: list[str]) -> dict[str, Any]:
    why = "the build changed nothing: no commit for " + branch
    feedback = ["make the change the item asks for in the working directory"]
    if refused:
        why += f" (refused as secrets, not committed: {', '.join(refused)})"
        feedback.append("files that look like secrets are never committed: keep values elsewhere")
    return {"verdict": "revise", "reason": why, "feedback": feedback, "evidence": None}


def main_checkout(ws: WorkerSettings) -> Path:
    return ws.git.repo or ws.project_dir


def _fingerprint(ws: WorkerSettings) -> Fingerprint:
    return status_fingerprint(main_checkout(ws), (ws.state_dir,))
