"""A stand-in agent for examples/pipeline: plays whichever stage CO_LINK names.

plan   -> a graph of two items: `greeting` (out/hello.txt) and `shout` (out/HELLO.txt)
build  -> writes the item's file; round 1 of `greeting` has a typo on purpose
verify -> checks the file against the item's criterion: `revise` with what is wrong, or `pass`
review -> `pass` (a real reviewer would read the change)
accept -> `pass` when both files are right
--check (the pipeline's check, run by the orchestrator after each build): the files it can
see are not empty.

It answers on stdout (a custom agent's output is read as text); a graph or a verdict is one
fenced JSON block at the end.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

OUT = Path("out")
WANT = {"greeting": "hello, world", "shout": "HELLO, WORLD"}
FILES = {"greeting": OUT / "hello.txt", "shout": OUT / "HELLO.txt"}
FENCE = "`" * 3


def answer(text: str, block: object) -> None:
    print(f"{text}\n\n{FENCE}json\n{json.dumps(block, indent=2)}\n{FENCE}")


def plan() -> None:
    graph = {
        "title": "Greet the world, then shout it",
        "items": [
            {
                "key": "greeting",
                "title": "Write the greeting",
                "description": "Write `hello, world` to out/hello.txt.",
                "criteria": ["out/hello.txt holds exactly `hello, world`"],
            },
            {
                "key": "shout",
                "title": "Shout the greeting",
                "description": "Write the greeting in capitals to out/HELLO.txt.",
                "criteria": ["out/HELLO.txt holds the greeting in capitals"],
                "depends_on": ["greeting"],
            },
        ],
    }
    answer("Two items: the greeting first, then the shout.", graph)


def build(item: str, round_: int) -> None:
    OUT.mkdir(exist_ok=True)
    if item == "greeting":
        text = "helo, world" if round_ == 1 else WANT["greeting"]
    else:
        text = FILES["greeting"].read_text().strip().upper()
    FILES[item].write_text(text + "\n")
    print(f"wrote {FILES[item]}: {text}")


def verify(item: str) -> None:
    found = FILES[item].read_text().strip() if FILES[item].exists() else "(missing)"
    if found == WANT[item]:
        answer("The file is right.", {"verdict": "pass", "reason": f"{FILES[item]} is right"})
        return
    verdict = {
        "verdict": "revise",
        "reason": f"{FILES[item]} holds {found!r}",
        "feedback": [f"write exactly {WANT[item]!r} to {FILES[item]}"],
        "evidence": f"read {found!r}",
    }
    answer("The file is wrong.", verdict)


def accept() -> None:
    right = all(FILES[k].exists() and FILES[k].read_text().strip() == v for k, v in WANT.items())
    verdict = "pass" if right else "revise"
    answer("The goal, whole.", {"verdict": verdict, "reason": "both files checked"})


def check() -> int:
    empty = [str(p) for p in FILES.values() if p.exists() and not p.read_text().strip()]
    print("empty: " + ", ".join(empty) if empty else "files ok")
    return 1 if empty else 0


def main() -> int:
    if sys.argv[1:] == ["--check"]:
        return check()
    link, item = os.environ.get("CO_LINK", ""), os.environ.get("CO_ITEM", "")
    round_ = int(os.environ.get("CO_ROUND") or 1)
    if link == "plan":
        plan()
    elif link == "build":
        build(item, round_)
    elif link == "verify":
        verify(item)
    elif link == "review":
        answer("Looks fine.", {"verdict": "pass", "reason": "small and clear"})
    elif link == "accept":
        accept()
    else:
        print(f"stagebot: not a chain's stage (CO_LINK={link!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
