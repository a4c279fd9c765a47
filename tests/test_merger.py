"""The leader's merge queue in process (issue 12 §3; supervisor/merger.py), against a real
ZooKeeper and a real repository: a chain whose merge keeps failing with a git error needs a
human after GIVE_UP tries and leaves the queue to the chains behind it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.conf.team import load_team
from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.supervisor.merger import GIVE_UP, Merger
from claude_orchestrator.zk.chains import ChainStatus, ChainStore, PlanOptions
from claude_orchestrator.zk.merges import queue, with_merge
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.team import Team
from tests.test_git import git, own_git_home

__all__ = ["own_git_home"]  # the fixture


class Leading:
    def is_leader(self) -> bool:
        return True


def queued(team: Team) -> str:
    store = ChainStore(team.client, "test")
    chain, _ = store.create(team.tasks, "goal", "t", time.time(), PlanOptions(merge=True))

    def accepted(c: Any) -> dict[str, Any]:
        return {"status": ChainStatus.RUNNING, "extra": with_merge(c, status="queued")}

    store.update(chain.id, accepted, "t", time.time(), "accepted")
    team.client.ensure_path(TeamPaths("test").merge_queue)
    team.client.create(TeamPaths("test").merge_entry(f"{chain.id}-"), b"", sequence=True)
    return chain.id


def test_a_chain_whose_merge_keeps_failing_needs_a_human_and_frees_the_queue(
    team: Team, tmp_path: Path
) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "team.toml").write_text(
        '[team]\nname = "test"\nisolation = "worktree"\n\n[git]\ntarget = "release"\n'
    )  # no branch 'release': every merge fails
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "start")
    first, second = queued(team), queued(team)
    config = load_team(tmp_path / "team.toml")
    merger = Merger(team, config, Leading(), lambda _e: None, lambda *_a: None)
    for _ in range(GIVE_UP - 1):
        with pytest.raises(OrchestratorError, match="release"):
            merger.drain()
        assert [c for _, c in queue(team.client, "test")] == [first, second]
    with pytest.raises(OrchestratorError):
        merger.drain()  # the first gives up; the second now fails in its turn
    chain = ChainStore(team.client, "test").get(first)
    assert chain.status is ChainStatus.NEEDS_HUMAN and "merge failed 3 times" in str(chain.reason)
    assert chain.extra["merge"]["status"] == "failed"
    assert [c for _, c in queue(team.client, "test")] == [second]
