"""dbt's run_results.json and manifest.json, trimmed to what the console keeps.

Pages never read the worker's disk: after each run the worker stores
``node_results`` as RunNode rows and ``graph`` on the project.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

RESOURCE_TYPES = ("model", "seed", "snapshot", "test", "source")


def _started_at(result: dict) -> str:
    for timing in result.get("timing") or []:
        if timing.get("started_at"):
            return str(timing["started_at"])
    return ""


def _rows_affected(result: dict) -> int | None:
    response = result.get("adapter_response") or {}
    value = response.get("rows_affected")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _resource_type(unique_id: str, node: dict) -> str:
    kind = str(node.get("resource_type") or unique_id.split(".", 1)[0])
    return "test" if kind == "unit_test" else kind


def node_results(run_results: dict, manifest: dict | None) -> list[dict]:
    """One dict per node dbt ran, in the order it started them."""
    nodes = (manifest or {}).get("nodes") or {}
    sources = (manifest or {}).get("sources") or {}
    results = list(enumerate((run_results or {}).get("results") or []))
    # Threads finish out of order; the start time gives the run order (a node that
    # was skipped has no timing and keeps its place among its neighbours).
    results.sort(key=lambda pair: (_started_at(pair[1]) or "~", pair[0]))
    out = []
    for _, result in results:
        unique_id = str(result.get("unique_id") or "")
        node = nodes.get(unique_id) or sources.get(unique_id) or {}
        failures = result.get("failures")
        execution_time = result.get("execution_time")
        out.append(
            {
                "unique_id": unique_id,
                "name": str(node.get("name") or unique_id.rsplit(".", 1)[-1]),
                "resource_type": _resource_type(unique_id, node),
                "status": str(result.get("status") or ""),
                "execution_time": round(float(execution_time), 3)
                if isinstance(execution_time, int | float)
                else 0.0,
                "rows_affected": _rows_affected(result),
                "failures": int(failures) if isinstance(failures, int) else None,
                "message": str(result.get("message") or ""),
            }
        )
    return out


def _columns(node: dict) -> list[dict]:
    columns = node.get("columns") or {}
    return [
        {
            "name": str(column.get("name") or name),
            "description": str(column.get("description") or ""),
            "data_type": str(column.get("data_type") or ""),
        }
        for name, column in columns.items()
    ]


def _trim(unique_id: str, node: dict, tests: dict[str, list[str]]) -> dict[str, Any]:
    kind = _resource_type(unique_id, node)
    config = node.get("config") or {}
    depends = (node.get("depends_on") or {}).get("nodes") or []
    return {
        "unique_id": unique_id,
        "name": str(node.get("name") or ""),
        "resource_type": kind,
        "path": str(node.get("path") or ""),
        "original_file_path": str(node.get("original_file_path") or ""),
        "depends_on": [str(d) for d in depends],
        "description": str(node.get("description") or ""),
        "columns": _columns(node),
        "raw_code": str(node.get("raw_code") or "") if kind == "model" else "",
        "source_name": str(node.get("source_name") or "") if kind == "source" else "",
        "materialized": str(config.get("materialized") or "")
        if kind != "source"
        else "",
        "tests": sorted(tests.get(unique_id, [])),
        "schema": str(node.get("schema") or ""),
        "alias": str(node.get("alias") or node.get("identifier") or ""),
    }


def graph(manifest: dict) -> dict:
    """The project's own nodes and sources, trimmed for pages (no compiled SQL)."""
    metadata = manifest.get("metadata") or {}
    project = str(metadata.get("project_name") or "")
    raw_nodes = dict(manifest.get("nodes") or {})
    raw_nodes.update(manifest.get("sources") or {})
    raw_nodes.update(manifest.get("unit_tests") or {})

    def ours(node: dict) -> bool:
        return not project or node.get("package_name") in (None, "", project)

    kept = {
        uid: node
        for uid, node in raw_nodes.items()
        if ours(node) and _resource_type(uid, node) in RESOURCE_TYPES
    }
    tests: dict[str, list[str]] = {}
    for uid, node in kept.items():
        if _resource_type(uid, node) != "test":
            continue
        attached = node.get("attached_node") or node.get("tested_node_unique_id")
        targets = (
            [attached]
            if attached
            else list((node.get("depends_on") or {}).get("nodes") or [])
        )
        for target in targets:
            tests.setdefault(str(target), []).append(uid)
    order = {kind: index for index, kind in enumerate(RESOURCE_TYPES)}
    nodes = [_trim(uid, node, tests) for uid, node in kept.items()]
    nodes.sort(key=lambda n: (order.get(n["resource_type"], 9), n["unique_id"]))
    return {
        "project_name": project,
        "nodes": nodes,
        "parsed_at": str(metadata.get("generated_at") or "")
        or datetime.now(tz=UTC).isoformat(timespec="seconds"),
    }


def stats(nodes: list[dict]) -> dict[str, int]:
    """How many nodes ended in each status (``{"success": 3, "error": 1}``)."""
    return dict(Counter(str(n.get("status") or "") for n in nodes))
