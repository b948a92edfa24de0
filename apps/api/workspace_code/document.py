"""The workspace file: its shape, its secret references and its canonical form.

One function, :func:`normalise`, turns a document (read from a file, or built
from the database by ``export``) into its canonical form: known keys only, in a
fixed order, defaults filled, lists sorted. Export writes the canonical form of
the workspace and the plan compares the canonical form of the file with it, so
``export -> import -> export`` gives the same text and a second import finds
nothing to do.

Secrets never appear in a file. Where a value is secret the file holds a
reference: ``${credential:NAME}`` (a credential in the file or the workspace) or
``${env:NAME}`` (a value the importer supplies: the environment of the CLI, the
values typed on the page, the ``env`` object of the API call).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import yaml

VERSION = 1

KINDS = (
    "credentials",
    "sources",
    "destinations",
    "connections",
    "webhooks",
    "transforms",
    "members",
)

_REF = re.compile(r"^\$\{(env|credential):([^}]+)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DocumentError(Exception):
    """The text is not a workspace file; ``problems`` says every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Ref:
    """A reference to a secret: ``${env:NAME}`` or ``${credential:NAME}``."""

    kind: str
    name: str

    def __str__(self) -> str:
        return "${" + f"{self.kind}:{self.name}" + "}"


def parse_ref(value: Any) -> Ref | None:
    """The reference ``value`` spells, or None for any other value."""
    if not isinstance(value, str):
        return None
    match = _REF.match(value.strip())
    if match is None:
        return None
    return Ref(match.group(1), match.group(2).strip())


def env_name(*parts: str) -> str:
    """A stable, readable variable name: ``SOURCE_PG_WAREHOUSE_PASSWORD``."""
    text = "_".join(parts)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    if not text or text[0].isdigit():
        text = f"SECRET_{text}"
    return text


def valid_env_name(name: str) -> bool:
    return bool(_ENV_NAME.match(name))


def refs_in(
    value: Any, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Ref]]:
    """Every reference inside a config, with the path of keys that leads to it."""
    found: list[tuple[tuple[str, ...], Ref]] = []
    if isinstance(value, dict):
        for key in sorted(value):
            found.extend(refs_in(value[key], (*path, str(key))))
        return found
    ref = parse_ref(value)
    if ref is not None:
        found.append((path, ref))
    return found


def refs_in_lists(value: Any) -> bool:
    """True when a reference sits inside a list, where it cannot be resolved.

    Secrets are kept by their JSON pointer into the config's objects; a list
    item has no stable place of that kind.
    """
    if isinstance(value, dict):
        return any(refs_in_lists(v) for v in value.values())
    if isinstance(value, list):
        return any(parse_ref(v) is not None or refs_in_lists(v) for v in value)
    return False


