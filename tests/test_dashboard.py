"""The dashboard and ``ps`` rendering (supervisor/dashboard.py) and the snapshot (snapshot.py).

Rendered into a fixed-size, colourless console and read back as text.
"""

from __future__ import annotations

import calendar
import io
import json
import time

import pytest
from rich.console import Console, RenderableType

from claude_orchestrator.supervisor.dashboard import (
    PS_DROP_ORDER,
    TeamTable,
    event_line_text,
    ps_hidden,
    ps_table,
    render,
    state_text,
    uptime_text,
)
from claude_orchestrator.supervisor.plaintext import clock_text
from claude_orchestrator.supervisor.snapshot import EventLine, Snapshot, TaskLine, WorkerRow
from tests.test_textsafe import HOSTILE, HOSTILE_SPELLED, raw_controls

NOW = 1_800_000_000.0
LONG_TITLE = "Write the migration guide for the new storage backend and every one of its options"
KINDS = ("joined", "started", "claimed", "completed", "failed", "recovered", "restarted")


def text_of(renderable: RenderableType, width: int = 100, height: int = 40) -> str:
    console = Console(
        width=width,
        height=height,
        color_system=None,
        record=True,
        force_terminal=False,
        file=io.StringIO(),  # keep pytest's output clean; the record is what we read
    )
    console.print(renderable)
    return console.export_text()


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def workers() -> tuple[WorkerRow, ...]:
    return (
        WorkerRow(
            "coder-1", "coder", "build-host-1", "running", pid=4242, started_at=NOW - 185,
            restarts=2, last_exit="killed by SIGKILL", current_task="task-0000000007",
            cost_usd=0.1234, instance_id="inst-1",
        ),
        WorkerRow(
            "reviewer", "reviewer", "build-host-1", "backoff", restarts=5,
            last_exit="exited 1", next_try_at=NOW + 2.4,
        ),
        WorkerRow("coder-2", "coder", "build-host-1", "fatal", restarts=9, last_exit="exited 127"),
        WorkerRow("tester", "tester", "build-host-2", "stopped"),
    )  # fmt: skip


def pending() -> tuple[TaskLine, ...]:
    titles = [LONG_TITLE, *(f"Small task {i}" for i in range(11, 16))]
    return tuple(
        TaskLine(f"task-00000000{10 + i}", title, 1 + i % 2, "pending")
        for i, title in enumerate(titles)
    )


def events(count: int = 12) -> tuple[EventLine, ...]:
    return tuple(
        EventLine(NOW - 100 + 5 * i, KINDS[i % len(KINDS)], "coder-1", None, f"event number {i}")
        for i in range(count)
    )


def snapshot() -> Snapshot:
    counts = {"pending": 12, "waiting": 1, "active": 1, "failed": 2, "completed": 30}
    working = TaskLine(
        "task-0000000007", "Implement retries", 1, "in_progress", "coder-1", NOW - 125
    )
    return Snapshot(
        team="hello", host="build-host-1", pid=999, zookeeper="127.0.0.1:40123",
        embedded=True, leader=True, taken_at=NOW, workers=workers(), counts=counts,
        pending_head=pending(), in_progress=(working,), events=events(),
    )  # fmt: skip


def empty_snapshot() -> Snapshot:
    return Snapshot("empty", "", 0, "", embedded=False, leader=False, taken_at=NOW)


# -- plain text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("started_at", "expected"),
    [
        (None, "-"),
        (NOW, "0s"),
        (NOW - 42, "42s"),
        (NOW - 59.9, "59s"),
        (NOW - 185, "3m05s"),
        (NOW - (2 * 3600 + 3 * 60 + 7), "2h03m"),
        (NOW - (26 * 3600 + 59), "1d02h"),
        (NOW + 30, "0s"),  # a clock a little ahead never shows a negative uptime
    ],
)
def test_uptime_text_formats(started_at: float | None, expected: str) -> None:
    assert uptime_text(started_at, NOW) == expected


