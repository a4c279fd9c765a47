"""Hosts that do not share a repository (issue 12 §6): two clones meeting at a bare remote
on the local disk. Chain branches are made and advanced on the remote by lease, builds
from both clones land on one chain branch, a stale lease is refused, and the merge queue's
steps work against the remote's target."""

from __future__ import annotations

from pathlib import Path

from claude_orchestrator.spawn.gitchain import ensure_branch, land, start_at
from claude_orchestrator.spawn.gitcommit import commit_changes
from claude_orchestrator.spawn.gitmerge import replay, scratch_worktree, unlanded
from claude_orchestrator.spawn.gitrefs import RemoteRefs
from tests.test_git import git, own_git_home, repo, worktree_of

__all__ = ["own_git_home", "repo"]  # fixtures used here


def clones(repo: Path) -> tuple[Path, Path, Path]:
    """A bare remote made from ``repo``, and two clones of it (two hosts)."""
    remote = repo.parent / "remote.git"
    git(repo.parent, "clone", "-q", "--bare", str(repo), str(remote))
    hosts = []
    for name in ("host-a", "host-b"):
        path = repo.parent / name
        git(repo.parent, "clone", "-q", str(remote), str(path))
        hosts.append(path)
    return remote, hosts[0], hosts[1]


def build(host: Path, worker: str, files: dict[str, str]) -> tuple[RemoteRefs, Path, str]:
    """A worker of ``host`` started at co/chain-1's tip on the remote, with ``files`` committed."""
    refs = RemoteRefs(host, "origin")
    wt = worktree_of(host, worker)
    tip = ensure_branch(refs, "co/chain-1", "main")
    start_at(wt, f"co/worker/{worker}", tip, worker)
    for name, text in files.items():
        (wt / name).write_text(text)
    commit_changes(wt, f"{worker}: {', '.join(files)}")
    return refs, wt, tip


def test_builds_from_two_hosts_land_on_the_remote_chain_branch(repo: Path) -> None:
    remote, a, b = clones(repo)
    refs_a, wt_a, base_a = build(a, "a1", {"a.txt": "a\n"})
    refs_b, wt_b, base_b = build(b, "b1", {"b.txt": "b\n"})
    assert base_a == base_b == git(remote, "rev-parse", "main").strip()  # one branch, made once
    first = land(wt_a, refs_a, "co/chain-1", base_a)
    second = land(wt_b, refs_b, "co/chain-1", base_b)  # stale lease: rebased, then pushed
    assert first.conflicts == second.conflicts == []
    assert git(remote, "rev-parse", "co/chain-1").strip() == second.tip
    files = git(remote, "ls-tree", "--name-only", "co/chain-1").split()
    assert "a.txt" in files and "b.txt" in files


def test_a_stale_lease_is_refused_and_moves_nothing(repo: Path) -> None:
    remote, a, b = clones(repo)
    refs_a, wt_a, base = build(a, "a1", {"a.txt": "a\n"})
    land(wt_a, refs_a, "co/chain-1", base)
    moved = git(remote, "rev-parse", "co/chain-1").strip()
    refs_b = RemoteRefs(b, "origin")
    assert not refs_b.swap("co/chain-1", base, base)  # b thinks it is still at base
    assert git(remote, "rev-parse", "co/chain-1").strip() == moved


def test_the_merge_lands_on_the_remote_target_and_is_proven(repo: Path) -> None:
    remote, a, b = clones(repo)
    refs_a, wt_a, base = build(a, "a1", {"a.txt": "a\n"})
    tip = land(wt_a, refs_a, "co/chain-1", base).tip
    leader = RemoteRefs(b, "origin")  # the leader is on the other host
    leader.refresh("main", "co/chain-1")
    target, chain_tip = leader.tip("main"), leader.tip("co/chain-1")
    assert target is not None and chain_tip == tip
    result = replay(scratch_worktree(b, b / ".claude-orchestrator" / "merge"), tip, target)
    assert leader.swap("main", result.head, target)
    assert git(remote, "rev-parse", "main").strip() == result.head
    assert unlanded(b, tip, leader.ref("main")) == []


def test_work_that_reached_the_remote_is_not_kept_aside_again(repo: Path) -> None:
    _remote, a, b = clones(repo)
    refs_a, wt_a, base_a = build(a, "a1", {"a.txt": "a\n"})
    land(wt_a, refs_a, "co/chain-1", base_a)
    refs_b, wt_b, base_b = build(b, "b1", {"b.txt": "b\n"})
    land(wt_b, refs_b, "co/chain-1", base_b)
    tip = ensure_branch(refs_a, "co/chain-1", "main")  # fetched: b's commit on top of a's
    assert start_at(wt_a, "co/worker/a1", tip, "a1") == []  # a's commit is on the remote
    assert "co/kept" not in git(a, "branch", "--list")
