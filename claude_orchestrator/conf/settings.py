"""The effective settings of one command: every precedence rule lives here and only here.

Order, for every setting: command-line flag > environment variable > file > default. Empty
environment variables count as unset. Each ``_resolve_*`` function lists its sources in that
order, labelled, so an error can say where the bad value came from (``--team``, ``CO_TEAM``,
the team file, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from claude_orchestrator.conf.credentials import read_team_credential
from claude_orchestrator.conf.duration import parse_duration
from claude_orchestrator.conf.hosts import check_hosts
from claude_orchestrator.conf.layout import global_config_path, project_config_path
from claude_orchestrator.conf.names import NAME_RULE, is_valid_name
from claude_orchestrator.conf.serverproof import verified_server
from claude_orchestrator.conf.team import TeamConfig, load_team, team_from_defaults
from claude_orchestrator.conf.userconfig import read_config
from claude_orchestrator.errors import ConfigError

DEFAULT_ZK_HOSTS = "127.0.0.1:2181"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_SESSION_TIMEOUT = 10.0
TEAM_FILE_NAME = "team.toml"

DEFAULT_STUCK_AFTER = 90.0


class Settings(NamedTuple):
    """Everything a command needs to know before it talks to ZooKeeper."""

    zk_hosts: str
    team: str
    team_file: Path | None
    team_config: TeamConfig
    instance_id: str | None
    auth: str | None  # "user:password"; never print it, use as_dict() instead
    connect_timeout: float
    session_timeout: float
    state_dir: Path
    json_output: bool | None  # None: the command's own default
    #: no ZooKeeper named by flag, environment or file: the team's embedded server
    embedded: bool = False
    #: set when ``auth`` is an agent's scoped credential: the digest id of the team identity
    team_id: str | None = None
    #: the embedded server's run file names our live server (only looked at when embedded)
    embedded_running: bool = False
    #: where each of as_dict()'s values came from: a flag, a variable, a file or "default"
    sources: Mapping[str, str] = MappingProxyType({})
    #: ``CO_STUCK_AFTER``: a worker whose loop has not beaten for this long is restarted
    stuck_after: float = DEFAULT_STUCK_AFTER
    #: ``--host`` / ``CO_HOST``: which host this process is, for the team (default: the
    #: machine's hostname); two supervisors on one machine can play two hosts (docs/hosts.md)
    host: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for ``config``, with the password masked."""
        return {
            "zookeeper": self.zk_hosts,
            "team": self.team,
            "team_file": str(self.team_file) if self.team_file else None,
            "instance_id": self.instance_id,
            "auth": _mask_auth(self.auth),
            "auth_scope": None if self.auth is None else ("agent" if self.team_id else "team"),
            "connect_timeout": self.connect_timeout,
            "session_timeout": self.session_timeout,
            "state_dir": str(self.state_dir),
            "host": self.host,
            "sources": dict(self.sources),
        }


def resolve_settings(
    flags: Mapping[str, Any], env: Mapping[str, str], cwd: Path, home: Path
) -> Settings:
    """Combine flags (None = not given), environment, files and defaults into Settings."""
    env = {name: value for name, value in env.items() if value != ""}
    src: dict[str, str] = {}  # each resolver records the source it took its value from
    team_file = _resolve_team_file(flags, env, cwd, src)
    team_config = load_team(team_file) if team_file else team_from_defaults(cwd)
    team = _resolve_team(flags, env, team_config, src)
    embedded = _is_embedded(flags, env, team_config)
    server = verified_server(team_config.state_dir) if embedded else None
    auth, team_id = _resolve_auth(env, team_config, server is not None, src)
    src["state_dir"] = "next to the team file" if team_file else "the current directory"
    src["session_timeout"] = "CO_SESSION_TIMEOUT" if "CO_SESSION_TIMEOUT" in env else "default"
    return Settings(
        zk_hosts=_resolve_zk_hosts(flags, env, team_config, server, src),
        team=team,
        team_file=team_file,
        team_config=team_config,
        instance_id=_resolve_instance_id(flags, env, team_config.state_dir, home, team, src),
        auth=auth,
        connect_timeout=_resolve_connect_timeout(flags, env, src),
        session_timeout=_env_duration(env, "CO_SESSION_TIMEOUT", DEFAULT_SESSION_TIMEOUT),
        state_dir=team_config.state_dir,
        json_output=_resolve_json(flags),
        embedded=embedded,
        team_id=team_id,
        embedded_running=server is not None,
        sources=src,
        stuck_after=_env_duration(env, "CO_STUCK_AFTER", DEFAULT_STUCK_AFTER),
        host=_resolve_host(flags, env, src),
    )


def _first(*candidates: tuple[str, Any]) -> tuple[str, Any] | None:
    """The first (source label, value) whose value is given, in precedence order."""
    for label, value in candidates:
        if value is not None:
            return label, value
    return None


def _text(label: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label}: expected a non-empty string")
    return value.strip()


def _resolve_team_file(
    flags: Mapping[str, Any], env: Mapping[str, str], cwd: Path, src: dict[str, str]
) -> Path | None:
    given = _first(("--file", flags.get("file")), ("CO_TEAM_FILE", env.get("CO_TEAM_FILE")))
    if given is None:
        default = cwd / TEAM_FILE_NAME
        src["team_file"] = f"default (./{TEAM_FILE_NAME})" if default.is_file() else "none"
        return default.resolve() if default.is_file() else None
    label, value = given
    src["team_file"] = label
    path = (cwd / Path(_text(label, str(value))).expanduser()).resolve()
    if not path.exists():
        raise ConfigError(f"{label}: team file '{path}' does not exist")
    return path


