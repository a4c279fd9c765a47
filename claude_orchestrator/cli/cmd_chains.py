"""Pipeline commands: plan, chains, show-chain, cancel-chain (docs/pipelines.md)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options, read_text
from claude_orchestrator.errors import UsageError

if TYPE_CHECKING:
    from claude_orchestrator.zk.chains import Chain, ChainStore


def _chain_id_option(fn: Any) -> Any:
    return click.option("--chain-id", required=True, help="The chain (chain-NNNNNNNNNN).")(fn)


def _store(app: App) -> ChainStore:
    from claude_orchestrator.zk.chains import ChainStore

    return ChainStore(app.team.client, app.settings.team)


@click.command("plan")
@click.argument("goal", required=False)
@click.option("--from-file", type=click.File("r"), help="Read the goal from a file ('-': stdin).")
@click.option("--wait", is_flag=True, help="Wait until the graph is pushed or needs a human.")
@click.option(
    "--dry-run", is_flag=True, help="Decompose and validate, print the graph; push nothing."
)
@click.option(
    "--max-rounds", type=click.IntRange(1, 20), help="Build rounds per item ([pipeline], 3)."
)
@click.option(
    "--budget", type=click.FloatRange(min=0, min_open=True), help="USD for the chain ([pipeline])."
)
@global_options
@pass_app
def plan(
    app: App,
    goal: str | None,
    from_file: Any,
    wait: bool,
    dry_run: bool,
    max_rounds: int | None,
    budget: float | None,
) -> None:
    """Decompose GOAL into a task graph run through build, verify and review ('-': stdin)."""
    from claude_orchestrator.zk.chains import plan_options

    text = _goal(goal, from_file)
    opts = plan_options(app.settings.team_config, max_rounds, budget, dry_run)
    chain, _ = _store(app).create(app.team.tasks, text, app.author(), app.now(), opts)
    if wait or dry_run:  # a dry run's answer is the graph
        chain = _wait_planned(app, chain.id)
        app.emit(chain.to_dict())
        return
    app.emit({"chain_id": chain.id, "status": chain.status.value, "goal": chain.goal})


def _goal(goal: str | None, from_file: Any) -> str:
    if (goal is None) == (from_file is None):
        raise UsageError("say the goal once: GOAL, '-' for stdin, or --from-file PATH")
    if from_file is not None:
        return str(from_file.read())
    return str(read_text(goal))


def _wait_planned(app: App, chain_id: str) -> Chain:
    """Until the chain has left ``planning`` (a watch on its record; no polling)."""
    from claude_orchestrator.zk.chains import ChainStatus

    store = _store(app)
    while True:
        changed = threading.Event()
        store.client.exists(store.paths.chain(chain_id), watch=lambda _e, c=changed: c.set())
        chain = store.get(chain_id)
        if chain.status is not ChainStatus.PLANNING:
            return chain
        changed.wait()


@click.command("chains")
@click.option("--status", help="planning, awaiting_approval, running, needs_human, done, …")
@global_options
@pass_app
def chains(app: App, status: str | None) -> None:
    """List the team's chains, oldest first."""
    from claude_orchestrator.zk.chains import ChainStatus

    wanted = None
    if status is not None:
        try:
            wanted = ChainStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in ChainStatus)
            raise UsageError(f"--status: '{status}' is not a chain status ({known})") from None
    app.emit([_summary(c) for c in _store(app).all(wanted)])


def _summary(chain: Chain) -> dict[str, Any]:
    return {
        "chain_id": chain.id,
        "status": chain.status.value,
        "goal": chain.goal,
        "title": chain.title,
        "items": len(chain.items),
        "cost_usd": round(chain.cost_usd, 6),
        "created_at": chain.created_at,
        "reason": chain.reason,
    }


@click.command("show-chain")
@_chain_id_option
@global_options
@pass_app
def show_chain(app: App, chain_id: str) -> None:
    """One chain: its items, stages, rounds, verdicts, tasks, checks and cost so far."""
    from claude_orchestrator.zk.chains import check_chain_id
    from claude_orchestrator.zk.query import list_tasks

    chain = _store(app).get(check_chain_id(chain_id))
    tasks = list_tasks(app.team.tasks, chain_id=chain_id)
    out = chain.to_dict()
    if chain.options.merge:  # worktree isolation: where its builds land (docs/git.md)
        out["branch"] = f"co/{chain.id}"
    out["tasks"] = [_task_line(t.to_dict()) for t in tasks]
    app.emit(out)


def _task_line(task: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "link", "item", "round", "status", "verdict", "claimed_by", "checks")
    line = {k: task.get(k) for k in keys}
    line["cost_usd"] = (task.get("session") or {}).get("cost_usd")
    return line


@click.command("cancel-chain")
@_chain_id_option
@global_options
@pass_app
def cancel_chain(app: App, chain_id: str) -> None:
    """Stop a chain: no stage of it is claimed again; its open tasks are cancelled."""
    from claude_orchestrator.zk.chains import check_chain_id, stop_chain

    check_chain_id(chain_id)
    actor = app.actor()
    reason = f"cancelled by {actor.label}"
    chain, cancelled = stop_chain(app.team.tasks, chain_id, actor, app.now(), reason)
    app.emit({"chain_id": chain.id, "status": chain.status.value, "cancelled_tasks": cancelled})


@click.command("approve")
@_chain_id_option
@global_options
@pass_app
def approve(app: App, chain_id: str) -> None:
    """Approve a chain's plan: its stage tasks are pushed and it runs."""
    from claude_orchestrator.zk.chains import check_chain_id
    from claude_orchestrator.zk.chainsteps import approve as approve_chain

    chain = approve_chain(app.team.tasks, check_chain_id(chain_id), app.actor().label, app.now())
    app.emit(_summary(chain))


@click.command("reject")
@_chain_id_option
@click.option("--feedback", required=True, help="What the planner should change ('-': stdin).")
@global_options
@pass_app
def reject(app: App, chain_id: str, feedback: str) -> None:
    """Reject a chain's plan: the feedback goes back to the planner for a new graph."""
    from claude_orchestrator.zk.chains import check_chain_id
    from claude_orchestrator.zk.chainsteps import reject as reject_chain

    text = str(read_text(feedback) or "")
    if not text.strip():
        raise UsageError("--feedback: say what the planner should change")
    by = app.actor().label
    chain = reject_chain(app.team.tasks, check_chain_id(chain_id), text, by, app.now())
    app.emit(_summary(chain))


COMMANDS = [plan, chains, show_chain, cancel_chain, approve, reject]
