"""Source and destination pages: one set of views, the URL says which kind."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connectors import selectors, services
from apps.connectors.catalog.selectors import source_version_choices
from apps.connectors.forms import ConnectorNameForm, ManifestForm, SearchForm
from apps.connectors.models import (
    ConnectorConfig,
    ConnectorDefinition,
    ConnectorDraftCheck,
    Source,
)
from apps.connectors.spec.check_errors import FieldRef, failure_pointer
from apps.connectors.spec.config import mask_config
from apps.connectors.spec.credential_pick import CredentialMeta, credential_meta
from apps.connectors.spec.display import settings_rows
from apps.connectors.spec.fields import OBJECT, ONEOF, SECRET
from apps.connectors.spec.forms import SpecForm
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page
from apps.core.masking import MASK, has_masked_secrets
from apps.core.roles import Role
from apps.engines import declarative
from apps.engines.base import EngineError
from apps.workspaces.access import require_role

# A draft check still pending after its task's time limit lost its worker.
DRAFT_LOST_AFTER = timedelta(seconds=1800 + 60)

LABELS = {
    "source": ("Source", "Sources"),
    "destination": ("Destination", "Destinations"),
}


def _inline(request: HttpRequest) -> bool:
    """Created from inside the new-connection flow, without leaving it."""
    return bool(request.GET.get("inline") or request.POST.get("inline"))


def _base(kind: str, membership) -> dict[str, Any]:
    singular, plural = LABELS[kind]
    return {
        "kind": kind,
        "kind_label": singular,
        "kind_plural": plural,
        "workspace": membership.workspace,
        "membership": membership,
    }


def _credentials(workspace) -> tuple[list[tuple[str, str]], dict[str, CredentialMeta]]:
    """The workspace's credentials for secret fields: ``(id, label)`` choices that
    tell them apart (type and hint), and each one's type and fill values."""
    from apps.credentials.selectors import credential_list

    rows = list(credential_list(workspace=workspace))
    choices = []
    for c in rows:
        detail = c.get_type_display()
        if c.hint_text:
            detail += f": {c.hint_text}"
        choices.append((str(c.public_id), f"{c.name} ({detail})"))
    return choices, {str(c.public_id): credential_meta(c) for c in rows}


@login_required
@require_GET
def connector_list(request: HttpRequest, workspace_id: UUID, kind: str) -> HttpResponse:
    """A workspace's sources or destinations."""
    membership = require_role(request, workspace_id)
    form = SearchForm(request.GET or None)
    search = form.cleaned_data["q"] if form.is_valid() else ""
    context = {
        **_base(kind, membership),
        "form": form,
        "rows": selectors.connector_list(
            workspace=membership.workspace, kind=kind, search=search
        ),
    }
    return render_page(
        request, "connectors/connector_list.html", context, partial="rows"
    )


def _definition_from(
    request: HttpRequest, kind: str, workspace: Any
) -> ConnectorDefinition | None:
    raw = request.POST.get("definition") or request.GET.get("definition")
    if not raw:
        return None
    try:
        UUID(str(raw))
    except ValueError:
        return None
    # Not another workspace's connector from its connector builder.
    return selectors.visible_definitions(
        ConnectorDefinition.objects.filter(public_id=raw, kind=kind),
        workspace=workspace,
    ).first()


def _manifest_from(
    request: HttpRequest, initial: dict | None
) -> tuple[ManifestForm, dict | None]:
    """The manifest form and the parsed manifest (POSTed, or the stored one)."""
    if request.method == "POST":
        form = ManifestForm(request.POST)
        if form.is_valid():
            try:
                return form, declarative.parse_manifest_text(
                    form.cleaned_data["manifest"]
                )
            except declarative.ManifestError as exc:
                form.add_error("manifest", str(exc))
        return form, None
    stored = (initial or {}).get(declarative.MANIFEST_KEY)
    text = ""
    if stored:
        try:
            import yaml

            text = yaml.safe_dump(stored, sort_keys=False)
        except ModuleNotFoundError:  # pragma: no cover - PyYAML is a requirement
            import json

            text = json.dumps(stored, indent=2)
    return ManifestForm(initial={"manifest": text}), stored


