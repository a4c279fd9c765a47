"""Names, roles and ids are validated by full matches, before anything is written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.conf.names import is_valid_name, require_name
from claude_orchestrator.errors import ConfigError, UsageError
from claude_orchestrator.zk.push import validate_spec
from claude_orchestrator.zk.registry import Registration
from claude_orchestrator.zk.taskmodel import seq_of
from claude_orchestrator.zk.team import Team
from tests.clihelp import Cli

BAD_NAMES = ["a/b", "..", ".hidden", "", "x" * 65, "x" * 10_000, "bob\n", "bob\r", "bo b", "b\0"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_require_name_refuses_what_cannot_be_a_node_name(bad: str) -> None:
    assert not is_valid_name(bad)
    with pytest.raises(UsageError, match=r"^--name .*: use 1-64 letters") as caught:
        require_name("--name", bad)
    assert len(str(caught.value)) < 250 and "\n" not in str(caught.value)


@pytest.mark.parametrize("good", ["w1", "bob-1", "A.b_c", "x" * 64])
def test_require_name_passes_a_valid_name(good: str) -> None:
    assert require_name("--name", good) == good


@pytest.mark.parametrize("assignee", ["bob\n", "role:dev\n", "role:", "role:a/b", "x" * 65])
def test_an_assignee_must_match_in_full(assignee: str) -> None:
    with pytest.raises(UsageError, match="assignee must be"):
        validate_spec({"title": "t", "assignee": assignee}, "task 1")


@pytest.mark.parametrize(
    "dep", ["task-0000000001\n", "#1\n", "task-000000000\u0661", "#\u0661", "x#1"]
)
def test_a_dependency_must_match_in_full(dep: str) -> None:
    with pytest.raises(UsageError, match="is not a task id"):
        validate_spec({"title": "t", "depends_on": [dep]}, "task 2")


@pytest.mark.parametrize("bad", ["task-0000000001\n", "task-000000000\u0661", "task-00000000012"])
def test_a_task_id_must_match_in_full(bad: str) -> None:
    assert seq_of("task-0000000012") == 12
    with pytest.raises(ConfigError, match="is not a task id"):
        seq_of(bad)


@pytest.mark.parametrize(("flag", "bad"), [("--name", "a/b"), ("--name", "w1\n"), ("--role", "..")])
def test_register_refuses_a_bad_name_before_connecting(tmp_path: Path, flag: str, bad: str) -> None:
    co = Cli("127.0.0.1:1", tmp_path)  # nothing listens there: connecting would exit 4
    args = {"--name": "w1", "--role": "dev", flag: bad}
    r = co("register", *(item for pair in args.items() for item in pair))
    assert r.code == 2 and r.err.startswith(f"error: {flag} ")


@pytest.mark.parametrize("field", ["name", "role"])
def test_the_registry_refuses_a_bad_name_itself(client: KazooClient, field: str) -> None:
    values = {"name": "w1", "role": "dev", field: "a/b"}
    reg = Registration(values["name"], values["role"], "/", session_bound=False)
    with pytest.raises(UsageError, match=f"^{field} 'a/b'"):
        Team(client, "test").registry.register(reg, time.time())
    assert client.get_children("/claude-orchestrator/test/instances") == []


@pytest.mark.parametrize("flag", ["--to", "--to-name", "--to-role"])
@pytest.mark.parametrize("bad", ["..", "a/b", "w1\n"])
def test_send_message_refuses_a_recipient_that_cannot_be_a_name(
    tmp_path: Path, flag: str, bad: str
) -> None:
    r = Cli("127.0.0.1:1", tmp_path)("send-message", flag, bad, "-m", "hi")
    assert r.code == 2 and r.err.startswith(f"error: {flag} ") and r.out == ""
