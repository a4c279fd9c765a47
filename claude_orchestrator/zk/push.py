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

import re
from typing import Any

from claude_orchestrator.conf.names import is_valid_name
from claude_orchestrator.errors import NotFoundError, UsageError
from claude_orchestrator.zk.codec import check_size, encode, iso, token
from claude_orchestrator.zk.taskmodel import (
    TASK_ID_RE,
    TaskRecord,
    TaskStatus,
    new_record,
    task_id_for,
)
from claude_orchestrator.zk.tasks import TaskStore, index_folder, index_path
from claude_orchestrator.zk.txn import Txn, TxnConflict, retrying

BATCH = 50  # tasks per multi(): a few hundred small operations at most
FIELDS = (
    "title",
    "description",
    "priority",
    "assignee",
    "depends_on",
    "chain_id",
    "link",
    "max_retries",
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
    _check_text(spec, where)
    _check_numbers(spec, where)
    _check_assignee(spec, where)
    _check_deps(spec, where)
    return spec


def _check_text(spec: dict[str, Any], where: str) -> None:
    title = spec.get("title")
    if not isinstance(title, str) or not title.strip():
        raise UsageError(f"{where}: title is required and must be a non-empty string")
    for key in ("title", "description", "chain_id", "link"):
        if key in spec and not isinstance(spec[key], str):
            raise UsageError(f"{where}: {key} must be a string")
    check_size("title", spec["title"])
    check_size("description", spec.get("description"))


def _check_numbers(spec: dict[str, Any], where: str) -> None:
    for key, low, high in (("priority", 0, 9), ("max_retries", 0, 100)):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise UsageError(f"{where}: {key} must be an integer from {low} to {high}")


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


def push(store: TaskStore, specs: list[dict[str, Any]], by: str, now: float) -> list[TaskRecord]:
    """Push already-validated specs; '#N' in depends_on names the N-th spec (1-based)."""
    _check_local_refs(specs)
    store.ensure_layout()
    pushed: list[TaskRecord] = []
    for start in range(0, len(specs), BATCH):
        batch = specs[start : start + BATCH]
        pushed += _push_batch(store, batch, pushed, by, now)
    return pushed


def _check_local_refs(specs: list[dict[str, Any]]) -> None:
    for n, spec in enumerate(specs, 1):
        for dep in spec.get("depends_on", []):
            m = LOCAL_REF.fullmatch(dep)
            if m and not 1 <= int(m.group(1)) < n:
                raise UsageError(f"task {n}: '{dep}' must name an earlier task of the same push")


def _push_batch(
    store: TaskStore, batch: list[dict[str, Any]], earlier: list[TaskRecord], by: str, now: float
) -> list[TaskRecord]:
    tok = token()
    state: dict[str, Any] = {"first": None}

    def step() -> list[TaskRecord]:
        while True:
            done = _already_pushed(store, state["first"], tok, len(batch))
            if done is not None:
                return done
            records, t, state["first"] = _build_batch(store, batch, earlier, by, now, tok)
            try:
                t.commit()
                return records
            except TxnConflict:
                state["first"] = None  # the counter or a dependency moved: rebuild

    return retrying(store.client, step)


def _already_pushed(
    store: TaskStore, first: int | None, tok: str, count: int
) -> list[TaskRecord] | None:
    if first is None:
        return None
    try:
        rec = store.read(task_id_for(first))[0]
    except NotFoundError:
        return None
    if rec.get("_op") != tok:
        return None
    return [store.read(task_id_for(first + i))[0] for i in range(count)]


def _build_batch(
    store: TaskStore,
    batch: list[dict[str, Any]],
    earlier: list[TaskRecord],
    by: str,
    now: float,
    tok: str,
) -> tuple[list[TaskRecord], Txn, int]:
    stat = store.client.exists(store.paths.counter)
    first = stat.version + 1
    t = Txn(store.client)
    records: list[TaskRecord] = []
    for i, spec in enumerate(batch):
        t.set_data(store.paths.counter, b"", stat.version + i)
        rec = new_record(spec, task_id_for(first + i), by, iso(now))
        rec["_op"] = tok
        rec["depends_on"] = _resolve_refs(spec.get("depends_on", []), earlier + records)
        rec["ready"] = _pin_deps(store, t, rec, {r["id"] for r in records})
        _add_record(store, t, rec)
        records.append(rec)
    return records, t, first


def _resolve_refs(deps: list[str], pushed: list[TaskRecord]) -> list[str]:
    out = []
    for dep in deps:
        m = LOCAL_REF.fullmatch(dep)
        out.append(pushed[int(m.group(1)) - 1]["id"] if m else dep)
    return out


def _pin_deps(store: TaskStore, t: Txn, rec: TaskRecord, in_batch: set[str]) -> bool:
    """Register ``rec`` as a dependent of each unfinished dependency; True if none."""
    ready = True
    for dep in rec["depends_on"]:
        if dep not in in_batch:
            dep_rec, version = store.read(dep)  # NotFoundError: refuse the whole push
            t.check(store.paths.record(dep), version)
            if dep_rec["status"] == TaskStatus.COMPLETED.value:
                continue
        t.create(f"{store.paths.dependents(dep)}/{rec['id']}")
        ready = False
    return ready


def _add_record(store: TaskStore, t: Txn, rec: TaskRecord) -> None:
    store.ensure_folder(index_folder(store.paths, rec))
    t.create(store.paths.record(rec["id"]), encode(rec, "task record"))
    t.create(index_path(store.paths, rec))
    t.create(store.paths.dependents(rec["id"]))