def test_event_line_text_is_one_utc_line() -> None:
    at = float(calendar.timegm((2026, 11, 25, 12, 0, 0, 0, 0, 0)))
    assert (
        event_line_text(EventLine(at, "restarted", "w1", None, "killed by SIGKILL"))
        == "2026-11-25T12:00:00Z restarted w1: killed by SIGKILL"
    )
    assert (
        event_line_text(EventLine(at, "claimed", "w1", "task-0000000003", "Fix\nlogin"))
        == "2026-11-25T12:00:00Z claimed w1 task-0000000003: Fix login"
    )
    assert event_line_text(EventLine(at, "joined", "w2")) == "2026-11-25T12:00:00Z joined w2"


def test_state_text_colours_by_state() -> None:
    styles = {
        state: str(state_text(WorkerRow("w", "r", "h", state), NOW).style)
        for state in ("running", "starting", "backoff", "fatal", "exited", "stopped")
    }
    assert styles["running"] == "green"
    assert styles["starting"] == styles["backoff"] == "yellow"
    assert "red" in styles["fatal"] and "red" in styles["exited"]
    assert styles["stopped"] == "dim"


def test_state_text_says_a_pause_and_a_budget_hold() -> None:
    paused = WorkerRow("w", "r", "h", "running", paused_until=NOW + 90, paused_reason="429")
    assert str(state_text(paused, NOW)) == f"paused until {clock_text(NOW + 90)} (429)"
    assert str(state_text(paused, NOW + 91)) == "running"  # it ended: no stale notice
    held = WorkerRow("w", "r", "h", "running", paused_reason="team budget $1.00 reached")
    assert str(state_text(held, NOW)) == "held (team budget $1.00 reached)"
    assert str(state_text(held, NOW).style) == "yellow"


# -- the team table ---------------------------------------------------------------------------


