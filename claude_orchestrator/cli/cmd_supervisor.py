"""Supervisor commands: up, down, restart, reload, ps, leader."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import FLAGS, global_options
from claude_orchestrator.errors import OrchestratorError, UsageError


def _duration(value: str, flag: str) -> float:
    from claude_orchestrator.conf.duration import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from exc


def _flags(app: App) -> dict[str, Any]:
    return dict(app.ctx.find_root().meta.get(FLAGS, {}))


def _require_team_file(app: App) -> Path:
    if app.settings.team_file is None:
        raise UsageError("this command needs a team file: -f team.toml (or ./team.toml here)")
    return app.settings.team_file


def _config(app: App, only: tuple[str, ...], spawn: bool, down_timeout: float) -> Any:
    from claude_orchestrator.supervisor.pool import SupervisorConfig
    from claude_orchestrator.zk.client import ZkOptions

    s = app.settings
    auth = _team_auth(app, spawn)
    zk = (
        None
        if app.settings.embedded
        else ZkOptions(s.zk_hosts, s.connect_timeout, s.session_timeout, auth)
    )
    return SupervisorConfig(
        team=s.team_config,
        team_name=s.team,
        team_file=s.team_file,
        zk=zk,
        only=only,
        spawn_workers=spawn,
        down_timeout=down_timeout,
        connect_timeout=s.connect_timeout,
        session_timeout=s.session_timeout,
        stuck_after=app.settings.stuck_after,
        auth=auth,
    )


def _team_auth(app: App, spawning: bool = True) -> str | None:
    """The credential the supervisor and its workers use: the team's, generated (0600) for
    the embedded server on first use unless the team is insecure; and refuse to spawn agents
    that execute task text without one (conf/exposure.py)."""
    from claude_orchestrator.conf.credentials import ensure_team_credential
    from claude_orchestrator.conf.exposure import refuse_open_exposure

    s, team = app.settings, app.settings.team_config
    auth = s.auth
    if auth is None and app.settings.embedded and not team.insecure:
        auth = ensure_team_credential(s.state_dir)
    if spawning:
        agents = _checked_agents(app)
        refuse_open_exposure(agents, auth is not None, team.insecure)
    return auth


def _checked_agents(app: App, names: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """The agent of each worker (of ``names``, or all), after the check that each can start
    (conf/agentcheck.py): ``up``, ``restart`` and ``reload`` refuse a broken one, exit 2."""
    from claude_orchestrator.conf.agentcheck import check_agents
    from claude_orchestrator.conf.agents import resolve_agent
    from claude_orchestrator.conf.machine import agent_team

    team = agent_team(app.settings.team_config, Path.home())  # the global `command` too
    workers = [w for w in team.workers if not names or w.name in names]
    agents = [(w.name, resolve_agent(w.agent, team.agents.get(w.agent))) for w in workers]
    check_agents(workers, dict(agents))
    return agents


def _control(
    app: App,
    command: str,
    args: dict[str, Any],
    timeout: float = 15.0,
    agents: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Send one control request; with ``agents`` (worker names, () for all), the agents it
    would start are checked first, once a supervisor is known to be there."""
    from claude_orchestrator.supervisor.control import ControlClient, require_supervisor

    require_supervisor(app.team.client, app.settings.team)  # none at all: say so at once
    if agents is not None:
        _checked_agents(app, agents)
    reply = ControlClient(app.team.client, app.settings.team).request(command, args, timeout)
    if "error" in reply:
        raise OrchestratorError(str(reply["error"]))
    return reply


@click.command("up")
@click.argument("workers", nargs=-1)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; return once up.")
@click.option("--no-tui", is_flag=True, help="Print events as log lines, no dashboard.")
@click.option(
    "--wait",
    "wait_s",
    default="60s",
    show_default=True,
    help="With -d: how long to wait for the team to come up.",
)
@click.option("--supervise", is_flag=True, hidden=True)
@global_options
@pass_app
def up(
    app: App, workers: tuple[str, ...], detach: bool, no_tui: bool, wait_s: str, supervise: bool
) -> None:
    """Bring the team up: ZooKeeper, leadership, one process per worker."""
    from claude_orchestrator.supervisor.runfiles import live_supervisor_pid

    _require_team_file(app)
    running = live_supervisor_pid(app.settings.state_dir)
    if running is not None and not supervise:
        _team_auth(app)  # the same agent check as a first `up`: exit 2 before asking
        _print_up_again(app, running, _control(app, "up", {"workers": list(workers)}))
    elif detach and not supervise:
        _team_auth(app)  # refuse here, with exit 2, rather than in the detached child
        _detach(app, workers, _duration(wait_s, "--wait"))
    else:
        _foreground(app, _config(app, workers, True, 10.0), no_tui or supervise)


