"""From a stream's JSON schema to typed columns, and from record values to cells.

Three jobs, shared by every destination writer:

1. **Types.** ``logical_type(schema)`` maps one property's JSON schema to a
   ``LogicalType``; each backend maps that to its own column type (see the table in
   ``base.py``).
2. **Names.** ``normalize_name`` turns a stream or field name into a lowercase snake
   case identifier; ``assign_names`` gives every field of a stream a distinct column
   name that fits PostgreSQL's 63-byte limit.
3. **Cells.** ``build_encoder`` compiles, per stream, a function that turns one
   record (a dict) into the tuple of cells the backend loads. A value that cannot be
   cast becomes NULL and is recorded in ``_airbyte_meta`` (with the original value);
   a value that had to be altered (a NUL byte removed, a decimal rounded) is kept,
   altered, and recorded too. Nothing fails a batch and nothing is dropped silently.

The encoder is generated Python source (one straight-line function per stream)
because it runs once per record: a generic loop over columns costs about twice as
much. Field names only ever enter the source through ``repr()``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, ClassVar

import orjson

from apps.core.json_schema import declared_types

# PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; DuckDB has no limit, but
# both backends use the same names so that a warehouse can move between them.
MAX_IDENTIFIER_BYTES = 63

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Integers beyond 2**53 do not survive a trip through a double.
DOUBLE_EXACT_INT = 2**53

NULLED = "NULLED"
TRUNCATED = "TRUNCATED"
SERIALIZATION_ERROR = "DESTINATION_SERIALIZATION_ERROR"
FIELD_SIZE_LIMITATION = "DESTINATION_FIELD_SIZE_LIMITATION"


class LogicalType(StrEnum):
    """The column types the writers create, independent of the backend."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMPTZ = "timestamp_with_timezone"
    TIMESTAMP = "timestamp_without_timezone"
    TIMETZ = "time_with_timezone"
    TIME = "time_without_timezone"
    JSON = "json"


# ---------------------------------------------------------------------------
# JSON schema -> logical type


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def logical_type(schema: Any) -> LogicalType:
    """The column type for one property's JSON schema.

    Unions (several non-null types, or ``oneOf``/``anyOf`` with several non-null
    branches) become JSON; a union of ``integer`` and ``number`` is a number, and a
    ``oneOf``/``anyOf`` with a single non-null branch is that branch (the shape
    pydantic gives an optional field).
    """
    if not isinstance(schema, dict):
        return LogicalType.JSON
    for key in ("oneOf", "anyOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            real = [b for b in branches if not _is_null_schema(b)]
            if len(real) == 1 and not declared_types(schema):
                return logical_type(real[0])
            return LogicalType.JSON
    types = declared_types(schema)
    if set(types) == {"integer", "number"}:
        types = ["number"]
    if len(types) != 1:
        return LogicalType.JSON
    kind = types[0]
    airbyte_type = schema.get("airbyte_type")
    fmt = schema.get("format")
    if kind == "string":
        if airbyte_type == "timestamp_without_timezone":
            return LogicalType.TIMESTAMP
        if airbyte_type == "timestamp_with_timezone" or fmt == "date-time":
            return LogicalType.TIMESTAMPTZ
        if airbyte_type == "date" or fmt == "date":
            return LogicalType.DATE
        if airbyte_type == "time_with_timezone":
            return LogicalType.TIMETZ
        if airbyte_type == "time_without_timezone" or fmt == "time":
            return LogicalType.TIME
        return LogicalType.STRING
    if kind == "integer":
        if airbyte_type == "big_integer":
            return LogicalType.NUMBER
        return LogicalType.INTEGER
    if kind == "number":
        if airbyte_type == "integer":
            return LogicalType.INTEGER
        return LogicalType.NUMBER
    if kind == "boolean":
        return LogicalType.BOOLEAN
    return LogicalType.JSON


def schema_properties(json_schema: Any) -> dict[str, Any]:
    """The top-level properties of a stream schema, in declaration order."""
    if not isinstance(json_schema, dict):
        return {}
    properties = json_schema.get("properties")
    return properties if isinstance(properties, dict) else {}


# ---------------------------------------------------------------------------
# Names

_INVALID_RUN = re.compile(r"[^\w]+")


def normalize_name(name: str) -> str:
    """A stream or field name as a lowercase snake case identifier.

    Accents are dropped (``Café`` -> ``cafe``), letters are lowercased, every run of
    characters that is not a letter, digit or underscore becomes one ``_``, and a
    name that would start with a digit (or be empty) gets a leading ``_``. Letters of
    other scripts are kept. The result may still be too long: see ``fit_identifier``.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    result = _INVALID_RUN.sub("_", stripped.lower())
    if not result or result[0].isdigit():
        result = "_" + result
    return result


def short_hash(text: str, length: int = 8) -> str:
    """A short stable hex digest, used to keep long or colliding names distinct."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[
        :length
    ]


