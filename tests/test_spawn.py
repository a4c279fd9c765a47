"""spawn/: children in their own process group, output to sinks, limits, stop/kill, session logs.

Every child is a small ``sys.executable -c`` program; nothing goes through a shell.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import psutil
import pytest

from claude_orchestrator.errors import SpawnError
from claude_orchestrator.spawn import Child, ChildSpec, ExitInfo, SessionLog, run
from tests.helpers import wait_until

# A grandchild that sleeps in the same process group; its pid is printed on stdout.
SPAWN_GRANDCHILD = (
    "import subprocess, sys\n"
    "gc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], {redirect})\n"
    "print(gc.pid, flush=True)\n"
)
READY_THEN_SLEEP = "print('ready', flush=True)\nimport time\ntime.sleep(60)\n"


class Collector:
    """A sink that keeps every chunk, safe to read while the monitor thread appends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.chunks: list[tuple[str, str, bytes]] = []

    def __call__(self, label: str, stream: str, chunk: bytes) -> None:
        with self._lock:
            self.chunks.append((label, stream, chunk))

    def data(self, stream: str = "stdout") -> bytes:
        with self._lock:
            return b"".join(c for _, s, c in self.chunks if s == stream)

    def text(self, stream: str = "stdout") -> str:
        return self.data(stream).decode()


def spec(code: str, *args: str, **overrides: object) -> ChildSpec:
    fields: dict[str, object] = {
        "argv": (sys.executable, "-c", code, *args),
        "cwd": Path.cwd(),
        "env": dict(os.environ),
    }
    fields.update(overrides)
    return ChildSpec(**fields)  # type: ignore[arg-type]


def started(code: str, sink: Collector, **overrides: object) -> Child:
    child = Child(spec(code, **overrides), [sink])
    child.start()
    return child


def finished(child: Child, timeout: float = 5.0) -> ExitInfo:
    info = child.wait(timeout)
    assert info is not None, "child still running"
    return info


def gone(pid: int) -> bool:
    """No such process any more, or only a zombie waiting for its new parent to reap it."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def printed_line(sink: Collector, what: str) -> str:
    """The child's first complete stdout line (chunks may split it: PYTHONUNBUFFERED)."""
    text = wait_until(lambda: sink.text() if "\n" in sink.text() else "", 5, what)
    return text.split("\n", 1)[0]


def printed_pid(sink: Collector) -> int:
    return int(printed_line(sink, "the grandchild's pid"))


# -- output, cwd, env, stdin, argv ---------------------------------------------------------


def test_run_output_reaches_every_sink_in_order() -> None:
    code = (
        "import sys\n"
        "for i in range(300):\n"
        "    print(f'line {i}', flush=True)\n"
        "    print(f'err {i}', file=sys.stderr, flush=True)\n"
    )
    first, second = Collector(), Collector()
    info = run(spec(code, label="w1"), [first, second])
    assert info.ok and info.description == "exit 0"
    for sink in (first, second):
        assert sink.text() == "".join(f"line {i}\n" for i in range(300))
        assert sink.text("stderr") == "".join(f"err {i}\n" for i in range(300))
        assert {label for label, _, _ in sink.chunks} == {"w1"}


def test_run_failing_sink_does_not_stop_output() -> None:
    def broken(label: str, stream: str, chunk: bytes) -> None:
        raise RuntimeError("sink is broken")

    sink = Collector()
    info = run(spec("for i in range(50): print(i, flush=True)"), [broken, sink])
    assert info.ok
    assert sink.text() == "".join(f"{i}\n" for i in range(50))


def test_run_honours_cwd(tmp_path: Path) -> None:
    sink = Collector()
    run(spec("import os; print(os.getcwd())", cwd=tmp_path), [sink])
    assert Path(sink.text().strip()).resolve() == tmp_path.resolve()


def test_run_env_is_exactly_the_given_mapping() -> None:
    env: Mapping[str, str] = {"CO_ONLY": "yes", "LC_ALL": "C.UTF-8", "PYTHONCOERCECLOCALE": "0"}
    sink = Collector()
    run(spec("import json, os; print(json.dumps(dict(os.environ)))", env=env), [sink])
    assert json.loads(sink.text()) == env


@pytest.mark.parametrize("size", [0, 11, 1024 * 1024])
def test_run_stdin_data_reaches_the_child(size: int) -> None:
    data = os.urandom(size)
    code = "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    sink = Collector()
    info = run(spec(code, stdin_data=data), [sink])
    assert info.ok
    assert sink.text().strip() == hashlib.sha256(data).hexdigest()


