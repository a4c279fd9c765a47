"""`make demo`: bring the hello team up, give it real work, show the result, bring it down.

Runs the installed CLI exactly as a person would; needs nothing but the project's venv and
ZooKeeper's jars (the team uses its embedded server and the `shell` preset).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLI = [str(Path(sys.executable).parent / "claude-orchestrator"), "-f", str(HERE / "team.toml")]

TASKS = [
    {"title": "Count the lines of the README", "description": "wc -l < ../../README.md"},
    {
        "title": "List the Python modules",
        "description": "ls ../../claude_orchestrator/*/*.py | wc -l",
    },
    {
        "title": "Hash the project file",
        "description": "sha256sum ../../pyproject.toml | cut -c1-16",
    },
    {
        "title": "Build: write an artifact",
        "assignee": "role:builder",
        "description": "mkdir -p build && date -u +%FT%TZ > build/artifact.txt && echo built",
    },
    {
        "title": "Check the artifact",
        "assignee": "role:checker",
        "depends_on": ["#4"],
        "description": 'test -s build/artifact.txt && echo "artifact ok: $(cat build/*.txt)"',
    },
    {"title": "Who am I", "description": 'echo "$CO_WORKER_NAME on task $CO_TASK_ID"'},
]


def cli(*args: str, check: bool = True) -> Any:
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=HERE)
    if check and out.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed:\n{out.stderr}")
    text = out.stdout.strip()
    return json.loads(text) if text.startswith(("{", "[")) else text


def wait_for(ids: list[str], timeout: float = 90.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = [t for t in cli("list-tasks") if t["id"] in ids]
        if all(t["status"] in ("completed", "failed", "cancelled") for t in tasks):
            return tasks
        if time.monotonic() > deadline:
            return tasks
        time.sleep(0.2)


def summary(tasks: list[dict[str, Any]]) -> None:
    print(f"\n{'TASK':<16} {'STATUS':<10} {'WORKER':<6} {'TITLE':<32} RESULT")
    for t in sorted(tasks, key=lambda t: t["id"]):
        worker = (t.get("claimed_by") or "-").rsplit("-", 1)[0]
        result = (t.get("result") or t.get("reason") or "").strip().splitlines()
        print(
            f"{t['id']:<16} {t['status']:<10} {worker:<6} {t['title'][:32]:<32} "
            f"{result[0][:50] if result else ''}"
        )
    done = sum(t["status"] == "completed" for t in tasks)
    print(f"\n{done} of {len(tasks)} tasks completed")


def main() -> int:
    print(cli("up", "-d"))
    try:
        batch = HERE / ".claude-orchestrator" / "demo-tasks.jsonl"
        batch.write_text("\n".join(json.dumps(t) for t in TASKS) + "\n")
        pushed = cli("push-task", "--from-file", str(batch))
        print(f"pushed {len(pushed)} tasks (the check waits for the build)")
        tasks = wait_for([t["id"] for t in pushed])
        summary(tasks)
        print()
        subprocess.run([*CLI, "ps"], cwd=HERE)
        ok = all(t["status"] == "completed" for t in tasks)
    finally:
        print(cli("down", "--no-json", check=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
