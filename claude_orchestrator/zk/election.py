"""Who leads a team: an election among its supervisors (DESIGN §3, §9).

Every supervisor of the team holds one candidate node, ephemeral and sequential, under
``election/``; the lowest leads. A candidate that is not first watches only the candidate
just ahead of it (no herd: one watch fires per departure) and looks again when it goes. The
first candidate writes the leader record, ``leader`` (ephemeral: ``{host, pid, since}``),
which is what "leading" means to everyone else: a supervisor leads only while connected and
while ``leader`` belongs to its current session (ZOOKEEPER.md rule 7).

A create that raised ``ConnectionLoss`` may have happened: candidates are recognised by
their owning session, not by the name a create returned, and a session's extra candidates
are removed, so a lost reply can never leave a ghost candidate ahead of the others.

SUSPENDED: the watch may be dropped; ``is_leader`` says no (not connected). CONNECTED again:
the owner calls ``step`` (one look, idempotent). LOST: the candidate and the record went with
the session; ``step`` on the new session joins again, at the back of the line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import NodeExistsError, NoNodeError

from claude_orchestrator.zk.codec import decode_lenient, encode, iso
from claude_orchestrator.zk.paths import TeamPaths, child

if TYPE_CHECKING:
    from kazoo.client import KazooClient

PREFIX = "c-"
MAX_LOOKS = 5  # a predecessor that vanishes between listing and watching: look again


class Candidate(NamedTuple):
    name: str
    owner: int  # the ephemeral owner: the candidate's session
    info: dict[str, Any]  # {host, pid}


class Election:
    def __init__(
        self, client: KazooClient, team: str, me: dict[str, Any], on_change: Callable[[], None]
    ) -> None:
        self.client = client
        self.paths = TeamPaths(team)
        self.me = me
        self.on_change = on_change
        self.since: float | None = None

    # -- reading -------------------------------------------------------------
    def candidates(self) -> list[Candidate]:
        """Every candidate, first in line first (one listing, the reads pipelined)."""
        folder = self.paths.election
        try:
            names = sorted(self.client.get_children(folder), key=_sequence)
        except NoNodeError:
            return []
        pending = [(name, self.client.get_async(child(folder, name))) for name in names]
        found = []
        for name, result in pending:
            try:
                data, stat = result.get()
            except NoNodeError:
                continue
            found.append(Candidate(name, stat.ephemeralOwner, decode_lenient(data)))
        return found

    def holder(self) -> dict[str, Any] | None:
        """The leader record, or None when nobody leads."""
        return leader_record(self.client, self.paths)

    def is_leader(self) -> bool:
        """True only while connected and the record belongs to our current session."""
        if not self.client.connected:
            return False
        session = self._session()
        stat = self.client.exists(self.paths.leader)
        return stat is not None and session is not None and stat.ephemeralOwner == session

    # -- contending ------------------------------------------------------------
    def step(self) -> bool:
        """One look: join if we hold no candidate, lead if first, else watch the one ahead.
        True when we lead after it."""
        for _ in range(MAX_LOOKS):
            line = self._my_line()
            if line is None:
                return False
            if not line:
                return self._take_record()
            if self.client.exists(child(self.paths.election, line[-1].name), watch=self._poke):
                return False
        return False

    def resign(self) -> None:
        """Give the lead up at once (a clean stop): the record first, then the candidate,
        so the record never outlives the line it belongs to."""
        session = self._session()
        if self.is_leader():
            _delete(self.client, self.paths.leader)
        for cand in self.candidates():
            if cand.owner == session:
                _delete(self.client, child(self.paths.election, cand.name))
        self.since = None

    def _my_line(self) -> list[Candidate] | None:
        """The candidates ahead of ours (joining when we have none); None when our session
        is gone (the next CONNECTED brings a new one)."""
        session = self._session()
        if session is None:
            return None
        cands = self.candidates()
        mine = [c for c in cands if c.owner == session]
        if not mine:
            self._join()
            cands = self.candidates()
            mine = [c for c in cands if c.owner == session]
            if not mine:
                return None
        for extra in mine[1:]:  # a create whose reply was lost, then made again
            _delete(self.client, child(self.paths.election, extra.name))
        return cands[: cands.index(mine[0])]

    def _join(self) -> None:
        self.client.ensure_path(self.paths.election)
        self.client.create(
            child(self.paths.election, PREFIX), encode(self.me), ephemeral=True, sequence=True
        )

    def _take_record(self) -> bool:
        """First in line: write the leader record, unless a holder from before the line
        (a resigning or older supervisor) still has it: then wait for it to go."""
        session = self._session()
        stat = self.client.exists(self.paths.leader)
        if stat is not None and stat.ephemeralOwner == session:
            return True
        if stat is None:
            since = time.time()
            try:
                self.client.create(
                    self.paths.leader, encode({**self.me, "since": since}), ephemeral=True
                )
            except NodeExistsError:
                pass
            else:
                self.since = since
                return True
        return self.client.exists(self.paths.leader, watch=self._poke) is None and self.step()

    def _poke(self, _event: object) -> None:
        """A watch fired (kazoo's thread): only tell the owner to look again."""
        self.on_change()

    def _session(self) -> int | None:
        client_id = self.client.client_id
        return client_id[0] if client_id else None


def leader_record(client: KazooClient, paths: TeamPaths) -> dict[str, Any] | None:
    """Who leads (``{host, pid, since}``), or None when nobody does."""
    try:
        data, _ = client.get(paths.leader)
    except NoNodeError:
        return None
    return decode_lenient(data)


def describe_leader(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record as commands print it: ``since`` as ISO 8601 (None when unknown, as from
    a supervisor that predates the election)."""
    if record is None:
        return None
    since = record.get("since")
    at = iso(since) if isinstance(since, (int, float)) and not isinstance(since, bool) else None
    return {"host": record.get("host"), "pid": record.get("pid"), "since": at}


def _sequence(name: str) -> tuple[int, str]:
    digits = name[len(PREFIX) :] if name.startswith(PREFIX) else ""
    return (int(digits), name) if digits.isdigit() else (2**63, name)


def _delete(client: KazooClient, path: str) -> None:
    try:
        client.delete(path)
    except NoNodeError:
        pass