def _foreground(app: App, cfg: Any, no_tui: bool, name: str | None = None) -> None:
    from claude_orchestrator.supervisor.arbiter import Supervisor

    _configure_logging(quiet=not no_tui)
    tui = not no_tui and sys.stdout.isatty() and not app.settings.json_output
    sup = Supervisor(cfg, on_event=None if tui else _print_event(app))
    sup.name = name
    _install_signals(sup)
    if tui:
        _run_with_dashboard(sup)
    else:
        sup.run()


def _run_with_dashboard(sup: Any) -> None:
    """Live renders on its own thread from the latest snapshot; the supervisor loop only
    swaps a reference, so a terminal that stops reading can never stall supervision."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from claude_orchestrator.cli.keys import quit_key
    from claude_orchestrator.supervisor.events import SignalReceived
    from claude_orchestrator.supervisor.screen import fit

    latest: dict[str, Any] = {}
    console = Console()

    def current() -> Any:
        snap = latest.get("snap")
        # One line short of the terminal: a full screen would scroll on each refresh.
        height = max(console.size.height - 1, 1)
        return fit(snap, time.time(), height) if snap is not None else Text("starting…")

    live = Live(get_renderable=current, console=console, refresh_per_second=2, transient=False)
    with quit_key(lambda: sup.post(SignalReceived("int"))), live:
        sup.snapshot_watchers.append(lambda snap: latest.__setitem__("snap", snap))
        sup.run()


def _print_event(app: App) -> Any:
    import json

    from claude_orchestrator.supervisor.snapshot import event_line_text

    def emit(line: Any) -> None:
        text = json.dumps(line.to_dict()) if app.settings.json_output else event_line_text(line)
        click.echo(text)

    return emit


def _configure_logging(quiet: bool) -> None:
    import logging

    from claude_orchestrator.logtext import EscapingFormatter

    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    if quiet:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("claude_orchestrator.worker").addHandler(handler)


def _install_signals(sup: Any) -> None:
    from claude_orchestrator.supervisor.events import SignalReceived

    interrupts = {"n": 0}

    def on_int(_s: int, _f: Any) -> None:
        interrupts["n"] += 1
        sup.post(SignalReceived("kill" if interrupts["n"] > 1 else "int"))

    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, lambda _s, _f: sup.post(SignalReceived("term")))
    signal.signal(signal.SIGHUP, lambda _s, _f: sup.post(SignalReceived("hup")))


def _detach(app: App, workers: tuple[str, ...], wait_s: float) -> None:
    from claude_orchestrator.spawn.process import Child, ChildSpec
    from claude_orchestrator.supervisor.procs import cli_argv
    from claude_orchestrator.supervisor.runfiles import read_json, ready_file

    s = app.settings
    argv = (*cli_argv(), *_passthrough(app), "up", *workers, "--supervise")
    log_path = s.state_dir / "logs" / "supervisor.log"
    ready_file(s.state_dir).unlink(missing_ok=True)
    spec = ChildSpec(argv, s.team_config.root, dict(os.environ), output=log_path, new_session=True)
    child = Child(spec)
    child.start()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        ready = read_json(ready_file(s.state_dir))
        if isinstance(ready, dict) and ready.get("pid") == child.pid:
            _print_up(app, ready)
            return
        ended = child.wait(0)
        if ended is not None:
            raise OrchestratorError(
                f"the supervisor exited ({ended.returncode}):\n{_tail(log_path)}"
            )
        time.sleep(0.05)  # waiting for another process's file, bounded by --wait
    raise OrchestratorError(f"the team did not come up within {wait_s:g}s; see {log_path}")


def _passthrough(app: App) -> list[str]:
    s, flags = app.settings, _flags(app)
    out = ["-f", str(s.team_file)]
    if "zookeeper" in flags:
        out += ["-z", str(flags["zookeeper"])]
    if "team" in flags:
        out += ["--team", str(flags["team"])]
    return out


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _print_up(app: App, ready: dict[str, Any]) -> None:
    from claude_orchestrator.cli.output import emit

    if app.settings.json_output:
        emit(ready)
        return
    states = ", ".join(f"{n} {st}" for n, st in sorted(ready["workers"].items())) or "no workers"
    click.echo(
        f"team '{app.settings.team}' is up (supervisor pid {ready['pid']}, "
        f"zookeeper {ready['hosts']}): {states}"
    )


def _print_up_again(app: App, pid: int, reply: dict[str, Any]) -> None:
    """``up`` with the team already up answers as the first ``up -d`` did: the team line
    (states from this host's snapshot; the workers it just started are ``starting``)."""
    from claude_orchestrator.supervisor.publish import read_snapshots
    from claude_orchestrator.supervisor.runfiles import read_json, ready_file
    from claude_orchestrator.supervisor.snapshot import rows_as_known

    ready = read_json(ready_file(app.settings.state_dir)) or {}
    snaps = [s for s in read_snapshots(app.team.client, app.settings.team) if s.pid == pid]
    rows = [row for snap in snaps for row in rows_as_known(snap, time.time())]
    text = not app.settings.json_output  # JSON keeps the bare state; last_exit is in ps
    states = {r.name: _state_why(r.state, r.last_exit) if text else r.state for r in rows}
    states.update({name: "starting" for name in reply.get("started", [])})
    hosts = snaps[0].zookeeper if snaps else ready.get("hosts", "")
    _print_up(app, {**reply, "pid": pid, "hosts": hosts, "workers": states})


def _state_why(state: str, last_exit: str | None) -> str:
    """A worker that is down says why: ``fatal (exited 2: error: …)``."""
    return f"{state} ({last_exit})" if state in ("fatal", "backoff") and last_exit else state


def _print_reply(app: App, reply: dict[str, Any]) -> None:
    from claude_orchestrator.cli.output import emit

    if app.settings.json_output is False:
        for key, names in reply.items():
            if isinstance(names, list):
                click.echo(f"{key}: {', '.join(names) or '-'}")
        return
    emit(reply)


@click.command("down")
@click.option(
    "--timeout",
    default="10s",
    show_default=True,
    help="How long workers get to stop before they are killed.",
)
@global_options
@pass_app
def down(app: App, timeout: str) -> None:
    """Stop the workers, then the embedded ZooKeeper, then the supervisor."""
    from claude_orchestrator.conf.layout import workers_run_file
    from claude_orchestrator.supervisor.control_schema import check_args
    from claude_orchestrator.supervisor.runfiles import (
        live_supervisor_pid,
        read_json,
        request_down,
    )

    seconds = _duration(timeout, "--timeout")
    check_args("down", {"timeout": seconds})  # the same bounds as the control command
    state_dir = app.settings.state_dir
    pid = live_supervisor_pid(state_dir)
    if pid is not None:
        # The local supervisor is told by a signal, not through ZooKeeper: `down` works
        # at once, and with the server unreachable too.
        workers = sorted(read_json(workers_run_file(state_dir)) or {})
        request_down(state_dir, pid, seconds)
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid, seconds + 30)
        _print_reply(app, {"stopped": workers, "supervisor": "stopped"})
    else:
        _print_reply(app, _cleanup(app, seconds))


