"""team.toml: the declarative description of a team (DESIGN §7), loaded strictly.

``load_team`` turns a file into a frozen ``TeamConfig``: tomllib parses, ``Section`` converts and
checks every key, and the result is plain data. Anything wrong — a syntax error, an unknown key,
a value of the wrong type or outside its choices, a duplicate worker, a missing directory — is a
ConfigError that names the file, the line and the key. ``[pipeline]`` (how chains run) is read
by conf/pipeline.py into ``TeamConfig.pipeline``.

Hosts (docs/hosts.md): a worker runs on the host its ``host`` names, else on ``[team]
default_host``; in a team that names no host at all it runs wherever ``up`` runs. A worker placed
on a host may have a work dir that exists only there, so its own ``work_dir`` is checked by
``TeamConfig.on_host``, when the supervisor of that host takes its share, instead of at load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from claude_orchestrator.conf.gitconf import DEFAULT_GIT, GitConfig, read_git
from claude_orchestrator.conf.hooks import NO_HOOK_CONFIG, HookConfig, read_hooks
from claude_orchestrator.conf.layout import state_dir_of
from claude_orchestrator.conf.names import NAME_RULE, is_valid_name, shown
from claude_orchestrator.conf.pipeline import DEFAULT_PIPELINE, PipelineConfig, read_pipeline
from claude_orchestrator.conf.textfile import read_text
from claude_orchestrator.errors import ConfigError

if TYPE_CHECKING:  # the parsing machinery loads only when a file is read
    from claude_orchestrator.conf.schema import Section, Source


class RestartMode(StrEnum):
    """A worker's ``restart`` (team.toml): whether the supervisor starts it again after it
    exits on its own. The values are the team file's strings; the supervisor's restart policy
    (supervisor/policy.py) decides with them."""

    ALWAYS = "always"
    ON_FAILURE = "on-failure"  # not after a clean exit (0)
    NEVER = "never"


PRESET_NAMES = ("claude", "codex", "gemini", "aider", "shell")
DEFAULT_TEAM_NAME = "default"
DEFAULT_AGENT = "claude"
DEFAULT_ROLE = "worker"
DEFAULT_RESTART = RestartMode.ON_FAILURE
#: the name the leading supervisor registers for its inbox (``[team] leader``)
DEFAULT_LEADER = "leader"

TOP_KEYS = ("team", "agents", "worker", "pipeline", "git", "hooks")
TEAM_KEYS = (
    "name",
    "zookeeper",
    "auth",
    "work_dir",
    "agent",
    "zookeeper_heap",
    "insecure",
    "max_task_bytes",
    "default_host",
    "leader",
    "isolation",
    "budget_usd",
)
AGENT_KEYS = ("command", "args", "timeout", "idle_timeout", "env")
WORKER_KEYS = (
    "name",
    "role",
    "work_dir",
    "agent",
    "restart",
    "env",
    "replicas",
    "host",
    "budget_usd",
)

_AUTH_FORM = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
# The embedded server's JVM heap (-Xmx): see docs/supervisor.md for how it relates to the quotas.
DEFAULT_ZOOKEEPER_HEAP = "512m"
# The total of stored task records a team may hold (zk/quota.py): an eighth of the default heap.
DEFAULT_MAX_TASK_BYTES = 64 * 1024 * 1024
MIN_MAX_TASK_BYTES = 1024 * 1024
_HEAP_FORM = re.compile(r"([1-9][0-9]{0,5})([mg])", re.IGNORECASE)
_HEAP_MIB = (128, 64 * 1024)
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)$")
_EMPTY_ENV: Mapping[str, str] = MappingProxyType({})
_NONE_UNCHECKED: Mapping[str, str] = MappingProxyType({})


class AgentConfig(NamedTuple):
    """An ``[agents.NAME]`` table: how to run one agent CLI. None means "the preset's own"."""

    name: str
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] = ()
    timeout: float | None = None
    idle_timeout: float | None = None
    env: Mapping[str, str] = _EMPTY_ENV


class WorkerSpec(NamedTuple):
    """One worker process the supervisor keeps running (after ``replicas`` expansion)."""

    name: str
    role: str
    work_dir: Path
    agent: str
    restart: RestartMode = DEFAULT_RESTART
    env: Mapping[str, str] = _EMPTY_ENV
    #: the host whose supervisor runs it: its own ``host``, else ``[team] default_host``;
    #: None in a team that names no host: it runs wherever ``up`` runs
    host: str | None = None
    budget_usd: float | None = None  # past it, the worker claims nothing (docs/governor.md)


class TeamConfig(NamedTuple):
    """A whole team file. ``path`` is None when the team comes from defaults."""

    path: Path | None
    root: Path
    name: str
    zookeeper: str | None
    auth: str | None
    work_dir: Path
    agent: str
    agents: Mapping[str, AgentConfig]
    workers: tuple[WorkerSpec, ...]
    zookeeper_heap: str = DEFAULT_ZOOKEEPER_HEAP
    #: true: agents that run task text may work against an unauthenticated ZooKeeper, and the
    #: embedded server gets no generated credential (DESIGN §3.9's explicit opt-out)
    insecure: bool = False
    max_task_bytes: int = DEFAULT_MAX_TASK_BYTES
    #: ``[team] default_host``: where the workers without their own ``host`` run
    default_host: str | None = None
    #: worker name -> where its own ``work_dir`` is given (``<file>:<line>: <key>``), for the
    #: workers placed on a host: their work dir is checked by ``on_host``, not at load
    unchecked_work_dirs: Mapping[str, str] = _NONE_UNCHECKED
    #: ``[pipeline]``: how chains run (conf/pipeline.py); the defaults without the section
    pipeline: PipelineConfig = DEFAULT_PIPELINE
    #: ``[team] leader``: the name the leading supervisor registers for its inbox
    leader: str = DEFAULT_LEADER
    git: GitConfig = DEFAULT_GIT  # [team] isolation and [git] (conf/gitconf.py)
    budget_usd: float | None = None  # the team's spend past which nothing is claimed
    hooks: HookConfig = NO_HOOK_CONFIG  # [hooks]: event -> argv, and their timeout

    @property
    def state_dir(self) -> Path:
        return state_dir_of(self.root)

    @property
    def repo_dir(self) -> Path:
        """``[git] repo``, else the team file's directory (worktree isolation's repository)."""
        return self.git.repo or self.root

    def on_host(self, host: str) -> TeamConfig:
        """The team as the supervisor of ``host`` runs it: only the workers placed on
        ``host``, and those placed nowhere (a team that names no host keeps them all).
        Their work dirs must exist here: ConfigError naming the file, the line, the key
        and the worker otherwise."""
        workers = tuple(spec for spec in self.workers if spec.host in (None, host))
        for spec in workers:
            _check_placed_work_dir(spec, self.unchecked_work_dirs.get(spec.name))
        return self._replace(workers=workers, unchecked_work_dirs=_NONE_UNCHECKED)

    def find_worker(self, name: str) -> WorkerSpec | None:
        return next((spec for spec in self.workers if spec.name == name), None)

    def worker(self, name: str) -> WorkerSpec:
        """The worker ``name``; ConfigError naming the known ones when there is none."""
        if (spec := self.find_worker(name)) is not None:
            return spec
        known = ", ".join(spec.name for spec in self.workers) or "none"
        raise ConfigError(f"no worker named {name!r} in team {self.name!r} (known: {known})")


def _check_placed_work_dir(spec: WorkerSpec, where: str | None) -> None:
    """The work dir of a worker placed on this host, given at ``where`` and not checked at
    load (None: it was)."""
    problem = None if where is None else _directory_problem(spec.work_dir)
    if problem is not None:
        raise ConfigError(f"{where}: {problem} (worker {spec.name!r}, host {spec.host!r})")


def team_from_defaults(root: Path) -> TeamConfig:
    """The team used when there is no team file: named "default", rooted at ``root``."""
    resolved = root.resolve()
    return TeamConfig(
        path=None,
        root=resolved,
        name=DEFAULT_TEAM_NAME,
        zookeeper=None,
        auth=None,
        work_dir=resolved,
        agent=DEFAULT_AGENT,
        agents=MappingProxyType({}),
        workers=(),
    )


def load_team(path: Path) -> TeamConfig:
    """Read and validate a team file; raise ConfigError naming file, line and key."""
    from claude_orchestrator.conf.locate import Locator
    from claude_orchestrator.conf.schema import Source

    text = _read_text(path)
    source = Source(str(path), Locator(text))
    data = _parse_toml(source, text)
    return _build_team(source, path.resolve(), data)


def _read_text(path: Path) -> str:
    return read_text(path, "team file")


def _parse_toml(source: Source, text: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line = _split_toml_error(str(exc), text)
        raise ConfigError(f"{source.name}:{line}: invalid TOML: {message}") from None


def _split_toml_error(message: str, text: str) -> tuple[str, int]:
    """tomllib's message without its position suffix, and the line it reports."""
    if match := _TOML_POSITION.search(message):
        return message[: match.start()], int(match.group(1))
    if match := _TOML_AT_END.search(message):
        return message[: match.start()], max(1, len(text.splitlines()))
    return message, 1


