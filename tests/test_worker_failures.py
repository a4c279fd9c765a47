"""A worker's failures say what happened at once: a missing agent program, a name another
running worker holds; and a session that never started is never resumed."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from claude_orchestrator.zk.registry import Actor
from claude_orchestrator.zk.taskmodel import Action, Change
from tests.clihelp import BIN
from tests.helpers import session_of, wait_until
from tests.test_supervisor import TEAM
from tests.test_worker import Rig, rig  # noqa: F401  (the fixture)


def run_worker(r: Rig, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZK_HOSTS": r.hosts, "CO_INSTANCE_ID": ""}
    return subprocess.run(
        [BIN, "-f", str(r.root / "team.toml"), "worker", "--name", "w1", *extra],
        cwd=r.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_a_worker_whose_agent_is_missing_refuses_to_start(rig: Rig) -> None:  # noqa: F811
    text = rig.write_team().read_text().replace("command = [", 'command = ["no-such-agent", ')
    (rig.root / "team.toml").write_text(text)
    r = run_worker(rig)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert "cannot execute 'no-such-agent'" in r.stderr and "command not found" in r.stderr
    assert rig.team.registry.ids() == []


def test_a_second_worker_under_a_running_workers_name_is_refused_at_once(
    rig: Rig,  # noqa: F811
) -> None:
    rig.start_worker()
    started = time.monotonic()
    r = run_worker(rig)
    assert time.monotonic() - started < 8, "waited for a name a running worker holds"
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1].startswith("error: the name 'w1' is taken by a live")
    assert "pid" in r.stderr.splitlines()[-1]
    assert "Traceback" not in r.stderr and "AttributeError" not in r.stderr


def test_a_worker_under_a_name_registered_by_hand_is_refused_at_once(
    rig: Rig,  # noqa: F811
) -> None:
    from tests.clihelp import Cli

    Cli(rig.hosts, rig.root).ok("register", "--name", "w1")
    started = time.monotonic()
    r = run_worker(rig)
    assert time.monotonic() - started < 8, "waited for a name a lease holds"
    assert r.returncode == 1 and "registered by hand" in r.stderr, r.stderr


def test_a_session_that_printed_nothing_is_not_resumed(rig: Rig) -> None:  # noqa: F811
    rig.start_worker()
    tid = rig.push("x", "fake-agent:silent")
    first = session_of(rig.wait_status(tid, "failed"))["session_id"]
    assert first
    op = Actor.operator()
    rig.team.tasks.transition(tid, Change(Action.RETRY, by=op.label, at="x"), op, time.time())
    wait_until(lambda: len(rig.records()) >= 2, 20, "the second run")
    argv = rig.records()[-1]["argv"]
    assert not any(a.startswith("--resume") for a in argv), argv
    assert any(a.startswith("--session-id=") and first not in a for a in argv), argv
    log = Path(session_of(rig.wait_status(tid, "failed"))["log"])
    assert "never started: not resumed" in log.read_text()


def test_up_refuses_an_agent_that_is_missing_and_leaves_nothing(tmp_path: Path) -> None:
    bad = '\n[agents.gone]\ncommand = ["no-such-agent-binary"]\n'
    bad += '[[worker]]\nname = "b"\nagent = "gone"\n'
    (tmp_path / "team.toml").write_text(TEAM + bad)
    env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
    for args in (["up", "-d"], ["up", "--no-tui"]):
        r = subprocess.run(
            [BIN, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("error: worker 'b': cannot execute 'no-such-agent-binary'")
        run_dir = tmp_path / ".claude-orchestrator" / "run"
        left = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else []
        assert left == [], left


def test_the_silent_fake_agent_prints_nothing(tmp_path: Path) -> None:
    """The premise of the resume test above: 'silent' leaves only our own log lines."""
    from tests.test_worker import FAKE_AGENT

    p = subprocess.run(
        ["python3", str(FAKE_AGENT), "-p", "--output-format", "stream-json"],
        input="fake-agent:silent",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "FAKE_AGENT_RECORD": str(tmp_path / "r.jsonl")},
    )
    assert p.stdout == "", p.stdout
    assert json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])["argv"]


def test_up_says_why_a_worker_is_down() -> None:
    from claude_orchestrator.supervisor.teamview import state_why

    assert state_why("fatal", "exited 2: error: x") == "fatal (exited 2: error: x)"
    assert state_why("backoff", "exited 1") == "backoff (exited 1)"
    assert state_why("running", "exited 1") == "running"


def test_the_exit_reason_is_the_last_error_line_of_the_log(tmp_path: Path) -> None:
    from claude_orchestrator.spawn.exitstatus import ExitStatus
    from claude_orchestrator.supervisor.exitreason import exit_reason

    log = tmp_path / "w.log"
    assert exit_reason(ExitStatus.from_returncode(2), log) == "exited 2"
    log.write_text("t INFO w1 registered\nerror: old\nerror: cannot execute 'x'\nt INFO bye\n")
    assert exit_reason(ExitStatus.from_returncode(1), log) == "exited 1: error: cannot execute 'x'"
    log.write_text("Traceback (most recent call last):\nValueError: boom\n")
    assert exit_reason(ExitStatus.from_returncode(-9), log) == "killed by SIGKILL: ValueError: boom"


def test_an_up_d_that_fails_leaves_no_pid_file(tmp_path: Path) -> None:
    from tests.test_cli_failures import free_port

    unreachable = f'zookeeper = "127.0.0.1:{free_port()}"\ninsecure = true\n'
    (tmp_path / "team.toml").write_text(
        TEAM.replace('name = "sup"\n', f'name = "sup"\n{unreachable}')
    )
    r = subprocess.run(
        [BIN, "up", "-d"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 1 and "the supervisor exited" in r.stderr, r.stderr
    assert "connection refused" in r.stderr
    run_dir = tmp_path / ".claude-orchestrator" / "run"
    assert not (run_dir / "supervisor.pid").exists()