def _show_error(name_form, spec_form: SpecForm, exc: ValidationError) -> None:
    """A service's error beside its field: a JSON pointer is a spec form field
    (a secret that must be typed again, a credential refused for this host)."""
    if hasattr(exc, "error_dict") and any(
        str(key).startswith("/") for key in exc.error_dict
    ):
        spec_form.add_error(None, exc)
    else:
        apply_validation_error(name_form, exc)


def _draft_from(
    request: HttpRequest,
    workspace,
    kind: str,
    definition: ConnectorDefinition,
    obj: ConnectorConfig | None,
) -> ConnectorDraftCheck | None:
    """The draft check this form asked for earlier (its own user's, same target)."""
    raw = request.POST.get("draft", "")
    try:
        UUID(raw)
    except ValueError:
        return None
    return (
        ConnectorDraftCheck.objects.for_workspace(workspace)
        .filter(
            public_id=raw,
            kind=kind,
            definition=definition,
            created_by=request.user,
            target_id=obj.public_id if obj is not None else None,
        )
        .first()
    )


def _draft_secrets(draft: ConnectorDraftCheck | None) -> dict[str, Any]:
    if draft is None or not draft.secrets:
        return {}
    try:
        found = json.loads(draft.secrets)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _spec_form(
    schema: dict,
    *,
    data,
    obj: ConnectorConfig | None,
    initial_config: dict,
    workspace,
    draft: ConnectorDraftCheck | None,
) -> SpecForm:
    """The spec form; a draft's secrets count as stored, so the page shows them as
    the mask and a post of the mask sends the tested value again."""
    stored = selectors.stored_secrets(obj) if obj else {}
    drafted = _draft_secrets(draft)
    choices, meta = _credentials(workspace)
    form = SpecForm(
        schema,
        data=data,
        initial_config=initial_config,
        stored_secrets={**stored, **drafted},
        credential_choices=choices,
        credential_meta=meta,
        initial_credential_refs=obj.credential_refs if obj else {},
    )
    if data is not None and drafted:
        masked = data.copy()
        for pointer, value in drafted.items():
            field = form.fields.get(pointer)
            # Blank or the tested value means "keep what was tested"; a value the
            # user typed after a failed test is the one to test (or save) now.
            posted = data.get(field.html_name) if field is not None else None
            if (
                field is not None
                and not field.credential_value
                and posted in ("", None, value)
            ):
                masked[field.html_name] = MASK
        form = SpecForm(
            schema,
            data=masked,
            initial_config=initial_config,
            stored_secrets={**stored, **drafted},
            credential_choices=choices,
            credential_meta=meta,
            initial_credential_refs=obj.credential_refs if obj else {},
        )
    for pointer, value in drafted.items():
        field = form.fields.get(pointer)
        if field is not None and stored.get(pointer) != value:
            field.secret_from_test = True
    return form


def _show_failure(spec_form: SpecForm, message: str) -> str:
    """The failed test's message beside the field it is about; its label, if any."""
    refs = [
        FieldRef(
            pointer=pointer,
            key=field.key,
            label=field.label,
            secret=field.kind == SECRET,
        )
        for pointer, field in spec_form.fields.items()
        if field.kind not in (OBJECT, ONEOF)
    ]
    pointer = failure_pointer(message, refs)
    spec_form.add_error(pointer, f"The connection test failed: {message}")
    return spec_form.fields[pointer].label if pointer else ""