def _build_team(source: Source, path: Path, data: Mapping[str, Any]) -> TeamConfig:
    from claude_orchestrator.conf.schema import Section

    top = Section(source, (), data, TOP_KEYS)
    team = top.table("team", TEAM_KEYS)
    root = path.parent
    agents = _read_agents(top)
    defaults = _WorkerDefaults(
        root=root,
        work_dir=_directory(team, "work_dir", root, default=root),
        agent=_agent_name(team, agents, default=DEFAULT_AGENT),
        host=_host(team, "default_host"),
    )
    workers = _read_workers(top, agents, defaults)
    pipeline = read_pipeline(top, _known_agents(agents))
    return TeamConfig(
        path=path,
        root=root,
        name=team.name("name", DEFAULT_TEAM_NAME),
        zookeeper=team.optional_string("zookeeper"),
        auth=_auth_reference(team),
        work_dir=defaults.work_dir,
        agent=defaults.agent,
        agents=agents,
        workers=workers.specs,
        zookeeper_heap=_zookeeper_heap(team),
        insecure=team.boolean("insecure", default=False),
        max_task_bytes=team.integer(
            "max_task_bytes", default=DEFAULT_MAX_TASK_BYTES, minimum=MIN_MAX_TASK_BYTES
        ),
        default_host=defaults.host,
        unchecked_work_dirs=workers.unchecked_work_dirs,
        pipeline=pipeline,
        leader=team.name("leader", DEFAULT_LEADER),
        git=read_git(top, team, root),
        budget_usd=team.positive_number("budget_usd"),
        hooks=read_hooks(top),
    )


