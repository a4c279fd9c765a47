"""The standalone ZooKeeper server (supervisor/zkserver.py, embedded.py): what it answers to
anyone who can connect, and the heap it runs with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

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
    assert zk_server.proc is not None
    assert java_heap_flags(zk_server.proc.pid) == ["-Xmx512m"]


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
