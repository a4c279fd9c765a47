"""Early conflict warnings (issue 12 §4; docs/git.md): while chains run, the leader checks
each running chain's branch against the target and against every other running chain's
(``git merge-tree --write-tree``: no worktree, no ref touched), whenever a chain branch or
the target has a new commit. A likely conflict is written on the chain record
(``conflicts_ahead``: ``[{with, paths}]``, shown by ``show-chain`` and on the dashboard) and
as an event line, so a human can re-plan before the merge queue finds it.

Called from the merge queue's thread (merger.py) while this supervisor leads; the branch
tips are one local ``git for-each-ref``, and nothing more is done while they stay the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import combinations
from typing import Any

from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.spawn.gitchain import CHAIN_PREFIX
from claude_orchestrator.spawn.gitmerge import would_conflict
from claude_orchestrator.spawn.gitrefs import Refs
from claude_orchestrator.zk.chains import CHAIN_ID_RE, Chain, ChainStatus, ChainStore

Warnings = dict[str, list[dict[str, Any]]]  # chain id -> [{with, paths}]


class ConflictProbe:
    def __init__(
        self, chains: ChainStore, refs: Refs, target: str, note: Callable[[str], None]
    ) -> None:
        self.chains, self.refs, self.target, self.note = chains, refs, target, note
        self.repo = refs.repo
        self.seen: dict[str, str] = {}  # the tips last probed
        self.ended: set[str] = set()  # chains that stopped running: never read again

    def probe(self) -> None:
        """Look again if any tip moved since the last look."""
        found = self.refs.tips(f"{CHAIN_PREFIX}chain-*")
        tips = {b.removeprefix(CHAIN_PREFIX): sha for b, sha in found.items()}
        tips = {c: sha for c, sha in tips.items() if CHAIN_ID_RE.fullmatch(c)}
        self.refs.refresh(self.target)
        tips[""] = self.refs.tip(self.target) or ""
        if tips == self.seen:
            return
        self.seen = tips
        running = self._running([c for c in sorted(tips) if c and c not in self.ended])
        self._record(running, self._warnings(list(running), tips))

    def _running(self, chain_ids: list[str]) -> dict[str, Chain]:
        """The running chains among ``chain_ids`` (one read each); the others are ended."""
        found = {}
        for chain_id in chain_ids:
            try:
                chain = self.chains.get(chain_id)
            except NotFoundError:
                chain = None
            if chain is not None and chain.status is ChainStatus.RUNNING:
                found[chain_id] = chain
            else:
                self.ended.add(chain_id)
        return found

    def _warnings(self, running: list[str], tips: dict[str, str]) -> Warnings:
        found: Warnings = {c: [] for c in running}
        for chain_id in running:
            paths = would_conflict(self.repo, tips[chain_id], tips[""]) if tips[""] else []
            if paths:
                found[chain_id].append({"with": self.target, "paths": paths})
        for one, other in combinations(running, 2):
            paths = would_conflict(self.repo, tips[one], tips[other])
            if paths:
                found[one].append({"with": other, "paths": paths})
                found[other].append({"with": one, "paths": paths})
        return found

    def _record(self, chains: dict[str, Chain], found: Warnings) -> None:
        """Write each chain's warnings where they changed (``chains``: as just read); a new
        one is an event line too."""
        for chain_id, warnings in found.items():
            if (chains[chain_id].extra.get("conflicts_ahead") or []) == warnings:
                continue
            said = "; ".join(_said(w) for w in warnings) or "no conflict ahead any more"

            def change(chain: Any, new: list[dict[str, Any]] = warnings) -> dict[str, Any]:
                return {"extra": {**chain.extra, "conflicts_ahead": new}}

            self.chains.update(chain_id, change, "merge-queue", time.time(), said)
            if warnings:
                self.note(f"{chain_id} {said}")


def _said(warning: dict[str, Any]) -> str:
    return f"may conflict with {warning['with']} in {', '.join(warning['paths'])}"
