"""The chain board (issue 11 §9): where a chain's items stand (teamread.py), the lines the
snapshot carries and their round trip, the dashboard's chains panel (chainboard.py), and
the reading on the supervisor's lane against a real ZooKeeper."""

from __future__ import annotations

import json
import queue
import time
from dataclasses import replace
from functools import partial
from typing import Any

import pytest

from claude_orchestrator.supervisor.chainboard import ChainTable, chain_table, item_text
from claude_orchestrator.supervisor.dashboard import render
from claude_orchestrator.supervisor.events import Call, Event
from claude_orchestrator.supervisor.lanejobs import InstanceIds
from claude_orchestrator.supervisor.publish import Meta, Publisher, read_team
from claude_orchestrator.supervisor.snapshot import ChainLine, ItemLine, Snapshot
from claude_orchestrator.supervisor.teamread import (
    CHAINS_SHOWN,
    ITEMS_KEPT,
    RECENT,
    ChainReader,
    chain_line,
    item_line,
)
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.chains import Chain, ChainStatus, ChainStore, PlanOptions
from claude_orchestrator.zk.team import Team
from tests.helpers import wait_until
from tests.test_dashboard import NOW, snapshot, text_of
from tests.test_textsafe import HOSTILE, HOSTILE_SPELLED, raw_controls

STAGES = ("build", "verify", "review")
TASKS = {"build": "task-0000000011", "verify": "task-0000000012", "review": "task-0000000013"}


def state(round_: int = 1, status: str = "running", *verdicts: tuple[str, int, str]) -> Any:
    given = [{"stage": s, "round": r, "verdict": v} for s, r, v in verdicts]
    return {"title": "t", "round": round_, "status": status, "tasks": TASKS, "verdicts": given}


# -- where an item stands ---------------------------------------------------------------------


def test_item_line_follows_the_stages_of_its_round() -> None:
    def at(item: Any, active: frozenset[str] = frozenset()) -> tuple[Any, ...]:
        line = item_line("api", item, STAGES, active)
        return line.round, line.stage, line.verdict, line.status

    assert at(state()) == (1, "build", None, "running")
    assert at(state(), frozenset({TASKS["verify"]})) == (1, "verify", None, "running")  # claimed
    assert at(state(1, "running", ("verify", 1, "pass"))) == (1, "review", None, "running")
    assert (
        at(state(1, "running", ("verify", 1, "pass")), frozenset({TASKS["review"]}))[1] == "review"
    )
    passed = state(1, "passed", ("verify", 1, "pass"), ("review", 1, "pass"))
    assert at(passed) == (1, "review", "pass", "passed")
    revised = state(2, "running", ("verify", 1, "revise"))  # round 2 starts again at build
    assert at(revised) == (2, "build", None, "running")
    stuck = state(3, "needs_human", ("verify", 1, "revise"), ("verify", 3, "revise"))
    assert at(stuck) == (3, "verify", "revise", "needs_human")
    assert at(state(1, "needs_human", ("review", 1, "reject"))) == (
        1,
        "review",
        "reject",
        "needs_human",
    )


def test_item_line_reads_a_tampered_state_without_failing() -> None:
    odd = {"round": None, "tasks": "x", "verdicts": [1, None, {"stage": "verify"}]}
    assert item_line("k", odd, STAGES, set()) == ItemLine("k", 1, "build", None, "running")
    assert item_line("k", {}, (), set()) == ItemLine("k", 1, None, None, "running")


def chain(status: ChainStatus = ChainStatus.RUNNING, **fields: Any) -> Chain:
    base = Chain("chain-0000000001", "goal", status, "2026-01-01T00:00:00Z", "op", PlanOptions())
    return base._replace(**fields)


