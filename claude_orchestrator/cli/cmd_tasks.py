"""Task commands: push, claim, every transition, list and show."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import (
    alias,
    follow_option,
    global_options,
    read_text,
    task_id_option,
)
from claude_orchestrator.errors import UsageError

if TYPE_CHECKING:
    from claude_orchestrator.zk.taskmodel import Task


@click.command("push-task")
@click.option("--title", help="Short title (required unless --from-file).")
@click.option("--description", help="What to do; '-' reads it from stdin.")
@click.option("--priority", type=click.IntRange(0, 9), help="0 = highest … 9 (default 1).")
@click.option("--assignee", help="A worker name, or role:ROLE.")
@click.option(
    "--depends-on",
    "--blocked-by",
    "depends_on",
    multiple=True,
    metavar="TASK_ID",
    help="Repeatable, or a comma list (--blocked-by is the seed 0.4 name).",
)
@click.option("--chain-id", help="Pipeline chain this task belongs to.")
@click.option("--link", help="Pipeline stage (plan, build, verify, review, accept).")
@click.option("--max-retries", type=click.IntRange(0, 100), help="Default 3.")
@click.option(
    "--budget",
    "budget_usd",
    type=float,
    help="USD one run may spend (Claude Code's --max-budget-usd).",
)
@click.option("--from-file", type=click.File("r"), help="JSON lines, one task each ('-': stdin).")
@global_options
@pass_app
def push_task(app: App, /, from_file: Any, **fields: Any) -> None:
    """Push one task (or a JSON-lines file of tasks) onto the queue."""
    from claude_orchestrator.zk.push import push, validate_spec

    if from_file is not None:
        specs = _specs_from_lines(from_file, fields)
    else:
        fields["description"] = read_text(fields["description"])
        fields["depends_on"] = _id_list(fields["depends_on"]) or None
        specs = [validate_spec(fields, "push-task")]
    quota = app.settings.team_config.max_task_bytes
    _name_instance_assignees(app, specs)
    _check_assignees(app, specs)
    pushed = push(app.team.tasks, specs, app.author(), app.now(), quota)
    app.emit(_public_list(pushed) if from_file is not None else pushed[0].to_dict())


def _name_instance_assignees(app: App, specs: list[dict[str, Any]]) -> None:
    """The seed assigned tasks to instance ids: an assignee that is a registered instance's
    id stands for that instance's name (one read, only when an assignee is given)."""
    for spec in specs:
        assignee = spec.get("assignee")
        if assignee and not assignee.startswith("role:"):
            inst = app.team.registry.find(assignee)
            spec["assignee"] = inst["name"] if inst is not None else assignee


def _check_assignees(app: App, specs: list[dict[str, Any]]) -> None:
    """With a team file, a task assigned to a name that is neither one of its workers nor a
    registered instance would wait forever: refuse it (role:ROLE is not checked)."""
    team_file = app.settings.team_file
    if team_file is None:
        return
    workers = {w.name for w in app.settings.team_config.workers}
    for spec in specs:
        name = spec.get("assignee")
        if not name or name.startswith("role:") or name in workers:
            continue
        if app.team.client.exists(app.team.registry.paths.name(name)) is None:
            known = ", ".join(sorted(workers)) or "none"
            raise UsageError(
                f"--assignee: no worker '{name}' in {team_file} (workers: {known}) and no "
                "registered instance of that name; the task would wait forever"
            )


