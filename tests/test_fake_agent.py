"""The fake ``claude`` CLI (tests/fake_agent.py), read back as the product reads it: the
outcome through the stream-json parser, what it showed through ``logs``' renderer."""

from __future__ import annotations

import ast
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from claude_orchestrator.spawn.logview import render
from claude_orchestrator.spawn.outcome import Outcome
from claude_orchestrator.spawn.streamjson import StreamJsonParser
from tests.helpers import wait_until

AGENT = Path(__file__).with_name("fake_agent.py")
#: the interpreter runs the script directly (faster than the shebang through a pyenv shim);
#: test_shebang checks the script runs as a command too
AGENT_CMD = [sys.executable, str(AGENT)]
CLAUDE_ARGS = ["-p", "--output-format", "stream-json", "--verbose"]
SESSION = "3f2a9c4e-1b7d-4e8a-9c6f-5d4e3b2a1f0e"
RECORDED = (
    "CO_TASK_ID",
    "CO_INSTANCE_ID",
    "CO_TEAM",
    "ZK_HOSTS",
    "CO_TEAM_FILE",
    "CLAUDE_CONFIG_DIR",
    "CLAUDECODE",
)
DEADLINE = 10.0


@dataclass
class Run:
    returncode: int
    parser: StreamJsonParser
    stderr: bytes
    stdout: bytes = b""

    @property
    def outcome(self) -> Outcome:
        return self.parser.outcome(*exit_of(self.returncode))

    @property
    def shown(self) -> list[str]:
        """What ``logs`` shows of the run, each message's blocks once."""
        seen: dict[str, list[object]] = {}
        lines = self.stdout.decode().splitlines()
        return [out for line in lines for out in render(line, False, seen)]

    def events(self, subtype: str) -> list[dict[str, object]]:
        events = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
        return [e for e in events if e.get("subtype") == subtype]


def exit_of(returncode: int) -> tuple[int | None, str | None]:
    """(exit_code, signal_desc) as the spawn layer reports them."""
    if returncode < 0:
        return None, f"killed by {signal.Signals(-returncode).name}"
    return returncode, None


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in RECORDED and not k.startswith("FAKE_AGENT")
    }
    env.update(extra)
    return env


def parsed(stdout: bytes, chunk: int = 4096) -> StreamJsonParser:
    parser = StreamJsonParser()
    for i in range(0, len(stdout), chunk):
        parser.feed("agent", "stdout", stdout[i : i + chunk])
    return parser


def run(
    prompt: str | None,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str = "",
    cwd: Path | None = None,
) -> Run:
    argv = [*AGENT_CMD, *CLAUDE_ARGS, *args, *(["--", prompt] if prompt is not None else [])]
    done = subprocess.run(
        argv,
        input=stdin.encode(),
        capture_output=True,
        env=env if env is not None else base_env(),
        cwd=cwd,
        timeout=DEADLINE,
    )
    return Run(done.returncode, parsed(done.stdout), done.stderr, done.stdout)


# -- modes that end by themselves ------------------------------------------------


def test_succeed() -> None:
    prompt = "Refactor the parser " + "x" * 100
    result = run(prompt, "--session-id", SESSION, "--permission-mode", "acceptEdits")
    assert result.returncode == 0
    outcome = result.outcome
    assert outcome.ok
    assert outcome.result == f"done: {prompt[:60]}"
    assert (outcome.session_id, outcome.cost_usd, outcome.num_turns) == (SESSION, 0.0123, 2)
    assert outcome.duration_ms is not None and outcome.duration_ms >= 0
    shown = result.shown
    assert shown[0] == f"session {SESSION} (claude-fake-1)"
    assert shown[1:4] == [f"Working on: {prompt[:60]}", "→ Bash ls", f"done: {prompt[:60]}"]
    assert all(json.loads(line) for line in result.stdout.splitlines())  # no bad line


