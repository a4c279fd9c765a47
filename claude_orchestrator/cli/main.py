"""The ``claude-orchestrator`` (alias ``corch``) entry point.

Every command line goes to the click group (cli/group.py), except the one the supervisor
starts each worker with, which runs without click (cli/workerentry.py): a restarted worker
is back sooner and an idle one holds less memory (docs/benchmarks.md, "Worker footprint").
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    if "worker" in sys.argv[1:4]:  # only then is the lean path worth importing
        import os

        from claude_orchestrator.cli.workerentry import lean_args, run_lean

        args = lean_args(sys.argv[1:], os.environ)
        if args is not None:
            run_lean(args)
    from claude_orchestrator.cli.group import run

    run()


def __getattr__(name: str) -> Any:
    """The group's names (``cli``, ``describe``, …) for those who import them from here.
    Not dunders: ``from …main import main`` itself asks for ``__path__``."""
    if name.startswith("__"):
        raise AttributeError(name)
    from claude_orchestrator.cli import group

    return getattr(group, name)


if __name__ == "__main__":
    main()