def sorted_deep(value: Any) -> Any:
    """Dicts with their keys sorted, all the way down (lists keep their order)."""
    if isinstance(value, dict):
        return {str(k): sorted_deep(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [sorted_deep(v) for v in value]
    return copy.deepcopy(value)


# -- reading and writing the text ---------------------------------------------------


def load(text: str) -> dict[str, Any]:
    """The YAML (or JSON) document in ``text``; DocumentError when it is not one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise DocumentError([f"The file is not valid YAML{where}."]) from None
    except RecursionError:
        raise DocumentError([_TOO_DEEP]) from None
    if not isinstance(data, dict):
        raise DocumentError(
            ["The file must be a mapping with `version: 1` at the top."]
        )
    problems = _json_problems(data, MAX_VALUES)
    if problems:
        raise DocumentError(problems)
    return data


MAX_VALUES = 1_000_000
MAX_DEPTH = 64
_TOO_DEEP = f"The file nests deeper than {MAX_DEPTH} levels."
_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_problems(data: Any, budget: int) -> list[str]:
    """Why ``data`` is not plain JSON: too big, too deep, or an odd YAML value.

    YAML can spell dates, ``!!binary``, ``!!set`` and keys that are not text;
    none of those survives the JSON a config is stored as, so each is named by
    its path here rather than failing later. Aliases (&a, *a) let a few lines
    stand for an enormous document, which normalising would copy out in full,
    so shared parts are counted each time they appear.
    """
    problems: list[str] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen = 0
    while stack:
        value, path, depth = stack.pop()
        seen += 1
        if seen > budget:
            return [
                f"The file holds more than {budget:,} values once its aliases "
                "are expanded."
            ]
        if depth > MAX_DEPTH:
            return [_TOO_DEEP]
        if isinstance(value, dict):
            for key, sub in value.items():
                if not isinstance(key, str):
                    problems.append(
                        f"{path or 'the top'}: the key {key!r} is not text (quote it)."
                    )
                    continue
                stack.append((sub, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            stack.extend(
                (sub, f"{path}[{index}]", depth + 1) for index, sub in enumerate(value)
            )
        elif not isinstance(value, _JSON_SCALARS):
            problems.append(
                f"{path}: a {type(value).__name__} is not a JSON value: write it as "
                "text (in quotes), a number, true/false, a list or a mapping."
            )
        if len(problems) >= 20:
            break
    return sorted(problems)


class _Dumper(yaml.SafeDumper):
    """Writes a value that appears twice in full both times: no ``&``/``*``."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(document: dict[str, Any]) -> str:
    """The canonical YAML text of a normalised document."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=88,
    )


# -- the canonical form -------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}" if where else message)


def _text(
    data: dict, key: str, where: str, problems: _Problems, *, default: str | None = None
) -> str:
    value = data.get(key, default)
    if value is None:
        problems.add(where, f"`{key}` is required.")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        problems.add(where, f"`{key}` must be text.")
        return ""
    if key != "name":
        return str(value)
    name = " ".join(str(value).split())
    if not name:
        # Every service refuses a blank name: say so in the plan, not at apply.
        problems.add(where, "`name` is required.")
    return name


def _optional_text(data: dict, key: str, where: str, p: _Problems) -> str | None:
    """A name that may be left out: None when it is."""
    if data.get(key) in (None, ""):
        return None
    return _text(data, key, where, p) or None


def _bool(data: dict, key: str, where: str, problems: _Problems, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        problems.add(where, f"`{key}` must be true or false.")
        return default
    return value


def _str_list(value: Any, key: str, where: str, problems: _Problems) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(where, f"`{key}` must be a list of names.")
        return []
    return list(value)


def _unknown_keys(data: dict, allowed: tuple[str, ...], where: str, p: _Problems):
    for key in data:
        if key not in allowed:
            p.add(where, f"unknown key `{key}` (allowed: {', '.join(allowed)}).")


def _items(document: dict, kind: str, problems: _Problems) -> list[tuple[str, dict]]:
    value = document.get(kind)
    if value in (None, []):
        return []
    if not isinstance(value, list):
        problems.add(kind, "must be a list.")
        return []
    items = []
    for index, item in enumerate(value):
        where = f"{kind}[{index}]"
        if not isinstance(item, dict):
            problems.add(where, "must be a mapping.")
            continue
        name = item.get("email") if kind == "members" else item.get("name")
        if isinstance(name, str) and name.strip():
            where = f"{kind[:-1]} “{' '.join(name.split())}”"
        items.append((where, item))
    return items


def _credential(item: dict, where: str, p: _Problems) -> dict[str, Any]:
    _unknown_keys(item, ("name", "type", "allowed_hosts", "fields"), where, p)
    fields = item.get("fields") or {}
    if not isinstance(fields, dict):
        p.add(where, "`fields` must be a mapping.")
        fields = {}
    hosts = item.get("allowed_hosts") or []
    if isinstance(hosts, str):
        hosts = [h for h in hosts.replace(",", " ").split() if h]
    return {
        "name": _text(item, "name", where, p),
        "type": _text(item, "type", where, p),
        "allowed_hosts": sorted(set(_str_list(hosts, "allowed_hosts", where, p))),
        "fields": sorted_deep(fields),
    }


_CONNECTOR_KEYS = ("name", "connector", "config", "catalog")


def _connector(item: dict, where: str, kind: str, p: _Problems) -> dict[str, Any]:
    allowed = _CONNECTOR_KEYS if kind == "sources" else _CONNECTOR_KEYS[:3]
    _unknown_keys(item, allowed, where, p)
    connector = item.get("connector")
    if isinstance(connector, str):
        connector = {"name": connector}
    if not isinstance(connector, dict) or not (
        connector.get("name") or connector.get("definition_id")
    ):
        p.add(where, "`connector` needs a `name` or a `definition_id`.")
        connector = {}
    config = item.get("config") or {}
    if not isinstance(config, dict):
        p.add(where, "`config` must be a mapping.")
        config = {}
    out: dict[str, Any] = {
        "name": _text(item, "name", where, p),
        "connector": {
            key: str(connector[key])
            for key in ("name", "definition_id")
            if connector.get(key)
        },
        "config": sorted_deep(config),
    }
    catalog = item.get("catalog")
    if kind == "sources" and catalog:
        if not isinstance(catalog, dict) or not isinstance(
            catalog.get("streams"), list
        ):
            p.add(where, "`catalog` must be a mapping with a list of `streams`.")
        elif _catalog_ok(catalog, where, p):
            out["catalog"] = canonical_catalog(catalog)
    return out


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_STREAM_FIELD_CHECKS: tuple[tuple[str, Any, str], ...] = (
    ("json_schema", lambda v: isinstance(v, dict), "a mapping"),
    ("supported_sync_modes", _is_text_list, "a list of sync modes"),
    ("source_defined_cursor", lambda v: isinstance(v, bool), "true or false"),
    ("default_cursor_field", _is_text_list, "a list of field names"),
    (
        "source_defined_primary_key",
        lambda v: isinstance(v, list) and all(_is_text_list(k) for k in v),
        "a list of field paths ([[id]])",
    ),
    ("namespace", lambda v: isinstance(v, str), "text"),
    ("is_resumable", lambda v: isinstance(v, bool), "true or false"),
)


def _catalog_ok(catalog: dict[str, Any], where: str, p: _Problems) -> bool:
    """Whether each stream of a file's catalog has the protocol's types."""
    before = len(p.items)
    for index, raw in enumerate(catalog["streams"]):
        spot = f"{where} catalog stream {index}"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            p.add(spot, "must be a mapping with a `name` (text).")
            continue
        spot = f"{where} catalog stream “{raw['name']}”"
        for key, valid, expected in _STREAM_FIELD_CHECKS:
            if raw.get(key) is not None and not valid(raw[key]):
                p.add(spot, f"`{key}` must be {expected}.")
    return len(p.items) == before


def canonical_catalog(catalog: dict[str, Any]) -> dict[str, Any]:
    """A discovered catalog with its streams in the protocol's shape, sorted."""
    streams = []
    for raw in catalog.get("streams") or []:
        if not isinstance(raw, dict) or not raw.get("name"):
            continue
        stream: dict[str, Any] = {
            "name": str(raw["name"]),
            "json_schema": sorted_deep(raw.get("json_schema") or {}),
            "supported_sync_modes": list(
                raw.get("supported_sync_modes") or ["full_refresh"]
            ),
            "source_defined_cursor": bool(raw.get("source_defined_cursor")),
            "default_cursor_field": list(raw.get("default_cursor_field") or []),
            "source_defined_primary_key": [
                list(k) for k in raw.get("source_defined_primary_key") or []
            ],
        }
        if raw.get("namespace") is not None:
            stream["namespace"] = str(raw["namespace"])
        if raw.get("is_resumable") is not None:
            stream["is_resumable"] = bool(raw["is_resumable"])
        streams.append(stream)
    streams.sort(key=lambda s: (s.get("namespace") or "", s["name"]))
    return {"streams": streams}


_STREAM_KEYS = (
    "name",
    "namespace",
    "selected",
    "sync_mode",
    "destination_sync_mode",
    "cursor_field",
    "primary_key",
    "selected_fields",
)


def canonical_stream(raw: dict[str, Any], where: str, p: _Problems) -> dict[str, Any]:
    """One stream of a connection; empty values are left out."""
    _unknown_keys(raw, _STREAM_KEYS, where, p)
    stream: dict[str, Any] = {"name": _text(raw, "name", where, p)}
    if raw.get("namespace"):
        stream["namespace"] = str(raw["namespace"])
    stream["selected"] = _bool(raw, "selected", where, p, True)
    stream["sync_mode"] = _text(raw, "sync_mode", where, p, default="full_refresh")
    stream["destination_sync_mode"] = _text(
        raw, "destination_sync_mode", where, p, default="overwrite"
    )
    cursor = _str_list(raw.get("cursor_field"), "cursor_field", where, p)
    if cursor:
        stream["cursor_field"] = cursor
    key = raw.get("primary_key") or []
    if not isinstance(key, list) or not all(
        isinstance(path, list) and all(isinstance(part, str) for part in path)
        for path in key
    ):
        p.add(where, "`primary_key` must be a list of field paths ([[id]]).")
        key = []
    if key:
        stream["primary_key"] = [list(path) for path in key]
    fields = _str_list(raw.get("selected_fields"), "selected_fields", where, p)
    if fields:
        stream["selected_fields"] = fields
    return stream


_SCHEDULE_KEYS = (
    "name",
    "kind",
    "interval_minutes",
    "cron_expression",
    "timezone",
    "paused",
)


def _schedule(raw: Any, where: str, p: _Problems) -> dict[str, Any] | None:
    if raw in (None, "", {}):
        return None
    if not isinstance(raw, dict):
        p.add(where, "`schedule` must be a mapping.")
        return None
    _unknown_keys(raw, _SCHEDULE_KEYS, f"{where} schedule", p)
    kind = _text(raw, "kind", where, p, default="cron")
    schedule: dict[str, Any] = {
        "name": _text(raw, "name", f"{where} schedule", p),
        "kind": kind,
    }
    if kind == "interval":
        minutes = raw.get("interval_minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            p.add(where, "an interval schedule needs `interval_minutes` (a number).")
        schedule["interval_minutes"] = minutes
    elif kind == "cron":
        schedule["cron_expression"] = _text(
            raw, "cron_expression", f"{where} schedule", p
        )
    schedule["timezone"] = _text(raw, "timezone", where, p, default="UTC")
    schedule["paused"] = _bool(raw, "paused", where, p, False)
    return schedule


_CONNECTION_KEYS = (
    "name",
    "source",
    "destination",
    "status",
    "namespace",
    "table_prefix",
    "schema_change_policy",
    "streams",
    "schedule",
)


def _connection(item: dict, where: str, p: _Problems) -> dict[str, Any]:
    _unknown_keys(item, _CONNECTION_KEYS, where, p)
    streams = item.get("streams") or []
    if not isinstance(streams, list):
        p.add(where, "`streams` must be a list.")
        streams = []
    canonical = [
        canonical_stream(s, f"{where} stream {i}", p)
        for i, s in enumerate(streams)
        if isinstance(s, dict)
    ]
    canonical.sort(key=lambda s: (s.get("namespace") or "", s["name"]))
    return {
        "name": _text(item, "name", where, p),
        "source": _text(item, "source", where, p),
        "destination": _text(item, "destination", where, p),
        "status": _text(item, "status", where, p, default="active"),
        "namespace": _text(item, "namespace", where, p, default="public") or "public",
        "table_prefix": _text(item, "table_prefix", where, p, default=""),
        "schema_change_policy": _text(
            item, "schema_change_policy", where, p, default="ignore"
        ),
        "streams": canonical,
        "schedule": _schedule(item.get("schedule"), where, p),
    }


def _webhook(item: dict, where: str, p: _Problems) -> dict[str, Any]:
    _unknown_keys(item, ("name", "url", "events", "format", "enabled"), where, p)
    events = item.get("events") or []
    if isinstance(events, str):
        events = [e for e in events.replace(" ", ",").split(",") if e]
    return {
        "name": _text(item, "name", where, p),
        "url": _text(item, "url", where, p),
        "events": sorted(set(_str_list(events, "events", where, p))),
        "format": _text(item, "format", where, p, default="console"),
        "enabled": _bool(item, "enabled", where, p, True),
    }


_TRANSFORM_KEYS = (
    "name",
    "kind",
    "destination",
    "connection",
    "git_url",
    "git_branch",
    "git_credential",
    "schedule",
    "triggers",
)


def _transform(item: dict, where: str, p: _Problems) -> dict[str, Any]:
    _unknown_keys(item, _TRANSFORM_KEYS, where, p)
    kind = _text(item, "kind", where, p)
    out: dict[str, Any] = {
        "name": _text(item, "name", where, p),
        "kind": kind,
        "destination": _optional_text(item, "destination", where, p),
    }
    if kind == "generated":
        out["connection"] = _optional_text(item, "connection", where, p)
    if kind == "git":
        out["git_url"] = _text(item, "git_url", where, p)
        out["git_branch"] = _text(item, "git_branch", where, p, default="main")
        out["git_credential"] = _optional_text(item, "git_credential", where, p)
    schedule = item.get("schedule")
    if schedule:
        if not isinstance(schedule, dict):
            p.add(where, "`schedule` must be a mapping.")
        else:
            out["schedule"] = {
                "cron_expression": _text(schedule, "cron_expression", where, p),
                "timezone": _text(schedule, "timezone", where, p, default="UTC"),
                "selector": _text(schedule, "selector", where, p, default=""),
            }
    triggers = item.get("triggers") or []
    if not isinstance(triggers, list):
        p.add(where, "`triggers` must be a list.")
        triggers = []
    canonical = []
    for index, raw in enumerate(triggers):
        spot = f"{where} trigger {index}"
        if not isinstance(raw, dict):
            p.add(spot, "must be a mapping.")
            continue
        _unknown_keys(raw, ("connection", "command", "selector", "enabled"), spot, p)
        canonical.append(
            {
                "connection": _text(raw, "connection", spot, p),
                "command": _text(raw, "command", spot, p, default="build"),
                "selector": _text(raw, "selector", spot, p, default=""),
                "enabled": _bool(raw, "enabled", spot, p, True),
            }
        )
    canonical.sort(key=lambda t: t["connection"].casefold())
    out["triggers"] = canonical
    return out


def _member(item: dict, where: str, p: _Problems) -> dict[str, Any]:
    _unknown_keys(item, ("email", "role"), where, p)
    return {
        "email": _text(item, "email", where, p).strip().lower(),
        "role": _text(item, "role", where, p, default="viewer"),
    }


_BUILDERS = {
    "credentials": _credential,
    "sources": lambda item, where, p: _connector(item, where, "sources", p),
    "destinations": lambda item, where, p: _connector(item, where, "destinations", p),
    "connections": _connection,
    "webhooks": _webhook,
    "transforms": _transform,
    "members": _member,
}


def key_of(kind: str, item: dict[str, Any]) -> str:
    """What objects of a kind are matched by: the name (the email), any case."""
    return str(item.get("email") if kind == "members" else item.get("name")).casefold()


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """The canonical form of a document; DocumentError lists every problem."""
    p = _Problems()
    version = document.get("version")
    if version != VERSION:
        p.add("", f"`version` must be {VERSION} (found {version!r}).")
    _unknown_keys(document, ("version", *KINDS), "", p)
    out: dict[str, Any] = {"version": VERSION}
    for kind in KINDS:
        items = [
            _BUILDERS[kind](item, where, p) for where, item in _items(document, kind, p)
        ]
        seen: set[str] = set()
        for item in items:
            key = key_of(kind, item)
            if key in seen:
                p.add(kind, f"“{key}” appears twice.")
            seen.add(key)
        items.sort(key=lambda item, kind=kind: key_of(kind, item))
        out[kind] = items
    if p.items:
        raise DocumentError(p.items)
    return out