def test_chain_line_keeps_one_line_of_the_goal_and_the_most_telling_items_first() -> None:
    items = {f"i{n}": state(1, "passed", ("verify", 1, "pass"), ("review", 1, "pass"))
             for n in range(ITEMS_KEPT + 2)}  # fmt: skip
    items["late"] = state(3, "needs_human", ("verify", 3, "revise"))
    goal = "\n  Build   the\tlogin page " + "x" * 200 + "\nand more"
    line = chain_line(chain(items=items, goal=goal, title="Login", cost_usd=0.5), set())
    assert line.goal.startswith("Build the login page xxx") and line.goal.endswith("…")
    assert len(line.goal) == 100 and "\n" not in line.goal
    assert line.title == "Login" and line.cost_usd == 0.5 and line.status == "running"
    assert line.items[0] == ItemLine("late", 3, "verify", "revise", "needs_human")
    assert len(line.items) == ITEMS_KEPT and line.items_more == 3
    assert [i.key for i in line.items[1:3]] == ["i0", "i1"]  # the plan's order otherwise


def test_chain_line_of_a_plan_awaiting_approval_lists_its_planned_items() -> None:
    graph = {"title": "T", "items": [{"key": "api"}, {"key": "ui"}, "junk"]}
    line = chain_line(chain(ChainStatus.AWAITING_APPROVAL, extra={"graph": graph}), set())
    assert line.items == (
        ItemLine("api", 0, None, None, "planned"),
        ItemLine("ui", 0, None, None, "planned"),
    )
    assert chain_line(chain(ChainStatus.PLANNING), set()).items == ()


# -- the snapshot -----------------------------------------------------------------------------


def chains() -> tuple[ChainLine, ...]:
    return (
        ChainLine(
            "chain-0000000004", "needs_human", "Fix billing", "Billing fixes", 1.1,
            "item api: 3 rounds without passing verify: no tests",
            (ItemLine("api", 3, "verify", "revise", "needs_human"),
             ItemLine("ui", 1, "review", "pass", "passed")),
        ),
        ChainLine(
            "chain-0000000005", "awaiting_approval", "Migrate the database",
            items=(ItemLine("schema", 0, None, None, "planned"),),
        ),
        ChainLine(
            "chain-0000000003", "running", "Build a login page", "Login", 0.42, None,
            (ItemLine("api", 2, "review", None, "running"),
             ItemLine("ui", 1, "build", None, "running")),
            items_more=3,
        ),
        ChainLine("chain-0000000006", "planning", "Write the docs"),
        ChainLine("chain-0000000001", "done", "An old goal", "Old", 3.5),
    )  # fmt: skip


def with_chains(more: int = 0) -> Snapshot:
    return replace(snapshot(), chains=chains(), chains_more=more)


def test_snapshot_with_chains_round_trips_through_json() -> None:
    snap = with_chains(more=2)
    data = json.loads(json.dumps(snap.to_dict()))
    assert Snapshot.from_dict(data) == snap
    assert data["chains"][0]["items"][0] == {
        "key": "api",
        "round": 3,
        "stage": "verify",
        "verdict": "revise",
        "status": "needs_human",
    }
    assert data["chains_more"] == 2
    assert hash(snap) == hash(replace(snap))


def test_chain_lines_from_dict_tolerate_missing_keys() -> None:
    data = {
        "team": "t",
        "taken_at": NOW,
        "chains": [{"id": "chain-0000000001", "items": [{"key": "a"}]}],
    }
    [line] = Snapshot.from_dict(data).chains
    assert line == ChainLine("chain-0000000001", "", items=(ItemLine("a", 0),))
    assert Snapshot.from_dict({"team": "t", "taken_at": NOW}).chains == ()
    with pytest.raises(ValueError, match="'key'"):
        ItemLine.from_dict({"round": 1})


# -- the dashboard's chains panel -------------------------------------------------------------


def row_of(out: str, text: str) -> str:
    return next(line for line in out.splitlines() if text in line)


def test_item_text_compacts_key_round_stage_and_verdict() -> None:
    assert item_text(ItemLine("api", 2, "review", "pass", "passed")) == "api r2 review ✓"
    assert item_text(ItemLine("ui", 1, "build", None, "running")) == "ui r1 build …"
    assert item_text(ItemLine("db", 3, "verify", "revise", "needs_human")) == "db r3 verify ↻"
    assert item_text(ItemLine("x", 1, "review", "reject", "needs_human")) == "x r1 review ✗"
    assert item_text(ItemLine("q", 1, "review", "maybe")) == "q r1 review maybe"
    assert item_text(ItemLine("schema", 0, None, None, "planned")) == "schema"


