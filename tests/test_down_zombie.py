"""``down`` waits for the supervisor to exit, and a zombie has exited.

``up -d`` detaches the supervisor, so when it exits nobody but init reaps it, which can take
seconds; ``down`` must not wait for that. These tests make the zombie themselves (a child of
the test that is never reaped until the end) and look at the real pid's state.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from claude_orchestrator.errors import OrchestratorError


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def _state(pid: int) -> str:
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return "gone"


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A process of ours that sleeps until signalled; reaped at the end."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_zombie_counts_as_gone(child: subprocess.Popen[bytes]) -> None:
    from claude_orchestrator.supervisor.down import _wait_gone

    child.kill()
    _wait_for(lambda: _state(child.pid) == psutil.STATUS_ZOMBIE)
    _wait_gone(child.pid, 30.0)
    assert _state(child.pid) == psutil.STATUS_ZOMBIE  # returned without the reaping


def test_a_running_process_is_waited_for_until_the_timeout(
    child: subprocess.Popen[bytes],
) -> None:
    from claude_orchestrator.supervisor.down import _wait_gone

    with pytest.raises(OrchestratorError, match=f"pid {child.pid}"):
        _wait_gone(child.pid, 0.05)
    assert _state(child.pid) not in ("gone", psutil.STATUS_ZOMBIE)


def test_a_pid_that_is_gone_is_gone(child: subprocess.Popen[bytes]) -> None:
    from claude_orchestrator.supervisor.down import _wait_gone

    child.kill()
    child.wait()  # reaped: the pid no longer exists
    _wait_gone(child.pid, 0.0)


def test_stop_supervisor_returns_once_the_supervisor_is_a_zombie(
    child: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """SIGTERM ends the stand-in supervisor; nobody reaps it while ``down`` waits."""
    from claude_orchestrator.supervisor.down import stop_supervisor

    reply = stop_supervisor(tmp_path, child.pid, 0.0)
    assert reply == {"stopped": [], "supervisor": "stopped"}
    assert _state(child.pid) == psutil.STATUS_ZOMBIE
