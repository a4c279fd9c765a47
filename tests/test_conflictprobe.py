"""Early conflict warnings (issue 12 §4): the leader's probe of running chain branches
against the target and each other (real git, real ZooKeeper), and how the board says it."""

from __future__ import annotations

import time
from pathlib import Path

from claude_orchestrator.spawn.gitchain import ensure_branch, land, start_at
from claude_orchestrator.spawn.gitcommit import commit_changes
from claude_orchestrator.spawn.gitrefs import LocalRefs
from claude_orchestrator.supervisor.chainboard import chain_table
from claude_orchestrator.supervisor.conflictprobe import ConflictProbe
from claude_orchestrator.supervisor.teamread import chain_line
from claude_orchestrator.zk.chains import ChainStatus, ChainStore, PlanOptions
from claude_orchestrator.zk.team import Team
from tests.test_dashboard import text_of
from tests.test_git import git, own_git_home, repo, worktree_of

__all__ = ["own_git_home", "repo"]  # fixtures used here


def running_chain(team: Team) -> str:
    store = ChainStore(team.client, "test")
    chain, _ = store.create(team.tasks, "goal", "test", time.time(), PlanOptions(merge=True))
    store.update(chain.id, lambda c: {"status": ChainStatus.RUNNING}, "t", time.time(), "run")
    return chain.id


def build_on(repo: Path, chain_id: str, worker: str, text: str) -> None:
    wt = worktree_of(repo, worker)
    tip = ensure_branch(LocalRefs(repo), f"co/{chain_id}", "main")
    start_at(wt, f"co/worker/{worker}", tip, worker)
    (wt / "README.md").write_text(text)
    commit_changes(wt, f"{chain_id} edits README")
    land(wt, LocalRefs(wt), f"co/{chain_id}", tip)


def test_the_probe_warns_of_chains_that_would_conflict_and_clears_it(
    team: Team, repo: Path
) -> None:
    one, two = running_chain(team), running_chain(team)
    store = ChainStore(team.client, "test")
    notes: list[str] = []
    probe = ConflictProbe(store, LocalRefs(repo), "main", notes.append)
    probe.probe()
    assert store.get(one).extra.get("conflicts_ahead") is None  # no branches yet: nothing
    build_on(repo, one, "a", "from one\n")
    build_on(repo, two, "b", "from two\n")
    probe.probe()
    assert store.get(one).extra["conflicts_ahead"] == [{"with": two, "paths": ["README.md"]}]
    assert store.get(two).extra["conflicts_ahead"] == [{"with": one, "paths": ["README.md"]}]
    assert notes == [f"{c} may conflict with {o} in README.md" for c, o in ((one, two), (two, one))]
    probe.probe()  # nothing moved: nothing read or written
    assert len(notes) == 2
    git(repo, "merge", "-q", f"co/{one}")  # one lands: two now conflicts with main instead
    store.update(one, lambda c: {"status": ChainStatus.DONE}, "t", time.time(), "done")
    probe.probe()
    assert store.get(two).extra["conflicts_ahead"] == [{"with": "main", "paths": ["README.md"]}]
    line = text_of(chain_table([chain_line(store.get(two), ())]))
    assert "may conflict with main in README.md" in line
