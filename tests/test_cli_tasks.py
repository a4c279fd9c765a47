"""CLI task commands: JSON on stdout, `error:` on stderr, the exit codes of DESIGN §6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import Cli


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def registered(co: Cli, name: str = "w1", role: str = "dev") -> str:
    iid: str = co.ok("register", "--name", name, "--role", role)["id"]
    return iid


def test_push_claim_start_complete_round_trip(co: Cli) -> None:
    task = co.ok("push-task", "--title", "hello", "--description", "do it", "--priority", "2")
    assert task["id"] == "task-0000000001" and task["status"] == "pending"
    iid = registered(co)
    claimed = co.ok("claim-task")
    assert claimed["claimed_by"] == iid and claimed["status"] == "claimed"
    co.ok("task-start", "--task-id", task["id"])
    done = co.ok("complete-task", "--task-id", task["id"], "--result", "ok")
    assert done["status"] == "completed" and done["result"] == "ok"
    assert co.ok("show-task", "--task-id", task["id"])["result"] == "ok"


def test_claim_with_nothing_claimable_prints_no_tasks(co: Cli) -> None:
    registered(co)
    assert co.ok("claim-task")["status"] == "no_tasks"


def test_claim_without_identity_is_an_error(co: Cli) -> None:
    co.ok("push-task", "--title", "x")
    r = co("claim-task")
    assert r.code == 1 and r.err.startswith("error: ") and r.out == ""


def test_illegal_transition_exits_3_and_changes_nothing(co: Cli) -> None:
    task = co.ok("push-task", "--title", "x")
    r = co("task-unblock", "--task-id", task["id"])
    assert r.code == 3 and r.err.startswith("error: cannot unblock") and r.out == ""
    assert co.ok("show-task", "--task-id", task["id"])["status"] == "pending"


def test_completing_someone_elses_task_exits_3(co: Cli) -> None:
    task = co.ok("push-task", "--title", "x")
    first = registered(co, "w1")
    co.ok("claim-task")
    second = registered(co, "w2")
    r = co("complete-task", "--task-id", task["id"], CO_INSTANCE_ID=second)
    assert r.code == 3 and first in r.err


def test_bad_task_id_is_a_usage_error(co: Cli) -> None:
    r = co("show-task", "--task-id", "nope")
    assert r.code == 2 and r.err.startswith("error: ")


def test_unknown_task_is_a_runtime_error(co: Cli) -> None:
    co.ok("push-task", "--title", "t")  # the team exists (an unknown team is exit 2)
    r = co("show-task", "--task-id", "task-0000000404")
    assert r.code == 1 and "no task task-0000000404" in r.err


def test_click_usage_errors_exit_2(co: Cli) -> None:
    assert co("push-task", "--priority", "12", "--title", "x").code == 2
    assert co("no-such-command").code == 2


def test_push_requires_a_title(co: Cli) -> None:
    r = co("push-task", "--description", "x")
    assert r.code == 2 and "title" in r.err


def test_description_from_stdin(co: Cli) -> None:
    task = co.ok("push-task", "--title", "x", "--description", "-", input="line1\n$(rm -rf /)\n")
    assert task["description"] == "line1\n$(rm -rf /)\n"


def test_oversize_description_names_the_limit_and_writes_nothing(co: Cli) -> None:
    r = co("push-task", "--title", "x", "--description", "-", input="x" * 300_000)
    assert r.code == 1 and "limit is 262,144 bytes" in r.err
    assert sum(co.ok("status")["tasks"].values()) == 0  # no task in any state (nor a team)


def test_push_from_file_pushes_all_with_local_refs(co: Cli, tmp_path: Path) -> None:
    lines = [{"title": "a"}, {"title": "b", "depends_on": ["#1"], "priority": 0}]
    f = tmp_path / "tasks.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    pushed = co.ok("push-task", "--from-file", str(f))
    assert [t["title"] for t in pushed] == ["a", "b"]
    assert pushed[1]["depends_on"] == [pushed[0]["id"]] and pushed[1]["ready"] is False


def test_push_from_file_with_a_bad_line_pushes_nothing(co: Cli, tmp_path: Path) -> None:
    f = tmp_path / "tasks.jsonl"
    f.write_text('{"title": "a"}\n{"title": "b", "priority": 42}\n')
    r = co("push-task", "--from-file", str(f))
    assert r.code == 2 and "tasks.jsonl:2" in r.err and "priority" in r.err
    assert sum(co.ok("status")["tasks"].values()) == 0  # no task in any state (nor a team)


def test_list_tasks_filters_and_shows_ready(co: Cli) -> None:
    a = co.ok("push-task", "--title", "a", "--chain-id", "c1")
    co.ok("push-task", "--title", "b", "--depends-on", a["id"], "--assignee", "role:dev")
    listed = co.ok("list-tasks", "--status", "pending")
    assert [(t["title"], t["ready"]) for t in listed] == [("a", True), ("b", False)]
    assert [t["title"] for t in co.ok("list-tasks", "--chain-id", "c1")] == ["a"]
    assert [t["title"] for t in co.ok("list-tasks", "--assignee", "role:dev")] == ["b"]
    assert co("list-tasks", "--status", "bogus").code == 2


def test_block_unblock_retry_and_cancel(co: Cli) -> None:
    task = co.ok("push-task", "--title", "x", "--max-retries", "1")
    registered(co)
    co.ok("claim-task")
    assert co.ok("task-block", "--task-id", task["id"], "--reason", "why")["status"] == "blocked"
    assert co.ok("task-unblock", "--task-id", task["id"])["retry_count"] == 0
    co.ok("claim-task")
    assert co.ok("task-fail", "--task-id", task["id"], "--reason", "x")["status"] == "failed"
    assert co.ok("task-retry", "--task-id", task["id"])["retry_count"] == 1
    assert co.ok("cancel-task", "--task-id", task["id"])["status"] == "cancelled"
    assert co("cancel-task", "--task-id", task["id"]).code == 3


def test_task_id_defaults_to_co_task_id(co: Cli) -> None:
    task = co.ok("push-task", "--title", "x")
    registered(co)
    co.ok("claim-task")
    assert co.ok("task-start", CO_TASK_ID=task["id"])["status"] == "in_progress"


def test_global_options_after_the_subcommand(co: Cli) -> None:
    co.ok("push-task", "--title", "x", "--team", "other")
    assert len(co.ok("list-tasks", "--team", "other")) == 1
    assert co.ok("--team", "other", "list-tasks")[0]["title"] == "x"
    assert co("list-tasks").code == 2  # 'test' has no tree: nothing went there


def test_instance_id_from_environment(co: Cli) -> None:
    iid = registered(co)
    (co.cwd / ".claude-orchestrator" / "config.json").unlink()
    co.ok("push-task", "--title", "x")
    assert co.ok("claim-task", CO_INSTANCE_ID=iid)["claimed_by"] == iid
    assert co("claim-task").code == 1


def test_unregister_releases_held_tasks_without_counting_a_retry(co: Cli) -> None:
    task = co.ok("push-task", "--title", "x")
    registered(co)
    co.ok("claim-task")
    out = co.ok("unregister")
    assert out["released"] == [task["id"]]
    back = co.ok("show-task", "--task-id", task["id"])
    assert back["status"] == "pending" and back["retry_count"] == 0


def test_no_json_prints_for_people(co: Cli) -> None:
    co.ok("push-task", "--title", "hello")
    r = co("list-tasks", "--no-json")
    assert r.code == 0 and "task-0000000001  pending  hello" in r.out
