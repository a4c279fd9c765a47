"""`merges` and `show-merge` as a stranger types them (issue 12): bad input refused with
``error:`` and the usage exit code, a missing chain an error, a chain never queued shown
with ``status: null``, and the queue's order and records as the leader writes them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from claude_orchestrator.zk.chains import ChainStatus, ChainStore, PlanOptions
from claude_orchestrator.zk.merges import MergeRecords, enqueue
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.team import Team
from claude_orchestrator.zk.txn import Txn
from tests.clihelp import Cli


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def queued_chain(team: Team) -> str:
    """A running chain queued for merging, as an accept's pass leaves it."""
    store = ChainStore(team.client, "test")
    chain, _ = store.create(team.tasks, "goal", "test", time.time(), PlanOptions(merge=True))
    running = store.update(chain.id, lambda c: {"status": ChainStatus.RUNNING}, "t", 0.0, "run")
    t = Txn(team.client)
    queued = enqueue(t, TeamPaths("test"), running, "t", "now")
    t.set_data(TeamPaths("test").chain(chain.id), _encoded(queued), store.read(chain.id)[1])
    t.commit()
    return chain.id


def _encoded(chain: object) -> bytes:
    from claude_orchestrator.zk.codec import encode

    return encode(chain.to_dict(), "task record")  # type: ignore[attr-defined]


def test_merges_refuses_bad_input_and_changes_nothing(co: Cli) -> None:
    assert co.ok("merges") == []  # a team not made yet: nothing queued, nothing created
    for args in (("merges", "--status", "bogus"), ("show-merge", "--chain-id", "chain-1")):
        r = co(*args)
        assert r.code == 2 and r.err.startswith("error:") and "Traceback" not in r.err, args
    co.ok("push-task", "--title", "makes the team")
    r = co("show-merge", "--chain-id", "chain-0000000009")
    assert r.code == 1 and r.err.startswith("error:") and "chain-0000000009" in r.err


def test_merges_lists_the_queue_in_order_and_show_merge_one(co: Cli, team: Team) -> None:
    first, second = queued_chain(team), queued_chain(team)
    rows = co.ok("merges")
    assert [(r["chain_id"], r["status"], r["position"]) for r in rows] == [
        (first, "queued", 0),
        (second, "queued", 1),
    ]
    MergeRecords(team.client, "test").begin(first, "a" * 40, "leader", time.time(), "b" * 40)
    assert [r["chain_id"] for r in co.ok("merges", "--status", "merging")] == [first]
    shown = co.ok("show-merge", "--chain-id", first)
    assert shown["status"] == "merging" and shown["base_sha"] == "a" * 40
    assert shown["chain_tip"] == "b" * 40 and shown["branch"] == f"co/{first}"
    plain = ChainStore(team.client, "test").create(
        team.tasks, "another", "test", time.time(), PlanOptions()
    )[0]
    assert co.ok("show-merge", "--chain-id", plain.id)["status"] is None
