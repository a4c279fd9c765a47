"""Context commands: shared key/value notes with compare-and-set."""

from __future__ import annotations

from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import follow_option, global_options, read_text

_key = click.option("--key", required=True, help="Any string; '/' is allowed.")
_if_version = click.option(
    "--if-version", type=int, metavar="N", help="Only if the key is at version N (compare-and-set)."
)


@click.command("set-context")
@_key
@click.option("--value", required=True, help="The value; '-' reads stdin.")
@_if_version
@global_options
@pass_app
def set_context(app: App, key: str, value: str, if_version: int | None) -> None:
    """Set a context value."""
    text = read_text(value) or ""
    app.emit(app.team.context.set(key, text, app.author(), app.now(), if_version))


@click.command("get-context")
@_key
@global_options
@pass_app
def get_context(app: App, key: str) -> None:
    """Get a context value (status not_found, exit 0, when missing)."""
    app.emit(app.team.context.get(key))


@click.command("delete-context")
@_key
@_if_version
@global_options
@pass_app
def delete_context(app: App, key: str, if_version: int | None) -> None:
    """Delete a context key."""
    out = app.team.context.delete(key, if_version)
    app.emit({**out, "status": "deleted"} if out.get("deleted") else out)


@click.command("list-context-keys")
@click.option("--prefix", help="Only keys starting with this.")
@global_options
@pass_app
def list_context_keys(app: App, prefix: str | None) -> None:
    """List context keys: {"keys": [...], "count": n}."""
    keys = app.team.context.keys(prefix)
    human = app.settings.json_output is False  # --no-json: one key a line
    app.emit(keys if human else {"keys": keys, "count": len(keys)})


@click.command("watch-context")
@_key
@follow_option
@global_options
@pass_app
def watch_context(app: App, key: str, follow: bool) -> None:
    """Wait for the key's next change and print it; --follow prints the value now and
    every change as JSON lines until interrupted."""
    import queue

    changes: queue.Queue[dict[str, Any]] = queue.Queue()
    app.team.context.watch(key, changes.put)
    first = changes.get()
    if follow:
        app.emit(first)
    while True:
        app.emit(changes.get())
        if not follow:
            return


COMMANDS: list[Any] = [set_context, get_context, delete_context, list_context_keys, watch_context]
