"""The fleet governor end to end (issue 13 §1): real supervisor, workers and ZooKeeper; the
fake agent hits Claude's usage limit (429 api_retry lines, then the limit notice with a reset
a few seconds ahead, exit 0). The task goes back with no retry counted, every worker stops
claiming until the reset, then the same session is resumed; an operator's pause and resume
do the same by hand."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from claude_orchestrator.zk.codec import parse_iso
from claude_orchestrator.zk.paths import TeamPaths
from tests.helpers import wait_until
from tests.teamdir import TeamDir
from tests.test_supervisor import Project

pytestmark = pytest.mark.slow

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


class Team(TeamDir):
    def __init__(self, root: Path, team: str = "", worker: str = "replicas = 2") -> None:
        super().__init__(root)
        self.record = root / "calls.jsonl"
        agent = json.dumps([sys.executable, str(FAKE_AGENT)])
        env = f'env = {{ FAKE_AGENT_RECORD = "{self.record}" }}'
        (root / "team.toml").write_text(
            f'[team]\nname = "gov"\n{team}\n\n[agents.claude]\ncommand = {agent}\n\n'
            f'[[worker]]\nname = "w"\n{worker}\n{env}\n'
        )

    def task(self, task_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("show-task", "--task-id", task_id)
        return found

    def push(self, title: str, description: str = "") -> str:
        return str(self.ok("push-task", "--title", title, "--description", description)["id"])

    def completed(self, *ids: str) -> bool:
        return all(self.task(i)["status"] == "completed" for i in ids)

    def calls(self, task_id: str) -> list[dict[str, Any]]:
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        calls = [json.loads(line) for line in lines]
        return [c for c in calls if c["env"].get("CO_TASK_ID") == task_id]

    def paused_workers(self) -> list[str]:
        rows = self.ok("list-instances")
        return sorted(r["name"] for r in rows if r.get("paused"))


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path)
    t.ok("up", "-d")
    yield t
    t.stop_all()


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def published_reasons(team: Team) -> set[str | None]:
    """The paused reasons of the workers in the supervisor's published snapshot (what the
    dashboard draws), read from ZooKeeper with the team's credential."""
    _, client = Project(team.root).team()
    try:
        folder = TeamPaths("gov").supervisors
        snaps = [json.loads(client.get(f"{folder}/{h}")[0]) for h in client.get_children(folder)]
    finally:
        client.stop()
        client.close()
    return {row.get("paused_reason") for snap in snaps for row in snap["workers"]}


def claimed_at(task: dict[str, Any]) -> float:
    return parse_iso(task["claimed_at"])


def test_a_usage_limit_pauses_every_worker_until_the_reset_then_resumes_the_session(
    team: Team,
) -> None:
    limited = team.push("hits the limit", "fake-agent:limit=3")
    wait_until(lambda: team.ok("status")["paused"], 30, "the pause record")
    [pause] = team.ok("status")["paused"]
    assert pause["agent"] == "claude" and pause["reason"] == "rate limited (429)"
    others = [team.push("after the limit"), team.push("another")]
    wait_until(lambda: team.paused_workers() == ["w-1", "w-2"], 30, "both workers to pause")
    assert all(team.task(i)["status"] == "pending" for i in [limited, *others])
    wait_until(lambda: team.completed(limited, *others), 60, "the work after the reset")
    until = pause["until_ts"]
    for task_id in [limited, *others]:
        assert claimed_at(team.task(task_id)) >= until, task_id  # nothing claimed before
    task = team.task(limited)
    assert task["retry_count"] == 0
    assert any("released on a limit" in (h.get("note") or "") for h in task["history"])
    runs = task["sessions"]  # one line per attempt: the limit, then the resumed session
    assert [r["to"] for r in runs] == ["pending", "completed"]
    assert runs[0]["session_id"] == runs[1]["session_id"] and runs[0]["cost_usd"] == 0.0123
    first, second = team.calls(limited)
    session = next(a for a in first["argv"] if a.startswith("--session-id"))
    assert f"--resume={session.split('=', 1)[1]}" in second["argv"]  # the same session
    wait_until(lambda: team.paused_workers() == [], 30, "the workers to say they resumed")


