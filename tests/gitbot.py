#!/usr/bin/env python3
"""A stand-in agent for the git isolation tests: plays the stage CO_LINK names, from the
JSON script in $GITBOT_SCRIPT, and appends one line per run to $GITBOT_LOG.

  {"plan": GRAPH,                                  the planner's answer
   "plans": {CHAIN_ID: GRAPH},                     the answer for that chain, if given
   "build": {ITEM: {ROUND or "*": {PATH: TEXT}}},  files a build writes (null deletes)
   "barrier": [ITEM, ...],                         round-1 builds of these wait for each other
   "verdicts": {LINK: "pass"},                     a verdict stage's answer (default pass)
   "check": {"together": [PATH, ...],              `gitbot.py --check SCRIPT` (the pipeline's
             "fixed": TEXT,                          check) fails when all PATHs exist and
             "block": PATH}}                         none holds TEXT; run by the merge queue
                                                     (no CO_LINK) while PATH exists, it
                                                     writes PATH.started (its pid) and waits

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


def check(script: dict[str, Any]) -> int:
    rule = script.get("check", {})
    block = rule.get("block")
    if block and not os.environ.get("CO_LINK") and os.path.exists(block):
        Path(block + ".started").write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while os.path.exists(block) and time.monotonic() < deadline:
            time.sleep(0.05)
    paths = [Path(p) for p in rule.get("together", ())]
    fixed = rule.get("fixed", "fixed")
    if paths and all(p.exists() for p in paths) and not any(fixed in p.read_text() for p in paths):
        print(f"check failed: {', '.join(map(str, paths))} together, none {fixed}")
        return 1
    print("check passed")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--check"]:
        return check(json.loads(Path(sys.argv[2]).read_text()))
    script = json.loads(Path(os.environ["GITBOT_SCRIPT"]).read_text())
    link, item = os.environ.get("CO_LINK", ""), os.environ.get("CO_ITEM", "")
    round_ = int(os.environ.get("CO_ROUND") or 1)
    with open(os.environ["GITBOT_LOG"], "a") as log:
        log.write(json.dumps({"link": link, "item": item, "round": round_, "cwd": os.getcwd()}))
        log.write("\n")
    if link == "plan":
        chain = os.environ.get("CO_CHAIN_ID", "")
        answer("The plan.", script.get("plans", {}).get(chain) or script["plan"])
    elif link == "build":
        build(script, item, round_)
    else:
        outcome = script.get("verdicts", {}).get(link, "pass")
        answer("Checked.", {"verdict": outcome, "reason": f"{link}: {outcome}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
