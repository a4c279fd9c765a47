"""The leader's merge queue (issue 12 §3; docs/git.md): lands accepted chains on the target,
one at a time, in queue order.

For the first entry of ``chains/merges`` the leader records ``merging`` (the target's tip
and the chain's), replays the chain's commits on the target's tip in its scratch worktree
(spawn/gitmerge.py), runs ``[pipeline] checks`` there, advances the target by
compare-and-swap, proves by patch id that every commit landed, and records ``merged`` —
the chain ``done`` — in one transaction with the entry's removal. A conflict or a failing
check sends the chain back (zk/chainmerge.py): the chain branch restarts from the result
(the target plus what applied; the old tip kept on ``co/kept/<chain>-<sha>``) and the items
concerned get a revise round.

A leader that dies mid-merge leaves the target either where it was or fully advanced (the
compare-and-swap); the next leader finds the chain ``merging``, sees whether its commits
are on the target already, and records or redoes the merge.

Runs on a thread of its own (git and the checks take time; the supervisor's loop never
waits for them), woken by the queue's ChildrenWatch, by ``/leader`` changing, and every
``POLL_S``. It acts only while this supervisor leads. SUSPENDED / LOST: its ZooKeeper
calls are retried until their deadline; an error leaves the entry for the next wake.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from kazoo.exceptions import KazooException
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from claude_orchestrator.conf.team import TeamConfig
from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.spawn.checks import failed, run_checks
from claude_orchestrator.spawn.git import GitError
from claude_orchestrator.spawn.gitchain import KEPT_PREFIX, chain_branch
from claude_orchestrator.spawn.gitmerge import (
    Replay,
    commits_between,
    replay,
    scratch_worktree,
    unlanded,
)
from claude_orchestrator.spawn.gitrefs import refs_for
from claude_orchestrator.spawn.kill import kill_group
from claude_orchestrator.supervisor import mergeback
from claude_orchestrator.supervisor.conflictprobe import ConflictProbe
from claude_orchestrator.supervisor.events import Call, Event
from claude_orchestrator.supervisor.leaderinbox import Emit
from claude_orchestrator.zk.chainmerge import send_back
from claude_orchestrator.zk.chains import Chain, ChainStatus
from claude_orchestrator.zk.merges import (
    CONFLICT,
    FAILED,
    MERGING,
    QUEUED,
    MergeRecords,
    merge_of,
    queue,
    with_merge,
)
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.team import Team
from claude_orchestrator.zk.txn import Txn

log = logging.getLogger("claude_orchestrator.supervisor")

POLL_S = 30.0  # a look at the queue even when no watch fired (watches are hints)
PROBE_S = 2.0  # how often the chain branches' tips are compared with the last probe's
REMOTE_PROBE_S = 15.0  # the same with [git] remote: each look is a fetch
MOVE_ATTEMPTS = 3  # the target moved under a merge this often: left for the next wake
GIVE_UP = 3  # merges of one chain failed with a git error in a row: it needs a human
BY = "merge-queue"


class Leads(Protocol):
    """What the merger asks of the leadership (supervisor/leadership.py)."""

    def is_leader(self) -> bool: ...


class Merger:
    def __init__(
        self,
        team: Team,
        config: TeamConfig,
        leadership: Leads,
        post: Callable[[Event], None],
        emit: Emit,
    ) -> None:
        self.team, self.is_leader = team, leadership.is_leader
        self.post, self.loop_emit = post, emit
        self.repo = config.repo_dir
        self.target = config.git.target
        self.checks, self.timeout = config.pipeline.checks, config.pipeline.check_timeout
        self.scratch_path = config.state_dir / "merge"
        self.env = {k: v for k, v in os.environ.items() if k not in _secret_vars(config)}
        self.records = MergeRecords(team.client, team.name)
        self.remote = config.git.remote
        self.refs = refs_for(self.repo, self.remote)
        self.probe = ConflictProbe(self.records.chains, self.refs, self.target, self.note)
        self.wakeup = threading.Event()
        self.stopped = False
        self.check_pid: int | None = None  # the check running now: killed if we stop
        self.failures: dict[str, int] = {}  # chain -> merges failed with a git error in a row
        self.thread = threading.Thread(target=self._run, name="merge-queue", daemon=True)

    def start(self) -> None:
        paths = TeamPaths(self.team.name)
        self.team.client.ensure_path(paths.merge_queue)  # a watch on a missing node stops
        ChildrenWatch(self.team.client, paths.merge_queue, lambda _c: self.wakeup.set())
        DataWatch(self.team.client, paths.leader, lambda _d, _s: self.wakeup.set())
        self.thread.start()

    def note(self, text: str) -> None:
        """An event line, written by the supervisor's loop (any thread may call this)."""
        self.post(Call(partial(self.loop_emit, "merge", None, text)))

    def stop(self) -> None:
        """No new merge; a check running now is killed (the next leader redoes the merge)."""
        self.stopped = True
        self.wakeup.set()
        pid = self.check_pid
        if pid is not None:
            kill_group(pid)

    def _run(self) -> None:
        due = probe_due = 0.0
        every = REMOTE_PROBE_S if self.remote else PROBE_S
        while not self.stopped:
            woken = self.wakeup.wait(every)
            self.wakeup.clear()
            try:
                if self.is_leader() and time.monotonic() >= probe_due:
                    probe_due = time.monotonic() + every
                    self.probe.probe()
                if woken or time.monotonic() >= due:
                    due = time.monotonic() + POLL_S
                    self.drain()
            except (OrchestratorError, KazooException) as exc:  # kept queued: tried again
                log.warning("merge queue: %s", exc)
            except Exception:
                log.exception("merge queue: unexpected failure")

    def drain(self) -> None:
        """Merge the queue's chains in order while this supervisor leads. A chain whose
        merge fails with a git error GIVE_UP times in a row needs a human and leaves the
        queue, so one broken chain never holds the others back."""
        while not self.stopped and self.is_leader():
            entries = queue(self.team.client, self.team.name)
            if not entries:
                return
            entry, chain_id = entries[0]
            try:
                self.merge_one(entry, chain_id)
            except GitError as exc:
                self.failures[chain_id] = self.failures.get(chain_id, 0) + 1
                if self.failures[chain_id] < GIVE_UP:
                    raise
                chain = self.records.read(chain_id)
                if chain is not None:
                    self._needs_human(entry, chain, f"merge failed {GIVE_UP} times: {exc}")
            self.failures.pop(chain_id, None)

    def merge_one(self, entry: str, chain_id: str) -> None:
        chain = self.records.read(chain_id)
        merge = merge_of(chain) if chain is not None else {}
        if chain is None or chain.status is not ChainStatus.RUNNING:
            return self.records.drop(entry)
        if merge.get("status") not in (QUEUED, MERGING):
            return self.records.drop(entry)
        tip = merge.get("chain_tip") if merge.get("status") == MERGING else None
        self.refs.refresh(chain_branch(chain_id), self.target)
        tip = tip or self.refs.tip(chain_branch(chain_id))
        if tip is None:  # nothing was ever built: nothing to land
            tip = self._target_tip()
        if merge.get("status") == MERGING and self._landed_before(entry, chain, tip, merge):
            return None
        for _ in range(MOVE_ATTEMPTS):
            if self._attempt(entry, chain, tip):
                return None
        raise GitError(f"{self.target} kept moving while {chain_id} was merged; tried again later")

    def _target_tip(self) -> str:
        self.refs.refresh(self.target)
        tip = self.refs.tip(self.target)
        if tip is None:
            raise GitError(f"the target branch {self.target!r} does not exist ({self.refs.where})")
        return tip

    def _landed_before(self, entry: str, chain: Chain, tip: str, merge: dict[str, Any]) -> bool:
        """A leader that died after advancing the target: record what it landed."""
        base = merge.get("base_sha")
        if not base or unlanded(self.repo, tip, self.refs.ref(self.target)):
            return False
        now_tip = self._target_tip()
        fields = {"target_sha": now_tip, "landed": commits_between(self.repo, base, now_tip)}
        self.records.merged(entry, chain.id, fields, BY, time.time())
        self.note(f"{chain.id} merged into {self.target} (found landed)")
        return True

    def _attempt(self, entry: str, chain: Chain, tip: str) -> bool:
        """One try at landing; False when the target moved under it."""
        base = self._target_tip()
        self.records.begin(chain.id, base, BY, time.time(), chain_tip=tip)
        scratch = scratch_worktree(self.repo, self.scratch_path)
        result = replay(scratch, tip, base)
        if result.skipped:
            self._send_back(entry, chain, tip, base, result, None)
            return True
        env = {**self.env, "CO_CHAIN_ID": chain.id}
        checks = run_checks(self.checks, scratch, env, self.timeout, self._running)
        bad = failed(checks)
        if self.stopped:  # stopped during the checks: the next leader merges it
            return True
        if bad is not None:
            self._send_back(entry, chain, tip, base, result, checks)
            return True
        if not self.refs.swap(self.target, result.head, base):
            return False
        self._record(entry, chain, tip, base, result, checks)
        return True

    def _running(self, pid: int | None) -> None:
        self.check_pid = pid

    def _record(
        self, entry: str, chain: Chain, tip: str, base: str, result: Replay, checks: list[Any]
    ) -> None:
        left = unlanded(self.repo, tip, self.refs.ref(self.target))
        if left:  # the proof failed: never recorded as merged
            reason = f"merged, but {len(left)} commit(s) are not on {self.target}: {left[:5]}"
            self._needs_human(entry, chain, reason, unlanded=left)
            return
        fields = {"base_sha": base, "target_sha": result.head, "landed": result.applied}
        self.records.merged(entry, chain.id, {**fields, "checks": checks}, BY, time.time())
        self.note(f"{chain.id} merged into {self.target}: {len(result.applied)} commit(s)")

    def _send_back(
        self,
        entry: str,
        chain: Chain,
        tip: str,
        base: str,
        result: Replay,
        checks: list[Any] | None,
    ) -> None:
        kept = f"{KEPT_PREFIX}{chain.id}-{tip[:12]}"
        self.refs.swap(kept, tip, None)
        by_commit = mergeback.items_by_commit(self.team.tasks, self.repo, chain, base, tip)
        if checks is None:
            paths = sorted({p for s in result.skipped for p in s.paths})
            merge = {"status": CONFLICT, "conflicts": paths, "kept": kept}
            verdicts = mergeback.conflict_verdicts(
                chain, by_commit, result.skipped, self.target, kept
            )
        else:
            merge = {"status": FAILED, "checks": checks, "kept": kept}
            bad = failed(checks) or {}
            verdicts = mergeback.check_verdicts(chain, self.repo, by_commit, bad, self.target)
        # the branch restarts before the revise tasks exist, so none of them starts from the
        # old tip; a leader dying in between redoes this merge from the recorded chain_tip
        if not self.refs.swap(chain_branch(chain.id), result.head, tip):
            log.warning("%s: its branch moved; not restarted from %s", chain.id, self.target)
        send_back(self.team.tasks, entry, chain.id, merge, verdicts, BY, time.time())
        self.note(f"{chain.id}: merge {merge['status']}, back to {', '.join(sorted(verdicts))}")

    def _needs_human(self, entry: str, chain: Chain, reason: str, **fields: Any) -> None:
        def make(t: Txn, fresh: Chain) -> dict[str, Any]:
            extra = with_merge(fresh, status=FAILED, **fields)
            return {"status": ChainStatus.NEEDS_HUMAN, "reason": reason, "extra": extra}

        self.records.finish(entry, chain.id, make, reason, BY, time.time())
        self.note(f"{chain.id} needs a human: {reason}")


def _secret_vars(config: TeamConfig) -> set[str]:
    """The team credential's variable: the checks never see it."""
    return {config.auth.removeprefix("env:")} if config.auth else set()


def start_merger(
    team: Team,
    config: TeamConfig,
    leadership: Leads,
    post: Callable[[Event], None],
    emit: Emit,
) -> Merger | None:
    """The merge queue of a team with worktree isolation (None without it)."""
    if not config.git.worktrees:
        return None
    merger = Merger(team, config, leadership, post, emit)
    merger.start()
    return merger
