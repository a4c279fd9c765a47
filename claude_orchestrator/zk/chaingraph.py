"""The plan graph of a chain (DESIGN §8): a planner's answer checked into a :class:`Graph`,
and a Graph expanded into the stage tasks of the chain's first round.

``validate_graph`` takes the answer already parsed from JSON and collects every error it
finds, each one short line naming its place (``items[2].depends_on: unknown key 'db' (keys:
api, ui)``); the lines are shown to users and sent back to the planner to repair its answer,
so their wording is an interface: keep it stable. ``stage_specs`` is the chain's shape:
per item the pipeline's stages in order, then one ``accept`` stage for the whole goal.

Pure functions, no ZooKeeper access here, so connection states do not apply.
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from claude_orchestrator.conf.names import is_valid_name, shown
from claude_orchestrator.errors import ConfigError, UsageError
from claude_orchestrator.jsonkind import json_kind
from claude_orchestrator.zk.codec import LIMITS

MAX_ITEMS = 30
TITLE_CHARS = 200
#: an item's description becomes its tasks' descriptions: the task record's limit
DESCRIPTION_BYTES = LIMITS["description"]
CRITERIA_MAX = 20
CRITERION_CHARS = 500
#: the whole answer, encoded as compact UTF-8 JSON
ANSWER_BYTES = 256 * 1024
#: errors listed at most; more are counted in one last line
MAX_ERRORS = 50
#: keys listed at most in an ``unknown key`` error
LISTED_KEYS = 30
ACCEPT = "accept"
GRAPH_FIELDS = ("title", "items")
ITEM_FIELDS = ("key", "title", "description", "criteria", "depends_on", "role")
KEY_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


class GraphError(UsageError):
    """A plan answer that is not a valid graph; ``errors`` lists every problem, one line each
    (at most MAX_ERRORS of them, then a line counting the rest); the message is the lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Item(NamedTuple):
    """One piece of work of a plan; ``depends_on`` names other items' keys."""

    key: str
    title: str
    description: str = ""
    criteria: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    role: str | None = None


class Graph(NamedTuple):
    """A valid plan: its items in a topological order (every item after the items it
    depends on), otherwise in the order the planner gave them."""

    title: str
    items: tuple[Item, ...]


class StageSpec(NamedTuple):
    """One stage task of a chain's round: ``depends_on`` holds indices into the list
    ``stage_specs`` returned (always earlier entries), for the caller to map to task ids
    or ``#N`` references."""

    link: str  # the stage's name, the task's ``link``
    item: str | None  # the item's key; None for accept
    title: str
    role: str | None
    depends_on: tuple[int, ...]


class _Errors:
    """The errors found so far, at most MAX_ERRORS kept; the rest only counted."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.more = 0

    def add(self, line: str) -> None:
        if len(self.lines) < MAX_ERRORS:
            self.lines.append(line)
        else:
            self.more += 1

    def raise_any(self) -> None:
        if self.more:
            self.lines.append(f"... {self.more} more errors not shown")
        if self.lines:
            raise GraphError(self.lines)


class _Keys(NamedTuple):
    """The keys the answer's items have: every string given, and the valid ones listed."""

    named: frozenset[str]
    listed: str


# -- validation ------------------------------------------------------------------------


def validate_graph(raw: object, max_items: int = MAX_ITEMS) -> Graph:
    """The plan graph ``raw`` (an answer parsed from JSON) holds, or GraphError listing every
    error found.

    ``{"title": str, "items": [{"key", "title", "description", "criteria", "depends_on",
    "role"}]}``: ``title``, ``items`` (1 to ``max_items``) and each item's ``key`` and
    ``title`` are required; an item's ``description`` (default empty), ``criteria`` (a
    list of non-empty strings; may be empty or left out), ``depends_on`` (other items'
    keys; repeats are dropped) and ``role`` (a role name) may be left out or null. Keys
    and roles follow the naming rule of conf/names.py. Titles are one line of at most
    TITLE_CHARS characters. In a cycle error ``a -> b`` reads "a depends on b".
    """
    if not isinstance(raw, dict):
        got = json_kind(raw)
        raise GraphError([f"answer: expected an object with 'title' and 'items', got {got}"])
    errors = _Errors()
    _check_encoded(raw, errors)
    _check_fields("answer", raw, GRAPH_FIELDS, errors)
    title = _title("title", raw, errors)
    items = _items(raw, max_items, errors)
    for cycle in _cycles(items):
        errors.add(f"items: a cycle: {' -> '.join(cycle)}")
    errors.raise_any()
    return Graph(title, _topological(items))


