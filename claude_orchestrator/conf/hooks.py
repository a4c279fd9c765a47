"""team.toml's ``[hooks]`` (issue 13 §4; docs/governor.md): for each event, the argv of a
program to run (an array of strings, or one string split like a shell would — no shell runs
it), and ``timeout`` (default 10s). Unknown events are refused with the closest valid one."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from claude_orchestrator.conf.schema import Section

HOOK_EVENTS = (
    "on_task_completed",
    "on_task_failed",
    "on_chain_done",
    "on_needs_human",
    "on_worker_fatal",
    "on_pause",
)
DEFAULT_HOOK_TIMEOUT = 10.0


class HookConfig(NamedTuple):
    commands: Mapping[str, tuple[str, ...]] = MappingProxyType({})  # event -> argv
    timeout: float = DEFAULT_HOOK_TIMEOUT  # then the hook's process group is killed


NO_HOOK_CONFIG = HookConfig()


def read_hooks(top: Section) -> HookConfig:
    table = top.table("hooks", (*HOOK_EVENTS, "timeout"))
    found = {}
    for event in HOOK_EVENTS:
        argv = table.command(event)
        if argv is not None:
            found[event] = argv
    timeout = table.duration("timeout") or DEFAULT_HOOK_TIMEOUT
    return HookConfig(MappingProxyType(found), timeout) if found else NO_HOOK_CONFIG
