"""An agent that cannot be started (not executable, a directory, a bad interpreter, its work
dir gone) is refused at start; when it breaks at run time anyway, its task goes back to
pending uncounted and the worker stops with the reason, instead of failing the queue."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from claude_orchestrator.conf.agentcheck import check_agent_command
from claude_orchestrator.conf.agents import AgentSpec, resolve_agent
from claude_orchestrator.conf.team import RestartMode
from claude_orchestrator.errors import ConfigError, SpawnError
from claude_orchestrator.spawn.process import Child, ChildSpec
from claude_orchestrator.supervisor.policy import Exit, RestartPolicy, RestartTracker
from tests.test_worker import FAKE_AGENT, Rig, rig  # noqa: F401  (the fixture)
from tests.test_worker_failures import run_worker

GOOD = f'#!/bin/sh\nexec {sys.executable} {FAKE_AGENT} "$@"\n'


def no_exec(p: Path) -> None:
    p.write_text(GOOD)
    p.chmod(0o644)


def a_directory(p: Path) -> None:
    p.mkdir()


def bad_interpreter(p: Path) -> None:
    p.write_text('#!/no/such/interpreter\necho "never"\n')
    p.chmod(0o755)


BROKEN: list[tuple[Callable[[Path], None], str]] = [
    (no_exec, "not executable (permission denied)"),
    (a_directory, "it is a directory"),
    (bad_interpreter, "bad interpreter '/no/such/interpreter'"),
]


def claude_with(command: str) -> AgentSpec:
    return replace(resolve_agent("claude", None), command=(command,))


@pytest.mark.parametrize(("breaker", "words"), BROKEN)
def test_the_check_names_what_is_wrong_with_the_program(
    tmp_path: Path, breaker: Callable[[Path], None], words: str
) -> None:
    program = tmp_path / "agent"
    breaker(program)
    with pytest.raises(ConfigError) as err:
        check_agent_command("ann", claude_with(str(program)), tmp_path)
    text = str(err.value)
    assert text.startswith(f"worker 'ann': cannot execute '{program}'") and words in text, text
    assert "[agents.claude] command" in text


def test_the_check_refuses_a_missing_work_dir(tmp_path: Path) -> None:
    program = tmp_path / "agent"
    program.write_text(GOOD)
    program.chmod(0o755)
    gone = tmp_path / "gone"
    with pytest.raises(ConfigError, match=r"worker 'ann': work dir '.*gone' does not exist"):
        check_agent_command("ann", claude_with(str(program)), gone)
    check_agent_command("ann", claude_with(str(program)), tmp_path)


@pytest.mark.parametrize(("breaker", "words"), BROKEN)
def test_a_failed_start_names_the_same_cause(
    tmp_path: Path, breaker: Callable[[Path], None], words: str
) -> None:
    program = tmp_path / "agent"
    breaker(program)
    child = Child(ChildSpec((str(program),), tmp_path, dict(os.environ)), [])
    with pytest.raises(SpawnError) as err:
        child.start()
    assert words in str(err.value), err.value


def test_a_program_that_is_no_program_is_named_so(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01\x02")
    garbage.chmod(0o755)
    with pytest.raises(SpawnError, match="not a program \\(exec format error"):
        Child(ChildSpec((str(garbage),), tmp_path, dict(os.environ)), []).start()


def test_a_worker_exiting_2_is_fatal_at_once() -> None:
    tracker = RestartTracker(RestartPolicy(mode=RestartMode.ALWAYS))
    decision = tracker.on_exit(Exit(2, None, 30.0, False), 100.0)
    assert decision.action == "fatal" and "configuration error" in decision.reason
    assert tracker.on_exit(Exit(1, None, 30.0, False), 200.0).action == "restart"


def use_agent(r: Rig, program: Path) -> None:
    text = r.write_team().read_text()
    old = f"command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]"
    (r.root / "team.toml").write_text(text.replace(old, f"command = [{json.dumps(str(program))}]"))


@pytest.mark.parametrize(("breaker", "words"), BROKEN)
def test_a_worker_refuses_to_start_a_broken_agent(
    rig: Rig,  # noqa: F811
    breaker: Callable[[Path], None],
    words: str,
) -> None:
    program = rig.root / "agent"
    breaker(program)
    use_agent(rig, program)
    r = run_worker(rig)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: worker 'w1': cannot execute") and words in r.stderr
    assert "Traceback" not in r.stderr and rig.team.registry.ids() == []


def test_a_work_dir_gone_at_run_time_stops_the_worker_and_keeps_the_task(
    rig: Rig,  # noqa: F811
) -> None:
    proc = rig.start_worker()
    (rig.root / "work").rename(rig.root / "moved")
    tid = rig.push("x")
    assert proc.wait(30) == 2
    last = (proc.stderr.read() if proc.stderr else "").strip().splitlines()[-1]
    assert last.startswith("error: worker 'w1': cannot execute") and "working directory" in last
    rec = rig.team.tasks.get(tid)
    assert rec.status == "pending" and rec.retry_count == 0, rec


def test_an_agent_broken_at_run_time_stops_the_worker_and_keeps_the_task(
    rig: Rig,  # noqa: F811
) -> None:
    program = rig.root / "agent"
    program.write_text(GOOD)
    program.chmod(0o755)
    use_agent(rig, program)
    proc = rig.start_worker()
    program.chmod(0o644)  # broken after the start check passed
    first = rig.push("first")
    assert proc.wait(30) == 2
    stderr = proc.stderr.read() if proc.stderr else ""
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: worker 'w1': cannot execute"), stderr
    assert "not executable (permission denied)" in last and f"{first} is pending again" in last
    rec = rig.team.tasks.get(first)
    assert rec.status == "pending" and rec.retry_count == 0, rec
    assert "agent not started" in (rec.history[-1].note or "")
    second = rig.push("second")  # nobody claims it: the worker stopped
    assert rig.team.tasks.get(second).status == "pending"
    assert rig.team.registry.ids() == []


def test_an_agent_broken_at_run_time_stops_the_worker_on_a_message_too(
    rig: Rig,  # noqa: F811
) -> None:
    from tests.clihelp import Cli

    program = rig.root / "agent"
    program.write_text(GOOD)
    program.chmod(0o755)
    use_agent(rig, program)
    proc = rig.start_worker()
    program.unlink()
    program.mkdir()  # replaced by a directory after the start check passed
    Cli(rig.hosts, rig.root).ok("send-message", "--to-name", "w1", "--content", "hi")
    assert proc.wait(30) == 2
    stderr = proc.stderr.read() if proc.stderr else ""
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: worker 'w1': cannot execute") and "a directory" in last, stderr
    assert "is marked not ok" in last and "Traceback" not in stderr