def _check_encoded(raw: dict[str, Any], errors: _Errors) -> None:
    try:
        size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError, RecursionError):  # a lone surrogate is a ValueError
        errors.add("answer: cannot be encoded as UTF-8 JSON")
        return
    if size > ANSWER_BYTES:
        errors.add(f"answer: {size:,} bytes when encoded; at most {ANSWER_BYTES:,}")


def _check_fields(place: str, obj: dict[str, Any], valid: Sequence[str], errors: _Errors) -> None:
    unknown = [shown(str(name)) for name in obj if name not in valid]
    if unknown:
        noun = "field" if len(unknown) == 1 else "fields"
        errors.add(f"{place}: unknown {noun} {', '.join(unknown)} (valid: {', '.join(valid)})")


def _title(place: str, obj: dict[str, Any], errors: _Errors) -> str:
    value = _required_str(place, obj, "title", errors)
    if value is None:
        return ""
    if not value.strip():
        errors.add(f"{place}: empty")
    elif len(value) > TITLE_CHARS:
        errors.add(f"{place}: {len(value):,} characters; at most {TITLE_CHARS}")
    elif "\n" in value or "\r" in value:
        errors.add(f"{place}: must be one line")
    return value


def _items(raw: dict[str, Any], max_items: int, errors: _Errors) -> list[Item]:
    """The items with a valid key, each key's first; every item's errors added."""
    given = _item_list(raw, max_items, errors)
    keys = _keys_of(given)
    items: list[Item] = []
    seen: set[str] = set()
    for n, obj in enumerate(given):
        item = _item(f"items[{n}]", obj, keys, errors)
        if item is None or not item.key:
            continue
        if item.key in seen:
            errors.add(f"items[{n}].key: duplicate key {shown(item.key)}")
            continue
        seen.add(item.key)
        items.append(item)
    return items


def _item_list(raw: dict[str, Any], max_items: int, errors: _Errors) -> list[Any]:
    if "items" not in raw:
        errors.add("items: missing")
        return []
    value = raw["items"]
    if not isinstance(value, list):
        errors.add(f"items: expected an array, got {json_kind(value)}")
        return []
    if not value:
        errors.add("items: empty; a plan needs at least one item")
    if len(value) > max_items:
        errors.add(f"items: {len(value)} items; at most {max_items}")
    return value


def _keys_of(given: list[Any]) -> _Keys:
    named = [
        obj["key"] for obj in given if isinstance(obj, dict) and isinstance(obj.get("key"), str)
    ]
    valid = [key for key in dict.fromkeys(named) if is_valid_name(key)]
    listed = ", ".join(valid[:LISTED_KEYS]) or "none"
    if len(valid) > LISTED_KEYS:
        listed += f", ... ({len(valid)} keys)"
    return _Keys(frozenset(named), listed)


def _item(place: str, obj: object, keys: _Keys, errors: _Errors) -> Item | None:
    """The item ``obj`` describes (key "" when its key is not valid), or None when it is
    not an object; its errors added."""
    if not isinstance(obj, dict):
        errors.add(f"{place}: expected an object, got {json_kind(obj)}")
        return None
    _check_fields(place, obj, ITEM_FIELDS, errors)
    key = _key(f"{place}.key", obj, errors)
    return Item(
        key=key or "",
        title=_title(f"{place}.title", obj, errors),
        description=_description(f"{place}.description", obj.get("description"), errors),
        criteria=_criteria(f"{place}.criteria", obj.get("criteria"), errors),
        depends_on=_depends_on(f"{place}.depends_on", obj, keys, errors),
        role=_role(f"{place}.role", obj.get("role"), errors),
    )