def _editor(
    request: HttpRequest,
    membership,
    kind: str,
    definition: ConnectorDefinition,
    obj: ConnectorConfig | None,
) -> HttpResponse:
    """Create or edit: the name, the manifest for YAML sources, and the spec form.

    The form's button tests the settings before saving them: a draft check runs on
    a worker while the form polls it (``action=poll``); a pass saves, a failure
    stays on the form with the message beside its cause and offers "Save anyway"
    (saved, marked failing). A POST without an ``action`` (a script) saves and
    tests afterwards, as before.
    """
    workspace = membership.workspace
    context = {
        **_base(kind, membership),
        "definition": definition,
        "obj": obj,
        "inline": obj is None and _inline(request),
    }
    action = request.POST.get("action", "") if request.method == "POST" else ""
    bound = request.method == "POST" and action != "preview"
    source = obj if isinstance(obj, Source) else None
    name_form = ConnectorNameForm(
        request.POST if request.method == "POST" else None,
        initial={"name": obj.name if obj else definition.name},
        versions=source_version_choices(source=source) if source else None,
        current_version=source.pinned_version if source else "",
        default_version=definition.pypi_version,
    )
    manifest_form = manifest = None
    initial_config = dict(obj.config) if obj else {}
    if definition.is_declarative_manifest:
        manifest_form, manifest = _manifest_from(request, initial_config)
        context["manifest_form"] = manifest_form
        initial_config.pop(declarative.MANIFEST_KEY, None)
    try:
        if definition.is_declarative_manifest:
            schema = (
                declarative.manifest_spec(manifest).connection_specification
                if manifest
                else None
            )
        else:
            schema = selectors.connector_spec_schema(
                definition,
                workspace=workspace,
                ref=source.connector_ref if source else None,
            )
    except (EngineError, declarative.ManifestError) as exc:
        context["spec_error"] = getattr(exc, "message", str(exc))
        schema = None
    draft = _draft_from(request, workspace, kind, definition, obj) if bound else None
    lost = False
    if action == "poll" and draft is not None and draft.status == draft.Status.PENDING:
        if timezone.now() - draft.created_at < DRAFT_LOST_AFTER:
            # Still testing: nothing to swap, the form stays as the user sees it.
            return HttpResponse(status=204)
        # Past the task's time limit: no worker will answer any more.
        lost = True
    spec_form = None
    if schema is not None:
        spec_form = _spec_form(
            schema,
            data=request.POST if bound else None,
            obj=obj,
            initial_config=initial_config,
            workspace=workspace,
            draft=draft,
        )
    context.update(name_form=name_form, spec_form=spec_form)
    if (
        bound
        and spec_form is not None
        and name_form.is_valid()
        and spec_form.is_valid()
    ):
        config = dict(spec_form.cleaned_config)
        if manifest is not None:
            config[declarative.MANIFEST_KEY] = manifest
        secrets = dict(spec_form.cleaned_secrets)
        refs = dict(spec_form.credential_refs)
        version = name_form.cleaned_data.get("connector_version") or (
            source.pinned_version if source else ""
        )
        stored = selectors.stored_secrets(obj) if obj else {}
        # Kept from the saved row (not the draft): a service refuses to send those
        # to a changed host.
        kept = {
            p
            for p in spec_form.kept_secrets
            if p in stored and secrets.get(p) == stored[p]
        }
        digest = services.draft_digest(
            config=config, secrets=secrets, credential_refs=refs, version=version
        )
        tested = (
            draft is not None
            and draft.digest == digest
            and draft.status != draft.Status.PENDING
        )
        if lost:
            context.update(draft=draft, draft_lost=True)
            return render_page(
                request, "connectors/connector_form.html", context, partial="form"
            )
        try:
            if action in ("test", "poll", "save_anyway") and not (
                tested and (draft.status == draft.Status.SUCCEEDED or action != "test")
            ):
                draft = services.connector_draft_check_request(
                    actor=request.user,
                    workspace=workspace,
                    kind=kind,
                    definition=definition,
                    config=config,
                    secrets=secrets,
                    credential_refs=refs,
                    version=version,
                    target=obj,
                    kept_secrets=kept,
                )
                context["draft"] = draft
                context["spec_form"] = _spec_form(
                    schema,
                    data=request.POST,
                    obj=obj,
                    initial_config=initial_config,
                    workspace=workspace,
                    draft=draft,
                )
                context["spec_form"].is_valid()
                return render_page(
                    request, "connectors/connector_form.html", context, partial="form"
                )
            if (
                action == "poll"
                and draft is not None
                and draft.status == draft.Status.FAILED
            ):
                context["draft"] = draft
                context["failed_field"] = _show_failure(spec_form, draft.message)
                return render_page(
                    request,
                    "connectors/connector_form.html",
                    context,
                    partial="form",
                    status=400,
                )
            check = services.draft_check_result(draft) if tested else None
            if obj is None:
                obj = services.connector_create(
                    actor=request.user,
                    workspace=workspace,
                    kind=kind,
                    name=name_form.cleaned_data["name"],
                    definition=definition,
                    config=config,
                    secrets=secrets,
                    credential_refs=refs,
                    check=check,
                )
                done = "created"
            else:
                obj = services.connector_update(
                    actor=request.user,
                    obj=obj,
                    name=name_form.cleaned_data["name"],
                    config=config,
                    secrets=secrets,
                    credential_refs=refs,
                    kept_secrets=kept,
                    connector_version=name_form.cleaned_data.get("connector_version"),
                    check=check,
                )
                done = "saved"
        except ValidationError as exc:
            _show_error(name_form, spec_form, exc)
        else:
            label = context["kind_label"]
            if check is None:
                services.connector_check_request(actor=request.user, obj=obj)
                messages.success(
                    request, f"{label} “{obj.name}” {done}; testing it now."
                )
            elif check.ok:
                messages.success(
                    request, f"{label} “{obj.name}” {done}; its connection test passed."
                )
            else:
                messages.warning(
                    request,
                    f"{label} “{obj.name}” {done} although its connection test "
                    "failed; it is marked failing until a test passes.",
                )
            if draft is not None:
                draft.delete()
            if context["inline"]:
                return _inline_created(request, membership, kind, obj)
            return redirect(
                request,
                f"connectors:{kind}_detail",
                workspace_id=workspace.public_id,
                public_id=obj.public_id,
            )
    invalid = bound and (
        not name_form.is_valid() or spec_form is None or not spec_form.is_valid()
    )
    return render_page(
        request,
        "connectors/connector_form.html",
        context,
        partial="form",
        status=400 if invalid else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def connector_create(
    request: HttpRequest, workspace_id: UUID, kind: str
) -> HttpResponse:
    """Pick a connector, then fill in the form its spec generates."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    definition = _definition_from(request, kind, membership.workspace)
    inline = _inline(request)
    if definition is None:
        context = {
            **_base(kind, membership),
            "definitions": selectors.definition_choices(
                kind=kind, workspace=membership.workspace
            ),
            "inline": inline,
        }
        return render_page(
            request, "connectors/connector_pick.html", context, partial="picker"
        )
    if not selectors.definition_ready(definition, workspace=membership.workspace):
        context = {
            **_base(kind, membership),
            "definition": definition,
            "inline": inline,
        }
        return render_page(
            request,
            "connectors/connector_not_installed.html",
            context,
            partial="notice",
        )
    return _editor(request, membership, kind, definition, None)


def _inline_created(
    request: HttpRequest, membership, kind: str, obj: ConnectorConfig
) -> HttpResponse:
    """Back in the connection flow: the new one is chosen, its streams on the way."""
    if kind == "source":
        services.source_discover_request(actor=request.user, source=obj)
    context = {
        **_base(kind, membership),
        "obj": obj,
        "choices": selectors.connector_list(workspace=membership.workspace, kind=kind),
    }
    return render_page(request, "connectors/_inline_created.html", context)


def _get(
    request: HttpRequest, workspace_id: UUID, kind: str, public_id: UUID, role: str
):
    membership = require_role(request, workspace_id, role)
    obj = selectors.connector_get(
        workspace=membership.workspace, kind=kind, public_id=public_id
    )
    return membership, obj


@login_required
@require_http_methods(["GET", "POST"])
def connector_edit(
    request: HttpRequest, workspace_id: UUID, kind: str, public_id: UUID
) -> HttpResponse:
    """Change a source's or destination's settings; secrets show as the mask."""
    membership, obj = _get(request, workspace_id, kind, public_id, Role.EDITOR)
    return _editor(request, membership, kind, obj.definition, obj)


@login_required
@require_GET
def connector_detail(
    request: HttpRequest, workspace_id: UUID, kind: str, public_id: UUID
) -> HttpResponse:
    """One source or destination: settings (masked), test result, streams, usage."""
    membership, obj = _get(request, workspace_id, kind, public_id, Role.VIEWER)
    try:
        schema = selectors.connector_spec_schema(
            obj.definition, obj.config, workspace=obj.workspace, ref=obj.connector_ref
        )
    except (EngineError, declarative.ManifestError):
        schema = {}
    shown = {
        k: v for k, v in (obj.config or {}).items() if k != declarative.MANIFEST_KEY
    }
    secrets = selectors.stored_secrets(obj)
    context = {
        **_base(kind, membership),
        "obj": obj,
        "settings": settings_rows(
            mask_config(shown, schema) if schema else shown,
            schema,
            secret_pointers=set(secrets) | set(obj.credential_refs or {}),
        ),
        "connections": selectors.connections_using(obj),
        "streams": (obj.catalog or {}).get("streams", []) if kind == "source" else [],
        "secrets_on_server": bool(obj.remote_id) and has_masked_secrets(obj.config),
    }
    return render_page(request, "connectors/connector_detail.html", context)


@login_required
@require_POST
def connector_delete(
    request: HttpRequest, workspace_id: UUID, kind: str, public_id: UUID
) -> HttpResponse:
    """Delete, unless a connection uses it (the message names them)."""
    _, obj = _get(request, workspace_id, kind, public_id, Role.EDITOR)
    try:
        services.connector_delete(actor=request.user, obj=obj)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(
            request,
            f"connectors:{kind}_detail",
            workspace_id=workspace_id,
            public_id=public_id,
        )
    messages.success(request, f"{LABELS[kind][0]} “{obj.name}” deleted.")
    return redirect(request, f"connectors:{kind}_list", workspace_id=workspace_id)


@login_required
@require_http_methods(["GET", "POST"])
def connector_check(
    request: HttpRequest, workspace_id: UUID, kind: str, public_id: UUID
) -> HttpResponse:
    """POST starts "Test connection"; GET is the result fragment the page polls."""
    role = Role.EDITOR if request.method == "POST" else Role.VIEWER
    membership, obj = _get(request, workspace_id, kind, public_id, role)
    if request.method == "POST":
        services.connector_check_request(actor=request.user, obj=obj)
        obj.refresh_from_db()
    context = {**_base(kind, membership), "obj": obj}
    return render_page(
        request, "connectors/connector_detail.html", context, partial="check"
    )


@login_required
@require_http_methods(["GET", "POST"])
def source_discover(
    request: HttpRequest, workspace_id: UUID, public_id: UUID
) -> HttpResponse:
    """POST refreshes the source's schema; GET is the fragment the page polls."""
    role = Role.EDITOR if request.method == "POST" else Role.VIEWER
    membership, obj = _get(request, workspace_id, "source", public_id, role)
    if request.method == "POST":
        services.source_discover_request(actor=request.user, source=obj)
        obj.refresh_from_db()
    context = {
        **_base("source", membership),
        "obj": obj,
        "streams": (obj.catalog or {}).get("streams", []),
    }
    return render_page(
        request, "connectors/connector_detail.html", context, partial="streams"
    )