def test_run_without_stdin_data_gives_dev_null() -> None:
    sink = Collector()
    run(spec("import sys; print(repr(sys.stdin.read()))"), [sink])
    assert sink.text().strip() == "''"


def test_run_argv_with_shell_metacharacters_arrives_verbatim(tmp_path: Path) -> None:
    marker, victim = tmp_path / "marker", tmp_path / "victim"
    victim.mkdir()
    nasty = [
        f"$(touch {marker})",
        f"`touch {marker}`",
        f"; rm -rf {victim}",
        f"&& touch {marker} || touch {marker}",
        f"| tee {marker}",
        f"> {marker}",
        "'single' \"double\" \\back",
        "*.py ~ $HOME\nsecond line\t--help",
    ]
    sink = Collector()
    info = run(spec("import json, sys; print(json.dumps(sys.argv[1:]))", *nasty), [sink])
    assert info.ok
    assert json.loads(sink.text()) == nasty
    assert not marker.exists() and victim.is_dir()


# -- start errors --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/nonexistent/agent-binary", "no-such-command-co-test"])
def test_start_missing_command_raises_spawn_error(command: str) -> None:
    child = Child(ChildSpec(argv=(command, "-p"), cwd=Path.cwd(), env={"PATH": "/usr/bin"}), [])
    with pytest.raises(SpawnError, match="command not found"):
        child.start()
    assert child.pid is None and not child.alive()


def test_start_not_executable_raises_spawn_error(tmp_path: Path) -> None:
    script = tmp_path / "agent"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(SpawnError, match="not executable"):
        run(ChildSpec(argv=(str(script),), cwd=tmp_path, env={}), [])


def test_start_missing_cwd_raises_spawn_error(tmp_path: Path) -> None:
    with pytest.raises(SpawnError, match="working directory"):
        run(spec("pass", cwd=tmp_path / "missing"), [])


# -- exit status ---------------------------------------------------------------------------


def test_run_decodes_exit_code() -> None:
    info = run(spec("raise SystemExit(3)"), [])
    assert (info.exit_code, info.signal) == (3, None)
    assert info.description == "exit 3" and not info.ok