def _wait_gone(pid: int, timeout: float) -> None:
    import psutil

    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired as exc:
        raise OrchestratorError(f"the supervisor (pid {pid}) did not stop in time") from exc


def _cleanup(app: App, timeout: float) -> dict[str, Any]:
    from claude_orchestrator.supervisor import cleanup
    from claude_orchestrator.supervisor.embedded import stop_recorded_server
    from claude_orchestrator.supervisor.runfiles import RunFiles

    state_dir = app.settings.state_dir
    pids = cleanup.recorded_workers(state_dir)
    stopped = cleanup.stop_groups(pids, timeout)
    if pids:
        try:
            cleanup.release_tasks(app.team, pids)
        except OrchestratorError:
            pass  # ZooKeeper unreachable: the leader's sweep recovers them later
    server = stop_recorded_server(state_dir) if app.settings.embedded else False
    RunFiles(state_dir).clear()
    return {
        "stopped": stopped,
        "supervisor": "not running",
        "zookeeper": "stopped" if server else "untouched",
    }


@click.command("restart")
@click.argument("workers", nargs=-1)
@global_options
@pass_app
def restart(app: App, workers: tuple[str, ...]) -> None:
    """Restart the named workers (all when none)."""
    _need_supervisor(app)
    _print_reply(app, _control(app, "restart", {"workers": list(workers)}, agents=workers))


