"""The merge queue (issue 12 §3; docs/git.md).

With worktree isolation a chain whose ``accept`` passes is not done yet: in the accept's own
transaction the chain's ``merge`` becomes ``{status: queued, queued_at}`` and an entry
``chains/merges/<chain-id>-<seq>`` is created; the sequence is the queue order. The leader
merges one chain at a time (supervisor/merger.py) and records each outcome in one
transaction with the entry's removal:

- ``merging`` (with ``base_sha``, the target before) when it starts — a new leader finding
  a chain ``merging`` checks whether the target already holds its commits;
- ``merged`` (``target_sha``, ``landed``, ``checks``): the chain ``done``;
- ``conflict`` / ``failed``: the chain sent back for a revise round (zk/chainmerge.py).

SUSPENDED / LOST: calls retried by ``retrying`` until their deadline; nothing here is bound
to a session, so a leader lost mid-merge leaves the entry for the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import BadVersionError, NoNodeError

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.zk.chains import Chain, ChainStatus, ChainStore
from claude_orchestrator.zk.codec import encode, iso
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.txn import Txn, TxnConflict, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient

Finish = Callable[[Txn, Chain], dict[str, Any]]
QUEUED, MERGING, MERGED, CONFLICT, FAILED = "queued", "merging", "merged", "conflict", "failed"
MERGE_STATUSES = (QUEUED, MERGING, MERGED, CONFLICT, FAILED)


def merge_of(chain: Chain) -> dict[str, Any]:
    return dict(chain.extra.get("merge") or {})


def with_merge(chain: Chain, **fields: Any) -> dict[str, Any]:
    """The chain's ``extra`` with its ``merge`` changed by ``fields``."""
    return {**chain.extra, "merge": {**merge_of(chain), **fields}}


def enqueue(t: Txn, paths: TeamPaths, chain: Chain, by: str, at: str) -> Chain:
    """In the accept's transaction: the chain queued for merging (still running; the queue's
    folder was made with the chain)."""
    t.create(paths.merge_entry(f"{chain.id}-"), b"", sequence=True)
    merge: dict[str, Any] = {
        "status": QUEUED,
        "queued_at": at,
        "target_sha": None,
        "landed": [],
        "checks": [],
    }
    return chain.noted(
        at, by, "accepted; queued for merging", extra={**chain.extra, "merge": merge}
    )


def queue(client: KazooClient, team: str) -> list[tuple[str, str]]:
    """The queue's entries in order: (entry name, chain id)."""
    folder = TeamPaths(team).merge_queue

    def step() -> list[str]:
        try:
            return list(client.get_children(folder))
        except NoNodeError:
            return []

    names = retrying(client, step)
    names.sort(key=lambda n: n.rpartition("-")[2])
    return [(n, n.rpartition("-")[0]) for n in names]


class MergeRecords:
    """The leader's writes of a merge's progress, each one version-checked."""

    def __init__(self, client: KazooClient, team: str) -> None:
        self.client, self.paths = client, TeamPaths(team)
        self.chains = ChainStore(client, team)

    def begin(self, chain_id: str, base_sha: str, by: str, now: float, chain_tip: str) -> Chain:
        """``merging``: the target's tip and the chain's, as the merge found them."""

        def mark(chain: Chain) -> dict[str, Any] | None:
            fields = {"status": MERGING, "base_sha": base_sha, "chain_tip": chain_tip}
            return {"extra": with_merge(chain, **fields)}

        return self.chains.update(chain_id, mark, by, now, f"merging onto {base_sha[:12]}")

    def finish(
        self, entry: str, chain_id: str, make: Finish, note: str, by: str, now: float
    ) -> Chain:
        """Change the chain by ``make(t, chain)`` (its fields; ``make`` may add operations
        to ``t``) and remove the queue ``entry``, in one transaction. An entry already gone
        means an earlier attempt committed: nothing is done twice."""

        def step() -> Chain:
            while True:  # the chain record changed meanwhile (a cost, a warning): again
                chain, version = self.chains.read(chain_id)
                if self.client.exists(self.paths.merge_entry(entry)) is None:
                    return chain
                t = Txn(self.client)
                new = chain.noted(iso(now), by, note, **make(t, chain))
                data = encode(new.to_dict(), "task record")
                t.set_data(self.paths.chain(chain_id), data, version)
                t.delete(self.paths.merge_entry(entry))
                try:
                    t.commit()
                except TxnConflict as exc:
                    if isinstance(exc.cause, BadVersionError):
                        continue
                    raise
                return new

        return retrying(self.client, step)

    def merged(
        self, entry: str, chain_id: str, fields: dict[str, Any], by: str, now: float
    ) -> Chain:
        def make(t: Txn, chain: Chain) -> dict[str, Any]:
            return {"status": ChainStatus.DONE, "extra": with_merge(chain, status=MERGED, **fields)}

        return self.finish(entry, chain_id, make, "merged", by, now)

    def drop(self, entry: str) -> None:
        """An entry whose chain is not waiting to merge (gone, cancelled, merged)."""

        def step() -> None:
            try:
                self.client.delete(self.paths.merge_entry(entry))
            except NoNodeError:
                pass

        retrying(self.client, step)

    def read(self, chain_id: str) -> Chain | None:
        try:
            return self.chains.get(chain_id)
        except NotFoundError:
            return None
