"""The context object of every command: settings, a lazily opened client, identity."""

from __future__ import annotations

import os
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from claude_orchestrator.cli.options import FLAGS
from claude_orchestrator.cli.output import emit
from claude_orchestrator.cli.runtime import embedded_hint, refuse_stopped_server
from claude_orchestrator.errors import IdentityError, NotAuthorisedError

if TYPE_CHECKING:
    from claude_orchestrator.conf.settings import Settings
    from claude_orchestrator.zk.client import ZkOptions
    from claude_orchestrator.zk.registry import Actor
    from claude_orchestrator.zk.team import Team


#: commands that need the team's own credential; an agent's scoped one is refused at once
TEAM_IDENTITY_COMMANDS = frozenset({"up", "down", "restart", "reload", "leader", "fix-acls"})

#: commands that touch tasks or messages: with no leader alive they run the expiry sweep
#: first (zk/recovery.py ``sweep_if_leaderless``; docs/zookeeper.md)
SWEEPING_COMMANDS = frozenset(
    {
        *("push-task", "claim-task", "complete-task", "cancel-task", "task-start", "task-block"),
        *("task-unblock", "task-fail", "task-retry", "list-tasks", "show-task", "watch-tasks"),
        *("send-message", "request-help", "poll-messages", "wait-for-message", "dismiss-message"),
        *("poll-task", "poll-message", "delete-message"),  # the 0.4 names
    }
)

#: commands that handle a stopped embedded server themselves (the rest are refused at once)
OWN_SERVER_COMMANDS = frozenset({"up", "down", "leader", "fix-acls", "ps", "run"})

#: commands that only read: they never create a team's tree, and an unknown team is an error
READ_ONLY_COMMANDS = frozenset(
    {
        *("list-tasks", "poll-task", "show-task", "watch-tasks", "list-instances", "status"),
        *("poll-messages", "poll-message", "wait-for-message", "get-context"),
        *("list-context-keys", "watch-context", "ps", "chains", "show-chain", "logs"),
        *("merges", "show-merge", "budget"),
    }
)

#: commands that write into a team that must exist already (never the first to make its tree)
EXISTING_TEAM_COMMANDS = frozenset({"pause", "resume"})

#: read-only commands that report an unknown team (as not there yet) instead of refusing it
REPORTING_COMMANDS = frozenset({"status", "ps", "chains", "merges", "budget"})


#: short commands that neither watch nor wait: they run on the one-shot session
ONESHOT_COMMANDS = frozenset(
    {
        *("push-task", "claim-task", "complete-task", "cancel-task", "task-start", "task-block"),
        *("task-unblock", "task-fail", "task-retry", "list-tasks", "show-task", "poll-task"),
        *("send-message", "request-help", "poll-messages", "dismiss-message", "poll-message"),
        *("delete-message", "set-context", "get-context", "delete-context", "list-context-keys"),
        *("register", "unregister", "heartbeat", "status", "list-instances"),
    }
)