def _id_list(values: tuple[str, ...]) -> list[str]:
    """Repeated options and comma lists alike: ``a,b --depends-on c`` -> [a, b, c]."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _specs_from_lines(stream: Any, fields: dict[str, Any]) -> list[dict[str, Any]]:
    from claude_orchestrator.zk.push import validate_spec

    if any(v for v in fields.values()):
        raise UsageError("--from-file cannot be combined with other task options")
    specs = []
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{stream.name}:{n}: not valid JSON: {exc.msg}") from exc
        specs.append(validate_spec(raw, f"{stream.name}:{n}"))
    if not specs:
        raise UsageError(f"{stream.name}: no tasks in the file")
    return specs


@click.command("claim-task")
@global_options
@pass_app
def claim_task(app: App) -> None:
    """Claim the next task this instance may take ({"status": "no_tasks"} when none)."""
    from claude_orchestrator.zk.claim import claim_as

    iid = app.require_instance("claim-task")
    task = claim_as(app.team.tasks, iid, app.now())
    app.emit(task.to_dict() if task else NO_TASKS)


NO_TASKS = {"status": "no_tasks", "message": "No tasks available to claim"}


def _transition_command(name: str, action: str, doc: str, extra: list[Any]) -> click.Command:
    @click.command(name, help=doc)
    @task_id_option
    @global_options
    @pass_app
    def command(app: App, /, task_id: str, **kw: Any) -> None:
        _run_transition(app, task_id, action, kw)

    for option in extra:
        command = option(command)
    return command


def _run_transition(app: App, task_id: str, action: str, kw: dict[str, Any]) -> None:
    from claude_orchestrator.zk.codec import check_size, iso
    from claude_orchestrator.zk.taskmodel import OWNER_ACTIONS, Action, Change, seq_of

    seq_of(task_id)
    if action == Action.UNBLOCK:
        action = _unblock_action(app, task_id)
    result, reason = read_text(kw.get("result")), kw.get("reason")
    check_size("result", result)
    check_size("reason", reason)
    # owner actions are fenced by the transition itself (it reads the instance): no
    # second read here; the others check the identity they are recorded under
    actor = app.acting_as() if Action(action) in OWNER_ACTIONS else app.actor()
    change = Change(
        Action(action), by=actor.label, at=iso(app.now()), result=result, reason=reason, note=reason
    )
    if action == Action.COMPLETE:
        app.emit(_complete(app, task_id, change, actor, kw).to_dict())
        return
    done = app.team.tasks.transition(task_id, change, actor, app.now())
    if action == Action.CANCEL and done.chain_id is not None:  # stops its chain too
        from claude_orchestrator.zk.chains import stop_chain

        why = f"task {task_id} cancelled by {actor.label}"
        stop_chain(app.team.tasks, done.chain_id, actor, app.now(), why)
    app.emit(done.to_dict())


def _complete(app: App, task_id: str, change: Any, actor: Any, kw: dict[str, Any]) -> Task:
    """A completion; a chain's stage takes the chain's next step with it, and a verdict
    stage needs ``--verdict`` (docs/pipelines.md)."""
    from claude_orchestrator.spawn.answer import parse_verdict
    from claude_orchestrator.zk.chains import PLAN
    from claude_orchestrator.zk.chainverdict import complete_stage

    verdict, feedback = kw.get("verdict"), list(kw.get("feedback") or ())
    if verdict is None and feedback:
        raise UsageError("--feedback goes with --verdict")
    task = app.team.tasks.get(task_id)
    if task.chain_id is None or task.link in (None, PLAN):
        if verdict is not None:
            raise UsageError(f"--verdict: {task_id} is not a stage of a chain")
        return app.team.tasks.transition(task_id, change, actor, app.now())
    if verdict is not None:
        given = {"verdict": verdict, "reason": change.result or "", "feedback": feedback}
        change = change._replace(fields={"verdict": parse_verdict(given).to_dict()})
    return complete_stage(app.team.tasks, task_id, change, actor, app.now())


def _unblock_action(app: App, task_id: str) -> str:
    """The claimer unblocking its own task resumes it (fenced like a completion)."""
    from claude_orchestrator.zk.taskmodel import unblock_action

    iid = app.settings.instance_id
    if iid is None:
        return "unblock"
    return unblock_action(app.team.tasks.get(task_id), iid).value


_result = click.option("--result", help="What was done; '-' reads it from stdin.")
_verdict = click.option(
    "--verdict",
    type=click.Choice(["pass", "revise", "reject"]),
    help="A chain's verify, review or accept stage: your verdict (--result is its reason).",
)
_feedback = click.option(
    "--feedback", multiple=True, help="With --verdict: one point to act on (repeatable)."
)
_reason = click.option("--reason", help="Why.")
_reason_required = click.option("--reason", required=True, help="Why.")

TRANSITION_COMMANDS = [
    _transition_command(
        "complete-task",
        "complete",
        "Mark your task completed (also one you blocked).",
        [_result, _verdict, _feedback],
    ),
    _transition_command("task-start", "start", "Mark your claimed task in progress.", []),
    _transition_command("task-block", "block", "Mark your task blocked.", [_reason_required]),
    _transition_command(
        "task-unblock",
        "unblock",
        "Put a blocked task back in the queue (by its claimer: back in progress for it).",
        [],
    ),
    _transition_command("task-fail", "fail", "Mark your task failed.", [_reason_required]),
    _transition_command("task-retry", "retry", "Re-queue a failed or blocked task.", []),
    _transition_command("cancel-task", "cancel", "Cancel a task that is not finished.", [_reason]),
]


@click.command("list-tasks")
@click.option("--status", help="pending, claimed, in_progress, blocked, failed, completed, …")
@click.option("--assignee", help="Worker name, role:ROLE, or claimer instance id.")
@click.option("--chain-id", help="Only this chain.")
@global_options
@pass_app
def list_tasks(app: App, status: str | None, assignee: str | None, chain_id: str | None) -> None:
    """List tasks in queue order (priority, then FIFO)."""
    from claude_orchestrator.zk.query import list_tasks as query

    app.emit(_public_list(query(app.team.tasks, status, assignee, chain_id)))


@click.command("show-task")
@task_id_option
@global_options
@pass_app
def show_task(app: App, task_id: str) -> None:
    """Show one task with its history."""
    from claude_orchestrator.zk.taskmodel import seq_of

    seq_of(task_id)
    app.emit(app.team.tasks.get(task_id).to_dict())


@click.command("watch-tasks")
@follow_option
@global_options
@pass_app
def watch_tasks(app: App, follow: bool) -> None:
    """Wait for the next change of a task's state and print it (--follow: every change)."""
    from claude_orchestrator.zk.watch import watch_task_states

    watch_task_states(app.team.tasks, lambda line: app.emit(line), once=not follow)


def _public_list(tasks: list[Task]) -> list[dict[str, Any]]:
    return [task.to_dict() for task in tasks]


COMMANDS = [
    push_task,
    claim_task,
    *TRANSITION_COMMANDS,
    list_tasks,
    show_task,
    watch_tasks,
    alias(list_tasks, "poll-task"),
]
