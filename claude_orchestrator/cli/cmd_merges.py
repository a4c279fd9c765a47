"""`merges` and `show-merge`: the merge queue (issue 12 §3; docs/git.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import UsageError

if TYPE_CHECKING:
    from claude_orchestrator.zk.chains import Chain


@click.command("merges")
@click.option("--status", help="queued, merging, merged, conflict or failed.")
@global_options
@pass_app
def merges(app: App, status: str | None) -> None:
    """The merge queue in order, then every other chain that went through it."""
    from claude_orchestrator.zk.chains import ChainStore
    from claude_orchestrator.zk.merges import MERGE_STATUSES, merge_of, queue

    if status is not None and status not in MERGE_STATUSES:
        known = ", ".join(MERGE_STATUSES)
        raise UsageError(f"--status: '{status}' is not a merge status ({known})")
    order = {
        chain_id: n for n, (_, chain_id) in enumerate(queue(app.team.client, app.settings.team))
    }
    chains = [c for c in ChainStore(app.team.client, app.settings.team).all() if merge_of(c)]
    chains.sort(key=lambda c: (order.get(c.id, len(order)), c.id))
    rows = [_row(c, order.get(c.id)) for c in chains]
    app.emit([r for r in rows if status is None or r["status"] == status])


@click.command("show-merge")
@click.option("--chain-id", required=True, help="The chain (chain-NNNNNNNNNN).")
@global_options
@pass_app
def show_merge(app: App, chain_id: str) -> None:
    """One chain's merge: its status, place in the queue, the target's sha, what landed
    (``status`` null: the chain has not been queued for merging)."""
    from claude_orchestrator.zk.chains import ChainStore, check_chain_id
    from claude_orchestrator.zk.merges import queue

    chain = ChainStore(app.team.client, app.settings.team).get(check_chain_id(chain_id))
    order = [cid for _, cid in queue(app.team.client, app.settings.team)]
    app.emit(_row(chain, order.index(chain_id) if chain_id in order else None, full=True))


def _row(chain: Chain, position: int | None, full: bool = False) -> dict[str, Any]:
    from claude_orchestrator.zk.merges import merge_of

    merge = merge_of(chain)
    row: dict[str, Any] = {
        "chain_id": chain.id,
        "status": merge.get("status"),
        "position": position,
        "chain_status": chain.status.value,
        "branch": f"co/{chain.id}",
        "queued_at": merge.get("queued_at"),
        "target_sha": merge.get("target_sha"),
        "landed": merge.get("landed") or [],
    }
    if full:
        row.update({k: v for k, v in merge.items() if k not in row})
        row["title"] = chain.title
    return row


COMMANDS = [merges, show_merge]
