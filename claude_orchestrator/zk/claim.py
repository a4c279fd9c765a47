"""Claiming: exactly one claimer wins each task, whatever the race.

Order (DESIGN §4): tasks assigned to the claimer by name or role first, then
priority, then FIFO — the entry names carry priority and sequence, so only
``get_children`` of three folders is read, never every task. A claim is the
store's one commit (``TaskStore.commit``), a ``multi()``: check the claimer's
instance node, set the record with the version read, delete the queue entry,
create the ``active`` entry. A racer that loses moves on to a later candidate
(spread over the next few, so N racers do not all hit the head) instead of
re-reading everything.

SUSPENDED: the attempt is retried after reconnection and recognised by its
token if it had landed. LOST: a session-bound claimer's instance node is
gone, so its claims fail the instance check until it registers again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from claude_orchestrator.errors import IdentityError, NotFoundError
from claude_orchestrator.zk.chains import ChainStore
from claude_orchestrator.zk.codec import iso, token
from claude_orchestrator.zk.paths import TeamPaths, child
from claude_orchestrator.zk.registry import Actor
from claude_orchestrator.zk.taskmodel import (
    Action,
    Change,
    Task,
    TaskStatus,
    apply,
    task_id_of_entry,
)
from claude_orchestrator.zk.tasks import FenceLost, Reread, TaskStore
from claude_orchestrator.zk.txn import Txn, retrying


def queue_folders(paths: TeamPaths, name: str, role: str | None) -> list[str]:
    """The folders a claimer takes from: its name's, anyone's, its role's."""
    return [paths.queue_name(name), paths.queue_any, *([paths.queue_role(role)] if role else [])]


def in_claim_order(folders: list[str], listed: list[list[str]]) -> list[str]:
    """Queue entry paths in claim order: assigned (name, role) first, then anyone's."""
    assigned = [(e, child(folders[0], e)) for e in listed[0]]
    if len(folders) > 2:
        assigned += [(e, child(folders[2], e)) for e in listed[2]]
    open_ = [child(folders[1], e) for e in listed[1]]
    return [p for _, p in sorted(assigned)] + open_


class _HeldBack:
    """A task its chain holds back (zk/chains.py): not lost to another claimer, not ours."""


HELD_BACK = _HeldBack()


def _attempt(
    store: TaskStore, entry_path: str, actor: Actor, now: float
) -> Task | _HeldBack | None:
    tok = token()

    def step() -> Task | _HeldBack | None:
        try:
            rec, version = store.read(task_id_of_entry(entry_path.rsplit("/", 1)[1]))
        except NotFoundError:
            return None
        if rec.op == tok:
            return rec
        if rec.status is not TaskStatus.PENDING:
            return None
        chain_version = ChainStore(store.client, store.paths.team).gate(rec)
        if chain_version is None:
            return HELD_BACK  # the claim gate (zk/chains.py)
        return _commit_claim(store, rec, version, actor, now, tok, chain_version)

    return retrying(store.client, step)


def _commit_claim(
    store: TaskStore,
    rec: Task,
    version: int,
    actor: Actor,
    now: float,
    tok: str,
    chain_version: int = -1,
) -> Task | None:
    """The store's one commit, fenced by the claimer's instance node: the record set and
    its entry moved from the queue to ``active``, and a chain's task only if its chain
    record is still the one the gate let it through at; None when another claimer won."""
    change = Change(Action.CLAIM, by=actor.label, at=iso(now), claimer=actor.instance_id)
    new = apply(rec, change)._replace(op=tok)
    chain = store.paths.chain(rec.chain_id) if rec.chain_id is not None else None

    def gate(t: Txn, _new: Task) -> None:
        if chain is not None:
            t.check(chain, chain_version)

    try:
        return store.commit(rec, version, new, fence=str(actor.instance_id), extra=gate)
    except FenceLost as exc:
        raise IdentityError(
            f"instance {actor.instance_id} is no longer registered; register again"
        ) from exc
    except Reread:
        return None  # another claimer won this one


def claim_as(store: TaskStore, instance_id: str, now: float) -> Task | None:
    """``claim-task``: one read of the instance (identity, role, lease), one claim pass."""
    inst = store.registry.require_alive(instance_id, now)
    actor = Actor(label=instance_id, instance_id=instance_id, name=inst["name"], role=inst["role"])
    store.ensure_layout()
    return Claimer(store, actor, spread=1).claim(now)


