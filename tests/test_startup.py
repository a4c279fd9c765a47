"""What a short command loads: the start-up budget is kept by structure, not by a timer.

A coordination command is a process start, an import, a session and a round trip; agents
run dozens of them per task (docs/benchmarks.md, "CLI command latency"). These tests name
the modules that made it slow and check, from ``-X importtime``, that the short commands
never load them again. The times themselves are measured in bench/, never asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from tests.clihelp import BIN, Cli

#: loaded only by commands that need them: kazoo's threaded client (with ssl and logging),
#: and dataclasses (each class compiles its methods at import: docs/benchmarks.md)
HEAVY = ("kazoo.client", "logging", "ssl", "dataclasses", "claude_orchestrator.supervisor")


def imported(co: Cli, *argv: str) -> set[str]:
    p = subprocess.run(
        [sys.executable, "-X", "importtime", BIN, *argv],
        cwd=co.cwd,
        env={**os.environ, **co.env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [
        line.rsplit("|", 1) for line in p.stderr.splitlines() if line.startswith("import time:")
    ]
    return {name.strip() for _, name in lines}


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


@pytest.fixture
def registered(co: Cli) -> tuple[Cli, str]:
    co.ok("push-task", "--title", "t")
    return co, co.ok("register", "--name", "ann")["id"]


def test_the_short_commands_load_nothing_heavy(registered: tuple[Cli, str]) -> None:
    co, iid = registered
    commands = [
        ("push-task", "--title", "x"),
        ("claim-task", "-i", iid),
        ("list-tasks",),
        ("heartbeat", "-i", iid),
    ]
    for argv in commands:
        loaded = imported(co, *argv)
        assert "claude_orchestrator.zk.oneshot" in loaded, argv  # the one-shot session
        assert not loaded & set(HEAVY), (argv, sorted(loaded & set(HEAVY)))


def test_a_command_that_waits_runs_kazoos_client(registered: tuple[Cli, str]) -> None:
    co, iid = registered
    loaded = imported(co, "wait-for-message", "-i", iid, "--timeout", "0.2s")
    assert "kazoo.client" in loaded and "claude_orchestrator.zk.oneshot" not in loaded


def test_with_the_teams_credential_too(co: Cli, zk_hosts: str) -> None:
    """The default team is authenticated: its ACL code is on the short path as well."""
    auth = {"CO_ZK_AUTH": "team:secret"}
    co.env.update(auth)
    try:
        loaded = imported(co, "push-task", "--title", "x")
        assert "claude_orchestrator.zk.acls" in loaded  # the ACL policy was applied
        assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    finally:
        owner = connect(ZkOptions(zk_hosts, auth=auth["CO_ZK_AUTH"]))
        owner.delete("/claude-orchestrator", recursive=True)  # the anonymous teardown cannot
        disconnect(owner)
