"""The worker end to end: the real binary, a real ZooKeeper, the fake agent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from kazoo.client import KazooClient

from claude_orchestrator.zk.governor import FIRST_BACKOFF_S, Pauses
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.recovery import sweep
from claude_orchestrator.zk.taskmodel import Task
from claude_orchestrator.zk.team import Team
from tests.clihelp import BIN
from tests.helpers import session_of, wait_until

pytestmark = pytest.mark.slow

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


@dataclass
class Rig:
    """A project dir with a team file whose claude preset is the fake agent."""

    root: Path
    hosts: str
    team: Team
    record: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def write_team(self, agent_extra: str = "", workers: str = "", team_extra: str = "") -> Path:
        (self.root / "work").mkdir(exist_ok=True)
        text = (
            f'[team]\nname = "test"\n{team_extra}\n[agents.claude]\n'
            f"command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]\n"
            f"{self.fake_env()}{agent_extra}\n"
            '[[worker]]\nname = "w1"\nrole = "dev"\nwork_dir = "work"\n'
            f"{workers}"
        )
        path = self.root / "team.toml"
        path.write_text(text)
        return path

    def fake_env(self) -> str:
        """The fake agent's knobs reach it through the team file: agents get an allow-listed
        environment, not the worker's."""
        knobs = {
            "FAKE_AGENT_RECORD": str(self.record),
            "FAKE_AGENT_CHILD_PID_FILE": str(self.root / "grandchild.pid"),
        }
        return f"env = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in knobs.items())} }}\n"

    def start_worker(self, *extra: str, **env: str) -> subprocess.Popen[str]:
        full_env = {
            **os.environ,
            "ZK_HOSTS": self.hosts,
            "FAKE_AGENT_RECORD": str(self.record),
            "CLAUDECODE": "1",
            "CO_INSTANCE_ID": "",
            **env,
        }
        argv = [BIN, "-f", str(self.root / "team.toml"), "worker", "--name", "w1", *extra]
        proc = subprocess.Popen(
            argv,
            cwd=self.root,
            env=full_env,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        wait_until(lambda: self.team.registry.ids(), 20, "the worker to register")
        return proc

    def push(self, title: str, description: str = "", **fields: Any) -> str:
        spec = validate_spec({"title": title, "description": description, **fields}, "t")
        task_id: str = push(self.team.tasks, [spec], "op", time.time())[0].id
        return task_id

    def wait_status(self, task_id: str, *statuses: str, timeout: float = 20) -> Task:
        def reached() -> Task | None:
            rec = self.team.tasks.get(task_id)
            return rec if rec.status in statuses else None

        rec: Task = wait_until(reached, timeout, f"{task_id} to be {statuses}")
        return rec

    def records(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture
def rig(tmp_path: Path, zk_hosts: str, client: KazooClient) -> Iterator[Rig]:
    r = Rig(tmp_path, zk_hosts, Team(client, "test"), tmp_path / "agent-record.jsonl")
    r.write_team()
    yield r
    for proc in r.procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_worker_runs_a_task_end_to_end(rig: Rig) -> None:
    rig.start_worker()
    tid = rig.push("hello", "say hi")
    rec = rig.wait_status(tid, "completed")
    assert str(rec.result).startswith("done: ")
    session = session_of(rec)
    assert session["cost_usd"] == 0.0123 and session["num_turns"] == 2
    assert session["exit_code"] == 0 and session["session_id"]
    log = Path(session["log"])
    assert log.name == f"{tid}.1.jsonl" and log.parent.name == "w1"
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.parent.stat().st_mode & 0o777 == 0o700
    text = log.read_text()
    assert "session start" in text and '"type": "result"' in text.replace('":"', '": "')
    run = rig.records()[-1]
    assert run["cwd"] == str(rig.root / "work")
    assert run["env"]["CO_TASK_ID"] == tid and run["env"]["CO_TEAM"] == "test"
    assert "CLAUDECODE" not in run["env"]
    assert run["env"]["CLAUDE_CONFIG_DIR"] == str(rig.root / ".claude-orchestrator/claude/w1")
    assert run["argv"][4] == f"--session-id={session['session_id']}"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("fail", "error"),
        ("lie", "error"),
        ("crash", "without a result"),
        ("silent", "printed nothing"),
    ],
)
def test_worker_reports_agent_failures(rig: Rig, mode: str, reason: str) -> None:
    rig.start_worker()
    tid = rig.push("x", f"fake-agent:{mode}")
    rec = rig.wait_status(tid, "failed")
    assert reason in str(rec.reason)