def test_render_shows_the_chain_board_between_team_and_tasks() -> None:
    out = text_of(render(with_chains(), NOW), width=140, height=80)
    lines = out.splitlines()
    headers = [
        n for n, line in enumerate(lines) if line.startswith(("team ─", "chains ─", "tasks ─"))
    ]
    assert [lines[n].split()[0] for n in headers] == ["team", "chains", "tasks"]
    running = row_of(out, "chain-0000000003")
    assert "running" in running and "$0.42" in running and "Login" in running
    assert "api r2 review … · ui r1 build … · +3 more" in running
    human = lines.index(row_of(out, "chain-0000000004"))
    assert "api r3 verify ↻ · ui r1 review ✓" in lines[human]
    assert "item api: 3 rounds without passing verify: no tests" in lines[human + 1]  # under it
    assert "schema" in row_of(out, "chain-0000000005")
    assert "plan …" in row_of(out, "chain-0000000006")
    assert "Old" in row_of(out, "chain-0000000001")


def test_the_chains_someone_must_act_on_stand_out() -> None:
    table = chain_table(chains())
    styles = [str(row.style or "") for row in table.rows]
    assert styles[:3] == ["bold red", "yellow", ""]  # needs_human, awaiting_approval, running


def test_the_board_shows_six_chains_and_counts_the_rest() -> None:
    many = tuple(ChainLine(f"chain-00000000{n:02d}", "running", f"goal {n}") for n in range(9))
    out = text_of(ChainTable(many, more=4), width=100)
    assert "chain-0000000005" in out and "chain-0000000006" not in out
    assert "… 7 more" in out


def test_render_hides_the_panel_without_chains() -> None:
    out = text_of(render(snapshot(), NOW))
    assert "chains ─" not in out and "CHAIN" not in out


@pytest.mark.parametrize("width", [60, 100, 140])
def test_the_board_fits_the_width_and_leaves_the_goal_out_first(width: int) -> None:
    lines = text_of(render(with_chains(), NOW), width=width, height=80).splitlines()
    assert max(len(line) for line in lines) <= width
    header = next(line for line in lines if line.startswith("CHAIN"))
    assert ("GOAL" in header) == (width >= 96) and ("COST" in header) == (width >= 64)
    assert "needs_human" in row_of("\n".join(lines), "chain-0000000004")


@pytest.mark.parametrize("width", [10, 30])
def test_the_board_never_crashes_when_very_narrow(width: int) -> None:
    assert "chains" in text_of(render(with_chains(), NOW), width=width, height=80)


def test_the_board_spells_out_control_characters_and_never_reads_markup() -> None:
    bad = f"x{HOSTILE}"
    markup = "[bold red]boom[/] [/]"
    line = ChainLine(
        "chain-0000000001", "needs_human", bad, markup, 0.0, bad,
        (ItemLine(bad, 1, bad, bad, "running"),),
    )  # fmt: skip
    out = text_of(ChainTable((line,)), width=400)
    assert raw_controls(out) == []
    assert out.count(f"x{HOSTILE_SPELLED}") == 4  # item key, stage, verdict; the reason
    assert markup in out


# -- reading the board on the lane (a real ZooKeeper) -----------------------------------------


def new_chain(store: ChainStore, team: Team, goal: str) -> str:
    return store.create(team.tasks, goal, "op", time.time(), PlanOptions())[0].id


def set_status(store: ChainStore, chain_id: str, status: ChainStatus, at: float) -> None:
    store.update(chain_id, lambda c: {"status": status}, "op", at, f"now {status.value}")


def test_the_reader_shows_chains_not_final_and_the_last_few_finished(team: Team) -> None:
    store, reader = ChainStore(team.client, team.name), ChainReader()
    assert reader.read(team.client, team.name, set(), time.time()).lines == ()  # no folder yet
    ids = [new_chain(store, team, f"goal {n}") for n in range(9)]
    now = time.time()
    set_status(store, ids[0], ChainStatus.DONE, now - RECENT - 60)  # finished long ago
    for n in (1, 2, 3, 4, 5, 6):
        set_status(store, ids[n], ChainStatus.DONE, now - 600 + n)  # recently, 6 newest last
    set_status(store, ids[7], ChainStatus.NEEDS_HUMAN, now)
    board = reader.read(team.client, team.name, set(), now)
    shown = [(line.id, line.status) for line in board.lines]
    assert shown[:2] == [(ids[7], "needs_human"), (ids[8], "planning")]  # act on first
    assert shown[2:] == [(ids[n], "done") for n in (6, 5, 4, 3, 2)]  # the newest five
    assert board.more == 0
    assert reader.settled == {ids[0]}  # never read again