def _cut_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")[:limit]
    return encoded.decode("utf-8", errors="ignore")


def fit_identifier(name: str, *, original: str | None = None) -> str:
    """``name`` if it fits in 63 bytes, else its head plus a hash of ``original``."""
    if len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES:
        return name
    suffix = "_" + short_hash(original if original is not None else name)
    return _cut_bytes(name, MAX_IDENTIFIER_BYTES - len(suffix)) + suffix


def assign_names(
    originals: Iterable[str], *, reserved: Iterable[str] = ()
) -> dict[str, str]:
    """A distinct identifier for each original name, stable across runs.

    Names that are already normalized claim their identifier first, then the others
    in sorted order; a name whose identifier is taken (two fields that normalize
    alike, or a field that normalizes to a reserved ``_airbyte_*`` column) gets its
    identifier plus a hash of its original spelling. The hash, unlike a counter,
    does not depend on which other fields exist.
    """
    used = set(reserved)
    result: dict[str, str] = {}
    names = list(dict.fromkeys(originals))
    for original in sorted(names, key=lambda n: (normalize_name(n) != n, n)):
        base = fit_identifier(normalize_name(original), original=original)
        candidate = base
        if candidate in used:
            suffix = "_" + short_hash(original)
            candidate = _cut_bytes(base, MAX_IDENTIFIER_BYTES - len(suffix)) + suffix
        counter = 2
        while candidate in used:
            suffix = f"_{short_hash(original)}_{counter}"
            candidate = _cut_bytes(base, MAX_IDENTIFIER_BYTES - len(suffix)) + suffix
            counter += 1
        used.add(candidate)
        result[original] = candidate
    return {name: result[name] for name in names}


@dataclass(frozen=True)
class Column:
    """One typed column of a stream's table: where its value comes from and its type."""

    field: str
    name: str
    type: LogicalType


def columns_for_schema(json_schema: Any, *, reserved: Iterable[str]) -> list[Column]:
    """The typed columns for a stream schema's top-level properties, in order."""
    properties = schema_properties(json_schema)
    names = assign_names(properties, reserved=reserved)
    return [
        Column(field=field, name=names[field], type=logical_type(sub))
        for field, sub in properties.items()
    ]


# ---------------------------------------------------------------------------
# Casting


class CastFailed(Exception):
    """The value cannot be stored in the column: the cell becomes NULL."""

    change = NULLED

    def __init__(self, reason: str = SERIALIZATION_ERROR) -> None:
        super().__init__(reason)
        self.reason = reason


class CastAdjusted(Exception):
    """The value is stored altered (``value``); the change is recorded."""

    change = TRUNCATED

    def __init__(
        self, value: Any, reason: str = SERIALIZATION_ERROR, *, keep_original: bool
    ) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason
        self.keep_original = keep_original


_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_UTC = dt.UTC
_fromisoformat = dt.datetime.fromisoformat


def _json_default(value: Any) -> Any:
    # Decimals must keep every digit, which only the exact serializer below does.
    raise TypeError(type(value).__name__)


