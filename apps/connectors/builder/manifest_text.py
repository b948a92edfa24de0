"""A manifest as the user typed it: parsing, and errors placed on their YAML lines.

The CDK reports a problem by its JSON path (``streams.0.retriever.paginator``);
the user reads a file or a textarea by line. PyYAML's node tree
(``yaml.compose``) keeps where each key and value started, so a path walks the
tree to the deepest node it reaches (a path into a ``$ref``'d definition stops
at the ``$ref``) and takes that node's line. A YAML syntax error has its own line
and column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from apps.engines import declarative
from apps.engines.base import ManifestProblem


@dataclass(frozen=True)
class LineProblem:
    """A problem with the line (1-based; 0 when unknown) it is about."""

    line: int
    message: str
    path: str = ""
    column: int = 0

    def text(self, filename: str = "manifest.yaml") -> str:
        """``file:line: path: message``, the way compilers say it."""
        where = f"{filename}:{self.line}" if self.line else filename
        subject = f"{self.path}: " if self.path else ""
        return f"{where}: {subject}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


def dotted(path: tuple[str | int, ...]) -> str:
    """``streams.0.retriever`` for a JSON path."""
    return ".".join(str(part) for part in path)


def parse(text: str) -> tuple[dict[str, Any] | None, list[LineProblem]]:
    """The manifest in ``text``, or None and why (with the line), without the CDK.

    The checks here are the cheap ones (YAML syntax, a mapping with streams, a
    check and a spec); the CDK's schema is the engine's to apply.
    """
    if not text.strip():
        return None, [LineProblem(1, "The manifest is empty.")]
    try:
        # Guarded: an alias bomb would otherwise take seconds to minutes in the
        # JSON below, on every page view of the draft.
        data = declarative.guarded_load(text)
    except declarative.YamlTooLarge as exc:
        return None, [LineProblem(1, f"The manifest is too large: {exc}.")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax: {problem}" + (f" ({context})" if context else "")
        if mark is None:
            return None, [LineProblem(0, message)]
        return None, [LineProblem(mark.line + 1, message, column=mark.column + 1)]
    # YAML-only types (binary, sets) become text, as JSON has them; the loader
    # keeps timestamps as the text they were.
    data = json.loads(json.dumps(data, default=str))
    try:
        declarative.validate_manifest(data)
    except declarative.ManifestError as exc:
        return None, [LineProblem(1, str(exc))]
    return data, []


def _line_at(root: yaml.Node, path: tuple[str | int, ...]) -> int:
    """The 1-based line of the deepest node ``path`` reaches: a mapping value's
    key line (``pagination_strategy:``), a list item's own line."""
    node, line = root, root.start_mark.line
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child, line = value, key.start_mark.line
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line
        if child is None:
            break
        node = child
    return line + 1


def line_of(text: str, path: tuple[str | int, ...]) -> int:
    """The 1-based line the value at ``path`` is on (its nearest ancestor's)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return 0
    return _line_at(root, path) if root is not None else 0


def locate(text: str, problems: list[ManifestProblem]) -> list[LineProblem]:
    """The engine's problems, each placed on its line of ``text``."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    placed = []
    for problem in problems:
        line = 0
        if root is not None:
            line = _line_at(root, tuple(problem.path))
        placed.append(LineProblem(line, problem.message, dotted(tuple(problem.path))))
    return sorted(placed, key=lambda p: (p.line, p.path))


def stream_names(manifest: dict[str, Any] | None) -> list[str]:
    """The names of the manifest's streams, in order."""
    if not isinstance(manifest, dict):
        return []
    return [
        str(s["name"])
        for s in manifest.get("streams") or []
        if isinstance(s, dict) and s.get("name")
    ]


def title(manifest: dict[str, Any] | None, default: str) -> str:
    """The connector's name from its spec's title, else ``default``."""
    spec = (manifest or {}).get("spec") or {}
    found = (spec.get("connection_specification") or {}).get("title")
    if isinstance(found, str) and found.strip():
        name = found.strip()
        return name[: -len(" spec")] if name.lower().endswith(" spec") else name
    return default