class App:
    """Built once per invocation; the ZooKeeper client opens on first use."""

    def __init__(self, ctx: click.Context) -> None:
        self.ctx = ctx
        self._client: Any = None

    @cached_property
    def settings(self) -> Settings:
        from claude_orchestrator.conf.settings import resolve_settings

        flags = self.ctx.find_root().meta.get(FLAGS, {})
        settings = resolve_settings(flags, os.environ, Path.cwd(), Path.home())
        command = self.ctx.find_root().invoked_subcommand
        if settings.team_id and command in TEAM_IDENTITY_COMMANDS:
            raise NotAuthorisedError(
                f"not authorised: '{command}' controls the team, and this command runs with the "
                "agents' scoped credential (CO_AGENT_AUTH), which cannot control supervisors"
            )
        return settings

    @cached_property
    def team(self) -> Team:
        from claude_orchestrator.errors import ZkUnavailableError
        from claude_orchestrator.zk.client import ZkOptions

        s = self.settings
        self.refuse_stopped_server()
        opts = ZkOptions(
            s.zk_hosts, s.connect_timeout, s.session_timeout, s.auth, team_id=s.team_id
        )
        try:
            self._client = self._connect(opts)
        except ZkUnavailableError as exc:
            raise ZkUnavailableError(f"{exc}{self._embedded_hint()}") from exc
        self.ctx.call_on_close(self.close)
        team = self._open_team(s.team)
        if self.ctx.find_root().invoked_subcommand in SWEEPING_COMMANDS:
            from claude_orchestrator.zk.recovery import sweep_if_leaderless

            sweep_if_leaderless(team.tasks, self.now())
        return team

    def _open_team(self, name: str) -> Team:
        """Writers create the team's tree on first use; a read-only command creates no
        node, whatever named the team (--team, CO_TEAM, the team file, the default): an
        unknown team is an error, except for ``status`` and ``ps``, which report it
        (docs/cli.md)."""
        from claude_orchestrator.zk.team import Team, open_existing

        command = self.ctx.find_root().invoked_subcommand
        if command in EXISTING_TEAM_COMMANDS:
            return open_existing(self._client, name)
        if command not in READ_ONLY_COMMANDS:
            return Team(self._client, name)
        return open_existing(self._client, name, missing_ok=command in REPORTING_COMMANDS)

    def _connect(self, opts: ZkOptions) -> Any:
        """kazoo's client for commands that watch or control; the blocking one-shot session
        for the short ones, which need neither (zk/oneshot.py: no threads, less to import)."""
        from claude_orchestrator.zk.client import connect, connect_oneshot

        if self.ctx.find_root().invoked_subcommand in ONESHOT_COMMANDS:
            return connect_oneshot(opts)
        return connect(opts)

    def refuse_stopped_server(self) -> None:
        """A team file's embedded server that is not running is known at once: no connect."""
        s, command = self.settings, self.ctx.find_root().invoked_subcommand
        if command not in OWN_SERVER_COMMANDS:
            refuse_stopped_server(s)

    def _embedded_hint(self) -> str:
        return embedded_hint(self.settings)

    def close(self) -> None:
        from claude_orchestrator.zk.client import disconnect

        if self._client is not None:
            disconnect(self._client)
            self._client = None

    def now(self) -> float:
        return time.time()

    def operator(self) -> Actor:
        from claude_orchestrator.zk.registry import Actor

        return Actor.operator()

    def actor(self) -> Actor:
        """The instance this command acts as, or the operator when there is none."""
        iid = self.settings.instance_id
        if iid is None:
            return self.operator()
        from claude_orchestrator.zk.registry import Actor

        inst = self.team.registry.require_alive(iid, self.now())
        return Actor(label=iid, instance_id=iid, name=inst["name"], role=inst["role"])

    def acting_as(self) -> Actor:
        """The identity without reading it (for calls that verify it themselves)."""
        from claude_orchestrator.zk.registry import Actor

        iid = self.settings.instance_id
        return Actor(label=iid, instance_id=iid) if iid else self.operator()

    def sender(self) -> str:
        """Who a message comes from: the operator (no instance claimed), or the claimed
        instance, which must be live as for claiming (IdentityError otherwise)."""
        iid = self.settings.instance_id
        if iid is None:
            return self.operator().label
        self.team.registry.require_alive(iid, self.now())
        return iid

    def author(self) -> str:
        """Who a write is recorded as: the operator, a live instance's id, or
        ``unverified:<id>`` for a claimed instance that is not live (one read of its node).
        Not authentication: the team's ACL is what keeps strangers out."""
        from claude_orchestrator.zk.registry import is_alive

        iid = self.settings.instance_id
        if iid is None:
            return self.operator().label
        inst = self.team.registry.find(iid)
        return iid if inst is not None and is_alive(inst, self.now()) else f"{UNVERIFIED}{iid}"

    def require_instance(self, what: str) -> str:
        iid = self.settings.instance_id
        if iid is None:
            raise IdentityError(
                f"{what} needs an instance identity: run 'register --name NAME' first, "
                "or pass -i ID / set CO_INSTANCE_ID"
            )
        return iid

    def emit(self, obj: Any) -> None:
        as_json = self.settings.json_output
        emit(obj, True if as_json is None else as_json)


UNVERIFIED = "unverified:"

pass_app = click.make_pass_decorator(App, ensure=False)
