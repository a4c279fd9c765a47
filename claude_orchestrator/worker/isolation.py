"""A worker's stable worktree (issue 12; docs/git.md): with ``[team] isolation =
"worktree"`` each worker runs its agent in ``.claude-orchestrator/worktrees/<worker>`` —
created once on the worker's own branch ``co/worker/<name>`` (from ``[git] target``), reused
by every run and every ``up``, never a new name per run, never removed here."""

from __future__ import annotations

from pathlib import Path

from claude_orchestrator.conf.layout import worktree_dir
from claude_orchestrator.conf.team import TeamConfig
from claude_orchestrator.spawn.git import Repo, ensure_worktree

BRANCH_PREFIX = "co/worker/"


def worker_branch(name: str) -> str:
    return f"{BRANCH_PREFIX}{name}"


def prepare_worktree(team: TeamConfig, name: str) -> Path:
    """The worker's worktree, made on first use (GitError when something else is there)."""
    repo = Repo(team.git.repo or team.root)
    path = worktree_dir(team.state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_worktree(repo, path, worker_branch(name), team.git.target)
    return path
