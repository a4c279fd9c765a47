"""The git side of the merge queue (issue 12 §3; docs/git.md), run by the leader in a
scratch worktree of its own (``.claude-orchestrator/merge``, detached, never an agent's).

``replay`` puts the chain's commits on the target's current tip one by one (cherry-pick,
so a commit whose change the target already has is dropped, as a rebase would). A commit
that conflicts is left out — with the paths and the conflicting hunks — and so is any later
commit that cannot apply without it; the rest stay. With nothing left out the result is
what lands: the target advances by compare-and-swap, and ``unlanded`` proves by patch id
that every commit of the chain is on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from claude_orchestrator.spawn.git import Repo, git_text, no_option, nul_fields, run_git
from claude_orchestrator.spawn.gitcommit import COMMIT_CONFIG, identity_config

HUNKS_KEPT = 6000  # bytes of a conflicting commit's hunks kept for its revise round


class Skipped(NamedTuple):
    """A chain commit that did not apply on the target: where, and what it conflicted with."""

    sha: str
    paths: list[str]
    hunks: str


class Replay(NamedTuple):
    head: str  # the scratch worktree's HEAD: the target's tip plus what applied
    applied: list[str]  # new shas, oldest first
    skipped: list[Skipped]


def scratch_worktree(repo_path: Path, path: Path) -> Path:
    """The leader's scratch worktree, made once; an unfinished operation in it (a leader
    that died mid-merge) is abandoned."""
    if not (path / ".git").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git(repo_path, ["worktree", "prune"])
        run_git(repo_path, ["worktree", "add", "--detach", "--quiet", str(path)])
    for op in ("cherry-pick", "rebase", "merge"):
        run_git(path, [op, "--abort"], ok=(0, 1, 128))
    return path


def replay(scratch: Path, chain_tip: str, target_tip: str) -> Replay:
    """Put the commits ``target_tip..chain_tip`` on ``target_tip`` in ``scratch`` — as they
    are (a fast-forward) when the chain starts from the target's tip."""
    spec = f"{no_option(target_tip)}..{no_option(chain_tip)}"
    if _is_ancestor(scratch, target_tip, chain_tip):
        _checkout(scratch, chain_tip)
        return Replay(
            chain_tip, git_text(scratch, ["rev-list", "--reverse", spec, "--"]).split(), []
        )
    _checkout(scratch, target_tip)
    commits = git_text(scratch, ["rev-list", "--reverse", "--no-merges", spec, "--"]).split()
    applied: list[str] = []
    skipped: list[Skipped] = []
    config = (*COMMIT_CONFIG, *identity_config(scratch))
    for sha in commits:
        args = ["cherry-pick", "--allow-empty", "--keep-redundant-commits", sha]
        before = head_of(scratch)
        done = run_git(scratch, args, ok=(0, 1), config=config)
        if done.returncode != 0:
            skipped.append(_abandon(scratch, sha))
            continue
        after = head_of(scratch)
        if after != before and not _empty(scratch, after):
            applied.append(after)
        elif after != before:  # the target already had this change: drop the empty copy
            run_git(scratch, ["reset", "--quiet", "--hard", before])
    return Replay(head_of(scratch), applied, skipped)


def _checkout(scratch: Path, rev: str) -> None:
    run_git(scratch, ["checkout", "--quiet", "--detach", "--force", no_option(rev)])
    run_git(scratch, ["clean", "-fdxq"])


def _is_ancestor(scratch: Path, old: str, new: str) -> bool:
    args = ["merge-base", "--is-ancestor", no_option(old), no_option(new)]
    return run_git(scratch, args, ok=(0, 1)).returncode == 0


def head_of(worktree: Path) -> str:
    return Repo(worktree).head_sha("HEAD")


def _empty(worktree: Path, sha: str) -> bool:
    return git_text(worktree, ["diff-tree", "--no-commit-id", "--name-only", "-r", sha]) == ""


def _abandon(scratch: Path, sha: str) -> Skipped:
    """The conflicting pick's paths and hunks, then the pick aborted."""
    unmerged = run_git(scratch, ["diff", "--name-only", "--diff-filter=U", "-z"]).stdout
    paths = sorted(set(nul_fields(unmerged)))
    hunks = os.fsdecode(run_git(scratch, ["diff", "--diff-filter=U"]).stdout)[:HUNKS_KEPT]
    run_git(scratch, ["cherry-pick", "--abort"], ok=(0, 128))
    run_git(scratch, ["reset", "--quiet", "--hard"])
    return Skipped(sha, paths, hunks)


def unlanded(repo_path: Path, chain_tip: str, target: str) -> list[str]:
    """Commits of the chain whose change is not on ``target`` (``git cherry``, patch ids);
    [] is the proof that everything landed."""
    args = ["cherry", no_option(target), no_option(chain_tip)]
    lines = git_text(repo_path, args).splitlines()
    return [line[2:] for line in lines if line.startswith("+ ")]


def commits_between(repo_path: Path, old: str, new: str) -> list[str]:
    spec = f"{no_option(old)}..{no_option(new)}"
    return git_text(repo_path, ["rev-list", "--reverse", spec, "--"]).split()


def builds_of(repo_path: Path, old: str, new: str, trailer: str) -> list[tuple[str, str | None]]:
    """Each commit of ``old..new`` (oldest first) with the task its ``trailer`` names —
    for a commit without one (an agent's own), the task of the next commit that has one:
    the orchestrator's commit of the same build, made after the agent's."""
    fmt = f"%H%x1f%(trailers:key={trailer},valueonly,separator=%x2C)%x1e"
    spec = f"{no_option(old)}..{no_option(new)}"
    out = git_text(repo_path, ["log", "--reverse", "--no-merges", f"--format={fmt}", spec, "--"])
    rows = [rec.strip().split("\x1f") for rec in out.split("\x1e") if rec.strip()]
    found: list[tuple[str, str | None]] = []
    waiting: list[str] = []
    for row in rows:
        sha, task = row[0], (row[1].split(",")[0].strip() if len(row) > 1 else "") or None
        waiting.append(sha)
        if task is not None:
            found += [(s, task) for s in waiting]
            waiting = []
    return found + [(s, None) for s in waiting]


def files_of(repo_path: Path, sha: str) -> list[str]:
    args = ["diff-tree", "--no-commit-id", "--name-only", "-r", "-z", "--root", no_option(sha)]
    return nul_fields(run_git(repo_path, args).stdout)


def would_conflict(repo_path: Path, one: str, other: str) -> list[str]:
    """The paths a merge of ``one`` and ``other`` would conflict in, without touching any
    worktree or ref (``git merge-tree --write-tree``); [] when it would merge cleanly."""
    args = ["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z"]
    done = run_git(repo_path, [*args, no_option(one), no_option(other)], ok=(0, 1))
    if done.returncode == 0:
        return []
    return sorted(set(nul_fields(done.stdout)[1:]))
