"""Reporting a run back to ZooKeeper: start, complete, fail, release — fenced.

A result is recorded only while this instance still holds the claim; if the
agent itself moved the task on (``task-block`` from inside the run, say),
the worker only attaches the session record and never overwrites the state.
A result the claim no longer allows is stale: it stays in the session log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import (
    IdentityError,
    NotFoundError,
    TaskStateError,
    UsageError,
    ZkError,
)
from claude_orchestrator.spawn.answer import verdict_from_text
from claude_orchestrator.spawn.outcome import excerpt
from claude_orchestrator.worker.session import SessionResult
from claude_orchestrator.zk.chains import ChainStore
from claude_orchestrator.zk.chainsteps import PlanAnswer, complete_plan
from claude_orchestrator.zk.chainverdict import NoVerdictError, complete_stage, fail_stage
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.registry import Actor
from claude_orchestrator.zk.taskmodel import Action, Change, Task, TaskStatus
from claude_orchestrator.zk.team import Team

if TYPE_CHECKING:
    from claude_orchestrator.spawn.limits import Limit
    from claude_orchestrator.worker.governor import Governor
    from claude_orchestrator.worker.stages import ChainStep

log = logging.getLogger("claude_orchestrator.worker")

RESULT_EXCERPT = 4096
HOOKED = {TaskStatus.COMPLETED: "on_task_completed", TaskStatus.FAILED: "on_task_failed"}
HOLD_ATTEMPTS = 6  # each waits up to retrying()'s deadline for the connection
REASON_EXCERPT = 2048


class _NotMine(Exception):
    """The task is no longer in_progress under our claim."""


class Reporter:
    def __init__(
        self,
        team: Team,
        actor: Actor,
        clock: Callable[[], float],
        governor: Governor | None = None,
    ) -> None:
        self.team, self.actor, self.clock, self.governor = team, actor, clock, governor
        if governor is not None:  # a pause starting or ending is said on the instance
            governor.report = partial(self.set_current, None)
        self.cost_usd = 0.0  # this instance's agent sessions so far, shown by `ps`

    def _change(self, action: Action, **kw: Any) -> Change:
        return Change(action, by=self.actor.label, at=iso(self.clock()), **kw)

    def _apply(
        self, task_id: str, change: Change, plan: PlanAnswer | None = None, stage: bool = False
    ) -> Task:
        def guard(rec: Task) -> None:
            if rec.claimed_by != self.actor.instance_id or rec.status is not TaskStatus.IN_PROGRESS:
                raise _NotMine

        tasks, now = self.team.tasks, self.clock()
        if change.action is Action.COMPLETE:  # a chain's task: and the chain's next step
            if plan is not None:
                return complete_plan(tasks, task_id, change, self.actor, now, plan, guard)
            if stage:
                return complete_stage(tasks, task_id, change, self.actor, now, guard)
        elif plan is not None or stage:  # failed for good: the chain needs a human with it
            return fail_stage(tasks, task_id, change, self.actor, now, guard)
        return tasks.transition(task_id, change, self.actor, now, guard)

    def start(self, task: Task, session: dict[str, Any]) -> bool:
        try:
            change = self._change(Action.START, session=session)
            self.team.tasks.transition(task.id, change, self.actor, self.clock())
        except (TaskStateError, NotFoundError, IdentityError) as exc:
            # IdentityError: our instance is gone (session expired); the loop registers again
            # and the leader recovers the claim the old instance left
            log.warning("%s: could not start: %s", task.id, exc)
            return False
        return True

    def fail_unstarted(self, task_id: str, reason: str) -> None:
        change = self._change(Action.FAIL, reason=reason, note=reason)
        try:
            self.team.tasks.transition(task_id, change, self.actor, self.clock())
        except TaskStateError as exc:
            log.warning("%s: could not record the failure: %s", task_id, exc)

    def set_current(self, task_id: str | None) -> None:
        """Heartbeat: record the current task ('' clears it, None keeps it) and the cost."""
        try:
            extra: dict[str, Any] = {"cost_usd": round(self.cost_usd, 6)}
            if self.governor is not None:  # paused: until when, and why (ps shows it)
                extra["paused"] = self.governor.state()
            self.team.registry.heartbeat(str(self.actor.instance_id), self.clock(), task_id, extra)
        except Exception as exc:  # informational only; never stops the work
            log.debug("heartbeat failed: %s", exc)

    def release_held(self) -> None:
        """After a ZooKeeper error between runs: whatever we still hold but no longer
        work on (claimed, never started) is released, without counting a retry."""
        from claude_orchestrator.zk.recovery import release_held

        iid = str(self.actor.instance_id)
        note = f"released: {self.actor.label} lost track of it (ZooKeeper error)"
        for rec in release_held(self.team.tasks, iid, self.clock(), note, iid):
            log.warning("%s: released after a ZooKeeper error", rec.id)

    def release(self, task_id: str, session: dict[str, Any] | None, note: str) -> None:
        try:
            self._apply(task_id, self._change(Action.RELEASE, note=note, session=session))
        except (_NotMine, TaskStateError) as exc:
            log.warning("%s: not released (%s)", task_id, type(exc).__name__)

    def task_done(
        self, task_id: str, res: SessionResult, released: bool, step: ChainStep | None = None
    ) -> None:
        """Record the outcome; while the connection is down, hold it (SUSPENDED). A chain's
        task (``step``): its completion takes the chain's next step with it (a verdict
        stage's verdict read from the answer, a build's checks)."""
        self.cost_usd += res.outcome.cost_usd or 0.0
        session = res.record()
        change = self._outcome_change(res, session, released)
        plan, stage = (step.plan, step.stage) if step is not None else (None, False)
        if (plan is not None or stage) and change.action is Action.FAIL:
            change = _retried(change)  # a chain's stage runs again, up to max_retries
        if stage and change.action is Action.COMPLETE and step is not None:
            change = self._with_verdict(change, res, session)
            if step.fields and change.action is Action.COMPLETE:
                change = change._replace(fields={**(change.fields or {}), **step.fields})
        limit = res.outcome.limit if change.action is Action.RELEASE else None
        if limit is not None and self.governor is not None:
            self._pause(limit)
        rec = self._record(task_id, change, plan, stage, res)
        if self.governor is not None:  # the team's spend counter, after the report
            chain = rec.chain_id if rec is not None else None
            self.governor.spent(res.outcome.cost_usd, chain, self.clock())
            if rec is not None:
                self._hook(rec, res)

    def _hook(self, rec: Task, res: SessionResult) -> None:
        """``on_task_completed`` / ``on_task_failed`` for the outcome just recorded."""
        if self.governor is None or rec.status not in HOOKED:
            return
        event = {
            "task_id": rec.id,
            "title": rec.title,
            "status": rec.status.value,
            "worker": self.actor.name,
            "chain_id": rec.chain_id,
            "result": rec.result,
            "reason": rec.reason,
            "cost_usd": res.outcome.cost_usd,
            "team": self.team.name,
        }
        self.governor.hooks.fire(HOOKED[rec.status], event)

    def _record(
        self,
        task_id: str,
        change: Change,
        plan: PlanAnswer | None,
        stage: bool,
        res: SessionResult,
    ) -> Task | None:
        """Write the outcome, holding it while ZooKeeper is away: the record written."""
        session = change.session or res.record()
        for _ in range(HOLD_ATTEMPTS):
            try:
                rec = self._apply(task_id, change, plan, stage)
                log.info("%s: %s (%s)", task_id, rec.status.value, res.info.description)
                if rec.chain_id is not None and rec.status is not TaskStatus.COMPLETED:
                    self._chain_cost(rec.chain_id, res)
                return rec
            except NoVerdictError as exc:  # a failed run of the stage, never a pass
                failed = self._change(Action.FAIL, reason=str(exc), note=str(exc), session=session)
                change = _retried(failed)
                continue
            except _NotMine:
                self._attach(task_id, res, session)
            except (TaskStateError, IdentityError) as exc:  # not ours, or we are no longer us
                self._stale(res.log_path, task_id, str(exc))
            except ZkError as exc:  # still cut off after the retry deadline: hold on
                log.warning("%s: report held: %s", task_id, exc)
                continue
            return None
        self._stale(res.log_path, task_id, "ZooKeeper stayed unreachable")
        return None

    def _outcome_change(
        self, res: SessionResult, session: dict[str, Any], released: bool
    ) -> Change:
        if released:
            note = "worker stopped during the run; released"
            return self._change(Action.RELEASE, note=note, session=session, on_stop=True)
        if res.outcome.limit is not None:  # given back, no retry counted; its session kept
            note = f"released on a limit ({res.outcome.limit.reason}); no retry counted"
            return self._change(Action.RELEASE, note=note, session=session)
        if res.outcome.ok:
            return self._change(
                Action.COMPLETE, result=excerpt(res.outcome.result, RESULT_EXCERPT), session=session
            )
        reason = excerpt(_reason(res), REASON_EXCERPT)
        if _crashed(res):  # not the agent's verdict: run it again, like an orphan
            note = f"recovered: the agent crashed ({res.info.description})"
            return self._change(Action.RECOVER, reason=reason, note=note, session=session)
        return self._change(Action.FAIL, reason=reason, note=reason, session=session)

    def _pause(self, limit: Limit) -> None:
        """Pause the agent for the team before the task goes back (so no worker claims it
        straight into the same wall); a pause that cannot be written is logged."""
        if self.governor is None:
            return
        try:
            self.governor.hit(limit, self.clock())
        except ZkError as exc:
            log.warning("pause not written: %s", exc)

    def _chain_cost(self, chain_id: str, res: SessionResult) -> None:
        """A chain's run that did not complete still cost money: its chain counts it (a
        completion counts it in its own transaction, zk/chainverdict.py)."""
        cost = res.outcome.cost_usd
        if cost:
            try:
                ChainStore(self.team.client, self.team.name).add_cost(chain_id, cost, self.clock())
            except (NotFoundError, ZkError) as exc:  # informational: never holds the report
                log.warning("%s: cost not added: %s", chain_id, exc)

    def _with_verdict(self, change: Change, res: SessionResult, session: dict[str, Any]) -> Change:
        """The completion with the verdict the answer ends with; a malformed one fails it."""
        try:
            verdict = verdict_from_text(res.outcome.result or "")
        except UsageError as exc:  # VerdictError
            reason = f"the verdict block is not valid: {exc}"
            return self._change(Action.FAIL, reason=reason, note=reason, session=session)
        if verdict is None:
            return change
        return change._replace(fields={"verdict": verdict.to_dict()})

    def _attach(self, task_id: str, res: SessionResult, session: dict[str, Any]) -> None:
        iid = str(self.actor.instance_id)
        rec = self.team.tasks.annotate(task_id, iid, session)
        if rec is None:
            self._stale(res.log_path, task_id, "the claim passed to another instance")
        else:
            log.info("%s: the agent moved it to %s itself; kept", task_id, rec.status.value)

    def _stale(self, log_path: Path, task_id: str, why: str) -> None:
        log.warning("%s: stale result not recorded: %s (kept in %s)", task_id, why, log_path)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"# claude-orchestrator stale result: not recorded ({why})\n")

    def message_done(self, msg: dict[str, Any], res: SessionResult) -> None:
        self.cost_usd += res.outcome.cost_usd or 0.0
        fields = {
            "processed_at": iso(self.clock()),
            "ok": res.outcome.ok,
            "result": excerpt(res.outcome.result or res.outcome.reason, RESULT_EXCERPT),
            "session": res.record(),
        }
        self.team.inboxes.annotate(str(self.actor.instance_id), msg["id"], fields)
        if res.outcome.limit is not None:  # the agent hit the wall answering: pause it too
            self._pause(res.outcome.limit)
        if self.governor is not None:
            self.governor.spent(res.outcome.cost_usd, None, self.clock())

    def message_unstarted(self, msg: dict[str, Any], reason: str) -> None:
        """A taken message whose agent could not be started: processed, not ok."""
        fields = {"processed_at": iso(self.clock()), "ok": False, "result": reason}
        self.team.inboxes.annotate(str(self.actor.instance_id), msg["id"], fields)


def _retried(change: Change) -> Change:
    """A failed run of a chain's stage: back to the queue with a retry counted, failed for
    good (and its chain needing a human) once its retries are spent."""
    note = f"failed run of a chain stage, retried: {change.reason}"
    return change._replace(action=Action.RECOVER, note=note)


def _crashed(res: SessionResult) -> bool:
    """Killed by a signal nobody here sent (the OOM killer, a crash, a kill -9): an
    infrastructure failure, retried up to max_retries; the agent reported nothing."""
    info = res.info
    ours = info.stopped or info.timed_out or info.idle_timed_out
    return info.signal is not None and not ours and not res.outcome.ok


def _reason(res: SessionResult) -> str:
    info = res.info
    if info.timed_out:
        return f"agent timed out ({info.description})"
    if info.idle_timed_out:
        return f"agent was silent too long ({info.description})"
    return res.outcome.reason or f"agent failed ({info.description})"
