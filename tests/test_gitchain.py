"""spawn/gitchain.py against real repositories: a chain's branch made once, workers started
at its tip without losing anything, builds landed by compare-and-swap (fast-forward, or a
rebase when another build landed first), conflicts returned with their paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.spawn.git import GitError
from claude_orchestrator.spawn.gitchain import ensure_branch, land, start_at
from claude_orchestrator.spawn.gitcommit import commit_changes
from claude_orchestrator.spawn.gitrefs import LocalRefs, compare_and_swap, ref_sha
from tests.test_git import git, own_git_home, repo, worktree_of

__all__ = ["own_git_home", "repo"]  # fixtures used here


def test_ensure_branch_makes_it_once_at_the_target(repo: Path) -> None:
    main = ref_sha(repo, "main")
    assert ensure_branch(LocalRefs(repo), "co/chain-1", "main") == main
    (repo / "more.txt").write_text("x\n")
    git(repo, "add", "more.txt")
    git(repo, "commit", "-q", "-m", "more")
    assert ensure_branch(LocalRefs(repo), "co/chain-1", "main") == main  # it exists: left as it is
    assert ref_sha(repo, "refs/heads/co/missing") is None


def test_compare_and_swap_moves_only_from_the_expected_value(repo: Path) -> None:
    main = str(ref_sha(repo, "main"))
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "a")
    new = str(ref_sha(repo, "HEAD"))
    assert compare_and_swap(repo, "refs/heads/b", main, None)
    assert not compare_and_swap(repo, "refs/heads/b", new, new)  # b is at main, not at new
    assert not compare_and_swap(repo, "refs/heads/b", new, None)  # it exists
    assert ref_sha(repo, "refs/heads/b") == main
    assert compare_and_swap(repo, "refs/heads/b", new, main)
    assert ref_sha(repo, "refs/heads/b") == new


def test_start_at_keeps_uncommitted_work_and_commits_no_other_branch_holds(repo: Path) -> None:
    wt = worktree_of(repo)
    tip = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    (wt / "mine.txt").write_text("committed\n")
    commit_changes(wt, "mine")
    (wt / "dirty.txt").write_text("uncommitted\n")
    kept = start_at(wt, "co/worker/w1", tip, "w1")
    assert len(kept) == 1 and kept[0].startswith("co/kept/w1-")
    assert git(wt, "rev-parse", "HEAD").strip() == tip
    assert not (wt / "dirty.txt").exists()
    files = git(repo, "ls-tree", "-r", "--name-only", kept[0]).split()
    assert "mine.txt" in files and "dirty.txt" in files
    assert start_at(wt, "co/worker/w1", tip, "w1") == []  # nothing new: nothing kept


def test_start_at_keeps_nothing_when_another_branch_holds_the_work(repo: Path) -> None:
    wt = worktree_of(repo)
    base = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    (wt / "a.txt").write_text("a\n")
    commit_changes(wt, "a")
    landed = land(wt, LocalRefs(wt), "co/chain-1", base)
    assert landed.conflicts == [] and len(landed.commits) == 1
    assert start_at(wt, "co/worker/w1", base, "w1") == []  # co/chain-1 holds it


def test_land_fast_forwards_then_rebases_after_a_race(repo: Path) -> None:
    a, b = worktree_of(repo, "a"), worktree_of(repo, "b")
    base = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    for wt in (a, b):
        start_at(wt, f"co/worker/{wt.name}", base, wt.name)
    (a / "a.txt").write_text("a\n")
    commit_changes(a, "a")
    (b / "b.txt").write_text("b\n")
    commit_changes(b, "b")
    first = land(a, LocalRefs(a), "co/chain-1", base)
    assert first.tip == ref_sha(repo, "co/chain-1") == ref_sha(a, "HEAD")
    second = land(
        b, LocalRefs(b), "co/chain-1", base
    )  # the branch moved: b's commit is rebased onto it
    assert second.conflicts == [] and len(second.commits) == 1
    tip = ref_sha(repo, "co/chain-1")
    assert second.tip == tip and second.commits == [tip]
    assert git(repo, "ls-tree", "-r", "--name-only", "co/chain-1").split() == [
        ".gitignore",
        "README.md",
        "a.txt",
        "b.txt",
    ]


def test_land_returns_the_conflicting_paths_and_moves_nothing(repo: Path) -> None:
    a, b = worktree_of(repo, "a"), worktree_of(repo, "b")
    base = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    for wt, text in ((a, "from a\n"), (b, "from b\n")):
        start_at(wt, f"co/worker/{wt.name}", base, wt.name)
        (wt / "README.md").write_text(text)
        commit_changes(wt, wt.name)
    land(a, LocalRefs(a), "co/chain-1", base)
    tip, head = ref_sha(repo, "co/chain-1"), ref_sha(b, "HEAD")
    lost = land(b, LocalRefs(b), "co/chain-1", base)
    assert lost.conflicts == ["README.md"] and lost.commits == []
    assert ref_sha(repo, "co/chain-1") == tip and ref_sha(b, "HEAD") == head
    assert git(b, "status", "--porcelain").strip() == ""  # the rebase was aborted cleanly


def test_land_with_nothing_built_changes_nothing(repo: Path) -> None:
    wt = worktree_of(repo)
    base = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    start_at(wt, "co/worker/w1", base, "w1")
    assert land(wt, LocalRefs(wt), "co/chain-1", base) == (base, [], [])


def test_start_at_leaves_refused_secrets_untracked_where_they_are(repo: Path) -> None:
    wt = worktree_of(repo)
    tip = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    (wt / ".env").write_text("TOKEN=1\n")
    (wt / "code.py").write_text("x = 1\n")
    kept = start_at(wt, "co/worker/w1", tip, "w1")
    assert "code.py" in git(repo, "ls-tree", "--name-only", kept[0]).split()  # committed aside
    assert git(wt, "status", "--porcelain").strip() == "?? .env"  # never committed, not lost


def test_land_carries_the_agents_own_commits_with_the_orchestrators(repo: Path) -> None:
    wt = worktree_of(repo)
    base = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    start_at(wt, "co/worker/w1", base, "w1")
    (wt / "a.txt").write_text("a\n")
    git(wt, "add", "a.txt")
    git(wt, "commit", "--quiet", "-m", "by the agent")
    (wt / "b.txt").write_text("b\n")
    ours = commit_changes(wt, "by the orchestrator").sha
    landed = land(wt, LocalRefs(wt), "co/chain-1", base)
    assert len(landed.commits) == 2 and landed.commits[-1] == ours == landed.tip


def test_land_with_the_ref_locked_raises_and_loses_nothing(repo: Path) -> None:
    wt = worktree_of(repo)
    base = ensure_branch(LocalRefs(repo), "co/chain-1", "main")
    start_at(wt, "co/worker/w1", base, "w1")
    (wt / "a.txt").write_text("a\n")
    made = commit_changes(wt, "a").sha
    lock = repo / ".git" / "refs" / "heads" / "co" / "chain-1.lock"
    lock.write_text("held by someone else\n")  # another git process holds the ref
    with pytest.raises(GitError, match="update-ref"):
        land(wt, LocalRefs(wt), "co/chain-1", base)
    lock.unlink()
    assert ref_sha(repo, "co/chain-1") == base and ref_sha(wt, "HEAD") == made
    assert start_at(wt, "co/worker/w1", base, "w1")  # the commit is kept aside, not lost
