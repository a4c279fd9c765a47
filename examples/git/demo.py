"""`make demo` (third part): the pipeline demo with git isolation, in a fresh repository —
each stage in a worker's own worktree, the orchestrator's commits, the merge queue landing
the accepted chain on `main` — then `git log` of `main` and the team down.

Runs the installed CLI exactly as a person would, on the team's embedded server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXE = str(Path(sys.executable).parent / "claude-orchestrator")
GOAL = "Greet the world, then shout it"


def run(cwd: Path, *argv: str) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(argv)} failed:\n{out.stderr}")
    return out.stdout.strip()


def cli(project: Path, *args: str) -> Any:
    text = run(project, EXE, "-f", str(project / "team.toml"), *args)
    return json.loads(text) if text.startswith(("{", "[")) else text


def make_project(project: Path) -> None:
    shutil.copy(HERE / "team.toml", project / "team.toml")
    shutil.copy(HERE.parent / "pipeline" / "stagebot.py", project / "stagebot.py")
    (project / ".gitignore").write_text(".claude-orchestrator/\n__pycache__/\n")
    run(project, "git", "init", "-q", "-b", "main")
    run(project, "git", "add", ".")
    identity = ["-c", "user.name=demo", "-c", "user.email=demo@localhost"]
    run(project, "git", *identity, "commit", "-q", "-m", "the demo project")


def wait_settled(project: Path, chain_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        chain: dict[str, Any] = cli(project, "show-chain", "--chain-id", chain_id)
        if chain["status"] in ("done", "needs_human", "failed", "cancelled"):
            return chain
        if time.monotonic() > deadline:
            return chain
        time.sleep(0.2)


def report(project: Path, chain: dict[str, Any]) -> None:
    merge = chain.get("merge") or {}
    print(f"\nchain {chain['id']}: {chain['status']}, merge {merge.get('status')}")
    print(f"landed on main: {len(merge.get('landed') or [])} commit(s)")
    print(run(project, "git", "log", "--oneline", "--decorate=no", "main"))
    print("\nmain:out/HELLO.txt: " + run(project, "git", "show", "main:out/HELLO.txt"))
    for row in cli(project, "worktrees"):
        print(f"worktree {row['worker']}: {row['path']} on {row['branch']}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="co-git-demo-") as tmp:
        project = Path(tmp)
        make_project(project)
        print(cli(project, "up", "-d"))
        ok = False
        try:
            chain_id = cli(project, "plan", GOAL)["chain_id"]
            print(f"planning {chain_id} in {project}: {GOAL}")
            chain = wait_settled(project, chain_id)
            report(project, chain)
            ok = chain["status"] == "done"
        finally:
            print(cli(project, "down", "--no-json"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
