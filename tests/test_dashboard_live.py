"""The foreground dashboard: fitted to the terminal, ``q`` quits, the terminal is restored."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pexpect
import pytest

from claude_orchestrator.supervisor.screen import fit
from claude_orchestrator.supervisor.snapshot import EventLine
from tests.clihelp import BIN
from tests.helpers import wait_until
from tests.test_dashboard import NOW, snapshot, text_of
from tests.test_supervisor import Project, project, running

__all__ = ["project"]  # the fixture, used by name


def test_screen_keeps_the_newest_events_when_the_terminal_is_short() -> None:
    from dataclasses import replace

    many = tuple(
        EventLine(at=NOW - 50 + i, kind="claimed", worker="w", text=f"event {i:02d}")
        for i in range(40)
    )
    snap = replace(snapshot(), events=many)
    for height in (12, 20, 60):
        lines = text_of(fit(snap, NOW, height), height=height + 5).splitlines()
        assert len(lines) <= height
        assert "event 39" in lines[-1]  # the newest is the last line, always shown
    tall = text_of(fit(snap, NOW, 60), height=65)
    assert "team hello" in tall and "event 20" in tall  # room: the board and more events
    short = text_of(fit(snap, NOW, 12), height=17)
    assert "event 37" in short and "event 36" not in short  # at least three events


def spawn_up(project: Project) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
    # the shell outlives Ctrl-C (a trap, unlike an ignore, is not inherited) to run stty
    command = f"trap true INT; {BIN} -f {project.root / 'team.toml'} up; echo EXIT=$?; stty -a"
    return pexpect.spawn(
        "/bin/sh",
        ["-c", command],
        cwd=project.root,
        env=env,
        dimensions=(24, 100),
        encoding="utf-8",
        timeout=30,
    )


@pytest.fixture
def dashboard(project: Project) -> Iterator[pexpect.spawn]:
    child = spawn_up(project)
    try:
        child.expect("events")
        wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
        yield child
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)


@pytest.mark.slow
def test_q_quits_the_foreground_dashboard_and_restores_the_terminal(
    project: Project, dashboard: pexpect.spawn
) -> None:
    dashboard.send("q")
    dashboard.expect("EXIT=0")
    dashboard.expect(pexpect.EOF)
    settings = dashboard.before
    assert " icanon" in settings and " echo" in settings  # cbreak undone
    assert project.our_processes() == []


@pytest.mark.slow
def test_ctrl_c_leaves_the_terminal_clean(project: Project, dashboard: pexpect.spawn) -> None:
    dashboard.sendintr()
    dashboard.expect("EXIT=")
    assert "\x1b[?25h" in dashboard.before  # the cursor is shown again
    assert "Traceback" not in dashboard.before
    dashboard.expect(pexpect.EOF)
    assert " icanon" in dashboard.before and " echo" in dashboard.before
    assert project.our_processes() == []
