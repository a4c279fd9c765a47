"""The supervisor's ZooKeeper lane: in order, coalesced by key, never stopped by a failing job."""

from __future__ import annotations

import threading
from functools import partial

from kazoo.exceptions import ConnectionLoss

from claude_orchestrator.supervisor.zklane import ZkLane


def test_jobs_run_in_order_and_a_failing_job_does_not_stop_the_lane() -> None:
    lane, ran = ZkLane(), []

    def fail(exc: Exception) -> None:
        raise exc

    lane.submit(lambda: ran.append(1))
    lane.submit(lambda: fail(ConnectionLoss()))
    lane.submit(lambda: fail(RuntimeError("a bug")))
    lane.submit(lambda: ran.append(2))
    assert lane.drain(5) and ran == [1, 2]
    lane.close()


def test_a_keyed_job_queued_twice_runs_once_and_unkeyed_jobs_always_run() -> None:
    lane, ran = ZkLane(), list[str]()
    gate = threading.Event()
    lane.submit(gate.wait)  # the lane is stalled (a call waiting for the connection)
    for i in range(3):
        lane.submit(partial(ran.append, f"sweep{i}"), key="sweep")
        lane.submit(partial(ran.append, f"recover{i}"))
    assert not lane.drain(0.05)  # still stalled: drain gives up at its deadline
    gate.set()
    assert lane.drain(5)
    assert ran == ["recover0", "recover1", "sweep2", "recover2"]
    lane.close()


def test_a_closed_lane_runs_nothing_more() -> None:
    lane, ran = ZkLane(), []
    lane.close()
    lane.submit(lambda: ran.append(1))
    assert lane.drain(1) and ran == []


def test_urgent_jobs_go_before_queued_ordinary_ones_in_their_own_order() -> None:
    lane, ran = ZkLane(), list[str]()
    gate = threading.Event()
    lane.submit(gate.wait)
    lane.submit(partial(ran.append, "publish"), key="publish")
    lane.submit(partial(ran.append, "recover-a"), urgent=True)
    lane.submit(partial(ran.append, "sweep"), key="sweep")
    lane.submit(partial(ran.append, "recover-b"), urgent=True)
    gate.set()
    assert lane.drain(5)
    assert ran == ["recover-a", "recover-b", "publish", "sweep"]
    lane.close()
