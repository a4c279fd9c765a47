#!/usr/bin/env python3
"""A stand-in agent for the git isolation tests: plays the stage CO_LINK names, from the
JSON script in $GITBOT_SCRIPT, and appends one line per run to $GITBOT_LOG.

  {"plan": GRAPH,                                  the planner's answer
   "build": {ITEM: {ROUND or "*": {PATH: TEXT}}},  files a build writes (null deletes)
   "barrier": [ITEM, ...],                         round-1 builds of these wait for each other
   "verdicts": {LINK: "pass"}}                     a verdict stage's answer (default pass)

Stdlib only: it must never import claude_orchestrator.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

FENCE = "`" * 3


def answer(text: str, block: object) -> None:
    print(f"{text}\n\n{FENCE}json\n{json.dumps(block)}\n{FENCE}")


def build(script: dict[str, Any], item: str, round_: int) -> None:
    wanted = script.get("build", {}).get(item, {})
    files = wanted.get(str(round_), wanted.get("*", {}))
    if round_ == 1 and item in script.get("barrier", ()):
        meet(script["barrier"], item)
    for path, text in files.items():
        target = Path(path)
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    print(f"built {item} round {round_}: {sorted(files)}")


def meet(items: list[str], item: str) -> None:
    """Wait (up to 30 s) until every build of ``items`` has started, so they all start from
    the same tip of the chain branch."""
    folder = Path(os.environ["GITBOT_LOG"]).with_suffix(".barrier")
    folder.mkdir(exist_ok=True)
    (folder / item).touch()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all((folder / i).exists() for i in items):
        time.sleep(0.05)


def main() -> int:
    script = json.loads(Path(os.environ["GITBOT_SCRIPT"]).read_text())
    link, item = os.environ.get("CO_LINK", ""), os.environ.get("CO_ITEM", "")
    round_ = int(os.environ.get("CO_ROUND") or 1)
    with open(os.environ["GITBOT_LOG"], "a") as log:
        log.write(json.dumps({"link": link, "item": item, "round": round_, "cwd": os.getcwd()}))
        log.write("\n")
    if link == "plan":
        answer("The plan.", script["plan"])
    elif link == "build":
        build(script, item, round_)
    else:
        outcome = script.get("verdicts", {}).get(link, "pass")
        answer("Checked.", {"verdict": outcome, "reason": f"{link}: {outcome}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
