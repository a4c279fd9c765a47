"""Instances: who is in the team, and whether each is alive.

An instance is either session-bound (an ephemeral node: worker processes) or
lease-held (a persistent node with ``lease_expires_at``: one-shot CLI
registrations, renewed by ``heartbeat``; the leader's sweep removes expired
ones). Beside each instance: ``names/<name>`` (name → id) and
``roles/<role>/<id>`` (role membership), created in the same transaction and
with the same lifetime, so sending never reads every instance.

SUSPENDED: calls raise ConnectionLoss and are retried by ``retrying`` until
the deadline. LOST: session-bound instances of this client are gone; their
owner must register again under a new id (``register`` never revives one).
"""

from __future__ import annotations

import os
import socket
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import BadVersionError, NoNodeError, NotEmptyError

from claude_orchestrator.conf.names import require_name
from claude_orchestrator.errors import IdentityError, NotFoundError
from claude_orchestrator.zk.codec import decode, encode, iso, parse_iso, token
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.txn import Txn, TxnConflict, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient

DEFAULT_LEASE_S = 120.0


class Actor(NamedTuple):
    """Who performs a change: an instance, or the operator (no instance)."""

    label: str
    instance_id: str | None = None
    name: str | None = None
    role: str | None = None
    #: an instance that lives as long as its session (a worker): existing is being alive, so
    #: the transaction's own check of its node fences it, with no read before
    session_bound: bool = False

    @classmethod
    def operator(cls) -> Actor:
        return cls(label=f"operator@{socket.gethostname()}")


class Registration(NamedTuple):
    name: str
    role: str
    work_dir: str
    session_bound: bool
    lease_s: float = DEFAULT_LEASE_S
    host: str | None = None  # this host's name in the team; None: the machine's hostname


def is_alive(inst: dict[str, Any], now: float) -> bool:
    """Session-bound instances live as long as their node; leases until expiry."""
    expires = inst.get("lease_expires_at")
    return expires is None or parse_iso(expires) > now


def refuse_expired(inst: dict[str, Any], now: float) -> None:
    """The one refusal for an instance that is not alive (claiming, sending, polling)."""
    if not is_alive(inst, now):
        raise IdentityError(
            f"the lease of instance {inst['id']} expired at {inst['lease_expires_at']}; "
            "run 'heartbeat' more often than every "
            f"{inst.get('lease_s') or DEFAULT_LEASE_S:g}s"
        )


