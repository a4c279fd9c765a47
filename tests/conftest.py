"""Fixtures: one real ZooKeeper server per test session, a fresh chroot per test."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.supervisor.zkserver import ZkServer
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.team import Team
from tests.ensemble import ZkEnsemble

logging.getLogger("kazoo").setLevel(logging.CRITICAL)


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZkServer]:
    # tickTime 500 ms lets expiry tests use sessions down to 1 s.
    server = ZkServer(tmp_path_factory.mktemp("zookeeper") / "data", tick_ms=500)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ZkServer]:
    """A server of the test's own, for tests that stop and restart it (same port, same data)."""
    server = ZkServer(tmp_path / "zk", tick_ms=500)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[ZkEnsemble]:
    """A 3-server ensemble of the test's own on loopback (tests/ensemble.py)."""
    ens = ZkEnsemble(tmp_path / "ensemble")
    ens.start()
    yield ens
    ens.stop()


@pytest.fixture
def zk_hosts(zk_server: ZkServer) -> Iterator[str]:
    """``127.0.0.1:PORT/chroot`` with the chroot created and removed afterwards."""
    chroot = f"/t-{uuid.uuid4().hex[:12]}"
    admin = connect(ZkOptions(zk_server.hosts))
    admin.ensure_path(chroot)
    yield f"{zk_server.hosts}{chroot}"
    try:
        admin.delete(chroot, recursive=True)
    finally:
        disconnect(admin)


@pytest.fixture
def client(zk_hosts: str) -> Iterator[KazooClient]:
    c = connect(ZkOptions(zk_hosts))
    yield c
    disconnect(c)


@pytest.fixture
def team(client: KazooClient) -> Team:
    return Team(client, "test")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path
