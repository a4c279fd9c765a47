"""Message commands: send, request help, poll, wait, dismiss."""

from __future__ import annotations

from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import alias, global_options, read_text
from claude_orchestrator.conf.names import require_name
from claude_orchestrator.errors import NotFoundError, UsageError

_message = click.option(
    "-m", "--message", "--content", "message", required=True, help="The text; '-' reads stdin."
)


@click.command("send-message")
@click.option("--to", "to_id", metavar="ID", help="One instance, by id.")
@click.option(
    "--to-name",
    metavar="NAME",
    callback=lambda _c, _p, v: v[1:] if v and v.startswith("@") else v,
    help="One instance, by name ('@NAME' too; 'all' is --broadcast, as in the seed).",
)
@click.option("--to-role", metavar="ROLE", help="Every live instance of a role.")
@click.option("--broadcast", is_flag=True, help="Every live instance.")
@click.option(
    "--type", "kind", help="Message type (default, as the seed's: direct, or broadcast for many)."
)
@_message
@global_options
@pass_app
def send_message(
    app: App,
    to_id: str | None,
    to_name: str | None,
    to_role: str | None,
    broadcast: bool,
    kind: str | None,
    message: str,
) -> None:
    """Send a message to an instance, a role, or everyone."""
    if to_name is not None and to_name.lower() == "all":
        to_name, broadcast = None, True
    chosen = [x for x in (to_id, to_name, to_role, broadcast or None) if x]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --to, --to-name, --to-role, --broadcast")
    for label, value in (("--to", to_id), ("--to-name", to_name), ("--to-role", to_role)):
        if value is not None:
            require_name(label, value)  # each becomes a node name
    recipients = _recipients(app, to_id, to_name, to_role)
    kind = kind or ("direct" if to_id or to_name else "broadcast")
    _send(app, recipients, kind, read_text(message) or "")


def _recipients(app: App, to_id: str | None, to_name: str | None, to_role: str | None) -> list[str]:
    reg = app.team.registry
    if to_id:
        reg.get(to_id)
        return [to_id]
    if to_name:
        return [reg.resolve_name(to_name)]
    ids = reg.members(to_role) if to_role else reg.ids()
    return ids


def _send(app: App, recipients: list[str], kind: str, body: str) -> None:
    if not recipients:
        raise NotFoundError("no live instance to send to")
    sender = app.sender()  # a sender that is not alive is refused, so every message is verified
    meta = {"verified": True, **_sender_fields(app, sender)}
    sent = app.team.inboxes.send(recipients, body, sender, kind, app.now(), meta)
    app.emit(
        {
            "status": "sent",
            "sent_to": [m["to"] for m in sent],
            "message_count": len(sent),
            "count": len(sent),
            "messages": sent,
        }
    )


def _sender_fields(app: App, sender: str) -> dict[str, Any]:
    """The seed's sender fields: the instance, its name and role (null for the operator)."""
    iid = app.settings.instance_id
    if iid is None:
        return {"from_instance": None, "from_name": sender, "from_role": None}
    inst = app.team.registry.find(iid) or {}
    name = inst.get("name") or iid.rsplit("-", 1)[0]
    return {"from_instance": iid, "from_name": name, "from_role": inst.get("role")}


@click.command("request-help")
@click.option(
    "-m", "--message", "--question", "message", required=True, help="The question; '-': stdin."
)
@click.option("--context", "context", help="What you tried, what you need (appended).")
@global_options
@pass_app
def request_help(app: App, message: str, context: str | None) -> None:
    """Broadcast a request for help (a message of type 'help')."""
    me = app.settings.instance_id
    recipients = [i for i in app.team.registry.ids() if i != me]
    text = read_text(message) or ""
    if context:
        text = f"{text}\n\nContext:\n{context}"
    _send(app, recipients, "help", text)


@click.command("poll-messages")
@click.option("--all", "include_read", is_flag=True, help="Include messages already read.")
@global_options
@pass_app
def poll_messages(app: App, include_read: bool) -> None:
    """Return unread messages and mark them read."""
    iid = app.require_instance("poll-messages")
    app.emit(app.team.inboxes.poll(iid, iid, app.now(), include_read))


@click.command("wait-for-message")
@click.option("--timeout", default="60s", show_default=True, help="How long to wait.")
@global_options
@pass_app
def wait_for_message(app: App, timeout: str) -> None:
    """Block until an unread message arrives (and take it) or the timeout passes."""
    from claude_orchestrator.conf.duration import parse_duration

    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise UsageError(f"--timeout: {exc}") from exc
    iid = app.require_instance("wait-for-message")
    got = app.team.inboxes.wait(iid, iid, seconds, app.now)
    if got:
        app.emit({"status": "received", "messages": got})
    else:
        app.emit({"status": "timeout", "message": "No messages received.", "messages": []})


@click.command("dismiss-message")
@click.option("--message-id", required=True, metavar="ID", help="As printed by poll-messages.")
@global_options
@pass_app
def dismiss_message(app: App, message_id: str) -> None:
    """Delete a message from your inbox."""
    iid = app.require_instance("dismiss-message")
    app.emit({**app.team.inboxes.dismiss(iid, message_id), "message_id": message_id})


COMMANDS: list[Any] = [
    send_message,
    request_help,
    poll_messages,
    wait_for_message,
    dismiss_message,
    alias(poll_messages, "poll-message"),
    alias(dismiss_message, "delete-message"),
]
