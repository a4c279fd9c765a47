"""The CLI refuses at once and says why: ACLs that do not admit the caller, senders that
are not live instances, quotas, and pushes too large for one transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.team import Team
from tests.clihelp import Cli


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


@pytest.fixture
def owned_team(zk_hosts: str) -> Iterator[str]:
    """A team tree created by 'alice', readable and writable by her only."""
    alice = connect(ZkOptions(zk_hosts, auth="alice:secret"))
    try:
        team = Team(alice, "test")
        push(team.tasks, [validate_spec({"title": "hers"}, "x")], "alice", time.time())
        yield "alice:secret"
        alice.delete(team.tasks.paths.root, recursive=True)  # only she may
    finally:
        disconnect(alice)


REFUSED_COMMANDS = [
    ("push-task", "--title", "t"),
    ("push-task", "--title", "t", "--depends-on", "task-0000000001"),
    ("list-tasks",),
    ("show-task", "--task-id", "task-0000000001"),
    ("register", "--name", "w1"),
    ("send-message", "--broadcast", "-m", "hi"),
    ("set-context", "--key", "k", "--value", "v"),
    ("list-context-keys",),
]


@pytest.mark.parametrize(
    "auth", [{"CO_ZK_AUTH": "mallory:guess"}, {}], ids=["other-identity", "anonymous"]
)
@pytest.mark.parametrize("args", REFUSED_COMMANDS, ids=lambda a: " ".join(a))
def test_commands_refused_by_the_acl_exit_1_at_once(
    co: Cli, owned_team: str, auth: dict[str, str], args: tuple[str, ...]
) -> None:
    started = time.monotonic()
    r = co(*args, **auth)
    elapsed = time.monotonic() - started
    assert r.code == 1, (r.code, r.err)
    assert r.err.startswith("error: ") and "not authorised" in r.err and r.out == ""
    assert elapsed < 5, f"took {elapsed:.1f}s"


def test_the_owner_is_admitted(co: Cli, owned_team: str) -> None:
    assert co.ok("push-task", "--title", "t", CO_ZK_AUTH=owned_team)["status"] == "pending"
