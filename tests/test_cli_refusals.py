"""The CLI refuses at once and says why: ACLs that do not admit the caller, senders that
are not live instances, quotas, and pushes too large for one transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.conf.team import load_team
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.team import Team
from tests.clihelp import Cli
from tests.helpers import wait_until


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


# --- push-task --from-file: validated whole before the first write -------------------------


def test_from_file_with_a_bad_dependency_on_line_51_pushes_nothing(co: Cli, tmp_path: Path) -> None:
    lines = [{"title": f"t{n}"} for n in range(1, 61)]
    lines[50]["depends_on"] = ["task-0000000999"]  # type: ignore[assignment]
    f = tmp_path / "tasks.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = co("push-task", "--from-file", str(f))
    assert r.code == 1 and r.out == ""
    assert "tasks.jsonl:51: depends on task-0000000999" in r.err and "nothing was pushed" in r.err
    assert sum(co.ok("status")["tasks"].values()) == 0  # no task in any state (nor a team)


def test_from_file_of_five_250k_tasks_is_pushed_whole(co: Cli, tmp_path: Path) -> None:
    f = tmp_path / "big.jsonl"
    f.write_text(
        "".join(
            json.dumps({"title": f"t{n}", "description": "x" * 250_000}) + "\n" for n in range(5)
        )
    )
    assert len(co.ok("push-task", "--from-file", str(f))) == 5


def test_the_quota_comes_from_the_team_file(co: Cli, zk_hosts: str, tmp_path: Path) -> None:
    team_file = tmp_path / "team.toml"
    team_file.write_text(
        f'[team]\nname = "test"\nzookeeper = "{zk_hosts}"\ninsecure = true\n'
        "max_task_bytes = 1048576\n"
    )
    big = "x" * 250_000
    for n in range(4):
        co.ok("push-task", "--title", f"t{n}", "--description", big, CO_TEAM_FILE=str(team_file))
    r = co("push-task", "--title", "t5", "--description", big, CO_TEAM_FILE=str(team_file))
    assert r.code == 1 and r.out == ""
    assert "quota is 1,048,576 bytes ([team] max_task_bytes)" in r.err
    assert len(co.ok("list-tasks")) == 4


# --- sender identity ---------------------------------------------------------------------------


def test_a_task_pushed_as_an_instance_that_does_not_exist_is_recorded_unverified(co: Cli) -> None:
    task = co.ok("push-task", "--title", "t", "-i", "ghost-0000")
    assert task["created_by"] == "unverified:ghost-0000"
    assert task["history"][0]["by"] == "unverified:ghost-0000"


def test_a_task_pushed_as_a_live_instance_is_recorded_under_its_id(co: Cli) -> None:
    iid = co.ok("register", "--name", "w1")["id"]
    assert co.ok("push-task", "--title", "t", "-i", iid)["created_by"] == iid


def test_an_expired_lease_is_not_a_verified_sender(co: Cli) -> None:
    iid = co.ok("register", "--name", "w1", "--lease", "1s")["id"]
    wait_until(lambda: co.ok("list-instances")[0]["alive"] is False, 10, "the lease to run out")
    assert co.ok("push-task", "--title", "t", "-i", iid)["created_by"] == f"unverified:{iid}"


def test_messages_come_only_from_live_instances_as_claims_do(co: Cli) -> None:
    to = co.ok("register", "--name", "to")["id"]
    me = co.ok("register", "--name", "me")["id"]
    ghost = co("send-message", "--to", to, "-m", "hi", "-i", "ghost-0000")
    assert ghost.code == 1 and "not registered" in ghost.err and ghost.out == ""
    msg = co.ok("send-message", "--to", to, "-m", "hi", "-i", me)["messages"][0]
    assert msg["verified"] is True and msg["from"] == me
    assert [m["from"] for m in co.ok("poll-messages", "-i", to)] == [me]


def test_an_operator_push_is_recorded_as_the_operator(co: Cli) -> None:
    assert co.ok("push-task", "--title", "t")["created_by"].startswith("operator@")


def test_max_task_bytes_below_a_mebibyte_is_refused_naming_the_key(tmp_path: Path) -> None:
    team_file = tmp_path / "team.toml"
    team_file.write_text('[team]\nname = "q"\nmax_task_bytes = 1000\n')
    with pytest.raises(ConfigError, match=r"team\.toml:3.*max_task_bytes.*at least 1048576"):
        load_team(team_file)
    team_file.write_text('[team]\nname = "q"\n')
    assert load_team(team_file).max_task_bytes == 64 * 1024 * 1024