def _clean_surrogates(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def _dump_exact(value: Any) -> str:
    """JSON text for what orjson refuses: Decimals, integers beyond 64 bits, lone
    surrogates (replaced by U+FFFD, as no database stores them).

    Numbers keep every digit: a Decimal is written as the number it holds.
    """
    if isinstance(value, dict):
        items = (f"{_dump_exact(str(k))}:{_dump_exact(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dump_exact(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else "null"
    if isinstance(value, float):
        finite = value == value and abs(value) != float("inf")
        return repr(value) if finite else "null"
    text = value if isinstance(value, str) else str(value)
    return json.dumps(_clean_surrogates(text), ensure_ascii=False)


def dumps_json(value: Any) -> bytes:
    """JSON bytes for any decoded value, exact for Decimals and big integers."""
    try:
        return orjson.dumps(value, default=_json_default)
    except TypeError:
        return _dump_exact(value).encode("utf-8")


def _parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, ValueError):
        raise CastFailed() from None


def _to_int(value: Any) -> int:
    """An integer from an int, an integral float/Decimal or a numeric string."""
    if type(value) is bool:
        raise CastFailed()
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CastFailed()
        if not value.is_integer():
            raise CastFailed()
        result = int(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise CastFailed()
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value.strip())
        except ValueError:
            number = _parse_decimal(value)
            if not number.is_finite() or number != number.to_integral_value():
                raise CastFailed() from None
            result = int(number)
    else:
        raise CastFailed()
    return result


def _to_decimal(value: Any) -> Decimal | int:
    if type(value) is bool:
        raise CastFailed()
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, float):
        # repr() is the shortest text that reads back as the same float: the number
        # the source wrote, not the binary expansion Decimal(float) would give.
        return Decimal(repr(value))
    if isinstance(value, str):
        return _parse_decimal(value)
    raise CastFailed()


def _parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if not isinstance(value, str):
        raise CastFailed()
    text = value.strip()
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    # A few spellings fromisoformat refuses: a lowercase "z", a space before the
    # offset, more than six fractional digits handled above, "UTC" suffixes.
    fixed = text.replace("z", "Z")
    for suffix in (" UTC", "UTC"):
        if fixed.endswith(suffix):
            fixed = fixed[: -len(suffix)] + "+00:00"
    fixed = re.sub(r" ([+-]\d\d(:?\d\d)?)$", r"\1", fixed)
    try:
        return dt.datetime.fromisoformat(fixed)
    except ValueError:
        raise CastFailed() from None


def _parse_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if not isinstance(value, str):
        raise CastFailed()
    text = value.strip().replace("z", "Z")
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise CastFailed() from None


