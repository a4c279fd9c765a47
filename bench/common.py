"""Shared bench helpers: a private ZooKeeper server and percentile maths."""

from __future__ import annotations

import logging
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from claude_orchestrator.supervisor.zkserver import ZkServer

logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnect chatter on shutdown


@contextmanager
def private_server() -> Iterator[ZkServer]:
    """A standalone server with production timing (tickTime 2000) in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="co-bench-") as tmp:
        server = ZkServer(Path(tmp) / "zk")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def summary(samples_s: list[float]) -> dict[str, float]:
    """Median, p95, min and max in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
    }


def header() -> dict[str, str]:
    """When and where a bench ran: the first keys of every report."""
    import os
    import platform
    from datetime import UTC, datetime

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }


def poll(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.001) -> Any:
    """The first truthy value of ``predicate`` (benches may poll; tests wait on conditions)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("benchmark condition not reached")
