"""The standalone ZooKeeper server (supervisor/zkserver.py, embedded.py): what it answers to
anyone who can connect, and the heap it runs with."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from claude_orchestrator.spawn.process import ExitInfo
from claude_orchestrator.supervisor.embedded import EmbeddedZk
from claude_orchestrator.supervisor.zkserver import ZkServer, four_letter, free_port
from tests.helpers import wait_until


def java_heap_flags(pid: int) -> list[str]:
    return [arg for arg in psutil.Process(pid).cmdline() if arg.startswith("-Xmx")]


@pytest.mark.parametrize("word", ["conf", "cons"])
def test_server_refuses_four_letter_words_that_show_config_and_clients(
    zk_server: ZkServer, word: str
) -> None:
    answer = four_letter(zk_server.port, word)
    assert "not in the whitelist" in answer
    assert "dataDir" not in answer and "127.0.0.1" not in answer


def test_server_still_answers_ruok_and_srvr(zk_server: ZkServer) -> None:
    assert four_letter(zk_server.port, "ruok") == "imok"
    # srvr says "not currently serving" for a moment after imok
    wait_until(lambda: "Mode: standalone" in four_letter(zk_server.port, "srvr"), what="srvr")


def test_server_heap_defaults_to_512m(zk_server: ZkServer) -> None:
    pid = zk_server.proc.pid if zk_server.proc is not None else None
    assert pid is not None
    assert java_heap_flags(pid) == ["-Xmx512m"]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedZk]:
    emb = EmbeddedZk(tmp_path / "state", heap="160m")
    yield emb
    emb.stop()


def test_embedded_server_runs_with_the_teams_heap(embedded: EmbeddedZk) -> None:
    embedded.start(free_port())
    pid = embedded.pid()
    assert pid is not None
    assert java_heap_flags(pid) == ["-Xmx160m"]


def test_a_started_server_reports_its_exit_and_a_stop_reaps_it(tmp_path: Path) -> None:
    exits: list[ExitInfo] = []
    emb = EmbeddedZk(tmp_path / "state", heap="160m", on_server_exit=exits.append)
    try:
        emb.start(free_port())
        pid = emb.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        info = wait_until(lambda: exits, 30, "the server's exit callback")[0]
        assert info.describe() == "killed by SIGKILL"
        emb.start(free_port())  # what the supervisor does on that event
        restarted = emb.pid()
        assert restarted is not None and restarted != pid
    finally:
        emb.stop()
    assert not psutil.pid_exists(restarted)  # stop() returned once the server was reaped
    wait_until(lambda: len(exits) == 2, 10, "the stopped server's exit callback")
    assert exits[-1].stopped
