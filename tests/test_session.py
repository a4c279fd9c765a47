"""One agent run (worker/session.py, worker/runs.py): where the prompt goes, which session."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from claude_orchestrator.conf.agents import AgentPreset, AgentSpec, PromptRoute, resolve_agent
from claude_orchestrator.conf.team import AgentConfig
from claude_orchestrator.errors import SpawnError
from claude_orchestrator.spawn.process import ExitInfo
from claude_orchestrator.worker.runs import RunBuilder
from claude_orchestrator.worker.session import AgentRun, SessionResult
from claude_orchestrator.worker.settings import WorkerSettings
from claude_orchestrator.zk.client import ZkOptions
from claude_orchestrator.zk.taskmodel import HistoryEntry, Task, TaskStatus
from tests.helpers import wait_until

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
SESSION = "0b6f3c1e-8f7e-4a43-9a55-0f5d8e0b2c11"
# Prints the mode of the file named by --message-file=PATH, whether argv holds the prompt, and
# the file's text.
READ_FILE = (
    "import os, stat, sys; path = sys.argv[-1].split('=', 1)[1]; "
    "mode = stat.S_IMODE(os.stat(path).st_mode); "
    "print(oct(mode), 'secret' in ' '.join(sys.argv), open(path).read())"
)


def file_agent(*command: str) -> AgentSpec:
    preset = AgentPreset(
        name="filer", command=command, prompt_via=PromptRoute.FILE, prompt_flag="--message-file"
    )
    return AgentSpec(name="filer", preset=preset, command=preset.command)


def run_agent(agent: AgentSpec, tmp_path: Path, prompt: str = "the secret prompt") -> AgentRun:
    log = tmp_path / "sessions" / "task-0000000001.1.log"
    return AgentRun(agent, prompt, tmp_path, {}, log, None, False, "w1")


def finish(run: AgentRun) -> SessionResult:
    run.start()
    info = run.child.wait(30)
    assert info is not None, "the agent did not end"
    return run.finish(info)


def test_a_file_prompt_is_private_while_the_agent_runs_and_gone_after(tmp_path: Path) -> None:
    run = run_agent(file_agent(sys.executable, "-c", READ_FILE), tmp_path)
    prompt_file = run.invocation.prompt_file
    assert prompt_file is not None and prompt_file.parent == tmp_path / "sessions"
    result = finish(run)
    assert result.outcome.result == "0o600 False the secret prompt"
    assert not prompt_file.exists()


def test_a_file_prompt_is_removed_when_the_agent_cannot_start(tmp_path: Path) -> None:
    run = run_agent(file_agent(str(tmp_path / "no-such-agent")), tmp_path)
    with pytest.raises(SpawnError):
        run.start()
    assert run.invocation.prompt_file is not None
    assert not run.invocation.prompt_file.exists()


def test_a_leftover_prompt_file_is_replaced_not_followed(tmp_path: Path) -> None:
    run = run_agent(file_agent(sys.executable, "-c", READ_FILE), tmp_path)
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    assert run.invocation.prompt_file is not None
    run.invocation.prompt_file.parent.mkdir(parents=True, exist_ok=True)
    run.invocation.prompt_file.symlink_to(target)
    assert finish(run).outcome.result == "0o600 False the secret prompt"
    assert target.read_text() == "keep me"


def test_notes_go_into_the_session_log(tmp_path: Path) -> None:
    agent = file_agent(sys.executable, "-c", READ_FILE)
    log = tmp_path / "task-0000000001.1.log"
    run = AgentRun(agent, "p", tmp_path, {}, log, None, False, "w1", notes=("a note",))
    finish(run)
    assert "# claude-orchestrator a note\n" in log.read_text()


def test_the_builders_runs_report_their_exit_without_a_waiter(tmp_path: Path) -> None:
    exits: list[ExitInfo] = []
    ws = builder(tmp_path).ws
    run = RunBuilder(ws, {}, exits.append).for_message({"id": "m1", "content": "hi"}, "i1")
    run.start()
    info = wait_until(lambda: exits, 30, "the agent's exit callback")[0]
    assert run.child.wait(0) is info
    run.finish(info)


def builder(tmp_path: Path) -> RunBuilder:
    config = AgentConfig(name="claude", command=(sys.executable, str(FAKE_AGENT)))
    ws = WorkerSettings(
        name="w1",
        role="dev",
        work_dir=tmp_path,
        agent=resolve_agent("claude", config),
        team="test",
        zk=ZkOptions("127.0.0.1:1"),
        state_dir=tmp_path / ".claude-orchestrator",
        project_dir=tmp_path,
    )
    return RunBuilder(ws, {})


def retried(session_id: object, log: Path | None = None) -> Task:
    """A task on its second claim whose first run stored ``session_id`` (and, given a
    ``log``, left a log showing its agent ran under that id)."""
    if log is not None:
        log.write_text(json.dumps({"type": "system", "session_id": str(session_id)}) + "\n")
    claimed = HistoryEntry("x", TaskStatus.PENDING, TaskStatus.CLAIMED, "w1-1")
    return Task(
        id="task-0000000001",
        title="t",
        description="d",
        priority=1,
        status=TaskStatus.CLAIMED,
        assignee=None,
        created_by="op",
        created_at="x",
        history=(claimed, claimed),
        retry_count=1,
        max_retries=3,
        session={"session_id": session_id, "log": str(log) if log else None},
    )


def test_a_retried_task_resumes_a_uuid_session(tmp_path: Path) -> None:
    run, started = builder(tmp_path).for_task(retried(SESSION, tmp_path / "1.jsonl"), "w1-1")
    assert f"--resume={SESSION}" in run.invocation.argv
    assert started["session_id"] == SESSION and run.notes == ()


@pytest.mark.parametrize(
    "bad", ["--dangerously-skip-permissions", f"{SESSION}\n", "x" * 5000, [SESSION]]
)
def test_a_stored_session_id_that_is_not_a_uuid_starts_a_new_session(
    tmp_path: Path, bad: object
) -> None:
    run, started = builder(tmp_path).for_task(retried(bad, tmp_path / "1.jsonl"), "w1-1")
    argv = run.invocation.argv
    assert not any(str(bad) in arg or arg.startswith("--resume") for arg in argv)
    new = started["session_id"]
    assert uuid.UUID(new) and f"--session-id={new}" in argv
    assert len(run.notes) == 1 and "not a UUID" in run.notes[0] and len(run.notes[0]) < 200
