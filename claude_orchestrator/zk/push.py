"""Pushing tasks: validate everything first, then write in whole batches.

Ids come from the version of ``tasks/counter``: a batch bumps it once per
task inside the same ``multi()`` that creates the records, their index
entries and their ``dependents`` folders, so an id is never skipped or
reused and a batch is pushed whole or not at all.

SUSPENDED: the batch is retried after reconnection; a batch whose commit
outcome was lost is recognised by the token in its first record. LOST: the
push fails before or after it committed, never half-way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError

from claude_orchestrator.conf.names import is_valid_name
from claude_orchestrator.conf.team import DEFAULT_MAX_TASK_BYTES
from claude_orchestrator.errors import (
    ConflictError,
    NotFoundError,
    PartialWriteError,
    SizeLimitError,
    UsageError,
)
from claude_orchestrator.zk.codec import check_size, decode_task, encode_task, iso, token
from claude_orchestrator.zk.quota import admit, read_usage, usage_data
from claude_orchestrator.zk.taskmodel import (
    TASK_ID_RE,
    Task,
    TaskStatus,
    new_record,
    seq_of,
    task_id_for,
)
from claude_orchestrator.zk.tasks import TaskStore, index_folder, index_path
from claude_orchestrator.zk.txn import MULTI_LIMIT, Txn, TxnConflict, retrying

BATCH = 50  # tasks per multi(): a few hundred small operations at most
#: per operation beyond the tasks/ prefix: the rest of its path (a 64-character worker
#: name in queue/name/ at most), its ACL and framing — an upper bound
_OP_OVERHEAD = 300
_BATCH_OVERHEAD = 1_000  # the multi()'s own framing, with room to spare
WHERE = "_where"  # where a spec came from (file:line), for messages; never stored
FIELDS = (
    "title",
    "description",
    "priority",
    "assignee",
    "depends_on",
    "chain_id",
    "link",
    "max_retries",
    "item",
    "round",
    "budget_usd",
)
LOCAL_REF = re.compile(r"#([0-9]+)")  # fullmatch only: a "$" would let a trailing newline in


def validate_spec(raw: Any, where: str) -> dict[str, Any]:
    """Check one task spec; raise UsageError naming ``where`` and the field."""
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: a task must be a JSON object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown field '{unknown[0]}' (valid: {', '.join(FIELDS)})")
    spec = {k: raw[k] for k in FIELDS if raw.get(k) is not None}
    spec[WHERE] = where
    _check_text(spec, where)
    _check_numbers(spec, where)
    _check_budget(spec, where)
    _check_assignee(spec, where)
    _check_deps(spec, where)
    return spec


def _check_text(spec: dict[str, Any], where: str) -> None:
    title = spec.get("title")
    if not isinstance(title, str) or not title.strip():
        raise UsageError(f"{where}: title is required and must be a non-empty string")
    for key in ("title", "description", "chain_id", "link", "item"):
        if key in spec and not isinstance(spec[key], str):
            raise UsageError(f"{where}: {key} must be a string")
    check_size("title", spec["title"])
    check_size("description", spec.get("description"))


def _check_numbers(spec: dict[str, Any], where: str) -> None:
    for key, low, high in (("priority", 0, 9), ("max_retries", 0, 100), ("round", 1, 1000)):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise UsageError(f"{where}: {key} must be an integer from {low} to {high}")


def _check_budget(spec: dict[str, Any], where: str) -> None:
    """``budget_usd``: what one run of the task may spend (the agent is told, where it can be)."""
    value = spec.get("budget_usd")
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{where}: budget_usd must be a number of dollars greater than 0")
    spec["budget_usd"] = float(value)


def _check_assignee(spec: dict[str, Any], where: str) -> None:
    assignee = spec.get("assignee")
    if assignee is None:
        return
    name = assignee[5:] if isinstance(assignee, str) and assignee.startswith("role:") else assignee
    if not isinstance(name, str) or not is_valid_name(name):
        raise UsageError(
            f"{where}: assignee must be a worker name or role:<role> "
            "(letters, digits, '_', '.', '-')"
        )


def _check_deps(spec: dict[str, Any], where: str) -> None:
    deps = spec.get("depends_on", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise UsageError(f"{where}: depends_on must be a list of task ids")
    for dep in deps:
        if not (TASK_ID_RE.fullmatch(dep) or LOCAL_REF.fullmatch(dep)):
            raise UsageError(f"{where}: '{dep}' is not a task id (task-NNNNNNNNNN or #N)")
    spec["depends_on"] = list(dict.fromkeys(deps))


def push(
    store: TaskStore,
    specs: list[dict[str, Any]],
    by: str,
    now: float,
    quota: int = DEFAULT_MAX_TASK_BYTES,
    extra: Callable[[Txn, list[Task]], None] | None = None,
) -> list[Task]:
    """Push validated specs; '#N' in depends_on names the N-th spec (1-based).

    ``extra`` adds the caller's own operations to the push's transaction, given the records
    (a chain record created with its tasks, zk/chains.py); the specs must then fit one
    transaction, or nothing is written (SizeLimitError).

    Everything is checked before the first write: references, the size of each task's
    transaction, that every dependency exists, and the quota. The push is then written in
    batches that each fit one multi(); if a batch fails after earlier ones committed,
    PartialWriteError names exactly the tasks that were pushed.
    """
    _check_local_refs(specs)
    store.ensure_layout()
    sizes = [_estimate(store, spec, by, now) for spec in specs]
    batches = [specs] if extra is not None else _plan(specs, sizes)
    retrying(store.client, lambda: _check_dependencies(store, specs))
    if len(batches) > 1:  # one batch is judged by its own commit
        total = sum(record for record, _ in sizes)
        retrying(store.client, lambda: _admit(store, total, quota))
    pushed: list[Task] = []
    for batch in batches:
        try:
            pushed += _push_batch(store, batch, pushed, by, now, quota, extra)
        except Exception as exc:  # whatever it was, say what had already committed
            if not pushed:
                raise
            ids = [r.id for r in pushed]
            raise PartialWriteError(_partial_message(ids, len(specs), exc), ids) from exc
    return pushed


def _check_local_refs(specs: list[dict[str, Any]]) -> None:
    for n, spec in enumerate(specs, 1):
        for dep in spec.get("depends_on", []):
            m = LOCAL_REF.match(dep)
            if m and not 1 <= int(m.group(1)) < n:
                raise UsageError(
                    f"{_where(spec, n)}: '{dep}' must name an earlier task of the same push"
                )


def _where(spec: dict[str, Any], n: int) -> str:
    return str(spec.get(WHERE) or f"task {n}")


def _estimate(store: TaskStore, spec: dict[str, Any], by: str, now: float) -> tuple[int, int]:
    """(bytes of the task's record, bytes its operations add to a multi()), from above."""
    rec = new_record(spec, task_id_for(0), by, iso(now))
    deps = (task_id_for(0),) * len(rec.depends_on)
    record = len(encode_task(rec._replace(op=token(), ready=False, depends_on=deps)))
    op = len(store.client.chroot) + len(store.paths.tasks) + _OP_OVERHEAD
    return record, record + 4 * op + 2 * op * len(deps)


def _plan(specs: list[dict[str, Any]], sizes: list[tuple[int, int]]) -> list[list[dict[str, Any]]]:
    """Split the push into batches of at most BATCH tasks that each fit one multi()."""
    batches: list[list[dict[str, Any]]] = []
    room = 0
    for n, (spec, (_, ops)) in enumerate(zip(specs, sizes, strict=True), 1):
        if ops > MULTI_LIMIT - _BATCH_OVERHEAD:
            raise SizeLimitError(
                f"{_where(spec, n)}: the task needs a transaction of about {ops:,} bytes; "
                f"the limit is {MULTI_LIMIT:,} bytes (fewer dependencies or a shorter description)"
            )
        if not batches or ops > room or len(batches[-1]) == BATCH:
            batches.append([])
            room = MULTI_LIMIT - _BATCH_OVERHEAD
        batches[-1].append(spec)
        room -= ops
    return batches


def _check_dependencies(store: TaskStore, specs: list[dict[str, Any]]) -> None:
    """Every task id named in depends_on exists and can still complete: a cancelled or
    failed dependency would leave the new task waiting forever (one pipelined get() each)."""
    named = {
        dep: _where(spec, n)
        for n, spec in enumerate(specs, 1)
        for dep in spec.get("depends_on", [])
        if not LOCAL_REF.match(dep)
    }
    pending = [(dep, store.client.get_async(store.paths.record(dep))) for dep in named]
    for dep, result in pending:
        try:
            status = decode_task(result.get()[0], store.paths.record(dep)).status
        except NoNodeError:
            raise NotFoundError(
                f"{named[dep]}: depends on {dep}, which is not a task of team "
                f"'{store.paths.team}'; nothing was pushed"
            ) from None
        if status in DEAD_ENDS:
            failed = status == TaskStatus.FAILED
            hint = "retry it first with 'task-retry'" if failed else "it never runs"
            raise ConflictError(
                f"{named[dep]}: depends on {dep}, which is {status} and so will never "
                f"complete ({hint}); nothing was pushed"
            )


#: states a dependency never completes from without someone acting on it
DEAD_ENDS = frozenset({TaskStatus.CANCELLED, TaskStatus.FAILED})


def _admit(store: TaskStore, adding: int, quota: int) -> int:
    return admit(store.client, store.paths, read_usage(store.client, store.paths), adding, quota)


def _partial_message(ids: list[str], total: int, exc: Exception) -> str:
    return (
        f"pushed {len(ids)} of {total} tasks ({', '.join(id_ranges(ids))}), then failed: "
        f"{exc}; the other {total - len(ids)} tasks were not pushed"
    )


def id_ranges(ids: list[str]) -> list[str]:
    """Consecutive task ids folded into 'first..last' ranges, in order."""
    out: list[list[str]] = []
    for task_id in ids:
        if out and seq_of(task_id) == seq_of(out[-1][-1]) + 1:
            out[-1][1:] = [task_id]
        else:
            out.append([task_id])
    return ["..".join(r) for r in out]


def _push_batch(
    store: TaskStore,
    batch: list[dict[str, Any]],
    earlier: list[Task],
    by: str,
    now: float,
    quota: int,
    extra: Callable[[Txn, list[Task]], None] | None = None,
) -> list[Task]:
    tok = token()
    state: dict[str, Any] = {"first": None}

    def step() -> list[Task]:
        while True:
            done = _already_pushed(store, state["first"], tok, len(batch))
            if done is not None:
                return done
            t = Txn(store.client)
            records, state["first"] = add_batch(store, t, batch, earlier, by, now, tok, quota)
            if extra is not None:
                extra(t, records)
            try:
                t.commit()
                return records
            except TxnConflict:
                state["first"] = None  # the counter or a dependency moved: rebuild

    return retrying(store.client, step)


def _already_pushed(store: TaskStore, first: int | None, tok: str, count: int) -> list[Task] | None:
    if first is None:
        return None
    try:
        rec = store.read(task_id_for(first))[0]
    except NotFoundError:
        return None
    if rec.op != tok:
        return None
    return [store.read(task_id_for(first + i))[0] for i in range(count)]


def add_batch(
    store: TaskStore,
    t: Txn,
    batch: list[dict[str, Any]],
    earlier: list[Task],
    by: str,
    now: float,
    tok: str,
    quota: int = DEFAULT_MAX_TASK_BYTES,
) -> tuple[list[Task], int]:
    """Add the creation of ``batch`` (validated specs; '#N' refs into ``earlier`` and the
    batch) to ``t``, with the counter bumps that give their ids: the records, and the
    number of the first. A push's own transaction, or a chain's (zk/chains.py)."""
    usage = read_usage(store.client, store.paths)
    first = usage.version + 1
    records: list[Task] = []
    stored = 0
    for i, spec in enumerate(batch):
        deps = _resolve_refs(spec.get("depends_on", []), earlier + records)
        rec = new_record(spec, task_id_for(first + i), by, iso(now))._replace(
            op=tok, depends_on=deps
        )
        rec = rec._replace(ready=_pin_deps(store, t, rec, {r.id for r in records}))
        stored += _add_record(store, t, rec)
        records.append(rec)
    data = usage_data(admit(store.client, store.paths, usage, stored, quota))
    for i in range(len(batch)):
        t.set_data(store.paths.counter, data, usage.version + i)
    return records, first


def _resolve_refs(deps: list[str], pushed: list[Task]) -> tuple[str, ...]:
    out = []
    for dep in deps:
        m = LOCAL_REF.fullmatch(dep)
        out.append(pushed[int(m.group(1)) - 1].id if m else dep)
    return tuple(out)


def _pin_deps(store: TaskStore, t: Txn, rec: Task, in_batch: set[str]) -> bool:
    """Register ``rec`` as a dependent of each unfinished dependency; True if none."""
    ready = True
    for dep in rec.depends_on:
        if dep not in in_batch:
            dep_rec, version = store.read(dep)  # NotFoundError: refuse the whole push
            t.check(store.paths.record(dep), version)
            if dep_rec.status is TaskStatus.COMPLETED:
                continue
        t.create(store.paths.dependent(dep, rec.id))
        ready = False
    return ready


def _add_record(store: TaskStore, t: Txn, rec: Task) -> int:
    """Add the record's creates to ``t``; return the bytes the record stores."""
    store.ensure_folder(index_folder(store.paths, rec))
    data = encode_task(rec)
    t.create(store.paths.record(rec.id), data)
    t.create(index_path(store.paths, rec))
    t.create(store.paths.dependents(rec.id))
    return len(data)


def prefer_previous(store: TaskStore, spec: dict[str, Any], previous_id: str) -> None:
    """A follow-up of task ``previous_id`` (a new round's build, a re-plan) goes to the
    worker that ran it while that worker is alive, resuming its agent session (the session
    lives with that worker); else to whoever the spec names already."""
    try:
        rec, _ = store.read(previous_id)
    except NotFoundError:  # pruned: anyone will do
        return
    inst = store.registry.find(rec.claimed_by) if rec.claimed_by else None
    if inst is not None and inst.get("name"):
        spec["assignee"] = str(inst["name"])
        if rec.session:
            spec["session"] = dict(rec.session)
