"""The supervisor's ZooKeeper lane: one thread that does all its ZooKeeper work.

kazoo queues a call made while disconnected and blocks until the reconnect,
with no timeout (ZOOKEEPER.md), so no ZooKeeper call may run on the
supervision loop: reaping, respawning, signals and ``down`` must go on through
an outage. The loop submits jobs here; a job that has something to change in
the supervisor's state posts it back to the loop (the one writer).

Jobs run one at a time, in order. A job submitted with a ``key`` replaces a
queued job of the same key that has not started yet (a sweep, a publish or a
registration check asked for twice while the lane is stalled runs once);
jobs without a key (recovering one dead worker's tasks) always run. An ``urgent``
job (that recovery) goes before every queued job that is not urgent: a task
should not wait for a snapshot to be published before it is back in the queue.

SUSPENDED / LOST: jobs simply wait inside their kazoo call (or fail with a
ZooKeeper error, which is logged); the lane picks up where it stopped once
the connection is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from kazoo.exceptions import KazooException

from claude_orchestrator.errors import ZkError

log = logging.getLogger("claude_orchestrator.supervisor")

Job = Callable[[], object]
ZK_ERRORS: tuple[type[Exception], ...] = (ZkError, KazooException)


class ZkLane:
    def __init__(self, name: str = "zk-lane") -> None:
        self._cond = threading.Condition()
        self._jobs: deque[tuple[str | None, Job, bool]] = deque()  # (key, job, urgent)
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Job, key: str | None = None, urgent: bool = False) -> None:
        with self._cond:
            if self._closed:
                return
            if key is not None:
                self._jobs = deque(entry for entry in self._jobs if entry[0] != key)
            if urgent:  # behind the urgent ones already queued, before all the rest
                ahead = next((i for i, e in enumerate(self._jobs) if not e[2]), len(self._jobs))
                self._jobs.insert(ahead, (key, job, True))
            else:
                self._jobs.append((key, job, False))
            self._cond.notify()

    def drain(self, timeout: float) -> bool:
        """Wait until every submitted job has run; False if the lane is still busy."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Run nothing more (a job in progress finishes on its own)."""
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._jobs.popleft()[1]
                self._busy = True
            try:
                job()
            except ZK_ERRORS as exc:  # expected during an outage: the next pass starts over
                log.warning("ZooKeeper job failed: %s: %s", type(exc).__name__, exc)
            except Exception:
                log.exception("ZooKeeper job failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
