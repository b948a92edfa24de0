"""Celery tasks for connectors: thin wrappers that take ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from apps.connectors.catalog import services as catalog_services

logger = logging.getLogger(__name__)

# Longer than the longest pip run the installer allows, so Celery never kills an
# install the installer would still have finished or reported on.
_INSTALL_LIMIT = int(getattr(settings, "CONNECTOR_INSTALL_TIMEOUT", 15 * 60)) + 300


@shared_task(
    name="connectors.install",
    ignore_result=True,
    time_limit=_INSTALL_LIMIT,
    soft_time_limit=_INSTALL_LIMIT - 30,
)
def connector_install_task(install_id: int) -> None:
    """Install or uninstall a connector; a second delivery finds nothing to claim."""
    catalog_services.connector_install_run(install_id=install_id)


@shared_task(
    name="connectors.registry_fetch",
    ignore_result=True,
    time_limit=30 * 60,
    soft_time_limit=29 * 60,
)
def registry_fetch_task(user_id: int | None = None) -> None:
    """The daily fetch of CONNECTOR_REGISTRY_URL, then the icons not cached yet;
    with ``user_id``, the fetch a staff user asked for on the catalog page.

    Safe to run twice: a second merge finds nothing to change, and icons already
    cached (or failed before) are not fetched again. The icon pass stays well
    inside the time limit (each icon within ``icons.ICON_DEADLINE``, the pass
    within ``icons.ICON_PASS_SECONDS``; see ``catalog.icons``): a slow icon server
    gets a ``.failed`` marker like a broken one, and icons a pass did not reach
    are taken by the next. A failed fetch is recorded
    (RegistryFetch) and shown on the catalog page; it is not an error here, so an
    offline laptop's worker logs one line instead of a traceback.
    """
    from django.contrib.auth import get_user_model

    if not settings.CONNECTOR_REGISTRY_URL:
        return
    actor = None
    if user_id is not None:
        actor = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if actor is None or not actor.is_staff:
            return  # Left, or no longer staff, since asking: nothing to do.
    fetch = catalog_services.catalog_fetch(actor=actor)
    if fetch.status != fetch.Status.SUCCEEDED:
        logger.warning("Connector registry fetch failed: %s", fetch.error)
        return
    catalog_services.catalog_icons_fetch()


@shared_task(
    name="connectors.check", ignore_result=True, time_limit=1800, soft_time_limit=1770
)
def connector_check_task(kind: str, pk: int) -> None:
    """Run "Test connection" for a source or destination and record the result."""
    from apps.connectors.services import connector_check_run

    connector_check_run(kind=kind, pk=pk)


@shared_task(
    name="connectors.discover",
    ignore_result=True,
    time_limit=1800,
    soft_time_limit=1770,
)
def source_discover_task(pk: int) -> None:
    """Refresh a source's catalog, then tell whoever follows it (its connections)."""
    from apps.connectors import signals
    from apps.connectors.models import Source
    from apps.connectors.services import source_discover_run

    if source_discover_run(pk=pk) is not None:
        source = Source.objects.select_related("workspace").get(pk=pk)
        signals.source_discovered.send(sender=Source, source=source)


@shared_task(
    name="connectors.draft_check",
    ignore_result=True,
    time_limit=1800,
    soft_time_limit=1770,
)
def connector_draft_check_task(pk: int) -> None:
    """Test a form's settings before they are saved; a second delivery does nothing."""
    from apps.connectors.services import connector_draft_check_run

    connector_draft_check_run(pk=pk)
