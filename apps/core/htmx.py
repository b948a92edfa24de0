"""HTMX helpers: render a named partial for htmx requests, the page otherwise."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url


def wants_partial(request: HttpRequest) -> bool:
    """An htmx request that is not boosted wants only the part it swaps."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render ``template``, or only its ``partial`` when htmx asks for a fragment."""
    name = f"{template}#{partial}" if partial and wants_partial(request) else template
    return render(request, name, context, status=status)


def redirect(request: HttpRequest, to: str, *args: Any, **kwargs: Any) -> HttpResponse:
    """Redirect after a successful POST, for plain forms and htmx alike.

    htmx follows a 302 inside the XHR and would swap the whole next page into the
    form's place; ``HX-Redirect`` makes the browser navigate instead.
    """
    url = resolve_url(to, *args, **kwargs)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)