class Casts:
    """How record values become cells for one backend's loader.

    A method takes a value that did not match the inline fast path of
    ``build_encoder`` and returns the cell, or raises ``CastFailed`` (cell NULL)
    or ``CastAdjusted`` (cell altered). Backends override what differs: how
    numbers and JSON travel to the database and which strings it refuses.
    """

    #: Source text of an expression over ``v``, true when ``v`` can be used as is.
    fast_paths: dict[LogicalType, str] = {
        LogicalType.INTEGER: f"type(v) is int and {INT64_MIN} <= v <= {INT64_MAX}",
        LogicalType.BOOLEAN: "v is True or v is False",
    }

    def clean_text(self, text: str) -> str:
        """``text`` as the database can store it; raise CastAdjusted if altered."""
        if not text.isascii() and _SURROGATE.search(text):
            raise CastAdjusted(
                _SURROGATE.sub("\ufffd", text), SERIALIZATION_ERROR, keep_original=False
            )
        return text

    def string(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.clean_text(value)
        if value is True or value is False:
            return "true" if value else "false"
        if isinstance(value, int | Decimal):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        return self.clean_text(dumps_json(value).decode("utf-8"))

    def integer(self, value: Any) -> Any:
        result = _to_int(value)
        if not INT64_MIN <= result <= INT64_MAX:
            raise CastFailed(FIELD_SIZE_LIMITATION)
        return result

    def number(self, value: Any) -> Any:
        return _to_decimal(value)

    def boolean(self, value: Any) -> Any:
        if value is True or value is False:
            return value
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        if type(value) is int and value in (0, 1):
            return bool(value)
        raise CastFailed()

    def date(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        return _parse_datetime(value).date()

    def timestamptz(self, value: Any) -> Any:
        if type(value) is str:
            try:
                parsed = _fromisoformat(value)
            except ValueError:
                parsed = _parse_datetime(value)
        else:
            parsed = _parse_datetime(value)
        if parsed.tzinfo is None:
            # Airbyte reads a timestamp with time zone that has no offset as UTC.
            return parsed.replace(tzinfo=_UTC)
        return parsed

    def timestamp(self, value: Any) -> Any:
        parsed = _parse_datetime(value)
        # Like PostgreSQL's own cast to timestamp: the wall-clock time, offset ignored.
        return parsed.replace(tzinfo=None)

    def time(self, value: Any) -> Any:
        return _parse_time(value).replace(tzinfo=None)

    def timetz(self, value: Any) -> Any:
        parsed = _parse_time(value)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)

    def json(self, value: Any) -> Any:
        return dumps_json(value).decode("utf-8")

    # The cells of the _airbyte_* columns that hold JSON.
    def json_cell(self, data: bytes) -> Any:
        return data.decode("utf-8")

    def caster(self, kind: LogicalType) -> Callable[[Any], Any]:
        return {
            LogicalType.STRING: self.string,
            LogicalType.INTEGER: self.integer,
            LogicalType.NUMBER: self.number,
            LogicalType.BOOLEAN: self.boolean,
            LogicalType.DATE: self.date,
            LogicalType.TIMESTAMPTZ: self.timestamptz,
            LogicalType.TIMESTAMP: self.timestamp,
            LogicalType.TIME: self.time,
            LogicalType.TIMETZ: self.timetz,
            LogicalType.JSON: self.json,
        }[kind]


class DoubleCasts(Casts):
    """Casts for a backend whose numbers are doubles (DuckDB, Parquet files).

    A number a double cannot hold exactly is rounded and recorded in
    ``_airbyte_meta`` with the original; one out of a double's range is NULL.
    """

    fast_paths: ClassVar[dict[LogicalType, str]] = {
        LogicalType.STRING: "type(v) is str and v.isascii()",
        LogicalType.INTEGER: f"type(v) is int and {INT64_MIN} <= v <= {INT64_MAX}",
        LogicalType.NUMBER: (
            "type(v) is float or "
            f"(type(v) is int and {-DOUBLE_EXACT_INT} <= v <= {DOUBLE_EXACT_INT})"
        ),
        LogicalType.BOOLEAN: "v is True or v is False",
    }

    def number(self, value: Any) -> Any:
        if isinstance(value, float):
            return value
        exact = super().number(value)
        try:
            result = float(exact)
        except OverflowError:
            raise CastFailed(FIELD_SIZE_LIMITATION) from None
        if isinstance(exact, Decimal) and exact.is_nan():
            return result
        if isinstance(exact, int):
            same = abs(exact) <= DOUBLE_EXACT_INT or int(result) == exact
        else:
            same = Decimal(repr(result)) == exact
        if result in (float("inf"), float("-inf")) and not (
            isinstance(exact, Decimal) and exact.is_infinite()
        ):
            raise CastFailed(FIELD_SIZE_LIMITATION)
        if not same:
            raise CastAdjusted(result, FIELD_SIZE_LIMITATION, keep_original=True)
        return result


# ---------------------------------------------------------------------------
# The per-stream encoder

_MISSING = object()


def _change(field: str, exc: CastFailed | CastAdjusted, value: Any) -> dict[str, Any]:
    change: dict[str, Any] = {
        "field": field,
        "change": exc.change,
        "reason": exc.reason,
    }
    if isinstance(exc, CastFailed) or exc.keep_original:
        # A Decimal is recorded as text: a JSON reader would round the number.
        change["value"] = str(value) if isinstance(value, Decimal) else value
    return change


def _note(
    changes: list[dict[str, Any]] | None,
    field: str,
    exc: CastFailed | CastAdjusted,
    value: Any,
) -> list[dict[str, Any]]:
    if changes is None:
        changes = []
    changes.append(_change(field, exc, value))
    return changes


Encoder = Callable[[Any, Any, int, "list[dict[str, Any]] | None"], tuple[Any, ...]]


def build_encoder(
    columns: Sequence[Column],
    casts: Casts,
    *,
    generation_id: int,
    with_sequence: bool = False,
) -> Encoder:
    """Compile ``encode(data, extracted_at, seq, changes)`` for one stream.

    The tuple it returns holds, in order: one cell per column, then
    ``_airbyte_extracted_at``, ``_airbyte_meta``, ``_airbyte_generation_id``,
    ``_airbyte_extra`` (the fields that are not in the schema, as JSON, or None),
    and ``seq`` when ``with_sequence`` (the dedup staging order). ``changes`` are
    changes already made upstream (the record's own ``meta.changes``).
    """
    namespace: dict[str, Any] = {
        "M": _MISSING,
        "CastFailed": CastFailed,
        "CastAdjusted": CastAdjusted,
        "note": _note,
        "KNOWN": frozenset(c.field for c in columns),
        "dumps": dumps_json,
        "json_cell": casts.json_cell,
        "META_EMPTY": casts.json_cell(b'{"changes":[]}'),
        # For fast paths that take non-ASCII text as is when it holds no lone
        # surrogate (what ``Casts.clean_text`` would replace).
        "has_surrogate": _SURROGATE.search,
        "GEN": int(generation_id),
    }
    lines = ["def encode(data, ts, seq, changes):", "    get = data.get", "    n = 0"]
    cells = []
    for index, column in enumerate(columns):
        cast_name = f"cast{index}"
        namespace[cast_name] = casts.caster(column.type)
        field = repr(column.field)
        cell = f"c{index}"
        cells.append(cell)
        fast = casts.fast_paths.get(column.type)
        lines += [
            f"    v = get({field}, M)",
            "    if v is M:",
            f"        {cell} = None",
            "    else:",
            "        n += 1",
            "        if v is None:",
            f"            {cell} = None",
        ]
        if fast:
            lines += [f"        elif {fast}:", f"            {cell} = v"]
        lines += [
            "        else:",
            "            try:",
            f"                {cell} = {cast_name}(v)",
            "            except CastFailed as e:",
            f"                {cell} = None",
            f"                changes = note(changes, {field}, e, v)",
            "            except CastAdjusted as e:",
            f"                {cell} = e.value",
            f"                changes = note(changes, {field}, e, v)",
        ]
    lines += [
        "    if n != len(data):",
        "        extra = json_cell(dumps({k: x for k, x in data.items()"
        " if k not in KNOWN}))",
        "    else:",
        "        extra = None",
        "    if changes is None:",
        "        meta = META_EMPTY",
        "    else:",
        "        meta = json_cell(dumps({'changes': changes}))",
    ]
    tail = ["ts", "meta", "GEN", "extra"] + (["seq"] if with_sequence else [])
    lines.append("    return (" + ", ".join([*cells, *tail]) + ",)")
    source = "\n".join(lines) + "\n"
    code = compile(source, "<writers.typing.encoder>", "exec")
    exec(code, namespace)  # noqa: S102 - source built above from repr()'d names only
    return namespace["encode"]


# ---------------------------------------------------------------------------
# Decoding protocol lines without losing digits

_DIGITS_TO_ZERO = bytes.maketrans(b"123456789.", b"0000000000")
_LONG_NUMBER = b"0" * 17


def decode_json(line: bytes | str) -> Any:
    """Parse one protocol line; numbers keep every digit.

    orjson reads every non-integer number, and integers beyond 64 bits, as a double,
    so ``12345678901234567890.123456789`` would arrive rounded. A line with a run
    of 17 or more digits and dots (about 0.6 us to find out, a third of orjson's
    parse of a typical record) is parsed with ``json.loads(parse_float=Decimal)``
    instead; so is a line orjson refuses (lone surrogates, ``1e400``). Raises
    ``ValueError`` for a line that is not JSON at all.
    """
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
    if _LONG_NUMBER not in raw.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    text = raw.decode("utf-8", errors="surrogatepass")
    return json.loads(text, parse_float=Decimal)
