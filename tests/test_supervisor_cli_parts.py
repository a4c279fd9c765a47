"""The supervisor-side work of the CLI's supervisor commands, as plain functions:
signals posted as enums, the ps view, ``down`` with nothing running, ``up -d`` failing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.supervisor.events import Signal, SignalReceived
from claude_orchestrator.supervisor.snapshot import STALE_AFTER, Snapshot, WorkerRow

NOW = 1_000_000.0


@pytest.fixture
def restored_signals() -> Iterator[None]:
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in kept.items():
        signal.signal(sig, handler)


def test_signals_are_posted_as_enums_and_a_second_int_kills(restored_signals: None) -> None:
    from claude_orchestrator.supervisor.signals import install_signal_handlers

    posted: list[SignalReceived] = []
    install_signal_handlers(posted.append)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGINT):
        signal.raise_signal(sig)  # the handler runs before raise_signal returns
    assert [p.kind for p in posted] == [Signal.TERM, Signal.HUP, Signal.INT, Signal.KILL]


def _snap(host: str, taken_at: float) -> Snapshot:
    row = WorkerRow(name=f"w-{host}", role="builder", host=host, state="running", pid=7)
    return Snapshot("t", host, 9, "127.0.0.1:1", True, True, taken_at, (row,))


def test_team_view_marks_stale_supervisors_rows_with_their_age() -> None:
    from claude_orchestrator.supervisor.teamview import TeamView, known_rows

    fresh, stale = _snap("a", NOW - 1), _snap("b", NOW - STALE_AFTER - 5)
    view = TeamView(known_rows([fresh, stale], NOW), [stale], NOW)
    rows = {r["name"]: r for r in view.json_rows()}
    assert "snapshot_age" not in rows["w-a"] and rows["w-a"]["state"] == "running"
    assert rows["w-b"]["snapshot_age"] == round(STALE_AFTER + 5, 1)
    assert rows["w-b"]["state"] == "unknown"
    (line,) = view.stale_lines()
    assert "the supervisor on b (pid 9) stopped publishing" in line


def test_an_embedded_team_never_started_is_not_running(tmp_path: Path) -> None:
    from claude_orchestrator.supervisor.teamview import never_started

    assert never_started(tmp_path, embedded=True)
    assert not never_started(tmp_path, embedded=False)


def test_down_with_nothing_running_touches_neither_zookeeper_nor_the_server(
    tmp_path: Path,
) -> None:
    from claude_orchestrator.supervisor.down import down

    def no_team() -> object:
        raise AssertionError("nothing to release: ZooKeeper is not needed")

    reply = down(tmp_path, 1.0, no_team, embedded=True)
    assert reply == {"stopped": [], "supervisor": "not running", "zookeeper": "untouched"}


def test_detach_reports_a_supervisor_that_exits_with_its_log(tmp_path: Path) -> None:
    from claude_orchestrator.conf.settings import resolve_settings
    from claude_orchestrator.supervisor.detach import detach

    settings = resolve_settings({}, dict(os.environ), tmp_path, tmp_path)
    settings = settings._replace(state_dir=tmp_path / "state")
    with pytest.raises(OrchestratorError, match=r"the supervisor exited \(2\)"):
        detach(settings, ["--no-such-flag"], 30.0)
    assert "no-such-flag" in (tmp_path / "state" / "logs" / "supervisor.log").read_text()