def _resolve_team(
    flags: Mapping[str, Any], env: Mapping[str, str], config: TeamConfig, src: dict[str, str]
) -> str:
    label, value = _first(
        ("--team", flags.get("team")), ("CO_TEAM", env.get("CO_TEAM")), ("team file", config.name)
    ) or ("default", "default")
    src["team"] = label if config.path is not None or label != "team file" else "default"
    return _checked_name(label, value)


def _resolve_host(flags: Mapping[str, Any], env: Mapping[str, str], src: dict[str, str]) -> str:
    given = _first(("--host", flags.get("host")), ("CO_HOST", env.get("CO_HOST")))
    if given is None:
        import socket

        src["host"] = "the machine's hostname"
        return socket.gethostname()
    src["host"] = given[0]
    return _checked_name(*given)


def _checked_name(label: str, value: Any) -> str:
    name = _text(label, value)
    if not is_valid_name(name):
        raise ConfigError(f"{label}: {name!r} is not a valid name: {NAME_RULE}")
    return name


def _is_embedded(flags: Mapping[str, Any], env: Mapping[str, str], config: TeamConfig) -> bool:
    return flags.get("zookeeper") is None and "ZK_HOSTS" not in env and config.zookeeper is None


def _resolve_zk_hosts(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    config: TeamConfig,
    server: Mapping[str, Any] | None,
    src: dict[str, str],
) -> str:
    label, value = _first(
        ("--zookeeper", flags.get("zookeeper")),
        ("ZK_HOSTS", env.get("ZK_HOSTS")),
        ("team file", config.zookeeper),
        # only a run file whose server proves to be ours (conf/serverproof.py)
        ("embedded server", server.get("hosts") if server else None),
    ) or ("default", DEFAULT_ZK_HOSTS)
    src["zookeeper"] = label
    return check_hosts(label, _text(label, value))


def _resolve_instance_id(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    state_dir: Path,
    home: Path,
    team: str,
    src: dict[str, str],
) -> str | None:
    config_files = (project_config_path(state_dir), global_config_path(home))
    # Config files are read only when no flag or variable decides, so a broken one cannot
    # block a command that names its identity explicitly.
    given = _first(
        ("--instance-id", flags.get("instance_id")),
        ("CO_INSTANCE_ID", env.get("CO_INSTANCE_ID")),
    ) or _first(*_config_instance_ids(config_files, team))
    src["instance_id"] = "none (the operator)" if given is None else given[0]
    return None if given is None else _checked_name(*given)


def _config_instance_ids(paths: tuple[Path, ...], team: str) -> list[tuple[str, Any]]:
    """(file, instance_id) for each config file that holds an identity for ``team``."""
    found: list[tuple[str, Any]] = []
    for path in paths:
        data = read_config(path)
        if data.get("team") in (None, team):
            found.append((f"{path}: instance_id", data.get("instance_id")))
    return found


def _resolve_auth(
    env: Mapping[str, str], config: TeamConfig, embedded_up: bool, src: dict[str, str]
) -> tuple[str | None, str | None]:
    """(credential, team digest id if the credential is an agent's).

    The team credential from the environment (the variable the team file names, else
    CO_ZK_AUTH), else an agent's scoped CO_AGENT_AUTH, else the embedded server's generated
    file (only while that server proves to be ours: the client sends the credential).
    """
    named = config.auth.removeprefix("env:") if config.auth is not None else None
    variable = named or "CO_ZK_AUTH"  # a variable the team file names is the only one
    if variable in env:
        src["auth"] = variable
        return _checked_auth(variable, env[variable]), None
    if "CO_AGENT_AUTH" in env:
        src["auth"] = "CO_AGENT_AUTH"
        return _agent_auth(env)
    if named is not None:
        raise ConfigError(f"{config.path}: auth: environment variable {named} is not set")
    if embedded_up and not config.insecure:
        src["auth"] = "the embedded server's credential file"
        return read_team_credential(config.state_dir), None
    src["auth"] = "none"
    return None, None


def _agent_auth(env: Mapping[str, str]) -> tuple[str, str]:
    credential = _checked_auth("CO_AGENT_AUTH", env["CO_AGENT_AUTH"])
    team_id = env.get("CO_TEAM_DIGEST")
    if team_id is None:
        raise ConfigError("CO_AGENT_AUTH is set but CO_TEAM_DIGEST (the team's digest id) is not")
    return credential, _checked_auth("CO_TEAM_DIGEST", team_id)


def _checked_auth(label: str, value: str) -> str:
    """Refuse anything but ``user:password``, without ever echoing the value."""
    user, colon, password = value.partition(":")
    if not (user and colon and password):
        raise ConfigError(f"{label}: expected digest credentials of the form user:password")
    return value


def _mask_auth(auth: str | None) -> str | None:
    return None if auth is None else auth.partition(":")[0] + ":***"


def _resolve_connect_timeout(
    flags: Mapping[str, Any], env: Mapping[str, str], src: dict[str, str]
) -> float:
    given = _first(
        ("--connect-timeout", flags.get("connect_timeout")),
        ("CO_CONNECT_TIMEOUT", env.get("CO_CONNECT_TIMEOUT")),
    )
    src["connect_timeout"] = "default" if given is None else given[0]
    return DEFAULT_CONNECT_TIMEOUT if given is None else _timeout(*given)


def _env_duration(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    return default if value is None else _timeout(name, value)


def _timeout(label: str, value: Any) -> float:
    if not isinstance(value, str | int | float):
        raise ConfigError(f"{label}: expected a duration, got {type(value).__name__}")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{label}: must be longer than zero")
    return seconds


def _resolve_json(flags: Mapping[str, Any]) -> bool | None:
    value = flags.get("json")
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"--json: expected true or false, got {value!r}")
    return value
