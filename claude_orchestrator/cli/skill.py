"""What ``setup`` installs for the agents: the CLI skill, one skill per pipeline stage and the
team section of CLAUDE.md (conf/install.py installs them without overwriting your changes)."""

from __future__ import annotations

from claude_orchestrator.conf.install import Managed

SKILL = """\
---
name: claude-orchestrator
description: Coordinate with your team through the claude-orchestrator CLI
  (tasks, messages, shared context).
---
# Working in a claude-orchestrator team

Every command prints JSON. Your identity and task come from the environment
(`CO_INSTANCE_ID`, `CO_TASK_ID`, `CO_TEAM`, `ZK_HOSTS`).

- Report progress: `claude-orchestrator task-block --reason "…"` when you cannot go on,
  `claude-orchestrator complete-task --result "…"` when done, `task-fail --reason "…"` on failure.
  A task you blocked is still yours: once you have your answer, `task-unblock` takes it back
  in progress, or `complete-task` finishes it.
- New work for the team: `claude-orchestrator push-task --title "…" --description "…"`
  (`--assignee NAME` or `--assignee role:ROLE`, `--depends-on TASK_ID[,TASK_ID…]`).
- Talk: `send-message --to-name NAME --content "…"`,
  `request-help --question "…" --context "…"`, `poll-messages`, `wait-for-message`.
- Shared notes: `set-context --key K --value V`, `get-context --key K`,
  `watch-context --key K` (waits for the next change; `watch-tasks` likewise).
- In a pipeline (`CO_CHAIN_ID` is set) your task is one stage of a chain: the skill
  claude-orchestrator-STAGE for your stage (`CO_LINK`) says what to do and how to answer.
"""

#: where the CLI skill lives, relative to the project (or, with --global, the home directory)
CLI_SKILL = ".claude/skills/claude-orchestrator/SKILL.md"

#: the sha256 of each text earlier releases wrote to CLI_SKILL, overwriting it every time and
#: keeping no manifest: such a file is ours to update, not the user's to keep
EARLIER_SKILLS = frozenset(
    {
        "835943f6aab0adca952e12aad8b51d50b0138a5102d0f8860b92c3a729bdd279",
        "8716241655e8123472a77aec1fd97b2a362ae7dca0df3be5bf0b9ad9de20f8e6",
    }
)

_HEAD = """\
---
name: claude-orchestrator-{stage}
description: {description}
---
"""

_VERDICT = """
## Your verdict

End with a verdict: a stage that gives none never passes.

- `claude-orchestrator complete-task --verdict pass|revise|reject --feedback "…"`
  (`--feedback` is repeatable: one point the builder can act on per flag), or
- end your final message with one fenced JSON block:

```json
{"verdict": "revise", "reason": "one line",
 "feedback": ["…", "…"], "evidence": "what you ran and what it printed"}
```

`pass`: the criteria are met. `revise`: another build round can fix it; your feedback goes to
the builder, whose session resumes (the rounds per item are limited). `reject`: another round
cannot fix it (the item is wrong or impossible as asked). A `revise` or a `reject` must say
why (`reason` or `feedback`). Give evidence for any verdict: the commands you ran and what
they printed, the files and lines you mean.
"""

_STAGE_ENV = """\
Your task (`CO_TASK_ID`) is the `{stage}` stage of chain `CO_CHAIN_ID` for item `CO_ITEM`,
round `CO_ROUND` (all four are in your environment). Its description carries the item, its
criteria and, after a `revise`, the feedback that sent it back.
"""

