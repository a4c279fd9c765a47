"""Signal handlers post to the worker's and the supervisor's event queues: the queues must
take a put() from a handler that interrupts the loop thread inside a queue call.

``queue.Queue`` holds a non-reentrant lock in Python code, so a handler that posts while the
main thread is inside put()/get() can deadlock; ``queue.SimpleQueue`` is documented reentrant.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import textwrap
from pathlib import Path

from claude_orchestrator.conf.agents import resolve_agent
from claude_orchestrator.conf.team import team_from_defaults
from claude_orchestrator.supervisor.arbiter import Supervisor
from claude_orchestrator.supervisor.config import SupervisorConfig
from claude_orchestrator.worker.loop import Worker
from claude_orchestrator.worker.settings import WorkerSettings
from claude_orchestrator.zk.client import ZkOptions


def _worker(tmp_path: Path) -> Worker:
    agent = resolve_agent("shell", None)
    zk = ZkOptions("127.0.0.1:1")  # never connected: only the queue is used
    return Worker(WorkerSettings("w1", "dev", tmp_path, agent, "t", zk, tmp_path, tmp_path))


def _supervisor(tmp_path: Path) -> Supervisor:
    team = team_from_defaults(tmp_path)
    return Supervisor(SupervisorConfig(team=team, team_name="t", team_file=None, zk=None))


def test_worker_event_queue_is_reentrant(tmp_path: Path) -> None:
    assert type(_worker(tmp_path).events) is queue.SimpleQueue


def test_supervisor_event_queue_is_reentrant(tmp_path: Path) -> None:
    assert type(_supervisor(tmp_path).events) is queue.SimpleQueue


# A loop thread busy in its queue while a timer signal posts through the production post path,
# hundreds of times; with a non-reentrant queue this hangs (the subprocess times out).
_STRESS = textwrap.dedent(
    """
    import queue, signal, sys
    from pathlib import Path
    from tests.test_signal_safety import _supervisor, _worker

    tmp = Path(sys.argv[1])
    sup, worker = _supervisor(tmp), _worker(tmp)
    from claude_orchestrator.supervisor.events import Signal, SignalReceived
    fired = [0]

    def on_alarm(_s, _f):
        fired[0] += 1
        sup.post(SignalReceived(Signal.HUP))
        worker.request_stop()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
    while fired[0] < 300:
        for q in (sup.events, worker.events):
            q.put(None)
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    print("ok", fired[0])
    """
)


def test_a_signal_handler_can_post_while_the_loop_uses_the_queue(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _STRESS, str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok "), done.stdout
