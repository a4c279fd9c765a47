"""The ``claude-orchestrator`` (alias ``corch``) command group and its error contract.

Errors go to stderr as ``error: …`` with the exit codes of DESIGN §6: 1 runtime,
2 usage or configuration, 3 illegal task transition, 4 ZooKeeper unreachable (the
translation itself is cli/runtime.py's, shared with the worker's lean entry). The
process starts in cli/main.py.
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

import click

from claude_orchestrator import __version__
from claude_orchestrator.cli.app import ONESHOT_COMMANDS, App
from claude_orchestrator.cli.options import check_utf8, global_options
from claude_orchestrator.cli.runtime import describe, quiet_kazoo

#: command name -> module defining it; modules load only when their command runs
LAZY_COMMANDS = {
    **dict.fromkeys(
        ["setup", "register", "unregister", "heartbeat", "status", "config", "list-instances"],
        "cmd_instances",
    ),
    **dict.fromkeys(
        [
            "push-task",
            "claim-task",
            "complete-task",
            "task-start",
            "task-block",
            "task-unblock",
            "task-fail",
            "task-retry",
            "cancel-task",
            "list-tasks",
            "show-task",
            "watch-tasks",
            "poll-task",
        ],
        "cmd_tasks",
    ),
    **dict.fromkeys(
        [
            "send-message",
            "request-help",
            "poll-messages",
            "wait-for-message",
            "dismiss-message",
            "poll-message",
            "delete-message",
        ],
        "cmd_messages",
    ),
    **dict.fromkeys(
        ["set-context", "get-context", "delete-context", "list-context-keys", "watch-context"],
        "cmd_context",
    ),
    "worker": "cmd_worker",
    "fix-acls": "cmd_acls",
    "logs": "cmd_logs",
    "run": "cmd_run",
    "worktrees": "cmd_worktrees",
    **dict.fromkeys(["merges", "show-merge"], "cmd_merges"),
    **dict.fromkeys(["pause", "resume", "budget"], "cmd_governor"),
    **dict.fromkeys(
        ["plan", "chains", "show-chain", "cancel-chain", "approve", "reject"], "cmd_chains"
    ),
    **dict.fromkeys(["up", "down", "restart", "reload", "ps", "leader"], "cmd_supervisor"),
}


class OrchestratorGroup(click.Group):
    """Loads commands lazily (start-up time is latency for agents) and turns the
    core's named exceptions into messages and exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = LAZY_COMMANDS.get(cmd_name)
        if module_name is None:
            return super().get_command(ctx, cmd_name)
        if cmd_name not in ONESHOT_COMMANDS:
            quiet_kazoo()
        module = importlib.import_module(f"claude_orchestrator.cli.{module_name}")
        found: click.Command | None = next((c for c in module.COMMANDS if c.name == cmd_name), None)
        return found

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from claude_orchestrator.errors import UsageError

        try:
            check_utf8(args)
        except UsageError as exc:
            raise click.UsageError(str(exc), ctx) from exc
        return super().parse_args(ctx, args)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's standalone handling, except that its own errors read ``error: …`` like
        ours and Ctrl-C exits 130 without ``Aborted!``."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                sys.exit(130)
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            show_click_error(exc)
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # translated below, never a traceback
            from claude_orchestrator.textsafe import escape

            if _INTERRUPTED:  # Ctrl-C, whatever it broke on its way: 130, quietly
                ctx.exit(130)
            code, message = describe(exc)
            click.echo(f"error: {escape(message)}", err=True)  # it may quote task text
            ctx.exit(code)


def show_click_error(exc: click.ClickException) -> None:
    """One ``error:`` line, then where to read the usage (click's own layout put the
    usage first and ``Error:`` last)."""
    click.echo(f"error: {exc.format_message()}", err=True)
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        click.echo(f"(see '{ctx.command_path} --help')", err=True)


@click.group(cls=OrchestratorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@global_options
@click.version_option(__version__, prog_name="claude-orchestrator")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run a team of coding agents coordinated through ZooKeeper.

    Coordination commands print JSON on stdout; errors go to stderr.
    """
    ctx.obj = App(ctx)


def run() -> None:
    """Run the command line ``sys.argv`` names."""
    signal.signal(signal.SIGINT, _on_interrupt)
    try:
        cli.main(prog_name="claude-orchestrator")
    except KeyboardInterrupt:
        sys.exit(130)


_INTERRUPTED: list[bool] = []  # Ctrl-C came (a signal handler may only record)


def _on_interrupt(signum: int, frame: Any) -> None:
    """Python's own behaviour (KeyboardInterrupt), remembered: an error that the interrupt
    provokes on its way out (a ZooKeeper call cut short) is still a Ctrl-C."""
    _INTERRUPTED.append(True)
    raise KeyboardInterrupt
