"""Inboxes: messages to one instance, a role, or everyone; each taken once.

``inboxes/<id>/unread/m-<seq>`` holds what is waiting; taking a message is
one ``multi()`` that creates ``read/m-<seq>`` and deletes the unread node
with the version read, so a worker and a CLI ``poll-messages`` can never
both take it. ``read/`` is pruned to the newest READ_KEEP messages.

SUSPENDED: steps are retried after reconnection; a take whose outcome was
lost is recognised by the read node it created. LOST: nothing is held here;
a re-registered instance has a new (empty) inbox.

A message to many recipients (a role, a broadcast) is one ``multi()`` per batch of
recipients that fits ZooKeeper's packet limit — usually one; a large message to many
recipients takes several, and a failure after the first names who already has it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import BadVersionError, NoNodeError

from claude_orchestrator.errors import NotFoundError, PartialWriteError
from claude_orchestrator.zk.codec import check_size, decode, encode, iso, token
from claude_orchestrator.zk.paths import TeamPaths, child
from claude_orchestrator.zk.registry import Registry, is_alive
from claude_orchestrator.zk.txn import MULTI_LIMIT, Txn, TxnConflict, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient

READ_KEEP = 100


class Inboxes:
    def __init__(self, client: KazooClient, team: str) -> None:
        self.client = client
        self.paths = TeamPaths(team)
        self.registry = Registry(client, team)

    def send(
        self,
        recipients: list[str],
        body: str,
        sender: str,
        kind: str,
        now: float,
        meta: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Deliver one message to each recipient: one transaction per batch of recipients
        that fits ZooKeeper's packet limit (all of them, unless the message is large).

        Only live recipients get it (``is_alive``, as for claiming): an expired one among
        several is skipped; a single one is refused, as is a list with none alive.
        If a batch fails after earlier ones were delivered, PartialWriteError names them.
        """
        check_size("message", body)
        recipients = self._live(recipients, now)
        at = iso(now)
        msg = {"from": sender, "type": kind, "content": body, "sent_at": at, "created_at": at}
        msg.update(meta or {}, _op=token())
        sent: list[dict[str, Any]] = []
        for batch in self._batches(recipients, msg):
            try:
                sent += self._send_batch(batch, msg)
            except Exception as exc:  # whatever it was, say who already has the message
                if not sent:
                    raise
                raise PartialWriteError(
                    _partial_message(sent, len(recipients), exc),
                    [f"{m['to']}/{m['id']}" for m in sent],
                ) from exc
        return sent

    def _live(self, recipients: list[str], now: float) -> list[str]:
        """The recipients whose lease has not run out (records read pipelined); one whose
        node vanished is an error, as the send's own check would make it."""

        def step() -> list[str]:
            calls = [(r, self.client.get_async(self.paths.instance(r))) for r in recipients]
            live = []
            for rid, call in calls:
                try:
                    data = call.get()[0]
                except NoNodeError:
                    raise NotFoundError(f"recipient gone: {rid}") from None
                if is_alive(decode(data), now):
                    live.append(rid)
            return live

        live = retrying(self.client, step)
        if len(recipients) == 1 and not live:
            raise NotFoundError(f"instance {recipients[0]} is not alive (its lease ran out?)")
        if not live:
            raise NotFoundError("no live instance to send to")
        return live

    def _batches(self, recipients: list[str], msg: dict[str, Any]) -> list[list[str]]:
        batches: list[list[str]] = []
        room = 0
        for rid in recipients:
            probe = Txn(self.client)  # measured exactly as it will be sent; nothing is sent
            self._deliver(probe, rid, msg)
            if not batches or probe.size > room:
                batches.append([])
                room = MULTI_LIMIT
            batches[-1].append(rid)
            room -= probe.size
        return batches

    def _deliver(self, t: Txn, rid: str, msg: dict[str, Any]) -> None:
        t.check(self.paths.instance(rid))
        t.create(self.paths.unread_message(rid, "m-"), encode(_addressed(msg, rid)), sequence=True)

    def _send_batch(self, recipients: list[str], msg: dict[str, Any]) -> list[dict[str, Any]]:
        attempted = [False]

        def step() -> list[dict[str, Any]]:
            if attempted[0]:  # the last commit's outcome is unknown: did it land?
                landed = self._find_sent(recipients, msg)
                if landed is not None:
                    return landed
            attempted[0] = True
            t = Txn(self.client)
            for rid in recipients:
                self._deliver(t, rid, msg)
            try:
                results = t.commit()
            except TxnConflict as exc:
                raise NotFoundError(f"recipient gone: {exc.op[1].rsplit('/', 1)[1]}") from exc
            created = [r for r in results if isinstance(r, str)]
            return [
                _public({**_addressed(msg, rid), "id": p.rsplit("/", 1)[1]})
                for rid, p in zip(recipients, created, strict=True)
            ]

        return retrying(self.client, step)

    def _find_sent(self, recipients: list[str], msg: dict[str, Any]) -> list[dict[str, Any]] | None:
        """After a lost reply: the delivered copies carrying ``msg``'s token, if any.

        The send is one transaction, so finding it in one inbox means it is in all;
        this scan runs only on that rare retry path.
        """
        found = []
        for rid in recipients:
            mid = self._message_with(rid, msg["_op"])
            if mid is None:
                return None
            found.append(_public({**_addressed(msg, rid), "id": mid}))
        return found

    def _message_with(self, instance_id: str, op: str) -> str | None:
        for folder in (self.paths.unread(instance_id), self.paths.read(instance_id)):
            for mid in sorted(self.client.get_children(folder), reverse=True):
                try:
                    data, _ = self.client.get(child(folder, mid))
                except NoNodeError:
                    continue
                if decode(data).get("_op") == op:
                    return str(mid)
        return None

    def unread_ids(self, instance_id: str) -> list[str]:
        def step() -> list[str]:
            try:
                return sorted(self.client.get_children(self.paths.unread(instance_id)))
            except NoNodeError:
                raise NotFoundError(f"instance {instance_id} has no inbox") from None

        return retrying(self.client, step)

    def take(self, instance_id: str, msg_id: str, by: str, now: float) -> dict[str, Any] | None:
        """Move one unread message to read/; None if someone else took it first."""
        src = self.paths.unread_message(instance_id, msg_id)
        dst = self.paths.read_message(instance_id, msg_id)
        tok = token()

        def step() -> dict[str, Any] | None:
            try:
                data, stat = self.client.get(src)
            except NoNodeError:
                return self._taken_by(dst, tok)  # ours, if our commit's reply was lost
            msg = decode(data, src)
            msg.update(id=msg_id, read_at=iso(now), read_by=by, _take=tok)
            t = Txn(self.client)
            t.create(dst, encode(msg))
            t.delete(src, stat.version)
            try:
                t.commit()
            except TxnConflict:
                return None
            return _public(msg)

        return retrying(self.client, step)

    def _taken_by(self, dst: str, tok: str) -> dict[str, Any] | None:
        """The read message at ``dst`` if the take carrying ``tok`` created it."""
        try:
            data, _ = self.client.get(dst)
        except NoNodeError:
            return None
        msg = decode(data, dst)
        return _public(msg) if msg.get("_take") == tok else None

    def poll(
        self, instance_id: str, by: str, now: float, include_read: bool = False
    ) -> list[dict[str, Any]]:
        """Take every unread message (oldest first); with include_read, the read ones too.

        Refused (IdentityError) for an instance that is not alive, as claiming is."""
        self.registry.refuse_expired(instance_id, now)
        earlier = self.read_messages(instance_id) if include_read else []
        taken = [
            m
            for mid in self.unread_ids(instance_id)
            if (m := self.take(instance_id, mid, by, now)) is not None
        ]
        if taken:
            self.prune(instance_id)
        return earlier + taken

    def read_messages(self, instance_id: str) -> list[dict[str, Any]]:
        return retrying(self.client, lambda: self._read_messages(instance_id))

    def _read_messages(self, instance_id: str) -> list[dict[str, Any]]:
        out = []
        folder = self.paths.read(instance_id)
        for mid in sorted(self.client.get_children(folder)):
            try:
                data, _ = self.client.get(child(folder, mid))
            except NoNodeError:
                continue
            out.append(_public({**decode(data), "id": mid}))
        return out

    def wait(self, instance_id: str, by: str, timeout: float, now_fn: Any) -> list[dict[str, Any]]:
        """Block until an unread message arrives (then take them all) or timeout.

        The timeout is one deadline for the whole wait, even when another taker
        wins the messages that woke us. The children watch ends itself (its
        callback returns False) at the first change after the wait is over, so
        repeated waits do not pile up watches and listeners on the client.
        """
        arrived = threading.Event()
        over = threading.Event()

        def on_children(children: list[str]) -> bool:
            if over.is_set():
                return False
            if children:
                arrived.set()
            return True

        self.registry.refuse_expired(instance_id, now_fn())
        self.unread_ids(instance_id)  # raises NotFoundError for a missing inbox
        from kazoo.recipe.watchers import ChildrenWatch

        deadline = time.monotonic() + timeout
        ChildrenWatch(self.client, self.paths.unread(instance_id), on_children)
        try:
            while arrived.wait(max(0.0, deadline - time.monotonic())):
                arrived.clear()  # before polling, so an arrival during the poll is kept
                taken = self.poll(instance_id, by, now_fn())
                if taken:
                    return taken
            return []  # another taker beat us to everything until the deadline
        finally:
            over.set()

    def annotate(self, instance_id: str, msg_id: str, fields: dict[str, Any]) -> bool:
        """Record how a taken message was processed on its read node (best effort)."""
        path = self.paths.read_message(instance_id, msg_id)

        def step() -> bool:
            try:
                data, stat = self.client.get(path)
                msg = {**decode(data, path), **fields}
                self.client.set(path, encode(msg), stat.version)
            except (NoNodeError, BadVersionError):
                return False
            return True

        return retrying(self.client, step)

    def dismiss(self, instance_id: str, msg_id: str) -> dict[str, Any]:
        """Delete one message, unread or read. After a lost reply, a message that is gone
        on the retry counts as dismissed (our delete, or another's: either way it is gone)."""
        dismissed = {"id": msg_id, "status": "dismissed"}
        attempts = [0]

        def step() -> dict[str, Any]:
            attempts[0] += 1
            for folder in (self.paths.unread(instance_id), self.paths.read(instance_id)):
                try:
                    self.client.delete(child(folder, msg_id))
                    return dismissed
                except NoNodeError:
                    continue
            if attempts[0] > 1:
                return dismissed  # an earlier attempt's delete may have landed
            raise NotFoundError(f"no message {msg_id} in the inbox of {instance_id}")

        return retrying(self.client, step)

    def prune(self, instance_id: str) -> int:
        return retrying(self.client, lambda: self._prune(instance_id))

    def _prune(self, instance_id: str) -> int:
        folder = self.paths.read(instance_id)
        names = sorted(self.client.get_children(folder))
        excess = names[: max(0, len(names) - READ_KEEP)]
        for mid in excess:
            try:
                self.client.delete(child(folder, mid))
            except NoNodeError:
                pass
        return len(excess)


def _partial_message(sent: list[dict[str, Any]], total: int, exc: Exception) -> str:
    delivered = ", ".join(f"{m['to']} ({m['id']})" for m in sent)
    return (
        f"delivered to {len(sent)} of {total} recipients ({delivered}), then failed: {exc}; "
        f"the other {total - len(sent)} got nothing"
    )


def _addressed(msg: dict[str, Any], rid: str) -> dict[str, Any]:
    # an instance id is "<name>-<8 hex>" (registry.py): the name costs no read
    return {**msg, "to": rid, "to_instance": rid, "to_name": rid.rsplit("-", 1)[0]}


def _public(msg: dict[str, Any]) -> dict[str, Any]:
    """The message as printed: the seed's fields (``content``, ``read``, ...) and the
    earlier names (``body``, ``from``, ``sent_at``); the text is stored once."""
    out = {k: v for k, v in msg.items() if not k.startswith("_")}
    text = out.pop("content", None)
    text = out.pop("body", None) if text is None else text  # a record from before 0.5
    out.update(content=text, body=text, read="read_at" in out)
    out.setdefault("created_at", out.get("sent_at"))
    return out