def _key(place: str, obj: dict[str, Any], errors: _Errors) -> str | None:
    value = _required_str(place, obj, "key", errors)
    if value is None:
        return None
    if not is_valid_name(value):
        errors.add(f"{place}: {shown(value)} is not a valid key ({KEY_RULE})")
        return None
    return value


def _description(place: str, value: object, errors: _Errors) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.add(f"{place}: expected a string, got {json_kind(value)}")
        return ""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > DESCRIPTION_BYTES:
        errors.add(f"{place}: {size:,} bytes; at most {DESCRIPTION_BYTES:,}")
    return value


def _criteria(place: str, value: object, errors: _Errors) -> tuple[str, ...]:
    if isinstance(value, list) and len(value) > CRITERIA_MAX:
        errors.add(f"{place}: {len(value)} entries; at most {CRITERIA_MAX}")
    criteria: list[str] = []
    for n, entry in _strings(place, value, errors):
        if not entry.strip():
            errors.add(f"{place}[{n}]: empty")
        elif len(entry) > CRITERION_CHARS:
            errors.add(f"{place}[{n}]: {len(entry):,} characters; at most {CRITERION_CHARS}")
        criteria.append(entry)
    return tuple(criteria)


def _depends_on(place: str, obj: dict[str, Any], keys: _Keys, errors: _Errors) -> tuple[str, ...]:
    own = obj.get("key")
    deps: list[str] = []
    for _, dep in _strings(place, obj.get("depends_on"), errors):
        if dep == own:
            errors.add(f"{place}: {shown(dep)} is the item itself")
        elif dep not in keys.named:
            errors.add(f"{place}: unknown key {shown(dep)} (keys: {keys.listed})")
        else:
            deps.append(dep)
    return tuple(dict.fromkeys(deps))


