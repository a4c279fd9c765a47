"""Turning a task or a message into a ready-to-start agent run."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from claude_orchestrator.conf.agents import AgentSpec, OutputParser, is_session_id
from claude_orchestrator.spawn.process import ExitInfo
from claude_orchestrator.worker.agentenv import agent_environment, private_dir
from claude_orchestrator.worker.prompt import STAGE_TEMPLATES, Template, load_template
from claude_orchestrator.worker.session import AgentRun, SessionResult
from claude_orchestrator.worker.settings import WorkerSettings
from claude_orchestrator.zk.chaingraph import ACCEPT
from claude_orchestrator.zk.chains import PLAN
from claude_orchestrator.zk.taskmodel import Task, TaskStatus

log = logging.getLogger(__name__)


class RunBuilder:
    """Loads the templates once (errors surface at start-up) and builds runs, each of
    which calls ``on_exit`` when its agent has ended (from the agent's monitor thread)."""

    def __init__(
        self,
        ws: WorkerSettings,
        environ: Mapping[str, str],
        on_exit: Callable[[ExitInfo], None] | None = None,
    ) -> None:
        self.ws = ws
        self.environ = environ
        self.on_exit = on_exit
        self.task_template = load_template("worker.md", ws.project_dir)
        self.message_template = load_template("message.md", ws.project_dir)
        self.plan_template = load_template("leader-decompose.md", ws.project_dir)
        self.stage_templates = {
            stage: _stage_template(ws, stage) for stage in (*ws.pipeline.stages, ACCEPT)
        }
        self.ext = "jsonl" if ws.agent.parser is OutputParser.STREAM_JSON else "log"
        #: a chain stage with an agent of its own (``[pipeline.stage.X] agent``) is run by a
        #: builder of that agent: its argv, sessions, log format and environment
        self.by_stage = {
            stage: RunBuilder(replace(ws, agent=agent, stage_agents={}), environ, on_exit)
            for stage, agent in ws.stage_agents.items()
        }

    def for_stage(self, link: str | None) -> RunBuilder:
        """The builder for a task of stage ``link``: its own agent's, or this one."""
        return self.by_stage.get(link or "", self)

    def identity(self, instance_id: str) -> dict[str, Any]:
        ws = self.ws
        return {
            "worker_name": ws.name,
            "role": ws.role,
            "instance_id": instance_id,
            "team": ws.team,
            "work_dir": str(ws.work_dir),
        }

    def for_task(
        self, task: Task, instance_id: str, stage: Mapping[str, Any] | None = None
    ) -> tuple[AgentRun, dict[str, Any]]:
        """The run for a claimed task, and the ``session`` record to store at start;
        ``stage``: a chain stage's values (stagevalues.py)."""
        attempt = claims_of(task)
        session_id, resume, notes = self._session(task)
        log_path = private_dir(self.ws.sessions_dir) / f"{task.id}.{attempt}.{self.ext}"
        prompt = self.task_prompt(task, instance_id, stage)
        env = self.task_env(task, instance_id)
        run = self._run(prompt, env, log_path, session_id, resume, notes, _capped(self.ws, task))
        started = {
            "log": str(log_path),
            "session_id": session_id,
            "cost_usd": None,
            "num_turns": None,
            "duration_ms": None,
            "exit_code": None,
        }
        return run, started

    def task_prompt(
        self, task: Task, instance_id: str, stage: Mapping[str, Any] | None = None
    ) -> str:
        """The task's prompt: ``worker.md``; for a chain's plan ``leader-decompose.md``, for
        its other stages the stage's template with ``stage``'s values."""
        if not self.ws.agent.preset.templated:
            return task.description or task.title
        values = {**self.identity(instance_id), **_task_values(task)}
        template = self.stage_templates.get(task.link or "")
        if stage is not None and template is not None:
            return template.render({**values, **stage})
        if task.link == PLAN and task.chain_id is not None:
            limit = self.ws.pipeline.max_items
            plan = {"chain_id": task.chain_id, "goal": task.description, "max_items": limit}
            return self.plan_template.render({**values, **plan})
        return self.task_template.render(values)

    def task_env(self, task: Task, instance_id: str) -> dict[str, str]:
        """The agent's environment, with the stage of a chain's task (CO_CHAIN_ID, …)."""
        env = agent_environment(self.environ, self.ws, instance_id, task.id)
        env.update(stage_env(task))
        return env

    def for_repair(
        self, task: Task, instance_id: str, previous: SessionResult, prompt: str, n: int
    ) -> AgentRun:
        """A run that sends ``prompt`` into the session of ``previous`` (resumed); an agent
        that cannot resume gets a new session with the task's prompt and this one."""
        log_path = previous.log_path.with_name(f"{previous.log_path.stem}.repair{n}.{self.ext}")
        env = self.task_env(task, instance_id)
        session = previous.outcome.session_id or previous.session_id
        if self.ws.agent.preset.resume_args and session and is_session_id(session):
            return self._run(prompt, env, log_path, session, True, ())
        whole = f"{self.task_prompt(task, instance_id)}\n\n{prompt}"
        fresh = str(uuid.uuid4()) if self.ws.agent.preset.session_args else None
        return self._run(whole, env, log_path, fresh, False, ())

    def _session(self, task: Task) -> tuple[str | None, bool, tuple[str, ...]]:
        """(session id, resume?, notes for the log): a retried task resumes its agent session
        when the agent can resume and the stored id is UUID-shaped (it may come from the
        agent's own output); any other id is never passed on: a new session starts."""
        preset = self.ws.agent.preset
        new = str(uuid.uuid4()) if preset.session_args else None
        session = task.session or {}
        previous = session.get("session_id")
        if not previous or not preset.resume_args:
            return new, False, ()
        if not is_session_id(previous):  # checked first: it may be an option in disguise
            shown = str(previous)[:80]
            note = f"session id {shown!r} is not a UUID: not resumed, a new session starts"
            log.warning("%s: %s", task.id, note)
            return new, False, (note,)
        if not session_started(session.get("log"), self.ext == "jsonl"):
            note = f"session {previous} never started: not resumed, a new one starts"
            log.info("%s: %s", task.id, note)
            return new, False, (note,)
        return str(previous), True, ()

    def for_message(self, msg: dict[str, Any], instance_id: str) -> AgentRun:
        name = f"message-{instance_id}-{msg['id']}.{self.ext}"
        log_path = private_dir(self.ws.sessions_dir) / name
        values = {**self.identity(instance_id), **message_values(msg)}
        prompt = self.message_template.render(values)
        if not self.ws.agent.preset.templated:
            prompt = str(msg.get("body") or "")
        env = agent_environment(self.environ, self.ws, instance_id, None)
        session_id = str(uuid.uuid4()) if self.ws.agent.preset.session_args else None
        return self._run(prompt, env, log_path, session_id, False, ())

    def _run(
        self,
        prompt: str,
        env: Mapping[str, str],
        log_path: Path,
        session_id: str | None,
        resume: bool,
        notes: tuple[str, ...],
        agent: AgentSpec | None = None,
    ) -> AgentRun:
        ws = self.ws
        return AgentRun(
            agent or ws.agent,
            prompt,
            ws.work_dir,
            env,
            log_path,
            session_id,
            resume,
            ws.name,
            notes=notes,
            on_exit=self.on_exit,
        )


def _capped(ws: WorkerSettings, task: Task) -> AgentSpec | None:
    """The agent told the task's ``budget_usd`` (``--max-budget-usd=X``), where it can be."""
    budget = (task.extra or {}).get("budget_usd")
    flag = ws.agent.preset.budget_flag
    if not flag or not isinstance(budget, (int, float)) or budget <= 0:
        return None
    return replace(ws.agent, args=(*ws.agent.args, f"{flag}={float(budget):g}"))


def session_started(log_path: Any, stream_json: bool) -> bool:
    """Whether the previous run's log shows its agent ran: a stream-json event (they all
    carry the session id) or, for a text agent, any output of its own. A run whose agent
    could not be executed, or printed nothing, left only our own ``#`` lines; a log that is
    gone proves nothing, so neither is resumed."""
    if not isinstance(log_path, str):
        return False
    try:
        with open(log_path, "rb") as f:
            for line in f:
                if line.startswith(b"# claude-orchestrator ") or not line.strip():
                    continue
                if not stream_json or (line.startswith(b"{") and b'"session_id"' in line):
                    return True
    except OSError:
        return False
    return False


def claims_of(task: Task) -> int:
    """Which attempt this is: how many times the task has been claimed, this one included."""
    return max(1, sum(1 for h in task.history if h.to is TaskStatus.CLAIMED))


def message_values(msg: Mapping[str, Any]) -> dict[str, Any]:
    """A message's placeholders: the seed's field names (``content``, ``from_name``, ...)
    and the earlier names, which stay as aliases (``body``, ``sender``, ...)."""
    content = msg.get("content")
    content = msg.get("body") if content is None else content
    return {
        "content": content,
        "from_name": msg.get("from_name") or msg.get("from"),
        "from_role": msg.get("from_role"),
        "from_instance": msg.get("from_instance"),
        "type": msg.get("type"),
        "created_at": msg.get("created_at") or msg.get("sent_at"),
        "body": content,
        "sender": msg.get("from"),
        "message_type": msg.get("type"),
        "message_id": msg.get("id"),
    }


def _stage_template(ws: WorkerSettings, stage: str) -> Template:
    """A stage's template: ``[pipeline.stage.X] template`` (the project's own file), else
    the shipped ``worker-X.md``; a stage of the team's own takes build's or verify's."""
    shipped = f"worker-{stage}.md"
    if shipped not in STAGE_TEMPLATES:
        shipped = "worker-build.md" if stage == ws.pipeline.stages[0] else "worker-verify.md"
    custom = ws.pipeline.stage_templates.get(stage)
    if custom:
        return load_template(custom, ws.project_dir, like=shipped)
    return load_template(shipped, ws.project_dir)


def stage_env(task: Task) -> dict[str, str]:
    """A chain stage's place, for its agent and any tool it runs."""
    extra = task.extra or {}
    values = {
        "CO_CHAIN_ID": task.chain_id,
        "CO_LINK": task.link,
        "CO_ITEM": extra.get("item"),
        "CO_ROUND": extra.get("round"),
    }
    return {name: str(value) for name, value in values.items() if value is not None}


def _task_values(task: Task) -> dict[str, Any]:
    retries = task.retry_count
    note = (
        ""
        if not retries
        else (
            f"This is retry {retries} of {task.max_retries}. "
            f"Last reason: {task.reason or 'unknown'}."
        )
    )
    return {
        "task_id": task.id,
        "title": task.title,
        "description": task.description or "",
        "priority": task.priority,
        "attempt": claims_of(task),
        "retry_note": note,
    }
