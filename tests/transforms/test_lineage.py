"""The lineage drawing: sources left, models by depth, tests last, edges between."""

from __future__ import annotations

import itertools

import pytest

from apps.transforms import lineage


def _node(uid: str, kind: str, *parents: str) -> dict:
    return {
        "unique_id": uid,
        "name": uid.split(".")[-1],
        "resource_type": kind,
        "depends_on": list(parents),
    }


GRAPH = {
    "nodes": [
        _node("source.p.raw.users", "source"),
        _node("source.p.raw.orders", "source"),
        _node("model.p.stg_users", "model", "source.p.raw.users"),
        _node("model.p.stg_orders", "model", "source.p.raw.orders"),
        _node(
            "model.p.user_orders", "model", "model.p.stg_users", "model.p.stg_orders"
        ),
        _node("test.p.unique_stg_users_id", "test", "model.p.stg_users"),
        _node("test.p.not_null_user_orders_id", "test", "model.p.user_orders"),
        # Not drawn: dbt's other node types.
        _node("macro.p.cents", "macro"),
    ]
}


def _columns(drawing: lineage.Lineage) -> dict[str, int]:
    return {box.unique_id.split(".")[-1]: box.x for box in drawing.boxes}


def test_sources_models_and_tests_go_left_to_right_by_depth():
    drawing = lineage.layout(GRAPH)

    x = _columns(drawing)
    assert x["users"] == x["orders"] < x["stg_users"] == x["stg_orders"]
    assert x["stg_users"] < x["user_orders"]
    # A test sits one column after what it tests.
    assert x["stg_users"] < x["unique_stg_users_id"]
    assert x["user_orders"] < x["not_null_user_orders_id"]
    assert "cents" not in x
    assert drawing.width >= max(b.x + b.width for b in drawing.boxes)
    assert drawing.height >= max(b.y + b.height for b in drawing.boxes)


def test_every_dependency_is_an_edge_from_right_side_to_left_side():
    drawing = lineage.layout(GRAPH)

    pairs = {(e.upstream, e.downstream) for e in drawing.edges}
    assert ("model.p.stg_users", "model.p.user_orders") in pairs
    assert ("model.p.stg_orders", "model.p.user_orders") in pairs
    assert ("source.p.raw.users", "model.p.stg_users") in pairs
    assert len(pairs) == 6
    boxes = {b.unique_id: b for b in drawing.boxes}
    edge = next(e for e in drawing.edges if e.downstream == "model.p.user_orders")
    start = boxes[edge.upstream]
    assert edge.path.startswith(f"M{start.x + start.width},")


def test_boxes_in_a_column_never_overlap_and_follow_their_parents():
    drawing = lineage.layout(GRAPH)

    by_x: dict[int, list] = {}
    for box in drawing.boxes:
        by_x.setdefault(box.x, []).append(box)
    for boxes in by_x.values():
        ys = sorted(b.y for b in boxes)
        assert all(b - a >= lineage.NODE_HEIGHT for a, b in itertools.pairwise(ys))
    y = {b.unique_id: b.y for b in drawing.boxes}
    # orders sorts before users, so stg_orders stays level with its source.
    assert (y["source.p.raw.orders"] < y["source.p.raw.users"]) == (
        y["model.p.stg_orders"] < y["model.p.stg_users"]
    )


def test_last_statuses_colour_the_boxes_and_long_names_are_cut():
    graph = {"nodes": [*GRAPH["nodes"], _node("model.p." + "x" * 60, "model")]}
    drawing = lineage.layout(
        graph, {"model.p.stg_users": "success", "test.p.unique_stg_users_id": "fail"}
    )

    status = {b.unique_id: b.status for b in drawing.boxes}
    assert status["model.p.stg_users"] == "success"
    assert status["test.p.unique_stg_users_id"] == "fail"
    assert status["model.p.user_orders"] == ""
    long = next(b for b in drawing.boxes if b.name == "x" * 60)
    assert len(long.label) == lineage.LABEL_CHARS and long.label.endswith("…")


def test_tests_can_be_left_out():
    drawing = lineage.layout(GRAPH, include_tests=False)

    assert {b.resource_type for b in drawing.boxes} == {"source", "model"}


@pytest.mark.parametrize(
    "graph", [{}, {"nodes": []}, {"nodes": [_node("macro.p.m", "macro")]}]
)
def test_an_empty_graph_draws_nothing(graph):
    drawing = lineage.layout(graph)

    assert drawing.empty and drawing.edges == [] and drawing.width == 0


def test_a_cycle_or_a_missing_parent_does_not_hang_or_crash():
    graph = {
        "nodes": [
            _node("model.p.a", "model", "model.p.b"),
            _node("model.p.b", "model", "model.p.a"),
            _node("model.p.c", "model", "model.p.gone"),
        ]
    }

    drawing = lineage.layout(graph)

    assert {b.name for b in drawing.boxes} == {"a", "b", "c"}
    assert [e for e in drawing.edges if "gone" in e.upstream] == []
