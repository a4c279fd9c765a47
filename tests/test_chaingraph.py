"""The plan graph: validation with every error listed, its order, its stored form, and its
expansion into stage tasks (zk/chaingraph.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from claude_orchestrator.errors import ConfigError, UsageError
from claude_orchestrator.zk.chaingraph import (
    ANSWER_BYTES,
    DESCRIPTION_BYTES,
    Graph,
    GraphError,
    Item,
    StageSpec,
    graph_from_dict,
    graph_to_dict,
    stage_specs,
    validate_graph,
)

STAGES = ("build", "verify", "review")


def item(key: str, *deps: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "title": f"make {key}", "depends_on": list(deps), **fields}


def answer(*items: object, title: object = "Ship the app") -> dict[str, Any]:
    return {"title": title, "items": list(items)}


def errors_of(raw: object, max_items: int = 30) -> list[str]:
    with pytest.raises(GraphError) as caught:
        validate_graph(raw, max_items)
    return caught.value.errors


def diamond() -> Graph:
    return validate_graph(answer(item("a"), item("b", "a"), item("c", "a"), item("d", "b", "c")))


# -- valid graphs --------------------------------------------------------------------------


def test_validate_graph_round_trips_a_full_answer() -> None:
    raw = answer(
        item("api", description="REST API", criteria=["GET /x works"], role="backend"),
        item("ui", "api", description="", criteria=[], role=None),
    )
    graph = validate_graph(raw)
    assert graph.items[0] == Item("api", "make api", "REST API", ("GET /x works",), (), "backend")
    assert graph_to_dict(graph) == raw
    assert json.loads(json.dumps(graph_to_dict(graph))) == raw
    assert validate_graph(graph_to_dict(graph)) == graph
    assert graph_from_dict(graph_to_dict(graph)) == graph


def test_validate_graph_fills_optional_fields() -> None:
    raw = answer({"key": "a", "title": "A"}, {"key": "b", "title": "B", "criteria": None})
    assert validate_graph(raw).items == (Item("a", "A"), Item("b", "B"))


def test_validate_graph_drops_repeated_dependencies() -> None:
    graph = validate_graph(answer(item("a"), item("b", "a", "a")))
    assert graph.items[1].depends_on == ("a",)


def test_validate_graph_orders_items_stably() -> None:
    raw = answer(item("c", "a"), item("a"), item("b"), item("d", "c"))
    assert [i.key for i in validate_graph(raw).items] == ["a", "c", "b", "d"]


def test_validate_graph_keeps_an_order_that_is_already_topological() -> None:
    keys = ["x", "a", "m", "b"]
    raw = answer(item("x"), item("a", "x"), item("m"), item("b", "a", "m"))
    assert [i.key for i in validate_graph(raw).items] == keys


def test_graph_from_dict_ignores_keys_a_newer_writer_added() -> None:
    stored = graph_to_dict(diamond())
    stored["items"][0]["estimate"] = "2h"
    assert graph_from_dict(stored) == diamond()


# -- errors ----------------------------------------------------------------------------------


def test_graph_error_is_a_usage_error_whose_message_is_its_lines() -> None:
    with pytest.raises(UsageError) as caught:
        validate_graph(answer())
    assert isinstance(caught.value, GraphError)
    assert caught.value.exit_code == 2
    assert str(caught.value) == "items: empty; a plan needs at least one item"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], "answer: expected an object with 'title' and 'items', got an array"),
        (None, "answer: expected an object with 'title' and 'items', got null"),
        (
            {**answer(item("a")), "goal": "x"},
            "answer: unknown field 'goal' (valid: title, items)",
        ),
        ({"items": [item("a")]}, "title: missing"),
        (answer(item("a"), title=None), "title: expected a string, got null"),
        (answer(item("a"), title="  "), "title: empty"),
        (answer(item("a"), title="x" * 201), "title: 201 characters; at most 200"),
        (answer(item("a"), title="two\nlines"), "title: must be one line"),
        ({"title": "t"}, "items: missing"),
        ({"title": "t", "items": {"a": 1}}, "items: expected an array, got an object"),
        (answer("a"), "items[0]: expected an object, got a string"),
        (
            answer(item("a", deps=["b"])),
            "items[0]: unknown field 'deps' (valid: key, title, description, criteria, "
            "depends_on, role)",
        ),
        (answer({"title": "t"}), "items[0].key: missing"),
        (
            answer(item("a"), {"key": 7, "title": "t"}),
            "items[1].key: expected a string, got a number",
        ),
        (
            answer(item("Api Server")),
            "items[0].key: 'Api Server' is not a valid key (1-64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit)",
        ),
        (answer(item("api"), item("api")), "items[1].key: duplicate key 'api'"),
        (answer({"key": "a"}), "items[0].title: missing"),
        (answer(item("a", title=True)), "items[0].title: expected a string, got a boolean"),
        (
            answer(item("a", description=["x"])),
            "items[0].description: expected a string, got an array",
        ),
        (
            answer(item("a", criteria="works")),
            "items[0].criteria: expected an array of strings, got a string",
        ),
        (
            answer(item("a", criteria=["ok", 3])),
            "items[0].criteria[1]: expected a string, got a number",
        ),
        (answer(item("a", criteria=["ok", " "])), "items[0].criteria[1]: empty"),
        (answer(item("a", criteria=["c"] * 21)), "items[0].criteria: 21 entries; at most 20"),
        (
            answer(item("a", criteria=["x" * 501])),
            "items[0].criteria[0]: 501 characters; at most 500",
        ),
        (
            answer(item("api"), item("ui"), item("x", "db")),
            "items[2].depends_on: unknown key 'db' (keys: api, ui, x)",
        ),
        (answer(item("api", "api")), "items[0].depends_on: 'api' is the item itself"),
        (
            answer(item("a", depends_on="b")),
            "items[0].depends_on: expected an array of strings, got a string",
        ),
        (
            answer(item("a", depends_on=[1])),
            "items[0].depends_on[0]: expected a string, got a number",
        ),
        (
            answer(item("a", role="front end")),
            "items[0].role: 'front end' is not a valid role (1-64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit)",
        ),
        (answer(item("a", role=1)), "items[0].role: expected a string, got a number"),
        (answer(item("a", title="\ud800")), "answer: cannot be encoded as UTF-8 JSON"),
    ],
)
def test_validate_graph_names_the_error_and_its_place(raw: object, expected: str) -> None:
    assert errors_of(raw) == [expected]


def test_validate_graph_refuses_several_unknown_fields_in_one_line() -> None:
    raw = {**answer(item("a")), "goal": 1, "notes": 2}
    assert errors_of(raw) == ["answer: unknown fields 'goal', 'notes' (valid: title, items)"]


def test_validate_graph_counts_items_against_max_items() -> None:
    raw = answer(*(item(f"k{n}") for n in range(31)))
    assert errors_of(raw) == ["items: 31 items; at most 30"]
    assert errors_of(answer(item("a"), item("b")), max_items=1) == ["items: 2 items; at most 1"]
    assert len(validate_graph(answer(*(item(f"k{n}") for n in range(30)))).items) == 30


def test_validate_graph_measures_description_and_answer_in_bytes() -> None:
    raw = answer(item("a", description="é" * (DESCRIPTION_BYTES // 2 + 1)))  # 2 bytes each
    size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode())
    assert errors_of(raw) == [
        f"answer: {size:,} bytes when encoded; at most {ANSWER_BYTES:,}",
        f"items[0].description: {DESCRIPTION_BYTES + 2:,} bytes; at most {DESCRIPTION_BYTES:,}",
    ]


def test_validate_graph_lists_every_error_at_once() -> None:
    raw = {
        "title": "",
        "items": [
            item("api", "db", criteria=[""]),
            item("api"),
            item("bad key", role="x/y"),
            item("ui", "ui", "api", extra=1),
        ],
    }
    assert errors_of(raw) == [
        "title: empty",
        "items[0].criteria[0]: empty",
        "items[0].depends_on: unknown key 'db' (keys: api, ui)",
        "items[1].key: duplicate key 'api'",
        "items[2].key: 'bad key' is not a valid key (1-64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit)",
        "items[2].role: 'x/y' is not a valid role (1-64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit)",
        "items[3]: unknown field 'extra' (valid: key, title, description, criteria, "
        "depends_on, role)",
        "items[3].depends_on: 'ui' is the item itself",
    ]


def test_validate_graph_names_a_cycle_of_three_in_order() -> None:
    raw = answer(item("start"), item("api", "ui", "start"), item("db", "api"), item("ui", "db"))
    assert errors_of(raw) == ["items: a cycle: api -> ui -> db -> api"]


def test_validate_graph_names_the_shortest_cycle_of_each_group() -> None:
    raw = answer(
        item("x", "y"),
        item("a", "b"),
        item("b", "c", "a"),
        item("c", "a"),
        item("y", "x"),
        item("z", "x"),
    )
    assert errors_of(raw) == ["items: a cycle: x -> y -> x", "items: a cycle: a -> b -> a"]


def test_validate_graph_finds_cycles_in_a_long_chain_without_recursion() -> None:
    raw = answer(*(item(f"k{n}", f"k{(n + 1) % 3000}") for n in range(3000)))
    errors = errors_of(raw, max_items=3000)
    assert errors[0].startswith("items: a cycle: k0 -> k1 -> k2 -> ")
    assert errors[0].endswith(" -> k2999 -> k0") and len(errors) == 1


def test_validate_graph_caps_the_errors_it_lists() -> None:
    raw = answer(*(item(f"-{n}") for n in range(60)))
    errors = errors_of(raw, max_items=100)
    assert len(errors) == 51
    assert errors[0].startswith("items[0].key: '-0' is not a valid key")
    assert errors[-1] == "... 10 more errors not shown"


# -- stage expansion ---------------------------------------------------------------------------


def test_stage_specs_expands_a_diamond() -> None:
    specs = stage_specs(diamond(), STAGES, {})
    assert [(s.link, s.item) for s in specs] == [
        *((stage, key) for key in "abcd" for stage in STAGES),
        ("accept", None),
    ]
    assert [s.depends_on for s in specs] == [
        (), (0,), (1,),  # a: build, verify, review
        (2,), (3,), (4,),  # b after a's review
        (2,), (6,), (7,),  # c after a's review
        (5, 8), (9,), (10,),  # d after b's and c's reviews
        (2, 5, 8, 11),  # accept after every item's last stage
    ]  # fmt: skip
    assert specs[0].title == "build: make a"
    assert specs[-1].title == "accept: Ship the app"


def test_stage_specs_for_a_single_item_and_a_single_stage() -> None:
    graph = validate_graph(answer(item("only")))
    assert stage_specs(graph, ("build",), {}) == [
        StageSpec("build", "only", "build: make only", None, ()),
        StageSpec("accept", None, "accept: Ship the app", None, (0,)),
    ]


def test_stage_specs_takes_roles_and_the_items_role_for_the_first_stage_only() -> None:
    graph = validate_graph(answer(item("a", role="frontend"), item("b", "a")))
    roles = {"build": "dev", "review": "reviewer", "accept": "lead"}
    specs = stage_specs(graph, STAGES, roles)
    assert [s.role for s in specs] == [
        "frontend", None, "reviewer",
        "dev", None, "reviewer",
        "lead",
    ]  # fmt: skip


@pytest.mark.parametrize("stages", [(), ("build", "build"), ("build", "accept")])
def test_stage_specs_refuses_stages_that_cannot_make_a_chain(stages: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="give one or more distinct stages"):
        stage_specs(diamond(), stages, {})