def test_shebang() -> None:
    assert os.access(AGENT, os.X_OK)
    assert AGENT.read_text().startswith("#!/usr/bin/env python3\n")
    done = subprocess.run(
        [str(AGENT), "-p", "--output-format", "stream-json", "--", "hi"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=base_env(),
        timeout=DEADLINE,
    )
    assert parsed(done.stdout).outcome(done.returncode).result == "done: hi"


def test_agent_imports_only_the_stdlib() -> None:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(AGENT.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    assert "json" in modules
    assert modules <= sys.stdlib_module_names | {"__future__"}


def test_fail() -> None:
    result = run("fake-agent:fail")
    assert result.returncode == 1
    assert not result.outcome.ok
    assert result.outcome.reason is not None
    assert "agent reported an error (subtype error_during_execution" in result.outcome.reason


def test_lie_is_a_failure_despite_exit_0() -> None:
    result = run("fake-agent:lie")
    assert result.returncode == 0
    assert not result.outcome.ok
    assert result.outcome.reason is not None
    assert result.outcome.reason.startswith(
        "agent reported an error (subtype success, is_error true)"
    )


def test_crash() -> None:
    result = run("fake-agent:crash")
    assert result.returncode == -signal.SIGKILL
    assert result.shown[1:] == ["about to crash"]
    outcome = result.outcome
    assert not outcome.ok
    assert outcome.reason == "agent exited without a result line (killed by SIGKILL)"
    assert outcome.session_id is not None


@pytest.mark.parametrize(
    ("directive", "size"), [("fake-agent:huge", 300_000), ("fake-agent:huge=5000", 5000)]
)
def test_huge(directive: str, size: int) -> None:
    result = run(f"big {directive}")
    assert result.outcome.ok
    assert result.outcome.result is not None
    assert len(result.outcome.result.encode()) == size


def test_silent() -> None:
    result = run("fake-agent:silent")
    assert result.returncode == 0
    assert result.parser.bytes_seen == 0
    assert result.outcome == Outcome(False, None, "agent printed nothing and exited 0")


def test_ratelimit() -> None:
    result = run("fake-agent:ratelimit")
    assert result.returncode == 1
    assert len(result.events("api_retry")) == 2
    assert result.outcome.reason == (
        "limit: rate limited (429); agent exited without a result line (exit 1); "
        "rate limited: 2 API retries (429, rate_limit)"
    )
    assert result.outcome.limit is not None and result.outcome.limit.until is None


def test_sleep_then_succeed() -> None:
    started = time.monotonic()
    result = run("fake-agent:sleep=0.1")
    assert time.monotonic() - started >= 0.1
    assert result.outcome.ok


def test_unknown_mode_exits_2() -> None:
    result = run("fake-agent:no-such-mode")
    assert result.returncode == 2
    assert b"unknown mode 'no-such-mode'" in result.stderr


def test_cli_runs_the_orchestrator_binary_without_a_shell(tmp_path: Path) -> None:
    echo = shutil.which("echo")
    assert echo is not None
    directive = "fake-agent:cli=task-block|--reason|need a key; $(touch pwned) `id`"
    result = run(f"please\n{directive}  \nthanks", env=base_env(CO_BIN=echo), cwd=tmp_path)
    assert result.outcome.ok
    assert result.shown[1] == "task-block --reason need a key; $(touch pwned) `id`"
    assert list(tmp_path.iterdir()) == []


# -- argv, prompt and environment ------------------------------------------------


def test_prompt_from_stdin() -> None:
    result = run(None, "--session-id", SESSION, stdin="hello from stdin")
    assert result.outcome.result == "done: hello from stdin"


def test_directive_overrides_env() -> None:
    assert not run("plain", env=base_env(FAKE_AGENT_MODE="fail")).outcome.ok
    assert run("now fake-agent:succeed", env=base_env(FAKE_AGENT_MODE="fail")).outcome.ok
    assert run("x", env=base_env(FAKE_AGENT_MODE="huge=10")).outcome.result == "0123456789"
    assert run("a fake-agent:huge=12 and more").outcome.result == "0123456789ab"


def test_resume_and_flags(tmp_path: Path) -> None:
    result = run(
        "task",
        "--resume",
        SESSION,
        "--model=claude-x",
        "--unknown-flag",
        "--dangerously-skip-permissions",
    )
    assert result.outcome.session_id == SESSION
    assert result.shown[0] == f"session {SESSION} (claude-x)"
    assert result.outcome.result == "done: task"


def test_prompt_is_the_last_argument_after_double_dash() -> None:
    prompt = "--looks-like-a-flag; $(rm -rf /) `id` | cat > out && echo 'q\"uote'"
    result = run(prompt, "--model", "m1")
    assert result.outcome.result == f"done: {prompt[:60]}"


def test_record(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    env = base_env(
        FAKE_AGENT_RECORD=str(record),
        CO_TASK_ID="task-0000000007",
        CO_TEAM="demo",
        CLAUDECODE="1",
        CLAUDE_CONFIG_DIR=str(tmp_path / "cfg"),
    )
    run("first", "--session-id", SESSION, env=env, cwd=tmp_path)
    run("fake-agent:silent", env=env, cwd=tmp_path)
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [call["prompt"] for call in calls] == ["first", "fake-agent:silent"]
    first = calls[0]
    assert first["argv"] == [*CLAUDE_ARGS, "--session-id", SESSION, "--", "first"]
    assert first["cwd"] == str(tmp_path)
    assert isinstance(first["pid"], int)
    assert first["env"] == {
        "CO_TASK_ID": "task-0000000007",
        "CO_TEAM": "demo",
        "CLAUDECODE": "1",
        "CLAUDE_CONFIG_DIR": str(tmp_path / "cfg"),
    }


# -- modes the test has to stop ----------------------------------------------------


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still running at the end are killed."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(
    procs: list[subprocess.Popen[bytes]], prompt: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*AGENT_CMD, *CLAUDE_ARGS, "--", prompt],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env or base_env(),
        start_new_session=True,
    )
    procs.append(proc)
    return proc


def read_lines(proc: subprocess.Popen[bytes], count: int | None) -> bytes:
    """Read ``count`` whole lines of stdout (None: to the end), failing at the deadline."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + DEADLINE
    while count is None or data.count(b"\n") < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the agent printed only {data!r}"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    return data


def quiet_for(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """True if the agent prints nothing and keeps running for ``seconds`` (a bounded look)."""
    assert proc.stdout is not None
    return not select.select([proc.stdout.fileno()], [], [], seconds)[0] and proc.poll() is None


def test_hang_is_stopped_by_sigterm(started: list[subprocess.Popen[bytes]]) -> None:
    proc = start(started, "fake-agent:hang")
    head = read_lines(proc, 1)
    assert b'"subtype": "init"' in head
    assert quiet_for(proc, 0.2)
    proc.terminate()
    assert proc.wait(timeout=DEADLINE) == 143
    parser = parsed(head + read_lines(proc, None))
    assert parser.outcome(143).reason == "agent exited without a result line (exit 143)"


def test_ignore_term_needs_sigkill(started: list[subprocess.Popen[bytes]]) -> None:
    proc = start(started, "fake-agent:ignore-term")
    assert b'"subtype": "init"' in read_lines(proc, 1)
    proc.terminate()
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.3)
    proc.kill()
    assert proc.wait(timeout=DEADLINE) == -signal.SIGKILL


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_spawn_child_leaves_a_grandchild_in_the_group(
    started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    env = base_env(FAKE_AGENT_CHILD_PID_FILE=str(pid_file))
    proc = start(started, "fake-agent:spawn-child", env)
    text: str = wait_until(lambda: pid_file.read_text() if pid_file.exists() else None, what="pid")
    child = int(text)
    assert not gone(child)
    assert os.getpgid(child) == proc.pid
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=DEADLINE) == -signal.SIGKILL
    wait_until(lambda: gone(child), what="the grandchild to die with its group")
