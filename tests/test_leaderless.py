"""Without a leader: one-shot commands expire leases and recover orphans themselves, and
sending, polling and claiming share one notion of alive (a fake clock where possible)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.errors import IdentityError, NotFoundError
from claude_orchestrator.zk import recovery
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.tasks import TaskStore
from claude_orchestrator.zk.team import Team
from tests.clihelp import Cli
from tests.helpers import claim, wait_until

T0 = 1_900_000_000.0
LEASE = 30.0


def lease_holder(team: Team, name: str, at: float = T0) -> Actor:
    reg = Registration(name, "developer", "/tmp", session_bound=False, lease_s=LEASE)
    inst = team.registry.register(reg, at)
    return Actor(label=inst["id"], instance_id=inst["id"], name=name, role="developer")


def claimed_task(team: Team, actor: Actor) -> str:
    push(team.tasks, [validate_spec({"title": "t"}, "test")], "op", T0)
    got = claim(team.tasks, actor, T0, spread=1)
    assert got is not None
    return str(got.id)


def test_leaderless_sweep_recovers_a_dead_lease_s_task_once_the_lease_runs_out(team: Team) -> None:
    jerry = lease_holder(team, "jerry")
    task_id = claimed_task(team, jerry)
    report = recovery.sweep_if_leaderless(team.tasks, T0 + LEASE - 1)
    assert report is not None and report.expired == [] and report.recovered == []
    report = recovery.sweep_if_leaderless(team.tasks, T0 + LEASE + 1)
    assert report is not None
    assert report.expired == [jerry.instance_id] and report.recovered == [task_id]
    rec = team.tasks.get(task_id)
    assert rec.status == "pending" and rec.retry_count == 1
    assert team.registry.find(str(jerry.instance_id)) is None


def test_leaderless_sweep_leaves_the_work_to_a_live_leader(team: Team) -> None:
    jerry = lease_holder(team, "jerry")
    task_id = claimed_task(team, jerry)
    team.client.create(team.tasks.paths.leader, b"x", ephemeral=True)
    assert recovery.sweep_if_leaderless(team.tasks, T0 + LEASE + 1) is None
    assert team.tasks.get(task_id).status == "claimed"
    assert team.registry.find(str(jerry.instance_id)) is not None


def test_leaderless_sweep_of_a_team_without_a_tree_creates_nothing(team: Team) -> None:
    store = TaskStore(team.client, "ghost-team")  # a team whose tree was never made
    assert recovery.sweep_if_leaderless(store, T0) is None
    assert team.client.exists(store.paths.root) is None


def test_expiry_spares_a_lease_renewed_since_it_was_read(team: Team) -> None:
    jerry = lease_holder(team, "jerry")
    iid = str(jerry.instance_id)
    team.registry.heartbeat(iid, T0 + LEASE + 5, None)  # renewed: alive at T0 + LEASE + 1
    assert team.registry.expire_leases(T0 + LEASE + 1) == []
    assert team.registry.find(iid) is not None


def test_expiry_tells_when_the_next_lease_runs_out(team: Team) -> None:
    lease_holder(team, "old")
    lease_holder(team, "new", at=T0 + 20)
    assert team.registry.expire_leases(T0 + 1) == []
    assert team.registry.next_lease_end == pytest.approx(T0 + LEASE)  # the leader sweeps then
    assert len(team.registry.expire_leases(T0 + LEASE + 1)) == 1
    assert team.registry.next_lease_end == pytest.approx(T0 + 20 + LEASE)


def test_sending_skips_expired_recipients_and_refuses_a_single_one(team: Team) -> None:
    old = lease_holder(team, "old")
    new = lease_holder(team, "new", at=T0 + 20)
    later = T0 + LEASE + 1  # old's lease ran out, new's not
    ids = [str(old.instance_id), str(new.instance_id)]
    sent = team.inboxes.send(ids, "hi", "op", "info", later)
    assert [m["to"] for m in sent] == [new.instance_id]
    with pytest.raises(NotFoundError, match="not alive"):
        team.inboxes.send(ids[:1], "hi", "op", "info", later)
    with pytest.raises(NotFoundError, match="no live instance"):
        team.inboxes.send(ids[:1] * 2, "hi", "op", "info", later)


def test_an_expired_instance_cannot_poll_its_inbox(team: Team) -> None:
    old = lease_holder(team, "old")
    iid = str(old.instance_id)
    team.inboxes.send([iid], "hi", "op", "info", T0)
    with pytest.raises(IdentityError, match="lease of instance"):
        team.inboxes.poll(iid, iid, T0 + LEASE + 1)
    with pytest.raises(IdentityError, match="lease of instance"):
        team.inboxes.wait(iid, iid, 0.1, lambda: T0 + LEASE + 1)
    assert [m["body"] for m in team.inboxes.poll(iid, iid, T0 + 1)] == ["hi"]


# --- through the CLI: real time, a one-second lease -------------------------------------------


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def test_a_command_recovers_the_task_of_a_run_out_lease_without_a_leader(co: Cli) -> None:
    jerry = co.ok("register", "--name", "jerry", "--lease", "1s")["id"]
    co.ok("push-task", "--title", "t")
    task = co.ok("claim-task", "-i", jerry)
    assert task["claimed_by"] == jerry

    def requeued() -> bool:
        return bool(co.ok("list-tasks", "--status", "pending"))

    wait_until(requeued, 10, "list-tasks to show the task back in the queue")
    rec = co.ok("show-task", "--task-id", task["id"])
    assert rec["retry_count"] == 1 and rec["claimed_by"] is None
    assert co.ok("list-instances") == []


def test_an_expired_instance_neither_sends_nor_receives(co: Cli, team: Team) -> None:
    team.client.create(team.tasks.paths.leader, b"x", ephemeral=True)  # a leader that lags
    bob = co.ok("register", "--name", "bob", "--lease", "1s")["id"]
    ann = co.ok("register", "--name", "ann")["id"]
    wait_until(
        lambda: [i["name"] for i in co.ok("list-instances") if not i["alive"]] == ["bob"],
        10,
        "bob's lease to run out",
    )
    to_bob = co("send-message", "--to-name", "bob", "-m", "hi")
    assert to_bob.code == 1 and "not alive" in to_bob.err and to_bob.out == ""
    from_bob = co("send-message", "--to", ann, "-m", "hi", "-i", bob)
    assert from_bob.code == 1 and "lease of instance" in from_bob.err and from_bob.out == ""
    assert co.ok("send-message", "--broadcast", "-m", "all")["count"] == 1
