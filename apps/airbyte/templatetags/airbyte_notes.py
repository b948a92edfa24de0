"""``{% airbyte_note obj %}``: what the Airbyte server decided about an object.

The source, destination and connection pages belong to apps below the airbyte
engine, which may not import it; their templates load this tag instead, and it
renders nothing on the embedded engine or when the server decided nothing. A
connection's note also says when its source or destination was deleted in
Airbyte, since that is why its syncs stop.
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("airbyte/_remote_note.html", takes_context=True)
def airbyte_note(context: template.Context, obj: Any) -> dict[str, Any]:
    from apps.airbyte.mirror import mark_for
    from apps.airbyte.models import RemoteMark

    kind = obj._meta.model_name
    marks: list[RemoteMark] = []
    if getattr(obj.workspace, "engine", "") == "airbyte":
        items = [obj, obj.source, obj.destination] if kind == "connection" else [obj]
        marks = [mark for item in items if (mark := mark_for(item)) is not None]
    deleted = any(m.state == RemoteMark.State.DELETED for m in marks)
    membership = context.get("membership")
    return {
        "marks": marks,
        "obj": obj,
        "kind": kind,
        "workspace": obj.workspace,
        "can_recreate": bool(
            deleted and membership is not None and membership.can_edit
        ),
        "csrf_token": context.get("csrf_token"),
    }
