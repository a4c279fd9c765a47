"""Auth by default, end to end: the real binary, the embedded server, a real worker and agent."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import psutil
import pytest

from claude_orchestrator.zk.taskmodel import Task
from tests.helpers import session_of, wait_until
from tests.test_supervisor import FAKE_AGENT, Project, project, running

__all__ = ["project"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.slow

ONE_WORKER = f"""
[team]
name = "sup"

[agents.claude]
command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]

[[worker]]
name = "w1"
"""


def agent_process(p: Project) -> psutil.Process | None:
    """The fake agent running in this project (its cmdline does not name the project)."""
    for proc in psutil.process_iter():
        try:
            if str(FAKE_AGENT) in proc.cmdline() and proc.cwd() == str(p.root):
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def test_an_agent_cannot_stop_the_team_and_never_sees_its_credential(project: Project) -> None:
    (project.root / "team.toml").write_text(ONE_WORKER)
    project.ok("up", "-d")
    cred_file = project.root / ".claude-orchestrator/auth/team"
    assert stat.S_IMODE(cred_file.stat().st_mode) == 0o600
    secret = cred_file.read_text().strip().partition(":")[2]
    team, client = project.team()
    try:
        tid = project.ok("push-task", "--title", "stop it", "--description", "fake-agent:cli=down")

        def finished() -> Task | None:
            rec = team.tasks.get(tid["id"])
            return rec if rec.status in ("completed", "failed") else None

        rec = wait_until(finished, 30, "the agent's down attempt to finish")
        log = Path(session_of(rec)["log"]).read_text()
        assert "exit 1: error: not authorised: 'down' controls the team" in log
        assert running(project, "w1"), "the team kept running"
        sleeper = project.ok("push-task", "--title", "env", "--description", "fake-agent:sleep=30")
        agent = wait_until(lambda: agent_process(project), 30, "the agent to start")
        environ = agent.environ()
        assert "CO_ZK_AUTH" not in environ and environ.get("CO_AGENT_AUTH", "").startswith("agent:")
        assert secret not in json.dumps(environ)
        project.ok("cancel-task", "--task-id", sleeper["id"])
    finally:
        client.stop()
        client.close()
    stranger = project.run("list-tasks", CO_AGENT_AUTH="agent:guess", CO_TEAM_DIGEST="team:x")
    assert stranger.returncode == 1 and "not authorised" in stranger.stderr


def test_an_agent_cannot_pause_the_team_or_reset_its_budget(project: Project) -> None:
    (project.root / "team.toml").write_text(ONE_WORKER)
    project.ok("up", "-d")
    team, client = project.team()

    def agent_runs(command: str) -> str:
        tid = project.ok("push-task", "--title", "t", "--description", f"fake-agent:cli={command}")

        def done() -> Task | None:
            rec = team.tasks.get(tid["id"])
            return rec if rec.status == "completed" else None

        return Path(session_of(wait_until(done, 30, command))["log"]).read_text()

    try:
        assert "exit 1: error: not authorised" in agent_runs("pause|--agent|claude|--for|1h")
        assert "exit 1: error: not authorised" in agent_runs("budget|--reset")
        project.ok("pause", "--agent", "shell", "--for", "1h")  # the operator may
        assert "exit 1: error: not authorised" in agent_runs("resume")
        assert [p["agent"] for p in project.ok("status")["paused"]] == ["shell"]
    finally:
        client.stop()
        client.close()


def test_a_tree_left_open_is_refused_by_up_and_repaired_by_fix_acls(project: Project) -> None:
    (project.root / "team.toml").write_text(
        ONE_WORKER.replace("[team]\n", "[team]\ninsecure = true\n")
    )
    project.ok("up", "-d")
    project.ok("push-task", "--title", "from the open days")
    project.ok("down")
    (project.root / "team.toml").write_text(ONE_WORKER)  # auth on, as by default
    refused = project.run("up", "-d")
    assert refused.returncode != 0 and "fix-acls" in refused.stderr
    assert "/claude-orchestrator/sup" in refused.stderr
    fixed = project.ok("fix-acls")
    assert fixed["fixed"] > 10 and fixed["refused"] == []
    project.ok("up", "-d")
    assert [t["title"] for t in project.ok("list-tasks")] == ["from the open days"]