def test_ps_table_shows_every_column() -> None:
    out = text_of(ps_table(workers(), NOW), width=160)
    for header in ("NAME", "ROLE", "HOST", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT"):
        assert header in out
    assert "TASK" in out and "COST" in out
    running = next(line for line in out.splitlines() if "coder-1" in line)
    for cell in ("coder", "build-host-1", "running", "4242", "3m05s", "2", "killed by SIGKILL"):
        assert cell in running
    assert "task-0000000007" in running and "$0.12" in running


def test_ps_table_backoff_says_when_it_retries() -> None:
    out = text_of(ps_table(workers(), NOW), width=160)
    backoff = next(line for line in out.splitlines() if "reviewer" in line)
    assert "backoff (retry in 3s)" in backoff
    assert backoff.rstrip().endswith("-")  # no cost yet


def test_ps_table_hides_requested_columns() -> None:
    out = text_of(ps_table(workers(), NOW, hide=("HOST", "ROLE")), width=160)
    assert "HOST" not in out and "build-host-1" not in out and "ROLE" not in out
    assert "task-0000000007" in out


def test_ps_hidden_drops_least_useful_columns_first() -> None:
    rows = workers()
    assert ps_hidden(rows, NOW, 200) == ()
    assert ps_hidden(rows, NOW, 100) == ("RESTARTS", "UPTIME")
    narrow = ps_hidden(rows, NOW, 60)
    assert narrow == PS_DROP_ORDER[: len(narrow)] and len(narrow) > 1
    assert "TASK" not in PS_DROP_ORDER and "STATE" not in PS_DROP_ORDER
    assert PS_DROP_ORDER[-2:] == ("HOST", "ROLE")  # who does what, and where, go last


def test_ps_at_80_columns_keeps_role_and_host_and_names_what_it_left_out() -> None:
    out = text_of(TeamTable(workers(), NOW), width=80)
    header = out.splitlines()[0]
    for kept in ("NAME", "ROLE", "HOST", "STATE", "TASK"):
        assert kept in header
    assert "task-0000000007" in out and "build-host-1" in out
    assert "not shown at this width: RESTARTS, UPTIME" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_ps_leaves_out_empty_columns_first_and_does_not_mention_them() -> None:
    rows = [WorkerRow("w1", "dev", "h", "running", 1, NOW - 5, current_task="task-0000000001")]
    hidden = ps_hidden(rows, NOW, 60)
    assert hidden[:2] == ("LAST EXIT", "COST")  # nothing to show in any row
    out = text_of(TeamTable(rows, NOW), width=60)
    assert "LAST EXIT" not in out and "COST" not in out  # and the note does not name them
    assert out.splitlines()[-1].startswith("not shown at this width: RESTARTS")


def test_a_stale_snapshot_shows_its_workers_as_unknown() -> None:
    from claude_orchestrator.supervisor.snapshot import STALE_AFTER, is_stale, rows_as_known

    snap = snapshot()
    assert rows_as_known(snap, snap.taken_at + 1) == snap.workers
    later = snap.taken_at + STALE_AFTER + 1
    assert is_stale(snap, later)
    assert {row.state for row in rows_as_known(snap, later)} == {"unknown"}


# -- the dashboard ----------------------------------------------------------------------------


def test_render_fits_100x30() -> None:
    lines = text_of(render(snapshot(), NOW)).splitlines()
    assert len(lines) <= 30
    assert max(len(line) for line in lines) <= 100


def test_render_shows_header_team_board_and_events() -> None:
    out = text_of(render(snapshot(), NOW))
    assert "team hello" in out
    assert "zookeeper 127.0.0.1:40123 (embedded)" in out
    assert "leader yes" in out and clock(NOW) in out
    for name in ("coder-1", "reviewer", "coder-2", "tester"):
        assert name in out
    for state in ("running", "backoff (retry in 3s)", "fatal", "stopped"):
        assert state in out
    assert "task-0000000007" in out and "$0.12" in out
    for count in ("pending 12", "waiting 1", "active 1", "blocked 0", "failed 2", "completed 30"):
        assert count in out
    assert "cancelled 0" in out


def test_render_task_board_lists_pending_head_and_work_in_progress() -> None:
    out = text_of(render(snapshot(), NOW))
    assert "task-0000000010" in out and "p1" in out
    assert "Small task 11" in out
    assert "for 2m05s" in out and "Implement retries" in out
    assert "task-0000000015" not in out  # only the head of the queue


def test_render_truncates_long_titles_with_ellipsis() -> None:
    out = text_of(render(snapshot(), NOW))
    assert LONG_TITLE not in out
    line = next(line for line in out.splitlines() if "task-0000000010" in line)
    assert "Write the migration" in line and "…" in line


def test_render_shows_the_last_ten_events() -> None:
    out = text_of(render(snapshot(), NOW))
    assert "event number 11" in out and "event number 2" in out
    assert "event number 1\n" not in out and "event number 0" not in out
    last = next(line for line in out.splitlines() if "event number 11" in line)
    assert last.split()[:3] == [clock(NOW - 100 + 55), "failed", "coder-1"]


def test_render_empty_snapshot() -> None:
    out = text_of(render(empty_snapshot(), NOW))
    assert "team empty" in out and "leader no" in out
    assert "no workers" in out and "no events yet" in out
    assert "pending 0" in out and "none" in out


@pytest.mark.parametrize("width", [60, 140])
def test_render_other_widths(width: int) -> None:
    lines = text_of(render(snapshot(), NOW), width=width).splitlines()
    assert max(len(line) for line in lines) <= width
    out = "\n".join(lines)
    for text in ("coder-1", "reviewer", "backoff (retry in 3s)", "fatal", "task-0000000007"):
        assert text in out
    assert "pending 12" in out and "event number 11" in out


def test_render_at_60_keeps_each_count_whole() -> None:
    out = text_of(render(snapshot(), NOW), width=60)
    assert "completed 30" in out and "cancelled 0" in out


@pytest.mark.parametrize("width", [10, 30])
def test_render_never_crashes_when_very_narrow(width: int) -> None:
    assert "tasks" in text_of(render(snapshot(), NOW), width=width)
    assert text_of(render(empty_snapshot(), NOW), width=width)


# -- the snapshot -----------------------------------------------------------------------------


def test_snapshot_round_trips_through_json() -> None:
    snap = snapshot()
    data = json.loads(json.dumps(snap.to_dict()))
    assert Snapshot.from_dict(data) == snap
    assert data["workers"][0]["name"] == "coder-1"
    assert data["counts"]["pending"] == 12


def test_snapshot_is_immutable_and_hashable() -> None:
    counts = {"pending": 1}
    snap = Snapshot("t", "h", 1, "zk", False, True, NOW, counts=counts)
    counts["pending"] = 5
    assert snap.counts["pending"] == 1
    with pytest.raises(TypeError):
        snap.counts["pending"] = 2  # type: ignore[index]
    assert hash(snap) == hash(Snapshot("t", "h", 1, "zk", False, True, NOW, counts={"x": 2}))


def test_snapshot_from_dict_tolerates_missing_optional_keys() -> None:
    snap = Snapshot.from_dict(
        {
            "team": "t",
            "taken_at": NOW,
            "workers": [{"name": "w1", "state": "running"}],
            "pending_head": [{"id": "task-0000000001"}],
            "events": [{"at": NOW, "kind": "joined"}],
        }
    )
    assert snap.workers == (WorkerRow("w1", "", "", "running"),)
    assert snap.pending_head[0].title == "" and snap.pending_head[0].worker is None
    assert snap.events == (EventLine(NOW, "joined"),)
    assert snap.counts == {} and snap.in_progress == () and not snap.leader


def test_snapshot_from_dict_names_a_missing_required_key() -> None:
    with pytest.raises(ValueError, match="'taken_at'"):
        Snapshot.from_dict({"team": "t"})
    with pytest.raises(ValueError, match="'state'"):
        WorkerRow.from_dict({"name": "w1"})


# -- text from tasks and agents is shown, never obeyed ------------------------------------


def hostile_snapshot(title: str = f"title{HOSTILE}") -> Snapshot:
    bad = f"x{HOSTILE}"
    row = WorkerRow(
        bad, bad, bad, "running", pid=1, started_at=NOW, last_exit=bad, current_task=bad
    )
    return Snapshot(
        team=bad, host=bad, pid=1, zookeeper=bad, embedded=False, leader=True, taken_at=NOW,
        workers=(row,), counts={bad: 1},
        pending_head=(TaskLine("task-0000000001", title, 1, "pending"),),
        in_progress=(TaskLine("task-0000000002", title, 1, "in_progress", bad, NOW),),
        events=(EventLine(NOW, "claimed", bad, bad, f"{title}\nsecond line"),),
    )  # fmt: skip


def test_render_spells_out_control_characters_from_the_snapshot() -> None:
    out = text_of(render(hostile_snapshot(), NOW), width=400, height=60)
    assert raw_controls(out) == []
    assert f"title{HOSTILE_SPELLED}" in out
    assert f"title{HOSTILE_SPELLED}\\nsecond line" not in out  # whitespace folded, not spelled


def test_ps_table_spells_out_control_characters() -> None:
    out = text_of(TeamTable(hostile_snapshot().workers, NOW), width=400)
    assert raw_controls(out) == []
    assert out.count(f"x{HOSTILE_SPELLED}") == 5  # name, role, host, last exit, task


def test_render_never_reads_task_text_as_rich_markup() -> None:
    title = "[bold red]boom[/] [/] [link=http://x]y"
    out = text_of(render(hostile_snapshot(title), NOW), width=400, height=60)
    assert out.count(title) == 3  # pending, in progress, events


def test_event_line_text_spells_out_control_characters() -> None:
    line = event_line_text(EventLine(NOW, "claimed", "w\x9b", f"t{HOSTILE}", f"a\tb{HOSTILE}"))
    assert raw_controls(line, allowed="") == []
    folded = HOSTILE_SPELLED.replace("\\r", " ")  # the text's whitespace runs become a space
    assert line.endswith(f"claimed w\\x9b t{HOSTILE_SPELLED}: a b{folded}")


def test_render_shows_blocked_tasks_with_their_reasons_and_the_leader_s_name() -> None:
    from dataclasses import replace

    stuck = TaskLine("task-0000000042", "Deploy", 1, "blocked", "jerry-1a2b3c4d", reason="no key")
    snap = replace(snapshot(), blocked=(stuck,), name="tom")
    out = text_of(render(snap, NOW))
    line = next(line for line in out.splitlines() if "task-0000000042" in line)
    assert "BLOCKED" in out and "no key" in line and "jerry" in line
    assert "leader yes (tom)" in out
    assert Snapshot.from_dict(json.loads(json.dumps(snap.to_dict()))) == snap
