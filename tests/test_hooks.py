"""Hooks (issue 13 §4): argv programs run with the event on stdin and in the environment,
never through a shell, never blocking their caller, killed with their whole process group
at their timeout; ``[hooks]`` in team.toml; the supervisor's chain and fatal hooks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from claude_orchestrator.conf.team import load_team
from claude_orchestrator.spawn.hooks import Hooks
from claude_orchestrator.supervisor.hookfire import SupervisorHooks
from claude_orchestrator.supervisor.snapshot import EventLine
from claude_orchestrator.zk.chains import Chain, ChainStatus, PlanOptions
from tests.helpers import wait_until

#: a hook that appends what it got (stdin and its CO_ variables) as one JSON line to argv[1]
WRITER = (
    "import json, os, sys\n"
    "event = json.load(sys.stdin)\n"
    "env = {k: v for k, v in os.environ.items() if k.startswith('CO_') or k == 'SECRET'}\n"
    "open(sys.argv[1], 'a').write(json.dumps({'event': event, 'env': env}) + '\\n')\n"
)
#: a hook that starts a child, writes both pids to argv[1], then hangs
HANGER = (
    "import os, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}')\n"
    "time.sleep(600)\n"
)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_hook_gets_the_event_on_stdin_and_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    nasty = "$(touch pwned) `touch pwned2`"
    hooks = Hooks(
        {"on_task_completed": (sys.executable, "-c", WRITER, str(out))},
        {"PATH": "/usr/bin:/bin", "SECRET": "team-credential"},
        hidden=("SECRET",),
    )
    event = {"task_id": "task-0000000007", "title": nasty, "worker": "w1", "chain_id": None}
    thread = hooks.fire("on_task_completed", event)
    assert thread is not None
    thread.join(10)
    [got] = lines(out)
    assert got["event"] == {"event": "on_task_completed", **event}
    assert got["env"] == {
        "CO_EVENT": "on_task_completed",
        "CO_TASK_ID": "task-0000000007",
        "CO_WORKER": "w1",
    }  # no CO_CHAIN_ID for None; the credential's variable never passed on
    assert not list(tmp_path.glob("pwned*"))  # the title never reached a shell
    assert hooks.fire("on_task_failed", event) is None  # no hook for that event


def test_a_hung_hook_is_killed_with_its_group_at_its_timeout_and_never_blocks(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    hooks = Hooks({"on_pause": (sys.executable, "-c", HANGER, str(pids))}, {}, timeout=1.0)
    thread = hooks.fire("on_pause", {"agent": "claude"})
    wait_until(lambda: pids.exists() and pids.read_text(), 10, "the hook to start")
    assert thread is not None and thread.is_alive()  # fire returned; the hook still runs
    hook, child = (int(p) for p in pids.read_text().split())
    thread.join(15)
    assert not thread.is_alive()
    for pid in (hook, child):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_a_hook_that_cannot_start_or_fails_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = Hooks(
        {
            "on_task_failed": (str(tmp_path / "missing"),),
            "on_task_completed": (sys.executable, "-c", "import sys; sys.exit('bad news')"),
        },
        {},
    )
    for name in ("on_task_failed", "on_task_completed"):
        thread = hooks.fire(name, {})
        assert thread is not None
        thread.join(10)
    assert "could not start" in caplog.text and "exited 1: bad news" in caplog.text


def test_hooks_in_the_team_file(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text(
        '[hooks]\non_task_completed = ["notify-send", "done"]\n'
        'on_chain_done = "notify-send chain"\ntimeout = "3s"\n'
    )
    hooks = load_team(path).hooks
    assert hooks.commands == {
        "on_task_completed": ("notify-send", "done"),
        "on_chain_done": ("notify-send", "chain"),
    }
    assert hooks.timeout == 3.0
    path.write_text('[hooks]\non_task_complete = ["x"]\n')
    with pytest.raises(Exception, match="on_task_completed"):
        load_team(path)


def test_the_supervisor_fires_chain_hooks_only_while_leading(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    argv = (sys.executable, "-c", WRITER, str(out))
    hooks = Hooks({"on_chain_done": argv, "on_needs_human": argv, "on_worker_fatal": argv}, {})
    leading = [False]
    fired = SupervisorHooks(hooks, "t", lambda: leading[0])
    chain = Chain("chain-0000000001", "goal", ChainStatus.DONE, "", "", PlanOptions())
    fired.on_chain(chain)  # a standby: the leader fires it
    leading[0] = True
    fired.on_chain(chain)
    fired.on_chain(chain._replace(status=ChainStatus.RUNNING))  # not an event of its own
    fired.on_line(EventLine(at=0.0, kind="fatal", worker="w2", task=None, text="gave up"))
    wait_until(lambda: len(lines(out)) == 2, 10, "two hooks")
    got = sorted(
        (e["event"]["event"], e["env"].get("CO_CHAIN_ID") or e["env"].get("CO_WORKER"))
        for e in lines(out)
    )
    assert got == [("on_chain_done", "chain-0000000001"), ("on_worker_fatal", "w2")]
