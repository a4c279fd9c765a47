"""`make demo` (second part): a chain through plan → build → verify → review → accept with
no paid agent (stagebot.py plays every stage), then its outcome, then the team down.

Runs the installed CLI exactly as a person would, on the team's embedded server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLI = [str(Path(sys.executable).parent / "claude-orchestrator"), "-f", str(HERE / "team.toml")]
GOAL = "Greet the world, then shout it"


def cli(*args: str, check: bool = True) -> Any:
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=HERE)
    if check and out.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed:\n{out.stderr}")
    text = out.stdout.strip()
    return json.loads(text) if text.startswith(("{", "[")) else text


def wait_settled(chain_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        chain: dict[str, Any] = cli("show-chain", "--chain-id", chain_id)
        if chain["status"] in ("done", "needs_human", "failed", "cancelled"):
            return chain
        if time.monotonic() > deadline:
            return chain
        time.sleep(0.2)


def report(chain: dict[str, Any]) -> None:
    print(f"\nchain {chain['id']}: {chain['status']} — {chain.get('title') or chain['goal']}")
    for key, item in chain["items"].items():
        verdicts = ", ".join(
            f"{v['stage']} r{v['round']} {v['verdict']}" for v in item.get("verdicts", [])
        )
        print(f"  {key:<9} round {item['round']}  {item['status']:<8} {verdicts}")
    for path in sorted((HERE / "out").glob("*.txt")):
        print(f"  {path.relative_to(HERE)}: {path.read_text().strip()}")
    if chain.get("reason"):
        print(f"  reason: {chain['reason']}")


def main() -> int:
    shutil.rmtree(HERE / "out", ignore_errors=True)
    print(cli("up", "-d"))
    try:
        chain_id = cli("plan", GOAL)["chain_id"]
        print(f"planning {chain_id}: {GOAL}")
        chain = wait_settled(chain_id)
        report(chain)
        ok = chain["status"] == "done"
    finally:
        print(cli("down", "--no-json", check=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