def _auth_reference(team: Section) -> str | None:
    """``auth`` must name an environment variable; the secret itself never sits in the file."""
    value = team.optional_string("auth")
    if value is not None and not _AUTH_FORM.fullmatch(value):
        # The value is not echoed: it may well be the password someone pasted in.
        raise team.error("auth", "expected 'env:VARNAME' naming the variable holding user:password")
    return value


def _zookeeper_heap(team: Section) -> str:
    """``zookeeper_heap``: a JVM heap size such as "512m" or "2g", 128m to 64g."""
    value = team.string("zookeeper_heap", DEFAULT_ZOOKEEPER_HEAP)
    match = _HEAP_FORM.fullmatch(value)
    if match is None:
        raise team.error("zookeeper_heap", f"expected a size such as '512m' or '2g', got {value!r}")
    mib = int(match.group(1)) * (1024 if match.group(2).lower() == "g" else 1)
    if not _HEAP_MIB[0] <= mib <= _HEAP_MIB[1]:
        raise team.error("zookeeper_heap", f"must be between 128m and 64g, got {value!r}")
    return value.lower()


def _read_agents(top: Section) -> Mapping[str, AgentConfig]:
    tables = top.tables("agents", AGENT_KEYS)
    return MappingProxyType({name: _read_agent(name, table) for name, table in tables.items()})


def _read_agent(name: str, table: Section) -> AgentConfig:
    command = table.command("command")
    if command is None and name not in PRESET_NAMES:
        presets = ", ".join(PRESET_NAMES)
        raise table.error("command", f"required for an agent that is not a preset ({presets})")
    return AgentConfig(
        name=name,
        command=command,
        args=table.strings("args"),
        timeout=table.duration("timeout"),
        idle_timeout=table.duration("idle_timeout"),
        env=table.str_map("env"),
    )


def _agent_name(table: Section, agents: Mapping[str, AgentConfig], default: str) -> str:
    name = table.string("agent", default)
    known = _known_agents(agents)
    if name not in known:
        raise table.error("agent", f"{name!r} is not one of {', '.join(known)}")
    return name


def _known_agents(agents: Mapping[str, AgentConfig]) -> list[str]:
    """The agent names a worker or a pipeline stage may use: the presets and the file's."""
    return sorted({*PRESET_NAMES, *agents})


