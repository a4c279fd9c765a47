"""A chain's branch and the worktrees that build on it (issue 12; docs/git.md).

Git lets a branch be checked out in one worktree at a time, so the workers of a chain never
check out ``co/<chain-id>`` itself: each starts a stage with its own branch reset to the
chain branch's tip (``start_at``) and, after a build, advances the chain branch by a
compare-and-swap of the ref (``land``): a fast-forward when nobody moved it meanwhile, else
its commits rebased onto the new tip first. A rebase that conflicts changes no ref and
returns the conflicting paths.

Nothing is lost on the way: uncommitted work is committed first, and commits that no other
branch holds are kept under ``co/kept/<worker>-<sha>`` before the worker's branch moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from claude_orchestrator.spawn.git import GitError, Repo, git_text, no_option, nul_fields, run_git
from claude_orchestrator.spawn.gitcommit import commit_changes, identity_config, wip_message
from claude_orchestrator.spawn.gitrefs import Refs, compare_and_swap

CHAIN_PREFIX = "co/"
KEPT_PREFIX = "co/kept/"
LAND_ATTEMPTS = 5  # chain-branch moves raced before a build gives up (each one a rebase)


def chain_branch(chain_id: str) -> str:
    return f"{CHAIN_PREFIX}{chain_id}"


def ensure_branch(refs: Refs, branch: str, base: str) -> str:
    """The tip of ``branch``, made at ``base``'s tip when missing (one creator wins a race)."""
    refs.refresh(branch, base)
    tip = refs.tip(branch)
    if tip is not None:
        return tip
    start = refs.tip(base)
    if start is None:
        raise GitError(f"the target branch {base!r} does not exist ({refs.where})")
    refs.swap(branch, start, None)
    found = refs.tip(branch)
    if found is None:
        raise GitError(f"branch {branch} could not be made ({refs.where})")
    return found


def start_at(worktree: Path, branch: str, tip: str, keeper: str) -> list[str]:
    """Put ``worktree`` on ``branch`` reset to ``tip``. Uncommitted work is committed first
    (as work in progress, on whatever was checked out); commits that only the current HEAD
    holds are kept on a branch ``co/kept/<keeper>-<sha>``. Returns the branches kept."""
    repo = Repo(worktree)
    current = repo.current_branch(worktree)
    if repo.is_dirty(worktree):
        commit_changes(worktree, wip_message(current or "a detached HEAD", branch))
    head = git_text(worktree, ["rev-parse", "HEAD"])
    kept = []
    if head != tip and _only_here(worktree, head, current):
        name = f"{KEPT_PREFIX}{keeper}-{head[:12]}"
        compare_and_swap(worktree, f"refs/heads/{name}", head, None)
        kept.append(name)
    run_git(worktree, ["checkout", "--quiet", "--no-track", "-B", no_option(branch), tip])
    return kept


def _only_here(worktree: Path, head: str, current: str | None) -> bool:
    """Whether ``head`` has commits no branch but ``current`` holds (a remote-tracking
    branch counts: those commits are on the remote)."""
    args = ["rev-list", "--max-count=1", head, "--not"]
    if current is not None:
        args.append(f"--exclude={current}")
    args += ["--branches", "--remotes", "--"]  # on a remote's branch (fetched) is safe too
    return bool(git_text(worktree, args))


class Landing(NamedTuple):
    """What ``land`` did: the branch's new tip and the commits it gained (oldest first), or
    the paths that conflicted (nothing moved then)."""

    tip: str
    commits: list[str]
    conflicts: list[str]


def land(worktree: Path, refs: Refs, branch: str, base: str) -> Landing:
    """Advance ``branch`` (from ``base``, where this worktree started) to the worktree's
    HEAD by compare-and-swap; when it moved meanwhile, rebase HEAD's commits onto its new tip
    and try again. A conflict aborts the rebase and returns its paths."""
    for _ in range(LAND_ATTEMPTS):
        head = git_text(worktree, ["rev-parse", "HEAD"])
        commits = git_text(worktree, ["rev-list", "--reverse", f"{base}..{head}", "--"]).split()
        if not commits or refs.swap(branch, head, base):
            return Landing(head if commits else base, commits, [])
        moved = refs.tip(branch)
        if moved is None:
            raise GitError(f"branch {branch} is gone; the build's commits stay on HEAD")
        conflicts = rebase_onto(worktree, moved, base)
        if conflicts:
            return Landing(moved, [], conflicts)
        base = moved
    raise GitError(f"branch {branch} kept moving: {LAND_ATTEMPTS} attempts to land")


def rebase_onto(worktree: Path, new_base: str, old_base: str) -> list[str]:
    """Rebase the commits ``old_base..HEAD`` onto ``new_base``; [] when done, else the
    conflicting paths (the rebase aborted: HEAD as before)."""
    args = ["rebase", "--quiet", "--no-autostash", "--onto", new_base, old_base]
    done = run_git(worktree, args, ok=(0, 1), config=identity_config(worktree))
    if done.returncode == 0:
        return []
    unmerged = run_git(worktree, ["diff", "--name-only", "--diff-filter=U", "-z"]).stdout
    conflicts = sorted(set(nul_fields(unmerged)))
    run_git(worktree, ["rebase", "--abort"])
    if not conflicts:
        raise GitError(f"git rebase onto {new_base[:12]} stopped in {worktree} without a conflict")
    return conflicts
