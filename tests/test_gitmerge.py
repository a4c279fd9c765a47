"""spawn/gitmerge.py against real repositories: a chain's commits replayed on the target's
tip in the leader's scratch worktree, conflicts left out with their paths and hunks, the
proof by patch id that everything landed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from claude_orchestrator.spawn.gitchain import ensure_branch, land, start_at
from claude_orchestrator.spawn.gitcommit import commit_changes
from claude_orchestrator.spawn.gitmerge import (
    commits_between,
    replay,
    scratch_worktree,
    unlanded,
)
from claude_orchestrator.spawn.gitrefs import LocalRefs, compare_and_swap
from tests.test_git import git, own_git_home, repo, worktree_of

__all__ = ["own_git_home", "repo"]  # fixtures used here


def build(repo: Path, chain: str, worker: str, files: dict[str, str]) -> str:
    """A build of ``files`` by ``worker`` landed on branch ``co/<chain>``; its tip."""
    wt = worktree_of(repo, worker)
    tip = ensure_branch(LocalRefs(repo), f"co/{chain}", "main")
    start_at(wt, f"co/worker/{worker}", tip, worker)
    for name, text in files.items():
        (wt / name).write_text(text)
    commit_changes(wt, f"{chain}: {', '.join(files)}")
    return land(wt, LocalRefs(wt), f"co/{chain}", tip).tip


def sha(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", rev).strip()


def test_two_chains_on_different_files_both_land_and_are_proven(repo: Path) -> None:
    one = build(repo, "chain-1", "a", {"one.txt": "1\n"})
    two = build(repo, "chain-2", "b", {"two.txt": "2\n"})
    scratch = scratch_worktree(repo, repo / ".claude-orchestrator" / "merge")
    for tip in (one, two):
        base = sha(repo, "main")
        assert unlanded(repo, tip, "main") != []
        result = replay(scratch, tip, base)
        assert result.skipped == [] and len(result.applied) == 1
        assert compare_and_swap(repo, "refs/heads/main", result.head, base)
        assert unlanded(repo, tip, "main") == []  # every commit's change is on main
        assert commits_between(repo, base, "main") == result.applied
    assert git(repo, "ls-tree", "--name-only", "main").split() == [
        ".gitignore",
        "README.md",
        "one.txt",
        "two.txt",
    ]


def test_a_conflicting_commit_is_left_out_with_its_paths_and_hunks(repo: Path) -> None:
    one = build(repo, "chain-1", "a", {"README.md": "from one\n"})
    two = build(repo, "chain-2", "b", {"README.md": "from two\n", "other.txt": "x\n"})
    scratch = scratch_worktree(repo, repo / ".claude-orchestrator" / "merge")
    first = replay(scratch, one, sha(repo, "main"))
    compare_and_swap(repo, "refs/heads/main", first.head, sha(repo, "main"))
    main = sha(repo, "main")
    second = replay(scratch, two, main)
    assert second.applied == [] and second.head == main
    [skipped] = second.skipped
    assert skipped.sha == two and skipped.paths == ["README.md"]
    assert "from one" in skipped.hunks and "from two" in skipped.hunks
    assert git(scratch, "status", "--porcelain").strip() == ""  # nothing left half-done
    assert unlanded(repo, two, "main") == [two]


def test_a_change_the_target_already_has_is_dropped(repo: Path) -> None:
    tip = build(repo, "chain-1", "a", {"same.txt": "same\n"})
    (repo / "same.txt").write_text("same\n")  # someone landed the same change by hand
    git(repo, "add", "same.txt")
    git(repo, "commit", "-q", "-m", "by hand")
    scratch = scratch_worktree(repo, repo / ".claude-orchestrator" / "merge")
    result = replay(scratch, tip, sha(repo, "main"))
    assert result == (sha(repo, "main"), [], [])
    assert unlanded(repo, tip, "main") == []


def test_the_scratch_worktree_survives_a_merge_left_half_done(repo: Path) -> None:
    one = build(repo, "chain-1", "a", {"README.md": "from one\n"})
    path = repo / ".claude-orchestrator" / "merge"
    scratch = scratch_worktree(repo, path)
    (repo / "README.md").write_text("changed on main\n")
    git(repo, "commit", "-q", "-am", "main moves")
    git(scratch, "checkout", "-q", "--detach", "main")
    done = git_ok(scratch, "cherry-pick", one)  # a leader killed here
    assert not done
    again = scratch_worktree(repo, path)
    assert again == scratch and git(scratch, "status", "--porcelain").strip() == ""


def git_ok(cwd: Path, *args: str) -> bool:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True).returncode == 0