def _host(table: Section, key: str) -> str | None:
    """A host name (``host``, ``default_host``): what a supervisor's ``--host`` / ``CO_HOST``
    says, so the rule for names (it becomes a ZooKeeper node name)."""
    value = table.optional_string(key)
    if value is not None and not is_valid_name(value):
        raise table.error(key, f"{shown(value)} is not a valid host name: {NAME_RULE}")
    return value


def _directory(table: Section, key: str, root: Path, default: Path, check: bool = True) -> Path:
    """A directory given relative to the team file's directory; it must exist (unless not
    ``check``: a worker placed on a host, whose work dir ``TeamConfig.on_host`` checks)."""
    value = table.optional_string(key)
    if value is None:
        return default
    resolved = (root / Path(value).expanduser()).resolve()
    problem = _directory_problem(resolved) if check else None
    if problem is not None:
        raise table.error(key, problem)
    return resolved


def _directory_problem(path: Path) -> str | None:
    if not path.exists():
        return f"directory '{path}' does not exist"
    if not path.is_dir():
        return f"'{path}' is not a directory"
    return None


class _WorkerDefaults(NamedTuple):
    root: Path
    work_dir: Path
    agent: str
    host: str | None  # [team] default_host


class _Workers(NamedTuple):
    specs: tuple[WorkerSpec, ...]
    unchecked_work_dirs: Mapping[str, str]  # see TeamConfig


def _read_workers(
    top: Section, agents: Mapping[str, AgentConfig], defaults: _WorkerDefaults
) -> _Workers:
    tables = top.array_of_tables("worker", WORKER_KEYS)
    _refuse_unplaced(tables, defaults.host)
    specs: list[WorkerSpec] = []
    unchecked: dict[str, str] = {}
    defined_by: dict[str, Section] = {}
    for table in tables:
        for spec in _expand_worker(table, agents, defaults):
            _refuse_duplicate(table, spec.name, defined_by)
            specs.append(spec)
            if spec.host is not None and "work_dir" in table.data:
                unchecked[spec.name] = table.where("work_dir")
    return _Workers(tuple(specs), MappingProxyType(unchecked))


def _refuse_unplaced(tables: list[Section], default_host: str | None) -> None:
    """Once a worker names a host, every worker needs one, its own or ``default_host``: a
    worker placed nowhere would run on every host that runs ``up``."""
    placed = [table for table in tables if "host" in table.data]
    if not placed or default_host is not None:
        return
    for table in tables:
        if "host" not in table.data:
            example = placed[0]
            raise table.error(
                "host",
                f"worker {table.name('name')!r} has no host and [team] default_host is not "
                f"set; it would run on every host: give it a host, or set default_host "
                f"(worker {example.name('name')!r} runs on {_host(example, 'host')!r})",
            )


def _refuse_duplicate(table: Section, name: str, defined_by: dict[str, Section]) -> None:
    first = defined_by.setdefault(name, table)
    if first is not table:
        line = first.source.locator.line_of((*first.path, "name"))
        raise table.error("name", f"duplicate worker name {name!r} (first defined at line {line})")


def _expand_worker(
    table: Section, agents: Mapping[str, AgentConfig], defaults: _WorkerDefaults
) -> list[WorkerSpec]:
    """One WorkerSpec, or ``replicas`` of them named NAME-1..NAME-N (on the same host)."""
    name = table.name("name")
    host = _host(table, "host") or defaults.host
    spec = WorkerSpec(
        name=name,
        role=table.name("role", DEFAULT_ROLE),
        work_dir=_directory(table, "work_dir", defaults.root, defaults.work_dir, host is None),
        agent=_agent_name(table, agents, default=defaults.agent),
        restart=RestartMode(table.choice("restart", tuple(RestartMode), DEFAULT_RESTART)),
        env=table.str_map("env"),
        host=host,
        budget_usd=table.positive_number("budget_usd"),
    )
    replicas = table.integer("replicas", default=1, minimum=1)
    if replicas == 1:
        return [spec]
    return [_replica(table, spec, index) for index in range(1, replicas + 1)]


def _replica(table: Section, spec: WorkerSpec, index: int) -> WorkerSpec:
    name = f"{spec.name}-{index}"
    if not is_valid_name(name):
        raise table.error("replicas", f"replica name {name!r} is not a valid name: {NAME_RULE}")
    return spec._replace(name=name)
