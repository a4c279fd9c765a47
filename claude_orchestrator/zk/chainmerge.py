"""A chain the merge queue sends back (issue 12 §3; docs/git.md): a rebase onto the target
conflicted, or a check failed on the result. In one transaction with the queue entry's
removal: the chain's ``merge`` says why (``conflict`` or ``failed``), each item named gets a
new round of its stages carrying the feedback (its builder's session resumed, as for any
revise), and a new ``accept`` waits on every item's last stage; the chain goes through
verify and review again and re-enters the queue when the new accept passes. An item past
``max_rounds`` makes the chain need a human instead.

SUSPENDED / LOST: as MergeRecords.finish (retried; a commit already made is recognised by
the entry being gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claude_orchestrator.zk.chaingraph import ACCEPT, graph_from_dict
from claude_orchestrator.zk.chains import Chain, ChainStatus
from claude_orchestrator.zk.chainsteps import accept_description
from claude_orchestrator.zk.chainverdict import item_of, round_specs
from claude_orchestrator.zk.codec import token
from claude_orchestrator.zk.merges import MergeRecords, with_merge
from claude_orchestrator.zk.push import add_batch
from claude_orchestrator.zk.tasks import TaskStore
from claude_orchestrator.zk.txn import Txn

LINK = "merge"  # what the revise rounds name as the stage that asked for changes


def send_back(
    tasks: TaskStore,
    entry: str,
    chain_id: str,
    merge: Mapping[str, Any],
    verdicts: Mapping[str, Mapping[str, Any]],
    by: str,
    now: float,
) -> Chain:
    """Record ``merge`` (its ``status``: conflict or failed) and start a revise round for
    each item of ``verdicts`` (item key -> verdict), with a new accept."""
    records = MergeRecords(tasks.client, tasks.paths.team)

    def make(t: Txn, chain: Chain) -> dict[str, Any]:
        extra = with_merge(chain, **merge)
        over = [k for k in verdicts if _round(chain, k) >= chain.options.max_rounds]
        if chain.status is not ChainStatus.RUNNING:
            return {"extra": extra}
        if over:
            reason = f"merge {merge.get('status')}: item {over[0]} is out of rounds"
            return {"extra": extra, "status": ChainStatus.NEEDS_HUMAN, "reason": reason}
        items, accept = _rounds(tasks, t, chain, verdicts, by, now)
        return {"extra": extra, "items": items, "accept_task": accept}

    note = f"merge {merge.get('status')}: back to {', '.join(sorted(verdicts))}"
    return records.finish(entry, chain_id, make, note, by, now)


def _round(chain: Chain, key: str) -> int:
    return int((chain.items.get(key) or {}).get("round") or 1)


def _rounds(
    tasks: TaskStore,
    t: Txn,
    chain: Chain,
    verdicts: Mapping[str, Mapping[str, Any]],
    by: str,
    now: float,
) -> tuple[dict[str, Any], str]:
    """Add the items' new rounds and the new accept to ``t``: the items' state and the
    accept's id."""
    stages = chain.options.stages
    items = {k: dict(v) for k, v in chain.items.items()}
    specs: list[dict[str, Any]] = []
    placed: dict[str, int] = {}  # item -> index of its new round's first spec
    for key, verdict in verdicts.items():
        state = items[key]
        built_by = str(state["tasks"][stages[0]])
        new = round_specs(
            tasks, chain, item_of(chain, key), _round(chain, key) + 1, built_by, verdict, LINK
        )
        for spec in new:  # '#n' refers to the batch: shift past the specs before it
            spec["depends_on"] = [f"#{int(d[1:]) + len(specs)}" for d in spec["depends_on"]]
        placed[key] = len(specs)
        specs.extend(new)
    last = {k: str(v["tasks"][stages[-1]]) for k, v in items.items()}
    deps = [f"#{placed[k] + len(stages)}" if k in placed else last[k] for k in items]
    specs.append(_accept_spec(chain, deps))
    records, _ = add_batch(tasks, t, specs, [], by, now, token())
    for key, first in placed.items():
        made = records[first : first + len(stages)]
        items[key].update(round=_round(chain, key) + 1, status="running")
        items[key]["tasks"] = {stage: rec.id for stage, rec in zip(stages, made, strict=True)}
    return items, records[-1].id


def _accept_spec(chain: Chain, deps: list[str]) -> dict[str, Any]:
    graph = graph_from_dict(chain.extra.get("graph") or {"title": "", "items": []})
    spec: dict[str, Any] = {
        "title": f"accept: {chain.title or chain.goal[:60]} (after the merge sent it back)",
        "description": accept_description(chain, graph),
        "chain_id": chain.id,
        "link": ACCEPT,
        "depends_on": deps,
    }
    role = chain.options.roles.get(ACCEPT)
    if role:
        spec["assignee"] = f"role:{role}"
    return spec
