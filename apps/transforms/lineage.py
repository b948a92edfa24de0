"""A project's lineage as a layered drawing: sources -> models -> tests, left to right.

Plain data in, plain data out: ``layout`` takes the trimmed graph a parse saved on
the project (``DbtProject.graph``) and the last status of each node, and returns
boxes and edges with coordinates for the template to draw as SVG. The page stays
server-rendered: no layout library, no JavaScript.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

NODE_WIDTH = 190
NODE_HEIGHT = 30
COLUMN_GAP = 70
ROW_GAP = 12
MARGIN = 10
# Longer names are cut in the box; the full name is in its <title>.
LABEL_CHARS = 24
DRAWN_TYPES = ("source", "seed", "snapshot", "model", "test")


@dataclass(frozen=True)
class Box:
    """One node, placed."""

    unique_id: str
    name: str
    label: str
    resource_type: str
    status: str
    x: int
    y: int
    width: int = NODE_WIDTH
    height: int = NODE_HEIGHT

    @property
    def text_x(self) -> int:
        return self.x + 10

    @property
    def text_y(self) -> int:
        return self.y + self.height // 2 + 5


@dataclass(frozen=True)
class Edge:
    """A dependency, from ``upstream``'s right side to ``downstream``'s left."""

    upstream: str
    downstream: str
    path: str


@dataclass
class Lineage:
    width: int = 0
    height: int = 0
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.boxes


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def _depths(ids: list[str], parents: dict[str, list[str]]) -> dict[str, int]:
    """Each node's column: one more than its deepest parent (sources at 0)."""
    depth: dict[str, int] = {}
    for start in ids:
        if start in depth:
            continue
        # Iterative depth-first walk; a cycle (dbt refuses them, but a hand-made
        # graph could hold one) is broken by treating a node on the stack as 0.
        stack: list[tuple[str, bool]] = [(start, False)]
        on_stack: set[str] = set()
        while stack:
            node, done = stack.pop()
            if done:
                on_stack.discard(node)
                known = [depth.get(p, 0) for p in parents[node] if p not in on_stack]
                depth[node] = 1 + max(known) if known else 0
                continue
            if node in depth:
                continue
            on_stack.add(node)
            stack.append((node, True))
            for parent in parents[node]:
                if parent not in depth and parent not in on_stack:
                    stack.append((parent, False))
    return depth


def layout(
    graph: dict,
    statuses: dict[str, str] | None = None,
    *,
    include_tests: bool = True,
) -> Lineage:
    """Place every drawable node of ``graph`` in columns by dependency depth.

    ``statuses`` maps a unique_id to the status of its last run (dbt's words:
    success, error, pass, fail, ...); a node without one is drawn as not run.
    Within a column nodes follow the average row of their parents, so edges
    cross less, then their name.
    """
    statuses = statuses or {}
    types = DRAWN_TYPES if include_tests else DRAWN_TYPES[:-1]
    nodes = {
        n["unique_id"]: n
        for n in graph.get("nodes", [])
        if n.get("resource_type") in types and n.get("unique_id")
    }
    if not nodes:
        return Lineage()
    ids = sorted(nodes)
    parents = {
        uid: [p for p in nodes[uid].get("depends_on") or [] if p in nodes and p != uid]
        for uid in ids
    }
    depth = _depths(ids, parents)
    columns: dict[int, list[str]] = defaultdict(list)
    for uid in ids:
        columns[depth[uid]].append(uid)

    row: dict[str, float] = {}
    for column in sorted(columns):

        def key(uid: str) -> tuple[float, str, str]:
            placed = [row[p] for p in parents[uid] if p in row]
            average = sum(placed) / len(placed) if placed else 0.0
            return (average, nodes[uid].get("name", ""), uid)

        columns[column].sort(key=key)
        for index, uid in enumerate(columns[column]):
            row[uid] = float(index)

    boxes: dict[str, Box] = {}
    for column, members in columns.items():
        for index, uid in enumerate(members):
            node = nodes[uid]
            name = node.get("name") or uid
            boxes[uid] = Box(
                unique_id=uid,
                name=name,
                label=_label(name),
                resource_type=node["resource_type"],
                status=statuses.get(uid, ""),
                x=MARGIN + column * (NODE_WIDTH + COLUMN_GAP),
                y=MARGIN + index * (NODE_HEIGHT + ROW_GAP),
            )

    edges = []
    for uid in ids:
        for parent in parents[uid]:
            a, b = boxes[parent], boxes[uid]
            x1, y1 = a.x + a.width, a.y + a.height // 2
            x2, y2 = b.x, b.y + b.height // 2
            bend = max((x2 - x1) // 2, 20)
            edges.append(
                Edge(
                    upstream=parent,
                    downstream=uid,
                    path=f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}",
                )
            )
    width = MARGIN * 2 + (max(columns) + 1) * NODE_WIDTH + max(columns) * COLUMN_GAP
    tallest = max(len(members) for members in columns.values())
    height = MARGIN * 2 + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    ordered = [boxes[uid] for column in sorted(columns) for uid in columns[column]]
    return Lineage(width=width, height=height, boxes=ordered, edges=edges)