def test_run_decodes_killing_signal() -> None:
    info = run(spec("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), [])
    assert (info.exit_code, info.signal) == (None, signal.SIGKILL)
    assert info.description == "killed by SIGKILL"
    assert not (info.stopped or info.timed_out or info.ok)


# -- watchdogs -----------------------------------------------------------------------------


def test_run_wall_clock_timeout_stops_the_child() -> None:
    info = run(spec("import time; time.sleep(60)", timeout=0.3, grace=2.0), [])
    assert info.timed_out and not info.stopped
    assert info.signal == signal.SIGTERM
    assert info.description.startswith("timed out after ")
    assert info.description.endswith("(killed by SIGTERM)")
    assert 0.3 <= info.duration_s < 3


def test_run_idle_timeout_fires_for_a_silent_child() -> None:
    sink = Collector()
    info = run(spec(READY_THEN_SLEEP, idle_timeout=0.3, grace=2.0), [sink])
    assert info.idle_timed_out and not info.timed_out
    assert info.signal == signal.SIGTERM
    assert sink.text() == "ready\n"


def test_run_idle_timeout_spares_a_child_that_keeps_printing() -> None:
    code = "import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.02)\n"
    info = run(spec(code, idle_timeout=0.4), [])
    assert info.ok and not info.idle_timed_out


def test_wait_returns_none_while_running_and_kill_ends_it() -> None:
    sink = Collector()
    child = started(READY_THEN_SLEEP, sink)
    assert child.wait(0.05) is None and child.alive()
    child.kill()
    info = finished(child)
    assert info.signal == signal.SIGKILL and info.stopped and not child.alive()
    assert info.description == "stopped (killed by SIGKILL)"


# -- stopping the process group ------------------------------------------------------------


def test_stop_from_another_thread_stops_the_whole_group() -> None:
    sink = Collector()
    child = started(SPAWN_GRANDCHILD.format(redirect="") + "import time; time.sleep(60)", sink)
    grandchild = printed_pid(sink)
    stopper = threading.Thread(target=child.stop)
    stopper.start()
    info = finished(child)
    stopper.join()
    assert info.stopped and info.signal == signal.SIGTERM
    assert child.pid is not None and gone(child.pid) and gone(grandchild)
    child.stop()  # idempotent, also after the end


def test_stop_kills_a_child_that_ignores_sigterm_after_grace() -> None:
    code = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + READY_THEN_SLEEP
    sink = Collector()
    child = started(code, sink)
    printed_line(sink, "the child to ignore SIGTERM")
    began = time.monotonic()
    child.stop(grace=0.3)
    child.stop(grace=5.0)  # a second stop does not postpone the KILL
    info = finished(child)
    assert info.signal == signal.SIGKILL and info.stopped
    assert 0.3 <= time.monotonic() - began < 3


@pytest.mark.parametrize("redirect", ["", "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL"])
def test_wait_kills_a_grandchild_left_behind(redirect: str) -> None:
    sink = Collector()
    child = started(SPAWN_GRANDCHILD.format(redirect=redirect), sink)
    grandchild = printed_pid(sink)
    info = finished(child)
    assert info.ok
    assert gone(grandchild)


def test_stop_signal_sigint_is_delivered_as_sigint() -> None:
    code = (
        "import signal, sys, time\n"
        "def on_int(signum, frame):\n"
        "    print('got', signal.Signals(signum).name, flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGINT, on_int)\n" + READY_THEN_SLEEP
    )
    sink = Collector()
    child = started(code, sink, stop_signal=signal.SIGINT, grace=3.0)
    printed_line(sink, "the child's SIGINT handler")
    child.stop()
    info = finished(child)
    assert sink.text() == "ready\ngot SIGINT\n"
    assert info.exit_code == 0 and info.stopped and not info.ok


# -- session log ---------------------------------------------------------------------------


def test_sessionlog_is_private_with_header_output_footer_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sessions" / "w1" / "t-1.1.log"
    prompt = "do the thing " + "x" * 500
    argv = ("claude", "-p", "--api-key", "sk-secret-123", "--", prompt)
    log = SessionLog(path)
    log.header(argv, tmp_path, started_at=0.0, secrets=["sk-secret-123"])
    info = run(spec("print('hello'); import sys; sys.stdout.write('no newline')"), [log.sink])
    log.footer(info)
    log.close()
    log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# claude-orchestrator session start 1970-01-01T00:00:00Z ")
    assert f"cwd={tmp_path} argv=claude -p --api-key '***' -- " in lines[0]
    assert ("x" * 187 + "…'") in lines[0] and "x" * 188 not in lines[0]
    assert lines[1:3] == ["hello", "no newline"]
    assert lines[3].startswith("# claude-orchestrator session end ")
    assert lines[3].endswith(f" exit 0 duration={info.duration_s:.2f}s")
    assert len(lines) == 4 and "sk-secret" not in path.read_text()


def test_sessionlog_write_after_close_raises(tmp_path: Path) -> None:
    log = SessionLog(tmp_path / "s.log")
    log.close()
    with pytest.raises(SpawnError, match="closed"):
        log.sink("w1", "stdout", b"late")


# -- a child whose output goes to a log file (the supervisor's workers) ---------------------


def test_child_appends_its_output_to_a_private_log_and_calls_back_on_exit(
    tmp_path: Path,
) -> None:
    log = tmp_path / "logs" / "w1.log"
    log.parent.mkdir(mode=0o700)
    log.write_bytes(b"earlier\n")
    exits: list[ExitInfo] = []
    code = "import os, sys\nprint(os.getsid(0) == os.getpid(), flush=True)\nsys.exit('bye')"
    child = Child(spec(code, output=log, new_session=True), on_exit=exits.append)
    child.start()
    info = finished(child)
    assert wait_until(lambda: exits, 5, "the exit callback") == [info]
    assert (info.exit_code, info.signal, info.describe()) == (1, None, "exited 1")
    assert log.read_text() == "earlier\nTrue\nbye\n"  # stdout and stderr, appended


def test_child_makes_its_log_folder_private(tmp_path: Path) -> None:
    log = tmp_path / "state" / "logs" / "w1.log"
    info = run(spec("print('hi')", output=log, new_session=True), [])
    assert info.ok and log.read_text() == "hi\n"
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_failing_exit_callback_does_not_break_the_child(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_info: ExitInfo) -> None:
        raise RuntimeError("callback failed")

    child = Child(spec("pass"), on_exit=broken)
    child.start()
    assert finished(child).ok
    wait_until(lambda: "exit callback failed" in caplog.text, 5, "the logged callback error")