def test_the_reader_reads_only_the_records_that_changed(team: Team) -> None:
    store, reader = ChainStore(team.client, team.name), ChainReader()
    first, second = new_chain(store, team, "one"), new_chain(store, team, "two")
    reader.read(team.client, team.name, set(), time.time())
    read: list[str] = []
    real_get = team.client.get_async

    def counting(path: str, *args: Any) -> Any:
        read.append(path.rsplit("/", 1)[-1])
        return real_get(path, *args)

    def board_read() -> Any:
        team.client.get_async = counting
        try:
            return reader.read(team.client, team.name, set(), time.time())
        finally:
            team.client.get_async = real_get

    assert len(board_read().lines) == 2
    assert read == []
    set_status(store, second, ChainStatus.CANCELLED, time.time())
    board = board_read()
    assert read == [second]
    assert [(line.id, line.status) for line in board.lines] == [
        (first, "planning"),
        (second, "cancelled"),
    ]


def test_the_reader_bounds_the_board(team: Team) -> None:
    store, reader = ChainStore(team.client, team.name), ChainReader()
    ids = [new_chain(store, team, f"goal {n}") for n in range(CHAINS_SHOWN + 2)]
    set_status(store, ids[0], ChainStatus.DONE, time.time())
    board = reader.read(team.client, team.name, set(), time.time())
    assert len(board.lines) == CHAINS_SHOWN and board.more == 1
    assert all(line.status == "planning" for line in board.lines)  # no room for the done one


def pump(posted: queue.SimpleQueue[Event]) -> int:
    """Run what was posted to the loop (this test is the supervisor's loop); how many."""
    ran = 0
    while not posted.empty():
        event = posted.get()
        assert isinstance(event, Call)
        event.fn()
        ran += 1
    return ran


def test_the_publisher_reads_chains_on_full_readings_and_a_new_chain_asks_for_one(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: queue.SimpleQueue[Event] = queue.SimpleQueue()
    lane = ZkLane()
    publisher = Publisher(team, lane, posted.put, lambda _line: None, "h1", 10.0)
    snaps: list[Snapshot] = []
    publisher.watchers.append(snaps.append)
    reads: list[float] = []
    real_read = publisher.chains.read

    def counted(*args: Any) -> Any:
        reads.append(time.time())
        return real_read(*args)

    monkeypatch.setattr(publisher.chains, "read", counted)
    meta = Meta(team.name, "h1", 1, "zk", False, None)
    reader = partial(read_team, InstanceIds(team), None, [], True, publisher.feed)

    def publish() -> Snapshot:
        publisher.pending_due = time.monotonic()
        count = len(snaps)
        publisher.maybe_publish(meta, [], reader)
        wait_until(lambda: pump(posted) >= 0 and len(snaps) > count, what="the snapshot")
        return snaps[-1]

    try:
        publisher.baseline()
        pump(posted)  # the chain folder watch's first call
        assert publish().chains == () and len(reads) == 1
        assert publish().chains == () and len(reads) == 1  # a keepalive reads no chain
        chain_id = new_chain(ChainStore(team.client, team.name), team, "Build it")
        wait_until(lambda: not posted.empty(), what="the chain folder's watch")
        pump(posted)
        assert publisher.marked
        [line] = publish().chains
        assert (line.id, line.status, line.goal) == (chain_id, "planning", "Build it")
        assert len(reads) == 2
        assert publish().chains == (line,) and len(reads) == 2  # kept by the keepalive
        store = ChainStore(team.client, team.name)
        set_status(store, chain_id, ChainStatus.CANCELLED, time.time())  # no task changes
        wait_until(lambda: not posted.empty(), what="the watch on the chain's record")
        pump(posted)
        assert publisher.marked
        assert [c.status for c in publish().chains] == ["cancelled"] and len(reads) == 3
    finally:
        lane.close()