def test_an_operator_pauses_and_resumes_by_hand(team: Team) -> None:
    for args in (
        ("pause", "--agent", "clade", "--for", "1m"),
        ("pause", "--agent", "claude", "--for", "0s"),
        ("pause", "--agent", "claude", "--for", "soon"),
        ("resume", "--agent", "../x"),
    ):
        r = team.run(*args)
        assert r.returncode == 2 and r.stderr.startswith("error:"), (args, r.stderr)
    assert team.ok("status")["paused"] == []
    paused = team.ok("pause", "--agent", "claude", "--for", "30m", "--reason", "maintenance")
    assert paused["agent"] == "claude" and paused["reason"] == "maintenance"
    waiting = team.push("waits for the operator")
    wait_until(lambda: team.paused_workers() == ["w-1", "w-2"], 30, "both workers to pause")
    rows = {r["name"]: r for r in team.ok("list-instances")}
    assert rows["w-1"]["paused"]["reason"] == "maintenance"
    assert team.task(waiting)["status"] == "pending"  # both looked, neither claimed
    shown = team.run("ps", "--no-json").stdout
    assert shown.count("paused until") == 2 and "(maintenance)" in shown
    rows = team.ok("ps", "--json")
    assert all(r["paused_until"] == paused["until_ts"] for r in rows)
    wait_until(lambda: published_reasons(team) == {"maintenance"}, 30, "the dashboard's rows")
    resumed_at = team.ok("resume")
    assert resumed_at == {"resumed": ["claude"]}
    wait_until(lambda: team.completed(waiting), 30, "the task after resume")
    assert team.ok("status")["paused"] == []
    wait_until(lambda: published_reasons(team) == {None}, 30, "the rows resumed")
    assert "paused" not in team.run("ps", "--no-json").stdout


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path, team="budget_usd = 0.03", worker="")  # one worker; a run costs 0.0123
    t.ok("up", "-d")
    yield t
    t.stop_all()


def test_a_team_budget_stops_claims_when_reached_and_reset_resumes(budgeted: Team) -> None:
    team = budgeted
    ids = [team.push(f"t{n}") for n in range(5)]
    wait_until(lambda: team.paused_workers() == ["w"], 60, "the worker held by the budget")
    done = [i for i in ids if team.task(i)["status"] == "completed"]
    assert len(done) == 3  # 0.0123 and 0.0246 are under $0.03: the third run is the last
    assert all(team.task(i)["status"] == "pending" for i in ids if i not in done)
    view = team.ok("budget")
    assert view["team"]["reached"] and view["team"]["spent_usd"] == pytest.approx(0.0369)
    assert view["stopped"] == ["w"]
    status = team.ok("status")
    assert status["spend"]["total_usd"] == pytest.approx(0.0369)
    assert status["spend"]["by_worker"] == {"w": pytest.approx(0.0369)}
    assert status["spend"]["today_usd"] == pytest.approx(0.0369)
    assert "held (team budget $0.03 reached" in team.run("ps", "--no-json").stdout
    reset = team.ok("budget", "--reset")
    assert reset["spent_before_usd"] == pytest.approx(0.0369) and not reset["team"]["reached"]
    wait_until(lambda: team.completed(*ids), 60, "the rest after the reset")
    assert len(team.calls(ids[0])) == 1  # nothing ran twice


