"""The one-shot client (zk/oneshot.py) against a real server: the same answers as kazoo's
client, chroots, pipelining, ACL policy, refusal, server restart and session expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
    SessionExpiredError,
)

from claude_orchestrator.errors import ZkUnavailableError
from claude_orchestrator.supervisor.zkserver import ZkServer, free_port
from claude_orchestrator.zk.acls import acl_for, acl_ids
from claude_orchestrator.zk.client import ZkOptions, connect, connect_oneshot, disconnect
from claude_orchestrator.zk.oneshot import OneShotClient
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.team import Team
from claude_orchestrator.zk.txn import Txn, TxnConflict, retrying
from tests.helpers import wait_until


@pytest.fixture
def one(zk_hosts: str) -> Iterator[OneShotClient]:
    c = connect_oneshot(ZkOptions(zk_hosts))
    yield c
    disconnect(c)


def test_reads_and_writes_answer_as_kazoos_client_does(
    one: OneShotClient, client: KazooClient
) -> None:
    assert one.create("/a", b"1") == "/a"  # the chroot is not shown
    made = one.create("/a/s-", b"x", sequence=True)
    assert made.startswith("/a/s-") and client.get(made)[0] == b"x"
    assert one.get("/a") == client.get("/a")
    assert one.exists("/nope") is None and one.exists("/a") == client.exists("/a")
    assert one.get_children("/a") == client.get_children("/a")
    stat = one.set("/a", b"2", version=0)
    assert stat.version == 1 and client.get("/a")[0] == b"2"
    with pytest.raises(BadVersionError):
        one.set("/a", b"3", version=0)
    with pytest.raises(NodeExistsError):
        one.create("/a")
    with pytest.raises(NoNodeError):
        one.get("/missing")
    one.ensure_path("/deep/er/path")
    assert client.exists("/deep/er/path") is not None
    one.delete("/deep", recursive=True)
    assert client.exists("/deep") is None
    with pytest.raises(TypeError, match="no watches"):
        one.get_children("/", watch=lambda event: None)  # type: ignore[arg-type]


def test_a_transaction_commits_whole_or_reports_the_operation_that_lost(
    one: OneShotClient, client: KazooClient
) -> None:
    one.create("/t", b"0")
    txn = Txn(one)  # the stores' own helper, on this client
    txn.check("/t", 0)
    txn.create("/t/seq-", b"x", sequence=True)
    txn.set_data("/t", b"1", 0)
    created = txn.commit()[1]
    assert created.startswith("/t/seq-") and client.exists(created) is not None
    stale = Txn(one)
    stale.create("/t/other", b"")
    stale.check("/t", 0)  # the version is 1 now
    with pytest.raises(TxnConflict) as lost:
        stale.commit()
    assert lost.value.op == ("check", "/t") and isinstance(lost.value.cause, BadVersionError)
    assert client.exists("/t/other") is None  # rolled back
    raw = one.transaction()
    raw.create("/t/x")
    raw.delete("/t/none")
    results = raw.commit()
    assert isinstance(results[0], RolledBackError) and isinstance(results[1], NoNodeError)


def test_pipelined_reads_come_back_to_their_own_request(one: OneShotClient) -> None:
    for i in range(20):
        one.create(f"/p{i}", str(i).encode())
    pending = [one.get_async(f"/p{i}") for i in reversed(range(20))]
    missing = one.exists_async("/p-missing")
    kids = one.get_children_async("/")
    assert [p.get()[0] for p in pending] == [str(i).encode() for i in reversed(range(20))]
    assert missing.get() is None and len(kids.get()) == 20
    assert one.get("/p3")[0] == b"3"  # the stream is in step after the pipeline


def test_the_stores_run_on_it_unchanged(one: OneShotClient, client: KazooClient) -> None:
    team = Team(one, "shot")
    [rec] = push(team.tasks, [validate_spec({"title": "via one-shot"}, "t")], "op", time.time())
    seen = Team(client, "shot").tasks.get(rec.id)
    assert seen.title == "via one-shot" and seen.status == "pending"


def test_with_credentials_every_node_gets_the_policys_acl(zk_hosts: str) -> None:
    opts = ZkOptions(zk_hosts, auth="team:secret")
    one, reader = connect_oneshot(opts), connect(opts)
    try:
        one.ensure_path("/claude-orchestrator/secured/tasks")
        for path in ("/claude-orchestrator", "/claude-orchestrator/secured/tasks"):
            assert reader.get_acls(path)[0] == acl_for(acl_ids("team:secret"), path)
    finally:
        one.delete("/claude-orchestrator", recursive=True)  # the anonymous teardown cannot
        disconnect(one)
        disconnect(reader)


def test_a_refused_port_is_reported_at_once() -> None:
    start = time.monotonic()
    with pytest.raises(ZkUnavailableError, match="connection refused"):
        connect_oneshot(ZkOptions(f"127.0.0.1:{free_port()}", connect_timeout=10.0))
    assert time.monotonic() - start < 5.0  # far from the 10 s deadline


def test_closing_ends_the_session_and_its_ephemeral_nodes_at_once(
    one: OneShotClient, client: KazooClient
) -> None:
    one.create("/eph", b"", ephemeral=True)
    assert client.exists("/eph") is not None
    disconnect(one)
    assert client.exists("/eph") is None  # no wait for the session timeout


def test_a_server_restart_mid_command_resumes_the_same_session(own_server: ZkServer) -> None:
    one = connect_oneshot(ZkOptions(own_server.hosts, session_timeout=6.0))
    try:
        one.create("/mine", b"", ephemeral=True)
        own_server.stop()
        with pytest.raises(ConnectionLoss):
            one.get("/mine")
        own_server.start()  # same port, same data dir
        # the stores' retry loop: it waits for `connected`, which resumes the session
        data = retrying(one, lambda: one.get("/mine"), deadline_s=15.0)
        assert data[1].ephemeralOwner == one.client_id[0]  # the node, and the session, live
    finally:
        disconnect(one)


def test_an_expired_session_is_reported_as_expired(zk_hosts: str) -> None:
    one = connect_oneshot(ZkOptions(zk_hosts, session_timeout=2.0))
    try:
        twin = KazooClient(zk_hosts, client_id=one.client_id)
        twin.start(timeout=10)  # the session moves to the twin ...
        twin.stop()  # ... which ends it
        twin.close()
        with pytest.raises(ConnectionLoss):
            one.get("/")  # the server closed our socket when the session moved
        wait_until(lambda: not one.connected and one.state == "LOST", what="the expiry seen")
        with pytest.raises(SessionExpiredError):
            one.get("/")
    finally:
        disconnect(one)
