"""Test helpers: wait on conditions with a deadline, never on time alone."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.taskmodel import Task
    from claude_orchestrator.zk.tasks import TaskStore

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Return the first truthy value of ``predicate``; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.005)  # poll interval of the condition, not a synchronisation sleep


def claim(store: TaskStore, actor: Actor, now: float, spread: int = 1) -> Task | None:
    """Claim as ``actor`` through production's own parts: the identity check of a
    ``Claimer``, the lease check of ``claim-task``, then one claim pass (``spread`` > 1 is
    a racer's pick among the first entries, as workers do)."""
    from claude_orchestrator.zk.claim import Claimer

    claimer = Claimer(store, actor, spread, head_first=True)
    store.registry.require_alive(str(actor.instance_id), now)
    return claimer.claim(now)


def session_of(task: Task) -> Mapping[str, Any]:
    """The session record a run attached to ``task`` (there must be one)."""
    assert task.session is not None, f"{task.id} has no session record"
    return task.session


def exited(pid: int) -> bool:
    """Whether process ``pid`` has exited: gone, or a zombie (an orphan's reaping is init's,
    which takes up to seconds here; the process itself is over)."""
    import psutil

    from claude_orchestrator.spawn.exited import running

    try:
        return not running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def run_demo(script: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """An example's demo.py run as `make demo` runs it, asserted to succeed."""
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def give_answers(folder: Path, answers: tuple[str, ...]) -> None:
    """The fake agent's answers in ``folder`` (``answers=DIR`` mode), in the order given:
    zero-padded names, as it takes them in name order."""
    for n, text in enumerate(answers, 1):
        (folder / f"{n:04d}.txt").write_text(text)
