"""A worker's stable worktree (issue 12; docs/git.md): with ``[team] isolation =
"worktree"`` each worker runs its agent in ``.claude-orchestrator/worktrees/<worker>`` —
created once on the worker's own branch ``co/worker/<name>`` (from ``[git] target``), reused
by every run and every ``up``, never a new name per run. Only ``worktrees --prune`` removes
one, and only when nothing would be lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_orchestrator.conf.layout import worktree_dir
from claude_orchestrator.conf.team import TeamConfig
from claude_orchestrator.spawn.git import Repo, WorktreeInfo, ensure_worktree, no_option, run_git

BRANCH_PREFIX = "co/worker/"


def worker_branch(name: str) -> str:
    return f"{BRANCH_PREFIX}{name}"


def landed_ref(team: TeamConfig) -> str:
    """What "on the target" means: the target branch, or with ``[git] remote`` its copy
    fetched from the remote (where the merge queue lands work; the local branch stays)."""
    git = team.git
    return f"refs/remotes/{git.remote}/{git.target}" if git.remote else git.target


def prepare_worktree(team: TeamConfig, name: str) -> Path:
    """The worker's worktree, made on first use (GitError when something else is there)."""
    repo = Repo(team.repo_dir)
    path = worktree_dir(team.state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_worktree(repo, path, worker_branch(name), team.git.target)
    return path


def held_work(team: TeamConfig, only_removed: bool = False) -> dict[str, dict[str, Any]]:
    """The worktrees holding work not on the target — uncommitted changes, or commits whose
    change is not there (patch ids) — worker -> {path, dirty, unlanded}. What ``down`` and
    ``reload`` say they kept; ``only_removed``: those of workers the team file no longer has."""
    if not team.git.worktrees:
        return {}
    repo, found = _worktrees(team, only_removed)
    held: dict[str, dict[str, Any]] = {}
    for path, info in found:
        dirty, unlanded = _work_in(repo, path, info, landed_ref(team))
        if dirty or unlanded:
            held[path.name] = {"path": str(path), "dirty": dirty, "unlanded": unlanded}
    return held


def _worktrees(
    team: TeamConfig, only_removed: bool
) -> tuple[Repo, list[tuple[Path, WorktreeInfo]]]:
    """The repository, and the worktrees under the state dir that git knows (only those of
    workers the team file no longer has, with ``only_removed``)."""
    repo = Repo(team.repo_dir)
    folder = worktree_dir(team.state_dir, "x").parent
    known = {info.path.resolve(): info for info in repo.worktrees()}
    current = {spec.name for spec in team.workers}
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        info = known.get(path.resolve())
        if info is not None and not (only_removed and path.name in current):
            found.append((path, info))
    return repo, found


def _work_in(
    repo: Repo, path: Path, info: WorktreeInfo, target: str
) -> tuple[list[str], list[str]]:
    dirty = [entry.path for entry in repo.status(path)]
    return dirty, repo.patches_not_on(info.branch or info.head or "HEAD", target)


def prune_worktrees(team: TeamConfig) -> dict[str, dict[str, object]]:
    """``worktrees --prune``: remove the worktrees of workers the team file no longer has —
    only those with nothing to lose: no uncommitted change and no commit whose change is not
    on the target (patch ids: a cherry-picked or rebased commit counts as landed). The others
    are kept, each with what would be lost. Worker name → what happened."""
    repo, found = _worktrees(team, only_removed=True)
    report: dict[str, dict[str, object]] = {}
    for path, info in found:
        dirty, unlanded = _work_in(repo, path, info, landed_ref(team))
        if dirty or unlanded:
            report[path.name] = {"pruned": False, "dirty": dirty, "unlanded": unlanded}
            continue
        run_git(repo.path, ["worktree", "remove", str(path)])
        if info.branch == worker_branch(path.name):
            run_git(repo.path, ["branch", "-D", no_option(info.branch)])
        report[path.name] = {"pruned": True}
    return report