class Registry:
    def __init__(self, client: KazooClient, team: str) -> None:
        self.client = client
        self.paths = TeamPaths(team)
        #: what this process last wrote to an instance node, and the version it made: the
        #: next heartbeat writes on it without reading (a stale one fails its version check,
        #: is dropped, and the beat reads as usual)
        self._written: dict[str, tuple[dict[str, Any], int]] = {}
        #: instances seen to be session-bound (ephemeral nodes): they hold no lease, so the
        #: sweep reads each once, not every time (an idle leader's sweep stays cheap)
        self._session_bound: set[str] = set()
        #: the earliest lease end the last ``expire_leases`` saw among those it kept (epoch
        #: seconds; None: no lease): the leader sweeps again then (DESIGN: on lease expiry)
        self.next_lease_end: float | None = None

    def register(self, reg: Registration, now: float) -> dict[str, Any]:
        require_name("name", reg.name)  # both become node names; checked by callers too
        require_name("role", reg.role)
        inst = self._record(reg, now)
        retrying(self.client, lambda: self._create(reg, inst, now))
        return inst

    def _record(self, reg: Registration, now: float) -> dict[str, Any]:
        return {
            "id": f"{reg.name}-{token()[:8]}",
            "name": reg.name,
            "role": reg.role,
            "host": reg.host or socket.gethostname(),
            "pid": os.getpid(),
            "work_dir": reg.work_dir,
            "kind": "session" if reg.session_bound else "lease",
            "registered_at": iso(now),
            "heartbeat_at": iso(now),
            "lease_s": None if reg.session_bound else reg.lease_s,
            "lease_expires_at": None if reg.session_bound else iso(now + reg.lease_s),
            "current_task": None,
        }

    def _create(self, reg: Registration, inst: dict[str, Any], now: float) -> None:
        if self.client.exists(self.paths.instance(inst["id"])):
            return  # our own earlier attempt went through before a connection loss
        self.client.ensure_path(self.paths.role(reg.role))
        t = Txn(self.client)
        self._take_over_name(t, reg.name, now)
        eph = reg.session_bound
        t.create(self.paths.instance(inst["id"]), encode(inst), ephemeral=eph)
        t.create(self.paths.name(reg.name), inst["id"].encode(), ephemeral=eph)
        t.create(self.paths.role_member(reg.role, inst["id"]), b"", ephemeral=eph)
        for path in (self.paths.inbox(inst["id"]), self.paths.unread(inst["id"])):
            t.create(path)
        t.create(self.paths.read(inst["id"]))
        try:
            t.commit()
        except TxnConflict as exc:
            raise IdentityError(f"could not register '{reg.name}': {exc} (try again)") from exc

    def _take_over_name(self, t: Txn, name: str, now: float) -> None:
        try:
            data, stat = self.client.get(self.paths.name(name))
        except NoNodeError:
            return
        holder = data.decode()
        current = self._find(holder)
        if current is not None and is_alive(current, now):
            raise IdentityError(f"the name '{name}' is held by live instance {holder}")
        t.delete(self.paths.name(name), stat.version)

    def find(self, instance_id: str) -> dict[str, Any] | None:
        """The instance record, or None when it is not registered."""
        return retrying(self.client, lambda: self._find(instance_id))

    def _find(self, instance_id: str) -> dict[str, Any] | None:
        try:
            data, _ = self.client.get(self.paths.instance(instance_id))
        except NoNodeError:
            return None
        return decode(data, self.paths.instance(instance_id))

    def get(self, instance_id: str) -> dict[str, Any]:
        inst = self.find(instance_id)
        if inst is None:
            raise _not_registered(instance_id)
        return inst

    def named(self, name: str) -> dict[str, Any] | None:
        """The instance record registered under ``name``, if any."""
        try:
            return self.find(self.resolve_name(name))
        except NotFoundError:  # never registered, or already gone
            return None

    def named_by(self, name: str, pid: int) -> dict[str, Any] | None:
        """The instance registered under ``name`` by process ``pid``, if any."""
        inst = self.named(name)
        return inst if inst is not None and inst.get("pid") == pid else None

    def require_alive(self, instance_id: str, now: float) -> dict[str, Any]:
        return alive(self.find(instance_id), instance_id, now)

    def refuse_expired(self, instance_id: str, now: float) -> None:
        """IdentityError if the instance is registered but its lease ran out."""
        inst = self.find(instance_id)
        if inst is not None:
            refuse_expired(inst, now)

    def heartbeat(
        self,
        instance_id: str,
        now: float,
        current_task: str | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        def step() -> dict[str, Any]:
            cached = self._written.pop(instance_id, None)
            inst, version = cached or self._read_record(instance_id)
            inst["heartbeat_at"] = iso(now)
            if inst.get("lease_s"):
                inst["lease_expires_at"] = iso(now + float(inst["lease_s"]))
            if current_task is not None:
                inst["current_task"] = current_task or None
            inst.update(extra or {})
            try:
                stat = self.client.set(self.paths.instance(instance_id), encode(inst), version)
            except NoNodeError:
                if cached is None:
                    raise
                raise BadVersionError() from None  # gone since our write: read, and say so
            self._written[instance_id] = (dict(inst), stat.version)
            return inst

        return self._with_conflict_retry(step)

    def _read_record(self, instance_id: str) -> tuple[dict[str, Any], int]:
        data, stat = self._read(instance_id)
        return decode(data), stat.version

    def _read(self, instance_id: str) -> tuple[bytes, Any]:
        try:
            data, stat = self.client.get(self.paths.instance(instance_id))
        except NoNodeError:
            raise _not_registered(instance_id) from None
        return data, stat

    def _with_conflict_retry(self, step: Any) -> dict[str, Any]:
        while True:
            try:
                result: dict[str, Any] = retrying(self.client, step)
                return result
            except BadVersionError:
                continue

    def unregister(self, instance_id: str) -> dict[str, Any]:
        inst = self.get(instance_id)
        retrying(self.client, lambda: self._remove(inst, -1))
        return inst

    def _remove(self, inst: dict[str, Any], version: int) -> bool:
        """Delete an instance's nodes (its record only at ``version``; -1: any), then its inbox."""
        instance_id = inst["id"]
        t = Txn(self.client)
        t.delete(self.paths.instance(instance_id), version)
        t.delete(self.paths.role_member(inst["role"], instance_id))
        if self._name_holder(inst["name"]) == instance_id:
            t.delete(self.paths.name(inst["name"]))
        try:
            t.commit()
        except TxnConflict:
            if version != -1 and self.client.exists(self.paths.instance(instance_id)):
                return False  # renewed (or changed) since we read it: not ours to remove
        self._remove_inbox(instance_id)
        return True

    def _name_holder(self, name: str) -> str | None:
        try:
            data, _ = self.client.get(self.paths.name(name))
        except NoNodeError:
            return None
        return str(data.decode())

    def remove_inbox(self, instance_id: str) -> None:
        retrying(self.client, lambda: self._remove_inbox(instance_id))

    def _remove_inbox(self, instance_id: str) -> None:
        try:
            self.client.delete(self.paths.inbox(instance_id), recursive=True)
        except (NoNodeError, NotEmptyError):
            pass

    def resolve_name(self, name: str) -> str:
        holder = retrying(self.client, lambda: self._name_holder(name))
        if holder is None:
            raise NotFoundError(f"no live instance is named '{name}'")
        return holder

    def members(self, role: str) -> list[str]:
        def step() -> list[str]:
            try:
                return sorted(self.client.get_children(self.paths.role(role)))
            except NoNodeError:
                return []

        return retrying(self.client, step)

    def ids(self) -> list[str]:
        return retrying(self.client, lambda: sorted(self.client.get_children(self.paths.instances)))

    def describe_all(self, now: float) -> list[dict[str, Any]]:
        out = []
        for iid in self.ids():
            inst = self.find(iid)
            if inst is not None:
                out.append({**inst, "alive": is_alive(inst, now)})
        return out

    def expire_leases(self, now: float) -> list[str]:
        """Unregister every lease-held instance whose lease has run out."""
        ids = self.ids()
        self._session_bound.intersection_update(ids)
        self.next_lease_end = None
        expired = []
        for iid in ids:
            if iid in self._session_bound:
                continue
            if retrying(self.client, partial(self._expire, iid, now)):
                expired.append(iid)
        return expired

    def _expire(self, instance_id: str, now: float) -> bool:
        """Remove one instance if its lease ran out, unless a heartbeat renews it first
        (the delete carries the version read)."""
        try:
            data, stat = self.client.get(self.paths.instance(instance_id))
        except NoNodeError:
            return False
        if stat.ephemeralOwner:
            self._session_bound.add(instance_id)
            return False
        inst = decode(data, self.paths.instance(instance_id))
        if is_alive(inst, now):
            self._note_lease_end(inst)
            return False
        return self._remove(inst, stat.version)

    def _note_lease_end(self, inst: dict[str, Any]) -> None:
        end = inst.get("lease_expires_at")
        if isinstance(end, str):
            at = parse_iso(end)
            self.next_lease_end = (
                at if self.next_lease_end is None else min(at, self.next_lease_end)
            )


def alive(inst: dict[str, Any] | None, instance_id: str, now: float) -> dict[str, Any]:
    """``inst`` (the record read for ``instance_id``) if it is registered and alive;
    IdentityError otherwise."""
    if inst is None:
        raise _not_registered(instance_id)
    refuse_expired(inst, now)
    return inst


def _not_registered(instance_id: str) -> IdentityError:
    return IdentityError(
        f"instance {instance_id} is not registered (its session or lease ended?); "
        "run 'register' again"
    )