class Claimer:
    """Claims for one long-lived, session-bound claimer without re-listing each time.

    It keeps the candidate list it read last and walks it; a stale entry costs
    one failed read. ``refresh()`` makes the next claim re-list, so a new
    higher-priority task is seen. With ``on_change`` (kazoo's client), each
    listing also sets a one-shot watch on the folders listed that calls it with
    the event: the owner passes the event's folder to ``refresh`` and only that
    folder is listed again (the others are known unchanged: their watch has not
    fired). A claimer hears of a folder's change at most once per listing — never
    again while it is busy and already knows the folder is stale — instead of
    re-listing on every change as a ChildrenWatch would. kazoo drops such
    watches on a disconnect: the owner calls ``refresh()`` on every reconnect,
    and the next claim lists every folder, setting them again.
    """

    def __init__(
        self,
        store: TaskStore,
        actor: Actor,
        spread: int = 4,
        head_first: bool = False,
        on_change: Callable[[Any], None] | None = None,
    ) -> None:
        if actor.instance_id is None or actor.name is None:
            raise IdentityError("claiming needs an instance identity")
        self.store, self.actor, self.spread = store, actor, spread
        self.on_change = on_change
        self.folders = queue_folders(store.paths, str(actor.name), actor.role)
        self.listed: dict[str, list[str]] = {}  # folder -> its entries at its last listing
        self.dirty = set(self.folders)  # folders to list again (all of them without watches)
        self.queue: list[str] = []
        self.stale = True
        self.held: set[str] = set()  # entries their chain holds back, until their folder changes
        # head_first: take the head (strict claim order) until a race is lost, then spread
        self.contended = not head_first

    def refresh(self, folder: str | None = None) -> None:
        """The next claim lists ``folder`` again (its watch fired), or every folder; the
        entries held back there are tried again (a chain that resumes re-posts them)."""
        self.stale = True
        folders = [folder] if folder in self.folders else self.folders
        self.dirty.update(folders)
        self.held = {e for e in self.held if e.rsplit("/", 1)[0] not in folders}

    def claim(self, now: float) -> Task | None:
        """Claim the next task; None only when a fresh view has nothing left."""
        while True:
            if self.stale or not self.queue:
                self.stale = False
                self.queue = self._candidates()
                if not self.queue:
                    return None
            won = self._try_one(now)
            if won is not None:
                return won

    def _candidates(self) -> list[str]:
        """List the folders that may have changed (every one without watches); the rest
        are as last listed."""
        dirty = [f for f in self.folders if f in self.dirty or self.on_change is None]
        if dirty:
            for folder, entries in zip(
                dirty, self.store.entries_of(dirty, self.on_change), strict=True
            ):
                self.listed[folder] = entries
            self.dirty.difference_update(dirty)
        ordered = in_claim_order(self.folders, [self.listed[f] for f in self.folders])
        return [entry for entry in ordered if entry not in self.held]

    def _try_one(self, now: float) -> Task | None:
        """One attempt from the head region; a loss makes the next attempt re-list.

        Racers (spread > 1) pick at random among the first ``spread`` entries.
        After a win, the entries others have probably taken meanwhile (about
        one per racer, ``spread // 2 - 1``) are skipped rather than re-listed:
        listing a long queue costs more than it saves, and any later loss or
        the end of the list brings a fresh listing that shows what was skipped.
        """
        spread = self.spread if self.contended else 1
        i = random.randrange(min(spread, len(self.queue))) if spread > 1 else 0
        entry = self.queue.pop(i)
        won = _attempt(self.store, entry, self.actor, now)
        if isinstance(won, _HeldBack):
            self.held.add(entry)  # passed over, without re-listing: nothing changed there
            return None
        # won or lost, its folder changed: list it again before walking it anew (the
        # watch's event is on its way, but this claim does not wait for it)
        self.dirty.add(entry.rsplit("/", 1)[0])
        if won is None:
            self.stale = self.contended = True
        else:
            del self.queue[: max(0, self.spread // 2 - 1)]
        return won
