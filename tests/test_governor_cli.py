"""`pause`, `resume` and `budget` as a stranger types them (issue 13): an unknown team is
refused and nothing is created; `budget` reports an unknown team as nothing spent; an
agent's scoped identity cannot pause the team."""

from __future__ import annotations

from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.clihelp import Cli
from tests.test_readonly import tree


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def test_governor_commands_on_an_unknown_team_create_nothing(co: Cli, client: KazooClient) -> None:
    before = tree(client)
    for args in (
        ("pause", "--agent", "claude", "--for", "1m"),
        ("resume",),
        ("budget", "--reset"),
    ):
        r = co(*args)
        assert r.code == 2 and r.err.startswith("error: unknown team"), (args, r.err)
    view = co.ok("budget")
    assert view["team"] == {
        "budget_usd": None,
        "spent_usd": 0.0,
        "today_usd": 0.0,
        "reached": False,
    }
    assert tree(client) == before


def test_pause_resume_and_budget_on_a_team(co: Cli) -> None:
    co.ok("push-task", "--title", "makes the team")
    paused = co.ok("pause", "--agent", "shell", "--for", "90s")
    assert paused["agent"] == "shell" and paused["until_ts"] - paused["hits"] > 0
    assert [p["agent"] for p in co.ok("status")["paused"]] == ["shell"]
    assert co.ok("resume", "--agent", "claude") == {"resumed": []}  # not paused: nothing
    assert co.ok("resume") == {"resumed": ["shell"]}
    reset = co.ok("budget", "--reset")
    assert reset["reset"] and reset["spent_before_usd"] == 0.0 and reset["since"]