@click.command("reload")
@global_options
@pass_app
def reload(app: App) -> None:
    """Re-read team.toml: start added, stop removed, restart changed workers only."""
    _need_supervisor(app)
    _print_reply(app, _control(app, "reload", {}, agents=()))


def _need_supervisor(app: App) -> None:
    from claude_orchestrator.supervisor.runfiles import live_supervisor_pid

    if live_supervisor_pid(app.settings.state_dir) is None and app.settings.embedded:
        raise OrchestratorError("no supervisor is running for this team (start it with 'up')")


@click.command("ps")
@global_options
@pass_app
def ps(app: App) -> None:
    """Workers: name, role, host, state, pid, uptime, restarts, last exit, task, cost."""
    from claude_orchestrator.supervisor.publish import read_snapshots
    from claude_orchestrator.supervisor.snapshot import is_stale, rows_as_known

    if app.settings.embedded and not _embedded_server_known(app):
        _print_not_running(app)
        return
    now = time.time()
    snaps = read_snapshots(app.team.client, app.settings.team)
    rows = [row for snap in snaps for row in rows_as_known(snap, now)]
    if not rows:
        rows = _unmanaged_rows(app)
    if app.settings.json_output:
        from claude_orchestrator.cli.output import emit

        ages = {s.host: round(now - s.taken_at, 1) for s in snaps if is_stale(s, now)}
        emit([_json_row(row, ages) for row in rows])
        return
    from rich.console import Console

    from claude_orchestrator.supervisor.pstable import TeamTable

    Console().print(TeamTable(rows, now))
    for snap in snaps:
        if is_stale(snap, now):
            click.echo(_stale_line(snap, now))


def _json_row(row: Any, ages: dict[str, float]) -> dict[str, Any]:
    """The row; a stale supervisor's rows also say how old their snapshot is (seconds)."""
    out: dict[str, Any] = row.to_dict()
    if row.host in ages:
        out["snapshot_age"] = ages[row.host]
    return out


def _stale_line(snap: Any, now: float) -> str:
    from claude_orchestrator.supervisor.plaintext import duration_text
    from claude_orchestrator.textsafe import escape

    return escape(
        f"the supervisor on {snap.host} (pid {snap.pid}) stopped publishing: its snapshot "
        f"is {duration_text(now - snap.taken_at)} old, so its workers' states are unknown",
        one_line=True,
    )


def _embedded_server_known(app: App) -> bool:
    from claude_orchestrator.conf.layout import zookeeper_run_file

    return zookeeper_run_file(app.settings.state_dir).exists()


def _print_not_running(app: App) -> None:
    if app.settings.json_output:
        click.echo("[]")
    else:
        click.echo(f"team '{app.settings.team}' is not running (start it with 'up')")


def _unmanaged_rows(app: App) -> list[Any]:
    from claude_orchestrator.supervisor.publish import instance_rows

    team = app.team
    return instance_rows(team, time.time()) if team.exists else []  # nothing created


@click.command("leader")
@click.option("--name", default="leader", show_default=True, help="A label for this leader.")
@click.option("--no-tui", is_flag=True, help="Print events as log lines, no dashboard.")
@global_options
@pass_app
def leader(app: App, name: str, no_tui: bool) -> None:
    """Lead the team without spawning workers: sweep orphans, show the dashboard."""
    _foreground(app, _config(app, (), False, 10.0), no_tui, name)


COMMANDS: list[Any] = [up, down, restart, reload, ps, leader]