def _role(place: str, value: object, errors: _Errors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(f"{place}: expected a string, got {json_kind(value)}")
        return None
    if not is_valid_name(value):
        errors.add(f"{place}: {shown(value)} is not a valid role ({KEY_RULE})")
    return value


def _required_str(place: str, obj: dict[str, Any], field: str, errors: _Errors) -> str | None:
    if field not in obj:
        errors.add(f"{place}: missing")
        return None
    value = obj[field]
    if not isinstance(value, str):
        errors.add(f"{place}: expected a string, got {json_kind(value)}")
        return None
    return value


def _strings(place: str, value: object, errors: _Errors) -> Iterator[tuple[int, str]]:
    """The string entries of an optional array, with their indices; other entries refused."""
    if value is None:
        return
    if not isinstance(value, list):
        errors.add(f"{place}: expected an array of strings, got {json_kind(value)}")
        return
    for n, entry in enumerate(value):
        if isinstance(entry, str):
            yield n, entry
        else:
            errors.add(f"{place}[{n}]: expected a string, got {json_kind(entry)}")


# -- order and cycles --------------------------------------------------------------------


def _topological(items: list[Item]) -> tuple[Item, ...]:
    """``items`` (a graph without cycles) with every item after its dependencies, the
    earliest given first whenever several could come next (so an order that is already
    topological is kept)."""
    waiting = [len(item.depends_on) for item in items]
    dependents: dict[str, list[int]] = {item.key: [] for item in items}
    for n, item in enumerate(items):
        for dep in item.depends_on:
            dependents[dep].append(n)
    ready = [n for n, count in enumerate(waiting) if count == 0]
    order: list[Item] = []
    while ready:
        item = items[heapq.heappop(ready)]
        order.append(item)
        for m in dependents[item.key]:
            waiting[m] -= 1
            if waiting[m] == 0:
                heapq.heappush(ready, m)
    return tuple(order)


def _cycles(items: list[Item]) -> list[list[str]]:
    """One cycle for each group of items that depend on each other in a circle, as
    ``[a, b, a]`` (a depends on b, b on a): the shortest through the group's earliest item,
    following depends_on in their order; the groups in the order their first items came."""
    position = {item.key: n for n, item in enumerate(items)}
    deps = {item.key: tuple(d for d in item.depends_on if d in position) for item in items}
    groups = [g for g in strongly_connected(deps) if len(g) > 1]
    firsts = [(min(group, key=position.__getitem__), group) for group in groups]
    firsts.sort(key=lambda pair: position[pair[0]])
    return [_cycle_through(start, deps, group) for start, group in firsts]


def _cycle_through(start: str, deps: Mapping[str, tuple[str, ...]], group: set[str]) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    paths = deque([[start]])
    seen = {start}
    while paths:
        path = paths.popleft()
        for dep in deps[path[-1]]:
            if dep == start:
                return [*path, start]
            if dep in group and dep not in seen:
                seen.add(dep)
                paths.append([*path, dep])
    return [start, start]  # unreachable for a group found by strongly_connected


def strongly_connected(deps: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """Tarjan's algorithm over an explicit stack (no recursion limit to meet). Every node a
    node depends on must be a key of ``deps`` (also tests/test_layers.py's import circles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in deps:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(deps[root]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    found.append(_pop_group(node, stack, on_stack))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(deps[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _pop_group(node: str, stack: list[str], on_stack: set[str]) -> set[str]:
    group: set[str] = set()
    while True:
        member = stack.pop()
        on_stack.discard(member)
        group.add(member)
        if member == node:
            return group


# -- stored form and stages ---------------------------------------------------------------


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """The graph as JSON, in the shape of a planner's answer (``role`` null when unset)."""
    items = [
        {**item._asdict(), "criteria": list(item.criteria), "depends_on": list(item.depends_on)}
        for item in graph.items
    ]
    return {"title": graph.title, "items": items}


def graph_from_dict(obj: Mapping[str, Any]) -> Graph:
    """A graph ``graph_to_dict`` wrote, read back as it is (trusted: not validated again;
    keys a newer writer added are ignored)."""
    return Graph(obj["title"], tuple(_item_from_dict(item) for item in obj["items"]))


def _item_from_dict(obj: Mapping[str, Any]) -> Item:
    fields = {name: obj[name] for name in ITEM_FIELDS if name in obj}
    lists = {name: tuple(obj.get(name) or ()) for name in ("criteria", "depends_on")}
    return Item(**{**fields, **lists})


def stage_specs(
    graph: Graph, stages: Sequence[str], roles: Mapping[str, str | None]
) -> list[StageSpec]:
    """The stage tasks of a chain's first round, in the order to push them.

    Per item, in the graph's (topological) order, one spec per stage: the first stage
    depends on the last stage of every item the item depends on, each later stage on the
    stage before it. Then one ``accept`` spec for the goal, depending on the last stage of
    every item. A spec's ``depends_on`` are indices of earlier specs in the list. Its role
    is ``roles[stage]`` (None when absent), except that the first stage (build, by
    default: the one that does the work) takes the item's own role when it has one.
    ``graph.items`` must be in a topological order (a Graph from validate_graph is).
    """
    _check_stages(stages)
    specs: list[StageSpec] = []
    last: dict[str, int] = {}  # item key -> index of its last stage
    for item in graph.items:
        before = tuple(last[dep] for dep in item.depends_on)
        for n, stage in enumerate(stages):
            role = item.role if n == 0 and item.role else roles.get(stage)
            specs.append(StageSpec(stage, item.key, f"{stage}: {item.title}", role, before))
            before = (len(specs) - 1,)
        last[item.key] = len(specs) - 1
    title = f"{ACCEPT}: {graph.title}"
    specs.append(StageSpec(ACCEPT, None, title, roles.get(ACCEPT), tuple(last.values())))
    return specs


def _check_stages(stages: Sequence[str]) -> None:
    if not stages or len(set(stages)) != len(stages) or ACCEPT in stages:
        raise ConfigError(
            f"pipeline stages {list(stages)!r}: give one or more distinct stages, "
            f"{ACCEPT!r} not among them (the chain adds it after every item)"
        )
