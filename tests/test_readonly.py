"""Read-only commands never create anything: not the team's tree, not a folder, whatever
names the team (``--team``, ``CO_TEAM``, the team file or the default). An unknown team is
an error naming the teams that exist; ``status`` reports it instead (docs/cli.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.zk.team import Team, open_existing, team_exists
from tests.clihelp import Cli, Result
from tests.helpers import wait_until

#: every read-only command (cli/app.py READ_ONLY_COMMANDS), with the arguments it needs
READ_ONLY = [
    ("list-tasks",),
    ("poll-task",),
    ("show-task", "--task-id", "task-0000000001"),
    ("watch-tasks",),
    ("list-instances",),
    ("poll-messages", "-i", "inst-0000000001"),
    ("poll-message", "-i", "inst-0000000001"),
    ("wait-for-message", "--timeout", "1s", "-i", "inst-0000000001"),
    ("get-context", "--key", "k"),
    ("list-context-keys",),
    ("watch-context", "--key", "k"),
    ("show-chain", "--chain-id", "chain-0000000001"),
    ("logs", "--chain", "chain-0000000001"),
    ("show-merge", "--chain-id", "chain-0000000001"),
]


def test_every_read_only_command_is_checked_here() -> None:
    from claude_orchestrator.cli.app import READ_ONLY_COMMANDS, REPORTING_COMMANDS

    assert {args[0] for args in READ_ONLY} | REPORTING_COMMANDS == READ_ONLY_COMMANDS


def tree(client: KazooClient, path: str = "/") -> set[str]:
    """Every node below ``path`` (the test's chroot), by path."""
    out = set()
    for child in client.get_children(path):
        full = f"{path.rstrip('/')}/{child}"
        out |= {full, *tree(client, full)}
    return out


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


@pytest.fixture
def other(co: Cli) -> str:
    """A team that exists (so the error has a team to name)."""
    co.ok("push-task", "--title", "t", CO_TEAM="real")
    return "real"


SOURCES = ["flag", "env", "team-file", "default"]


def run_for(co: Cli, source: str, args: tuple[str, ...]) -> Result:
    """Run ``args`` with the team 'ghost' named by ``source`` (or the default team)."""
    if source == "flag":
        return co("--team", "ghost", *args)
    if source == "env":
        return co(*args, CO_TEAM="ghost")
    if source == "team-file":
        (co.cwd / "team.toml").write_text('[team]\nname = "ghost"\n')
        return co(*args, CO_TEAM="", CO_TEAM_FILE=str(co.cwd / "team.toml"))
    return co(*args, CO_TEAM="")


def named(source: str) -> str:
    return "default" if source == "default" else "ghost"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: a[0])
def test_a_read_only_command_on_an_unknown_team_creates_nothing_and_names_the_teams(
    co: Cli, client: KazooClient, other: str, source: str, args: tuple[str, ...]
) -> None:
    before = tree(client)
    r = run_for(co, source, args)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith(f"error: unknown team '{named(source)}'")
    assert f"teams there: {other})" in r.err
    assert tree(client) == before


@pytest.mark.parametrize("source", SOURCES)
def test_status_of_an_unknown_team_answers_without_creating_it(
    co: Cli, client: KazooClient, other: str, source: str
) -> None:
    before = tree(client)
    out = run_for(co, source, ("status",))
    assert out.code == 0, out.err
    got = out.json
    assert got["team"] == named(source) and got["team_exists"] is False
    assert got["zookeeper"] == "connected" and got["status"] == "healthy"
    assert got["instances_online"] == 0 and got["tasks"]["pending"] == 0
    assert tree(client) == before


@pytest.mark.parametrize("source", SOURCES)
def test_ps_of_an_unknown_team_shows_no_rows_without_creating_it(
    co: Cli, client: KazooClient, other: str, source: str
) -> None:
    before = tree(client)
    out = run_for(co, source, ("ps", "--json"))
    assert out.code == 0 and out.json == [], out.err
    assert tree(client) == before


def test_status_of_an_existing_team_says_it_exists(co: Cli, other: str) -> None:
    assert co.ok("status", CO_TEAM=other)["team_exists"] is True


def test_the_error_says_none_yet_when_no_team_exists(co: Cli, client: KazooClient) -> None:
    r = co("list-tasks")
    assert r.code == 2 and "(teams there: none yet)" in r.err
    assert tree(client) == set()


@pytest.fixture
def existing(co: Cli) -> Iterator[str]:
    """Team 'test' with a task, a chain, a context key and a live registered instance."""
    co.ok("push-task", "--title", "t")
    co.ok("plan", "a goal")
    co.ok("set-context", "--key", "k", "--value", "v")
    yield co.ok("register", "--name", "w1", "--lease", "1h")["id"]


NON_BLOCKING = [a for a in READ_ONLY if not a[0].startswith("watch")]


@pytest.mark.parametrize("args", [*NON_BLOCKING, ("status",), ("ps", "--json")], ids=lambda a: a[0])
def test_a_read_only_command_on_an_existing_team_creates_nothing(
    co: Cli, client: KazooClient, existing: str, args: tuple[str, ...]
) -> None:
    args = tuple(existing if a == "inst-0000000001" else a for a in args)
    args = tuple("0.1s" if a == "1s" else a for a in args)
    before = tree(client)
    r = co(*args)
    assert r.code == 0, r.err
    assert tree(client) == before


def test_writing_commands_still_create_the_team_on_first_use(co: Cli, client: KazooClient) -> None:
    co.ok("set-context", "--key", "k", "--value", "v", CO_TEAM="fresh")
    assert team_exists(client, "fresh")
    assert co.ok("get-context", "--key", "k", CO_TEAM="fresh")["value"] == "v"


def test_the_read_path_creates_nothing_and_reports_a_missing_team(client: KazooClient) -> None:
    view = open_existing(client, "nobody", missing_ok=True)
    assert view.exists is False and view.tasks.create is False
    view.tasks.ensure_layout()
    assert tree(client) == set()


def test_a_leaderless_sweep_of_a_read_only_command_creates_no_folder(
    co: Cli, client: KazooClient
) -> None:
    """The sweep re-queues an orphan into its queue folder; a read-only command does not
    create that folder when it is missing (a writer's sweep does)."""
    team = Team(client, "test")
    gone = co.ok("register", "--name", "w1", "--lease", "1s")["id"]
    task = co.ok("push-task", "--title", "t", "--assignee", "w1")
    assert co.ok("claim-task", "-i", gone)["id"] == task["id"]
    queue = team.tasks.paths.queue_name("w1")
    client.delete(queue)
    wait_until(lambda: not co.ok("list-instances")[0]["alive"], 10, "the 1 s lease to run out")
    before = tree(client)
    assert co.ok("list-tasks", "--status", "claimed")[0]["id"] == task["id"]
    assert tree(client) <= before  # the lease was expired (removed), nothing created
    assert client.exists(queue) is None
    co.ok("push-task", "--title", "u")  # a writer's sweep recovers it, folder and all
    assert co.ok("show-task", "--task-id", task["id"])["status"] == "pending"
    assert client.exists(queue) is not None
