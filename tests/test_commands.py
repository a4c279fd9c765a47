"""The control commands' executor halves as units: a fake target around a pool with a fake
spawner and clock (tests/test_pool.py). Their transport (control.py) is tested against a
real ZooKeeper in tests/test_control.py."""

from __future__ import annotations

import pytest

from claude_orchestrator.supervisor import commands
from claude_orchestrator.supervisor.commands import COMMANDS, execute
from claude_orchestrator.supervisor.control_schema import BadRequestError, Request
from claude_orchestrator.supervisor.effects import Note, Outcome
from claude_orchestrator.supervisor.pool import WorkerPool
from tests.test_pool import FakeClock, FakeSpawner, make_pool, spec


class Target:
    def __init__(self) -> None:
        self.pool: WorkerPool = make_pool(FakeSpawner(), FakeClock())
        self.stopping: float | None = None
        self.next_team = [spec("ann"), spec("cat")]

    def reread_team(self) -> Outcome:
        return self.pool.reload(self.next_team)

    def shut_down(self, timeout: float | None) -> Outcome:
        self.stopping = timeout
        stopped = self.pool.stop_all(timeout)
        return Outcome({**stopped.reply, "supervisor": "stopping"}, stopped.effects)


def run(target: Target, name: str, **args: object) -> Outcome:
    return execute(target, commands.check_args(name, args))


def test_each_command_answers_what_changed() -> None:
    target = Target()
    assert run(target, "up", workers=["ann"]).reply == {"started": ["ann"], "kept": []}
    assert run(target, "up").reply == {"started": ["bob"], "kept": ["ann"]}
    assert run(target, "ping").reply == {
        "pong": True,
        "workers": {"ann": "starting", "bob": "starting"},
    }
    assert run(target, "restart", workers=["bob"]).reply["restarted"] == ["bob"]
    reload = run(target, "reload")
    assert reload.reply == {
        "started": ["cat"],
        "stopped": ["bob"],
        "restarted": [],
        "kept": ["ann"],
    }
    assert any(isinstance(e, Note) and e.kind == "reloaded" for e in reload.effects)
    down = run(target, "down", timeout=3)
    assert down.reply == {"stopped": ["ann", "cat"], "supervisor": "stopping"}
    assert target.stopping == 3.0


def test_errors_become_replies() -> None:
    target = Target()
    assert run(target, "up", workers=["zed"]).reply["error"].startswith("unknown worker(s) zed")
    assert run(target, "restart", workers=["zed"]).reply == {"error": "unknown worker(s): zed"}
    assert execute(target, Request("nonsense")).reply == {
        "error": "unknown command 'nonsense'; known: up, restart, reload, down, ping"
    }


def test_a_bug_in_an_executor_is_an_error_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_self: object, _target: object, _request: Request) -> Outcome:
        raise KeyError("slot")

    monkeypatch.setattr(commands.Ping, "execute", boom)
    assert run(Target(), "ping").reply == {"error": "ping failed: KeyError: 'slot'"}


def test_the_client_half_checks_before_anything_is_sent() -> None:
    with pytest.raises(BadRequestError, match="unknown argument of 'ping' timeout"):
        commands.check_args("ping", {"timeout": 1})
    down = COMMANDS["down"]
    request = down.request({"timeout": 2})
    assert down.body(request, at=5.0) == {"command": "down", "args": {"timeout": 2.0}, "at": 5.0}
    restart = COMMANDS["restart"]
    body = restart.body(restart.request({"workers": ["a", "a"]}), at=1.0)
    assert body["args"] == {"workers": ["a"]}
