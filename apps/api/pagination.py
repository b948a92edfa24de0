"""Limit/offset pages with ``next`` and ``previous`` links, as Airbyte's lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apps.api.problems import bad_request

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# The spec's offset is an int32; a larger one would overflow the database's.
MAX_OFFSET = 2**31 - 1


def check_window(limit: int, offset: int) -> None:
    """Refuse a page size or offset outside the spec's bounds (1..100, an int32)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(
            f"limit must be between 1 and {MAX_LIMIT}; it was {limit}.",
            {"errors": [{"path": "limit", "message": "between 1 and 100"}]},
        )
    if not 0 <= offset <= MAX_OFFSET:
        raise bad_request(
            f"offset must be between 0 and {MAX_OFFSET}; it was {offset}.",
            {"errors": [{"path": "offset", "message": f"between 0 and {MAX_OFFSET}"}]},
        )


def _link(request: HttpRequest, limit: int, offset: int) -> str:
    query = request.GET.copy()
    query["limit"] = str(limit)
    query["offset"] = str(offset)
    # QueryDict.urlencode keeps repeated keys (``workspaceIds=a&workspaceIds=b``,
    # as the SDK sends them); urllib's urlencode would keep only the last.
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def paginate(
    request: HttpRequest, queryset: QuerySet, *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of ``queryset`` (which must be ordered) and the links around it.

    ``next`` is given only when the page is full, so a client that follows it
    stops at the end (Airbyte gives it whenever a page is non-empty, which sends
    followers to one empty page more; clients that stop on a short page see no
    difference). ``previous`` is "" on the first page. One query more than the
    page (``limit + 1`` rows) says whether another page exists.
    """
    check_window(limit, offset)
    rows = list(queryset[offset : offset + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": rows,
        "next": _link(request, limit, offset + limit) if more else "",
        "previous": _link(request, limit, max(offset - limit, 0)) if offset else "",
    }


def id_list(raw: list[str] | str | None) -> list[str]:
    """Query ids given repeated (``?a=1&a=2``) or comma-joined (``?a=1,2``)."""
    if raw is None:
        return []
    values = [raw] if isinstance(raw, str) else raw
    return [
        part.strip()
        for value in values
        for part in str(value).split(",")
        if part.strip()
    ]
