"""`fix-acls`: apply the team's ACLs (zk/acls.py) to every node of an existing tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import OrchestratorError, UsageError


@click.command("fix-acls")
@global_options
@pass_app
def fix_acls(app: App) -> None:
    """Apply the team's ACLs to its existing tree (after turning auth on, or an upgrade).

    Prints {"team", "fixed", "checked", "refused"}. On the embedded server, a server that is
    not running is started for the repair and stopped again."""
    from claude_orchestrator.zk.acls import acl_ids, fix_tree

    with _team_client(app) as (client, auth):
        report = fix_tree(client, app.settings.team, acl_ids(auth))
    if report.refused:
        raise OrchestratorError(
            f"fixed {report.fixed} node(s), but could not change {len(report.refused)} that give "
            f"us no ADMIN right (someone else's): {', '.join(report.refused[:8])}"
        )
    app.emit(report.to_dict(app.settings.team))


@contextmanager
def _team_client(app: App) -> Iterator[tuple[Any, str]]:
    """A client with the team's credential: the usual one, or the embedded server's own."""
    s = app.settings
    if s.auth is not None:
        yield app.team.client, s.auth
        return
    if not s.embedded or s.team_config.insecure:
        raise UsageError(
            "the team has no credentials (no auth in [team], no CO_ZK_AUTH; or insecure = true): "
            "there are no ACLs to apply"
        )
    with _embedded_client(app) as found:
        yield found


@contextmanager
def _embedded_client(app: App) -> Iterator[tuple[Any, str]]:
    from claude_orchestrator.conf.credentials import ensure_team_credential
    from claude_orchestrator.supervisor.embedded import EmbeddedZk
    from claude_orchestrator.zk.client import ZkOptions, connect, disconnect

    s = app.settings
    auth = ensure_team_credential(s.state_dir)
    server = EmbeddedZk(s.state_dir, heap=s.team_config.zookeeper_heap)
    hosts = server.ensure_running()
    client = None
    try:
        client = connect(ZkOptions(hosts, s.connect_timeout, s.session_timeout, auth))
        yield client, auth
    finally:
        if client is not None:
            disconnect(client)
        if server.server is not None:  # started for this repair only
            server.stop()


COMMANDS: list[Any] = [fix_acls]
