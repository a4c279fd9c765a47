"""`worktrees`: each worker's stable worktree (issue 12; docs/git.md). Needs no ZooKeeper."""

from __future__ import annotations

from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import UsageError


@click.command("worktrees")
@click.option(
    "--prune", is_flag=True, help="Remove the worktrees of removed workers that lose nothing."
)
@global_options
@pass_app
def worktrees(app: App, prune: bool) -> None:
    """Each worker's worktree: its path, branch, commits not yet on the target, dirty files,
    and the branches where work it could not land was kept (co/kept/<worker>-<sha>)."""
    from claude_orchestrator.conf.layout import worktree_dir
    from claude_orchestrator.spawn.git import Repo
    from claude_orchestrator.spawn.gitchain import KEPT_PREFIX
    from claude_orchestrator.spawn.gitrefs import tips_under
    from claude_orchestrator.worker.isolation import landed_ref, prune_worktrees

    team = app.settings.team_config
    if not team.git.worktrees:
        raise UsageError(
            "this team's workers share their work dirs: worktrees need "
            '[team] isolation = "worktree" in the team file'
        )
    if prune:
        app.emit(prune_worktrees(team))
        return
    repo = Repo(team.repo_dir)
    known = {info.path.resolve(): info for info in repo.worktrees()}
    rows: list[dict[str, Any]] = []
    for spec in team.workers:
        path = worktree_dir(team.state_dir, spec.name)
        info = known.get(path.resolve())
        row: dict[str, Any] = {"worker": spec.name, "path": str(path), "exists": info is not None}
        if info is not None:
            tip = info.branch or info.head or "HEAD"
            row.update(
                branch=info.branch,
                head=info.head,
                unmerged=repo.commits_not_on(tip, landed_ref(team)),
                dirty=[entry.path for entry in repo.status(path)],
                kept=sorted(tips_under(repo.path, "refs/heads/", f"{KEPT_PREFIX}{spec.name}-*")),
            )
        rows.append(row)
    app.emit(rows)


COMMANDS = [worktrees]