STAGE_SKILLS: dict[str, str] = {
    "plan": _HEAD.format(
        stage="plan",
        description="The plan stage of a claude-orchestrator pipeline (CO_LINK=plan). Decompose\n"
        "  the chain's goal into a task graph, answered as one fenced JSON block.",
    )
    + """\
# Planning a goal

Your task (`CO_TASK_ID`) is the `plan` stage of chain `CO_CHAIN_ID`; its description is the
goal. Read what you need to, change nothing, and decompose the goal into items one builder
can each finish in one session. End your final message with exactly one fenced JSON block:

```json
{"title": "short name of the goal",
 "items": [{"key": "api", "title": "…", "description": "what to build, where and why",
            "criteria": ["a check someone can verify", "…"],
            "depends_on": ["keys of the items this one needs first"],
            "role": "optional: the role of the workers that should build it"}]}
```

- `key` is short and unique in the answer; `depends_on` names only keys of this answer,
  with no cycle. The verify and review stages judge each item by its `criteria`.
- The graph is checked (schema, unknown keys, cycles, size): if it is refused, you are asked
  again in this session with the reason; answer with the whole corrected block.
- Each item then runs through the pipeline's stages (by default build, verify, review),
  and one `accept` stage judges the whole goal.
""",
    "build": _HEAD.format(
        stage="build",
        description="The build stage of a claude-orchestrator pipeline (CO_LINK=build). Do one\n"
        "  planned item's work, the orchestrator runs the checks.",
    )
    + """\
# Building an item

"""
    + _STAGE_ENV.format(stage="build")
    + """
- Do the item's work in your working directory, meeting every criterion; after a `revise`,
  address every point of the feedback.
- Then just finish: your final message is the task's result, a short summary of what you
  changed, where, and how you checked it. You give no verdict and need not call `complete-task`.
- The orchestrator runs the pipeline's checks after you finish (a failing check comes back
  to you as a new round with its output); then the verify and review stages judge your work.
- In a team with git worktrees the orchestrator commits what you changed (you may commit
  too); files that look like secrets (`.env`, keys) are never committed, and a build that
  changes nothing goes back to you as a new round.
- Do not switch branches or rewrite history. Stuck on something outside the item:
  `claude-orchestrator task-block --reason "…"`, then stop.
""",
    "verify": _HEAD.format(
        stage="verify",
        description="The verify stage of a claude-orchestrator pipeline (CO_LINK=verify). Check\n"
        "  that a build meets its item's criteria, and give a verdict.",
    )
    + """\
# Verifying a build

"""
    + _STAGE_ENV.format(stage="verify")
    + """
Check each criterion for yourself: build, run the tests and the commands the criteria name,
try the behaviour. Change no code: say what is wrong.
"""
    + _VERDICT,
    "review": _HEAD.format(
        stage="review",
        description="The review stage of a claude-orchestrator pipeline (CO_LINK=review). Review\n"
        "  a build's change against its item, and give a verdict.",
    )
    + """\
# Reviewing a build

"""
    + _STAGE_ENV.format(stage="review")
    + """
You start a fresh session: judge the change itself (its diff and the code around it) for
correctness, the item's criteria, tests, and clarity. Change no code: say what is wrong.
"""
    + _VERDICT,
    "accept": _HEAD.format(
        stage="accept",
        description="The accept stage of a claude-orchestrator pipeline (CO_LINK=accept). Judge\n"
        "  whether the chain's goal is met as a whole, and give a verdict.",
    )
    + """\
# Accepting a goal

Your task (`CO_TASK_ID`) is the `accept` stage of chain `CO_CHAIN_ID`: every item has passed
its stages; its description carries the goal and the items. Judge the goal as a whole: the
items fit together, nothing the goal asked for is missing, the project builds and its tests
pass. Change no code: say what is wrong.
"""
    + _VERDICT,
}

#: the team section of CLAUDE.md (between its markers)
TEAM_SECTION = """\
## claude-orchestrator team

This project is worked on by a team of agents coordinated by claude-orchestrator. When
`CO_TASK_ID` is set you are one of them, running a task: the skill `claude-orchestrator` says
how to report, talk to the team and share notes; in a pipeline (`CO_CHAIN_ID` set) the skill
`claude-orchestrator-<stage>` for your stage (`CO_LINK`: plan, build, verify, review or
accept) says what to do and how to answer. `claude-orchestrator setup --remove` removes this
section and the skills.
"""


def stage_skill(stage: str) -> str:
    """Where the skill of a pipeline stage lives, relative to the project."""
    return f".claude/skills/claude-orchestrator-{stage}/SKILL.md"


def managed(global_: bool) -> Managed:
    """What ``setup`` installs: in the project, or with ``--global`` in the home directory
    (where Claude reads the user's own CLAUDE.md from ``~/.claude/``)."""
    files = {CLI_SKILL: SKILL, **{stage_skill(s): text for s, text in STAGE_SKILLS.items()}}
    section_file = ".claude/CLAUDE.md" if global_ else "CLAUDE.md"
    return Managed(files, section_file, TEAM_SECTION, {CLI_SKILL: EARLIER_SKILLS})