def test_a_task_budget_reaches_the_agent_and_a_worker_budget_holds_that_worker(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path, worker="budget_usd = 0.02")
    try:
        team.ok("up", "-d")
        capped = str(team.ok("push-task", "--title", "capped", "--budget", "0.5")["id"])
        second = team.push("second")
        third = team.push("third")
        wait_until(lambda: team.paused_workers() == ["w"], 60, "the worker held by its budget")
        assert "--max-budget-usd=0.5" in team.calls(capped)[0]["argv"]
        assert team.task(capped)["budget_usd"] == 0.5
        assert team.completed(capped, second) and team.task(third)["status"] == "pending"
        [row] = [r for r in team.ok("list-instances") if r["name"] == "w"]
        assert row["paused"]["budget"] and "worker budget $0.02" in row["paused"]["reason"]
        for bad in ("0", "-1", "nan", "lots"):
            r = team.run("push-task", "--title", "x", "--budget", bad)
            assert r.returncode == 2 and r.stderr.startswith("error:"), (bad, r.stderr)
    finally:
        team.stop_all()


def pid_of(team: Team, worker: str) -> int | None:
    return {r["name"]: r for r in team.ok("ps", "--json")}[worker]["pid"]  # type: ignore[no-any-return]


def hook_argv(code: str, path: Path) -> str:
    return json.dumps([sys.executable, "-c", code, str(path)])


def test_task_and_pause_hooks_get_their_events(tmp_path: Path) -> None:
    from tests.test_hooks import WRITER, lines

    out = tmp_path / "hooks.jsonl"
    hooks = "".join(
        f"{name} = {hook_argv(WRITER, out)}\n"
        for name in ("on_task_completed", "on_task_failed", "on_pause")
    )
    team = Team(tmp_path, worker="")
    with open(tmp_path / "team.toml", "a") as f:
        f.write(f"\n[hooks]\n{hooks}")
    try:
        team.ok("up", "-d")
        ok, bad = team.push("fine"), team.push("breaks", "fake-agent:fail")
        limited = team.push("limited", "fake-agent:limit=1")
        wait_until(lambda: len(lines(out)) == 4, 60, "four hook runs")
    finally:
        team.stop_all()
    got = {(e["event"]["event"], e["event"].get("task_id")): e for e in lines(out)}
    assert set(got) == {
        ("on_task_completed", ok),
        ("on_task_failed", bad),
        ("on_pause", None),
        ("on_task_completed", limited),
    }
    done = got[("on_task_completed", ok)]
    assert done["event"]["worker"] == "w" and done["event"]["cost_usd"] == 0.0123
    assert done["env"]["CO_EVENT"] == "on_task_completed" and done["env"]["CO_TASK_ID"] == ok
    pause = got[("on_pause", None)]["event"]
    assert pause["agent"] == "claude" and pause["reason"] == "rate limited (429)"
    assert got[("on_task_failed", bad)]["event"]["status"] == "failed"


def test_a_hung_fatal_hook_is_killed_at_its_timeout_and_never_holds_supervision(
    tmp_path: Path,
) -> None:
    from tests.test_hooks import HANGER

    pids = tmp_path / "pids"
    garbage = tmp_path / "not-a-program"
    garbage.write_bytes(b"\x00\x01\x02")
    garbage.chmod(0o755)
    team = Team(tmp_path, worker="")
    with open(tmp_path / "team.toml", "a") as f:
        f.write(
            f"\n[agents.broken]\ncommand = [{json.dumps(str(garbage))}]\n"
            '\n[[worker]]\nname = "bad"\nagent = "broken"\n'
            f'\n[hooks]\non_worker_fatal = {hook_argv(HANGER, pids)}\ntimeout = "8s"\n'
        )
    try:
        team.ok("up", "-d")
        team.ok("push-task", "--title", "x", "--assignee", "bad")
        wait_until(lambda: pids.exists() and pids.read_text(), 30, "the fatal hook to start")
        hook, child = (int(p) for p in pids.read_text().split())
        before = pid_of(team, "w")
        assert team.ok("restart", "w")["restarted"] == ["w"]  # while the hook hangs
        wait_until(lambda: pid_of(team, "w") not in (before, None), 20, "w restarted")
        assert not gone(hook)  # the restart did not wait for the hook
        wait_until(lambda: gone(hook) and gone(child), 20, "the hook killed at its timeout")
    finally:
        team.stop_all()
