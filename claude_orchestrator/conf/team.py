"""team.toml: the declarative description of a team (DESIGN §7), loaded strictly.

``load_team`` turns a file into a frozen ``TeamConfig``: tomllib parses, ``Section`` converts and
checks every key, and the result is plain data. Anything wrong — a syntax error, an unknown key,
a value of the wrong type or outside its choices, a duplicate worker, a missing directory — is a
ConfigError that names the file, the line and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from claude_orchestrator.conf.layout import state_dir_of
from claude_orchestrator.conf.names import NAME_RULE, is_valid_name
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

TOP_KEYS = ("team", "agents", "worker")
TEAM_KEYS = (
    "name",
    "zookeeper",
    "auth",
    "work_dir",
    "agent",
    "zookeeper_heap",
    "insecure",
    "max_task_bytes",
)
AGENT_KEYS = ("command", "args", "timeout", "idle_timeout", "env")
WORKER_KEYS = ("name", "role", "work_dir", "agent", "restart", "env", "replicas")

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

    @property
    def state_dir(self) -> Path:
        return state_dir_of(self.root)

    def find_worker(self, name: str) -> WorkerSpec | None:
        return next((spec for spec in self.workers if spec.name == name), None)

    def worker(self, name: str) -> WorkerSpec:
        """The worker ``name``; ConfigError naming the known ones when there is none."""
        if (spec := self.find_worker(name)) is not None:
            return spec
        known = ", ".join(spec.name for spec in self.workers) or "none"
        raise ConfigError(f"no worker named {name!r} in team {self.name!r} (known: {known})")


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
    )
    return TeamConfig(
        path=path,
        root=root,
        name=team.name("name", DEFAULT_TEAM_NAME),
        zookeeper=team.optional_string("zookeeper"),
        auth=_auth_reference(team),
        work_dir=defaults.work_dir,
        agent=defaults.agent,
        agents=agents,
        workers=_read_workers(top, agents, defaults),
        zookeeper_heap=_zookeeper_heap(team),
        insecure=team.boolean("insecure", default=False),
        max_task_bytes=team.integer(
            "max_task_bytes", default=DEFAULT_MAX_TASK_BYTES, minimum=MIN_MAX_TASK_BYTES
        ),
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
    known = sorted({*PRESET_NAMES, *agents})
    if name not in known:
        raise table.error("agent", f"{name!r} is not one of {', '.join(known)}")
    return name


def _directory(table: Section, key: str, root: Path, default: Path) -> Path:
    """A directory given relative to the team file's directory; it must exist."""
    value = table.optional_string(key)
    if value is None:
        return default
    resolved = (root / Path(value).expanduser()).resolve()
    if not resolved.exists():
        raise table.error(key, f"directory '{resolved}' does not exist")
    if not resolved.is_dir():
        raise table.error(key, f"'{resolved}' is not a directory")
    return resolved


class _WorkerDefaults(NamedTuple):
    root: Path
    work_dir: Path
    agent: str


def _read_workers(
    top: Section, agents: Mapping[str, AgentConfig], defaults: _WorkerDefaults
) -> tuple[WorkerSpec, ...]:
    specs: list[WorkerSpec] = []
    defined_by: dict[str, Section] = {}
    for table in top.array_of_tables("worker", WORKER_KEYS):
        for spec in _expand_worker(table, agents, defaults):
            _refuse_duplicate(table, spec.name, defined_by)
            specs.append(spec)
    return tuple(specs)


def _refuse_duplicate(table: Section, name: str, defined_by: dict[str, Section]) -> None:
    first = defined_by.setdefault(name, table)
    if first is not table:
        line = first.source.locator.line_of((*first.path, "name"))
        raise table.error("name", f"duplicate worker name {name!r} (first defined at line {line})")


def _expand_worker(
    table: Section, agents: Mapping[str, AgentConfig], defaults: _WorkerDefaults
) -> list[WorkerSpec]:
    """One WorkerSpec, or ``replicas`` of them named NAME-1..NAME-N."""
    spec = WorkerSpec(
        name=table.name("name"),
        role=table.name("role", DEFAULT_ROLE),
        work_dir=_directory(table, "work_dir", defaults.root, default=defaults.work_dir),
        agent=_agent_name(table, agents, default=defaults.agent),
        restart=RestartMode(table.choice("restart", tuple(RestartMode), DEFAULT_RESTART)),
        env=table.str_map("env"),
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