def test_a_rate_limited_run_gives_the_task_back_and_pauses_the_agent(rig: Rig) -> None:
    rig.start_worker()
    tid = rig.push("x", "fake-agent:ratelimit")  # 429s, then no result: no reset time said
    wait_until(lambda: Pauses(rig.team.client, "test").all(), 20, "the pause record")
    [pause] = Pauses(rig.team.client, "test").all()
    assert pause.agent == "claude" and pause.hits == 1 and pause.reason == "rate limited (429)"
    assert pause.until_ts - pause.set_at == pytest.approx(FIRST_BACKOFF_S, abs=0.01)  # backoff
    rec = rig.wait_status(tid, "pending")
    assert rec.retry_count == 0 and "released on a limit" in str(rec.history[-1].note)
    assert session_of(rec)["session_id"]  # kept: the next claim resumes it


def test_worker_keeps_a_bounded_excerpt_of_a_huge_result(rig: Rig) -> None:
    rig.start_worker()
    tid = rig.push("x", "fake-agent:huge=300000")
    rec = rig.wait_status(tid, "completed")
    assert len(str(rec.result).encode()) <= 4096 and "omitted" in str(rec.result)
    assert Path(session_of(rec)["log"]).stat().st_size > 300_000


def test_task_text_never_reaches_a_shell(rig: Rig, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    rig.start_worker()
    nasty = f"$(touch {marker}) `touch {marker}`; touch {marker} && echo '\"' | sh"
    tid = rig.push("x", nasty)
    rig.wait_status(tid, "completed")
    assert not marker.exists()
    assert nasty in rig.records()[-1]["prompt"]


def test_idle_agent_is_stopped_with_its_whole_process_group(rig: Rig, tmp_path: Path) -> None:
    rig.write_team(agent_extra='idle_timeout = "1s"')
    pid_file = tmp_path / "grandchild.pid"
    rig.start_worker(FAKE_AGENT_CHILD_PID_FILE=str(pid_file))
    tid = rig.push("x", "fake-agent:spawn-child")
    rec = rig.wait_status(tid, "failed")
    assert "silent" in str(rec.reason)
    grandchild = int(pid_file.read_text())
    wait_until(lambda: not psutil.pid_exists(grandchild), 10, "the grandchild to be gone")


def test_wall_clock_timeout_fails_the_task(rig: Rig) -> None:
    rig.write_team(agent_extra='timeout = "1s"')
    rig.start_worker()
    tid = rig.push("x", "fake-agent:sleep=30")
    assert "timed out" in str(rig.wait_status(tid, "failed").reason)


def test_a_message_reaches_the_agent_and_is_processed_once(rig: Rig) -> None:
    rig.start_worker()
    iid = rig.team.registry.resolve_name("w1")
    sent = rig.team.inboxes.send([iid], "please review PR 7", "op", "info", time.time())[0]

    def processed() -> dict[str, Any] | None:
        read = rig.team.inboxes.read_messages(iid)
        return read[0] if read and read[0].get("processed_at") else None

    msg = wait_until(processed, 20, "the message to be processed")
    assert msg["id"] == sent["id"] and msg["ok"] is True
    assert "please review PR 7" in rig.records()[-1]["prompt"]
    assert "CO_TASK_ID" not in rig.records()[-1]["env"]


def test_agent_that_changes_its_task_state_is_not_overwritten(rig: Rig) -> None:
    rig.start_worker()
    tid = rig.push("x", "fake-agent:cli=task-block|--reason|need a key")
    rec = rig.wait_status(tid, "blocked")
    assert rec.reason == "need a key"

    def session_attached() -> bool:
        return bool((rig.team.tasks.get(tid).session or {}).get("cost_usd"))

    wait_until(session_attached, 10, "the session record on the blocked task")
    assert rig.team.tasks.get(tid).status == "blocked"


def test_retried_task_resumes_its_agent_session(rig: Rig) -> None:
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.taskmodel import Action, Change

    rig.start_worker()
    tid = rig.push("x", "fake-agent:fail")
    first = session_of(rig.wait_status(tid, "failed"))["session_id"]
    op = Actor.operator()
    rig.team.tasks.transition(tid, Change(Action.RETRY, by=op.label, at="x"), op, time.time())
    rec = rig.wait_status(tid, "failed", timeout=20)
    wait_until(lambda: len(rig.records()) >= 2, 10, "the second run")
    assert f"--resume={first}" in rig.records()[-1]["argv"]
    assert Path(session_of(rec)["log"]).name == f"{tid}.2.jsonl"


def test_sigterm_mid_run_releases_the_task_without_a_retry(rig: Rig) -> None:
    proc = rig.start_worker("--grace", "0.5s")
    tid = rig.push("x", "fake-agent:sleep=60")
    rig.wait_status(tid, "in_progress")
    wait_until(lambda: rig.records(), 10, "the agent to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    rec = rig.team.tasks.get(tid)
    assert rec.status == "pending" and rec.retry_count == 0
    assert not psutil.pid_exists(rig.records()[-1]["pid"])
    assert rig.team.registry.ids() == []


def test_sigterm_lets_a_short_run_finish_within_the_grace(rig: Rig) -> None:
    proc = rig.start_worker("--grace", "20s")
    tid = rig.push("x", "fake-agent:sleep=1")
    rig.wait_status(tid, "in_progress")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert rig.team.tasks.get(tid).status == "completed"


def test_session_expiry_mid_run_gives_a_stale_result_not_a_double_completion(
    rig: Rig,
) -> None:
    from claude_orchestrator.zk.registry import Actor, Registration
    from tests.helpers import claim

    proc, tid, first = freeze_until_expired(rig, "fake-agent:sleep=4")
    try:
        sweep(rig.team.tasks, time.time())
        inst = rig.team.registry.register(Registration("other", "dev", "/", False), time.time())
        other = Actor(label=inst["id"], instance_id=inst["id"], name="other", role="dev")
        assert claim(rig.team.tasks, other, time.time()).id == tid  # type: ignore[union-attr]
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    log = Path(session_of(first)["log"])
    wait_until(lambda: "stale result" in log.read_text(), 30, "the stale result in the log")
    rec = rig.team.tasks.get(tid)
    assert rec.status == "claimed" and rec.claimed_by == inst["id"]
    wait_registered_again(rig, str(first.claimed_by))


def freeze_until_expired(rig: Rig, description: str) -> tuple[subprocess.Popen[str], str, Task]:
    """A worker (1 s sessions) running a task, SIGSTOPped until its instance is gone; the
    caller sends SIGCONT."""
    proc = rig.start_worker(CO_SESSION_TIMEOUT="1s")
    tid = rig.push("x", description)
    first = rig.wait_status(tid, "in_progress")
    os.kill(proc.pid, signal.SIGSTOP)  # the worker is cut off; its agent runs on
    wait_until(
        lambda: rig.team.registry.find(str(first.claimed_by)) is None,
        20,
        "the frozen worker's session to expire",
    )
    return proc, tid, first


def wait_registered_again(rig: Rig, old_id: str) -> None:
    def registered_again() -> bool:
        holder = rig.team.registry._name_holder("w1")
        return holder is not None and holder != old_id

    wait_until(registered_again, 20, "the worker to register again")


def cmdline_of(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_the_prompt_is_on_stdin_not_in_the_agents_cmdline(rig: Rig) -> None:
    rig.start_worker()
    secret = "secret-7f3a: deploy key is hunter2"
    rig.push("x", f"fake-agent:hang {secret}")
    run = wait_until(lambda: rig.records(), 20, "the agent to start")[-1]
    try:
        assert secret.encode() not in cmdline_of(run["pid"])
        assert b"/fake_agent.py\0-p\0" in cmdline_of(run["pid"])  # it is the agent's
        assert secret in run["prompt"]
    finally:
        os.kill(run["pid"], signal.SIGKILL)


def test_the_shell_presets_script_is_in_no_cmdline(rig: Rig, tmp_path: Path) -> None:
    rig.write_team(team_extra="insecure = true\n")  # shell on an open test ZooKeeper
    proc = rig.start_worker("--agent", "shell")
    out = tmp_path / "ran"
    secret = "secret-91c2"
    rig.push("x", f"echo {secret} > {out}; sleep 60; true")  # not a last command bash execs
    wait_until(lambda: out.exists() and secret in out.read_text(), 20, "the script to run")
    agents = psutil.Process(proc.pid).children(recursive=True)
    try:
        assert any(cmdline_of(p.pid).startswith(b"bash\0") for p in agents)
        assert all(secret.encode() not in cmdline_of(p.pid) for p in agents)
    finally:
        for p in agents:
            p.kill()


def test_a_session_id_the_agent_made_up_is_never_resumed(rig: Rig) -> None:
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.taskmodel import Action, Change

    bad = "--dangerously-skip-permissions"
    rig.start_worker()
    tid = rig.push("x", f"fake-agent:fail-as={bad}")
    assert session_of(rig.wait_status(tid, "failed"))["session_id"] == bad
    op = Actor.operator()
    rig.team.tasks.transition(tid, Change(Action.RETRY, by=op.label, at="x"), op, time.time())
    wait_until(lambda: len(rig.records()) >= 2, 20, "the second run")
    argv = rig.records()[-1]["argv"]
    assert bad not in argv and not any(a.startswith("--resume") for a in argv)
    assert any(a.startswith("--session-id=") for a in argv)
    log = Path(session_of(rig.wait_status(tid, "failed"))["log"])
    assert log.name == f"{tid}.2.jsonl" and "is not a UUID: not resumed" in log.read_text()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--name", "a/b"),
        ("--name", ".."),
        ("--name", "x" * 10_000),
        ("--name", "w1\n"),
        ("--name", ""),
        ("--role", "a/b"),
        ("--role", "dev\n"),
    ],
)
def test_worker_refuses_a_bad_name_or_role_before_connecting(
    tmp_path: Path, flag: str, value: str
) -> None:
    env = {**os.environ, "ZK_HOSTS": "127.0.0.1:1", "CO_TEAM_FILE": "", "HOME": str(tmp_path)}
    argv = [BIN, "worker", "--name", "w1", flag, value]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert flag in done.stderr and len(done.stderr) < 400


def test_session_expiry_mid_run_with_the_claim_not_yet_recovered_does_not_end_the_worker(
    rig: Rig,
) -> None:
    # Nobody sweeps here: when the worker thaws its task is still claimed by its old,
    # unregistered instance. Reporting must treat that as a lost claim (stale result), not
    # end the worker with "instance ... is not registered" (found by bench/chaos.py).
    try:
        proc, tid, first = freeze_until_expired(rig, "fake-agent:sleep=3")
    finally:
        for p in rig.procs:
            os.kill(p.pid, signal.SIGCONT)
    log = Path(session_of(first)["log"])
    wait_until(lambda: "stale result" in log.read_text(), 30, "the stale result in the log")
    wait_registered_again(rig, str(first.claimed_by))
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert rig.team.tasks.get(tid).claimed_by == first.claimed_by  # left to the leader


def test_a_claim_whose_instance_is_gone_is_not_started_and_does_not_raise(team: Team) -> None:
    from claude_orchestrator.worker.report import Reporter
    from claude_orchestrator.zk.registry import Actor, Registration
    from tests.helpers import claim

    push(team.tasks, [validate_spec({"title": "x"}, "t")], "op", time.time())
    inst = team.registry.register(Registration("w1", "dev", "/", False), time.time())
    actor = Actor(label=inst["id"], instance_id=inst["id"], name="w1", role="dev")
    task = claim(team.tasks, actor, time.time())
    assert task is not None
    team.registry.unregister(inst["id"])  # as a session expiry would, before any sweep
    assert Reporter(team, actor, time.time).start(task, {}) is False
    assert team.tasks.get(task.id).status == "claimed"
