"""The form generated from a connector's JSON Schema spec.

:class:`SpecForm` turns a connector's ``connectionSpecification`` into a tree of
fields (``apps.connectors.spec.fields``), reads a POST back into a typed ``config``
dict, validates it against the whole schema with ``jsonschema`` and puts every
error beside the field it belongs to (``apps.connectors.spec.errors``).

How it works, in three steps:

1. **Build** (``__init__``): every property becomes a :class:`SpecField` of one
   *kind* (text, integer, enum, secret, object, oneof, ...). Objects hold child
   fields; a ``oneOf`` holds one :class:`SpecOption` per choice, each with its own
   fields. A bound form reads the raw strings from ``data`` at build time, but only
   for *active* fields: those outside the options the user did not choose.
2. **Clean** (``is_valid``): active fields are coerced (``"5"`` -> ``5``, one line
   per list item, a checkbox to a bool) into ``cleaned_config``; secret fields go to
   ``cleaned_secrets`` (``{json_pointer: value}``) or ``credential_refs``
   (``{json_pointer: credential choice}``) instead.
3. **Validate**: the merged config is checked with ``Draft7Validator``; each error's
   JSON path (plus the missing property for ``required``) finds its field. A failed
   ``oneOf`` is explained by the errors of the option the user chose.

Input names are the JSON path joined with ``__`` after the prefix
(``cfg__port``, ``cfg__tunnel__host``). A ``oneOf`` is chosen by a radio named after
its discriminator (``cfg__provider__storage``, the property every option fixes with
``const``) or after the object itself when there is none; the fields of option ``i``
carry ``i`` in their name (``cfg__provider__4__host``) because options often share
property names.

Secrets (``airbyte_secret``) are never rendered: a stored one shows as
:data:`~apps.core.masking.MASK`, and posting the mask back keeps the stored value.
``cleaned_secrets`` is the complete set to store (a secret of an option no longer
chosen is dropped), not a patch.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from apps.connectors.spec.config import merge_config, secret_pointers
from apps.connectors.spec.credential_pick import CredentialMeta, types_for_secret
from apps.connectors.spec.errors import placed_errors, validator_for
from apps.connectors.spec.fields import (
    BOOLEAN,
    CONST,
    DATETIME,
    ENUM,
    HIDDEN,
    INTEGER,
    JSON_TEXT,
    LIST,
    LOCAL_DATETIME,
    MULTISELECT,
    NUMBER,
    OBJECT,
    ONEOF,
    SECRET,
    TEXTAREA,
    SpecField,
    SpecOption,
    choice_value,
    display_value,
    help_of,
    kind_of,
    label_of,
    option_title,
    order_key,
    placeholder_of,
    plain_text,
)
from apps.connectors.spec.pointers import MISSING, from_pointer, get_path, to_pointer
from apps.connectors.spec.schema import (
    connection_specification,
    const_of,
    discriminator_of,
    match_option,
    options_of,
    resolve,
    types_of,
)
from apps.core.masking import MASK, mask_secrets

NON_FIELD_ERRORS = "__all__"


@dataclass
class SpecFormResult:
    """What a valid form yields: the config, its secrets and credential references."""

    config: dict
    secrets: dict[str, Any]
    credential_refs: dict[str, str]
    kept_secrets: frozenset[str] = frozenset()


class SpecForm:
    """A form for a connector's config, generated from its JSON Schema spec.

    ``spec`` is the SPEC message, the connector spec or its ``connectionSpecification``.
    ``initial_config`` is the stored non-secret config; ``stored_secrets`` maps JSON
    pointers to the stored secret values (they are never rendered, only used to keep
    a value when the mask is posted back). ``credential_choices`` lists
    ``(public_id, label)`` of credentials a secret may point to instead;
    ``initial_credential_refs`` the pointers that already do.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        data: Mapping[str, Any] | None = None,
        initial_config: Mapping[str, Any] | None = None,
        stored_secrets: Mapping[str, Any] | None = None,
        credential_choices: Iterable[tuple[str, str]] = (),
        initial_credential_refs: Mapping[str, str] | None = None,
        prefix: str = "cfg",
        credential_meta: Mapping[str, CredentialMeta] | None = None,
    ) -> None:
        self.schema = connection_specification(spec)
        self.data = data
        self.is_bound = data is not None
        self.prefix = prefix
        self.initial_config = dict(initial_config or {})
        self.stored_secrets = {
            k: v for k, v in (stored_secrets or {}).items() if v not in (None, "")
        }
        # A caller that passes a full config still leaks nothing: a secret found in
        # it counts as stored, and is shown as the mask.
        for pointer in secret_pointers(self.schema):
            value = get_path(self.initial_config, from_pointer(pointer))
            if value not in (MISSING, None, "") and pointer not in self.stored_secrets:
                self.stored_secrets[pointer] = value
        self.credential_choices = [(str(k), str(v)) for k, v in credential_choices]
        # Each credential's type and fill values: a secret offers only the types
        # that fit it (``credential_pick``); without them, every credential.
        self.credential_meta = {str(k): v for k, v in (credential_meta or {}).items()}
        self.initial_credential_refs = dict(initial_credential_refs or {})
        self._used_ids: set[str] = set()
        self._non_field_errors: list[str] = []
        self._cleaned = False
        self._valid = False
        self.cleaned_config: dict | None = None
        self.cleaned_secrets: dict[str, Any] | None = None
        self.credential_refs: dict[str, str] | None = None
        # Pointers whose stored secret the post kept (sent back as the mask): a
        # service refuses to send those to a changed host (secret_retarget_errors).
        self.kept_secrets: frozenset[str] = frozenset()
        self._kept: set[str] = set()
        # The tree sees each stored or referenced secret as the mask: never its
        # value, but enough to recognise the oneOf option it was stored for.
        present = {*self.stored_secrets, *self.initial_credential_refs}
        tree_initial = merge_config(self.initial_config, dict.fromkeys(present, MASK))
        self.fields_tree: list[SpecField] = self._object_fields(
            self.schema,
            path=(),
            names=(),
            initial=tree_initial,
            active=self.is_bound,
            in_option=False,
        )
        # Fields whose values count, by JSON pointer; shared pointers of unchosen
        # options stay out, so errors and add_error() reach the visible field.
        self.fields: dict[str, SpecField] = {}
        self._oneofs: dict[tuple, SpecField] = {}
        self._index(self.fields_tree)

    # --- building ------------------------------------------------------------------

    def _name(self, names: tuple[str, ...]) -> str:
        return "__".join([self.prefix, *names] if self.prefix else names)

    def _id(self, name: str) -> str:
        base = "id_" + re.sub(r"[^A-Za-z0-9_-]", "_", name)
        candidate, n = base, 1
        while candidate in self._used_ids:
            n += 1
            candidate = f"{base}_{n}"
        self._used_ids.add(candidate)
        return candidate

    def _object_fields(
        self,
        schema: Mapping[str, Any],
        *,
        path: tuple[str, ...],
        names: tuple[str, ...],
        initial: Any,
        active: bool,
        in_option: bool,
        exclude: Iterable[str] = (),
    ) -> list[SpecField]:
        required = set(schema.get("required") or [])
        initial = initial if isinstance(initial, Mapping) else {}
        built = []
        for key, sub in (schema.get("properties") or {}).items():
            sub = resolve(sub, self.schema)
            if key in exclude or not isinstance(sub, Mapping):
                continue
            built.append(
                self._field(
                    key,
                    dict(sub),
                    path=(*path, key),
                    names=(*names, key),
                    initial=initial.get(key, MISSING),
                    required=key in required,
                    active=active,
                    in_option=in_option,
                )
            )
        return sorted(built, key=order_key)

    def _field(
        self,
        key: str,
        schema: dict,
        *,
        path: tuple[str, ...],
        names: tuple[str, ...],
        initial: Any,
        required: bool,
        active: bool,
        in_option: bool,
    ) -> SpecField:
        kind = kind_of(schema, self.schema)
        name = self._name(names)
        item = SpecField(
            key=key,
            path=path,
            html_name=name,
            id=self._id(name),
            schema=schema,
            kind=kind,
            label=label_of(key, schema),
            required=required,
            in_option=in_option,
            help_text=help_of(schema, kind),
            placeholder=placeholder_of(schema),
        )
        if initial is MISSING and "default" in schema:
            initial = copy.deepcopy(schema["default"])
        item.stored = initial
        if kind == OBJECT:
            item.children = self._object_fields(
                schema,
                path=path,
                names=names,
                initial=initial,
                active=active,
                in_option=in_option,
            )
        elif kind == ONEOF:
            self._build_oneof(item, names, initial, active, in_option)
        elif kind == SECRET:
            self._build_secret(item, active)
        else:
            if kind in (ENUM, MULTISELECT):
                self._build_choices(item)
            if kind == CONST:
                item.value = choice_value(schema["const"])
            elif active and kind != HIDDEN:
                item.raw = self._read(item)
                item.value = item.raw
            elif kind == JSON_TEXT:
                # Secrets nested where no form field reaches them (an array of
                # objects, say) are masked too; posting the mask back restores them.
                keys = _nested_secret_keys(schema, self.schema)
                item.value = display_value(kind, mask_secrets(initial, keys))
            else:
                item.value = display_value(kind, initial)
        return item

    def _build_choices(self, item: SpecField) -> None:
        source = item.schema if item.kind == ENUM else item.schema.get("items") or {}
        source = resolve(source, self.schema)
        values = source.get("enum") or []
        item.choice_values = {choice_value(v): v for v in values}
        choices = [
            (choice_value(v), "(none)" if v is None else choice_value(v))
            for v in values
        ]
        has_initial = item.stored is not MISSING and item.stored is not None
        # A blank choice where "not set" is possible and means something: no value
        # yet, or an optional field whose absence no default fills.
        no_default = "default" not in item.schema
        if item.kind == ENUM and (
            not has_initial or (no_default and not item.required)
        ):
            choices.insert(0, ("", "---------"))
        item.choices = choices

    def _build_oneof(
        self,
        item: SpecField,
        names: tuple[str, ...],
        initial: Any,
        active: bool,
        in_option: bool,
    ) -> None:
        options = options_of(item.schema, self.schema) or []
        item.discriminator = discriminator_of(options, self.schema)
        if item.discriminator:
            item.html_name = self._name((*names, item.discriminator))
            item.id = self._id(item.html_name)
        initial_index = match_option(options, initial, item.discriminator, self.schema)
        chosen = initial_index if initial_index is not None else 0
        for index, option in enumerate(options):
            const = MISSING
            if item.discriminator:
                prop = (option.get("properties") or {})[item.discriminator]
                const = const_of(resolve(prop, self.schema))
            value = str(index) if const is MISSING else choice_value(const)
            item.options.append(
                SpecOption(
                    index=index,
                    title=option_title(option, const, index),
                    value=value,
                    const=const,
                    id=f"{item.id}_{index}",
                    help_text=plain_text(option.get("description")),
                )
            )
        if active:
            posted = self._read_str(item.html_name)
            match = next((o for o in item.options if o.value == posted), None)
            if match is None:
                item.errors.append("Choose one of the options.")
                item.input_error = True
            else:
                chosen = match.index
        # Properties next to the oneOf belong to every option.
        item.children = self._object_fields(
            item.schema,
            path=item.path,
            names=names,
            initial=initial,
            active=active,
            in_option=in_option,
        )
        for option, schema in zip(item.options, options, strict=True):
            option.selected = option.index == chosen
            option.fields = self._object_fields(
                schema,
                path=item.path,
                names=(*names, str(option.index)),
                # An option shows the stored values only if they were made for it.
                initial=initial if option.index == initial_index else {},
                active=active and option.selected,
                in_option=True,
                exclude=[item.discriminator] if item.discriminator else [],
            )

    def _build_secret(self, item: SpecField, active: bool) -> None:
        pointer = item.pointer
        item.has_stored_secret = pointer in self.stored_secrets
        item.credential_choices = self._credential_choices_for(item)
        item.credential_fills = {
            k: self.credential_meta[k].fill
            for k, _ in item.credential_choices
            if k in self.credential_meta and self.credential_meta[k].fill
        }
        item.placeholder = "" if item.has_stored_secret else item.placeholder
        if not active:
            item.show_mask = item.has_stored_secret
            item.credential_value = self.initial_credential_refs.get(pointer, "")
            return
        posted = self._read_str(item.html_name)
        item.raw = posted
        if self.credential_choices:
            item.credential_value = self._read_str(f"{item.html_name}__credential")
        item.retype_secret = posted not in ("", MASK) and not item.credential_value
        # Show the mask again where the stored value is what the post keeps.
        item.show_mask = item.has_stored_secret and (
            posted == MASK or (posted == "" and item.required)
        )

    def _credential_choices_for(self, item: SpecField) -> list[tuple[str, str]]:
        fits = types_for_secret(item.key)
        if fits is None or not self.credential_meta:
            return self.credential_choices
        current = {
            self.initial_credential_refs.get(item.pointer, ""),
            self._read_str(f"{item.html_name}__credential")
            if self.data is not None
            else "",
        }
        return [
            (k, label)
            for k, label in self.credential_choices
            if k in current
            or k not in self.credential_meta
            or self.credential_meta[k].type in fits
        ]

    def _read_str(self, name: str) -> str:
        assert self.data is not None
        value = self.data.get(name, "")
        if isinstance(value, list):
            value = value[-1] if value else ""
        return value if isinstance(value, str) else str(value)

    def _read(self, item: SpecField) -> Any:
        assert self.data is not None
        if item.kind == BOOLEAN:
            # CheckboxInput knows the browser's "on" and the strings "true"/"false".
            return item.widget().value_from_datadict(self.data, {}, item.html_name)
        if item.kind == MULTISELECT:
            if hasattr(self.data, "getlist"):
                return [str(v) for v in self.data.getlist(item.html_name)]
            value = self.data.get(item.html_name, [])
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        return self._read_str(item.html_name)

    def _index(self, fields: list[SpecField]) -> None:
        for item in fields:
            if item.kind in (CONST, HIDDEN):
                continue  # not shown, so their errors go to the parent
            self.fields[item.pointer] = item
            if item.kind == ONEOF:
                self._oneofs[item.path] = item
            self._index(item.children)
            if item.chosen_option is not None:
                self._index(item.chosen_option.fields)

    # --- cleaning ------------------------------------------------------------------

    def _clean_fields(
        self, fields: list[SpecField], secrets: dict, refs: dict
    ) -> tuple[dict, dict]:
        """(config, config to validate) of active fields; secrets go to ``secrets``."""
        config: dict[str, Any] = {}
        checked: dict[str, Any] = {}
        for item in fields:
            if item.kind in (OBJECT, ONEOF):
                option = item.chosen_option
                if item.kind == ONEOF and option is None:
                    continue
                children = item.children + (option.fields if option else [])
                sub, sub_checked = self._clean_fields(children, secrets, refs)
                if option is not None and option.const is not MISSING:
                    assert item.discriminator is not None
                    sub = {item.discriminator: option.const, **sub}
                    sub_checked = {item.discriminator: option.const, **sub_checked}
                if sub or item.required or item.kind == ONEOF:
                    config[item.key] = sub
                if sub_checked or item.required or item.kind == ONEOF:
                    checked[item.key] = sub_checked
            elif item.kind == SECRET:
                value = self._clean_secret(item, secrets, refs)
                if value is not MISSING:
                    checked[item.key] = value
            else:
                value = self._clean_value(item)
                if value is not MISSING:
                    config[item.key] = value
                    checked[item.key] = copy.deepcopy(value)
        return config, checked

    def _clean_secret(self, item: SpecField, secrets: dict, refs: dict) -> Any:
        pointer = item.pointer
        if item.credential_value:
            if item.credential_value not in dict(self.credential_choices):
                self._input_error(item, "Select one of the listed credentials.")
                return MISSING
            refs[pointer] = item.credential_value
            # The credential's value is resolved at run time; stand in for it so
            # the schema does not call a referenced secret missing.
            return MASK
        posted = item.raw if isinstance(item.raw, str) else ""
        stored = self.stored_secrets.get(pointer, MISSING)
        if posted == MASK or (posted == "" and item.required):
            value = stored
            if value is not MISSING:
                self._kept.add(pointer)
        elif posted == "":
            value = MISSING  # an optional secret the user cleared
        else:
            value = (
                posted.replace("\r\n", "\n") if item.schema.get("multiline") else posted
            )
        if value is not MISSING:
            secrets[pointer] = value
        return value

    def _input_error(self, item: SpecField, message: str) -> Any:
        item.errors.append(message)
        item.input_error = True
        return MISSING

    def _clean_value(self, item: SpecField) -> Any:
        kind, raw = item.kind, item.raw
        if kind == CONST:
            return copy.deepcopy(item.schema["const"])
        if kind == HIDDEN:
            return item.stored
        if kind == BOOLEAN:
            return bool(raw)
        if kind == MULTISELECT:
            unknown = [v for v in raw if v not in item.choice_values]
            if unknown:
                return self._input_error(item, "Select only the listed choices.")
            return [item.choice_values[v] for v in raw] or MISSING
        text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
        if kind not in (TEXTAREA, LIST, JSON_TEXT):
            text = text.strip()
        if not text.strip():
            return MISSING
        if kind == DATETIME and LOCAL_DATETIME.match(text):
            # datetime-local sends "2024-05-01T10:30" with no zone: times are UTC.
            return text + (":00Z" if text.count(":") == 1 else "Z")
        if kind == INTEGER:
            number = _to_int(text)
            return (
                self._input_error(item, "Enter a whole number.")
                if number is None
                else number
            )
        if kind == NUMBER:
            number = _to_number(text)
            return (
                self._input_error(item, "Enter a number.") if number is None else number
            )
        if kind == ENUM:
            # An unknown value goes through as typed; the schema says what is allowed.
            return item.choice_values.get(text, text)
        if kind == LIST:
            return self._clean_list(item, text)
        if kind == JSON_TEXT:
            try:
                posted = json.loads(text)
            except json.JSONDecodeError as exc:
                return self._input_error(
                    item,
                    f"Enter valid JSON: {exc.msg} (line {exc.lineno}, "
                    f"column {exc.colno}).",
                )
            unmasked = _unmask(posted, item.stored)
            if unmasked != posted:
                # A secret nested in the JSON was kept from the stored value.
                self._kept.add(item.pointer)
            return unmasked
        return text

    def _clean_list(self, item: SpecField, text: str) -> Any:
        items_schema = resolve(item.schema.get("items") or {}, self.schema)
        item_type = (types_of(items_schema) or ["string"])[0]
        values: list[Any] = []
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.strip()
            if not line:
                continue
            if item_type == "integer":
                value = _to_int(line)
                if value is None:
                    return self._input_error(
                        item, f"Line {number}: enter a whole number."
                    )
            elif item_type == "number":
                value = _to_number(line)
                if value is None:
                    return self._input_error(item, f"Line {number}: enter a number.")
            else:
                value = line
            values.append(value)
        return values or MISSING

    def full_clean(self) -> None:
        """Read, coerce and validate the POST once; results land on the form."""
        if self._cleaned or not self.is_bound:
            return
        self._cleaned = True
        secrets: dict[str, Any] = {}
        refs: dict[str, str] = {}
        config, checked = self._clean_fields(self.fields_tree, secrets, refs)
        try:
            errors = list(validator_for(self.schema).iter_errors(checked))
        except re.error as exc:
            errors = []
            self.add_error(None, f"The connector's spec has a broken pattern: {exc}.")
        referenced = {from_pointer(p) for p in refs}
        for path, message in sorted(
            placed_errors(errors, self._choose), key=lambda pm: tuple(map(str, pm[0]))
        ):
            item = self._field_for(path)
            if item is None:
                where = to_pointer(path)
                self.add_error(None, f"{where}: {message}" if where else message)
            elif not item.input_error and item.path not in referenced:
                self._add_field_error(item, message)
        self._valid = not self._has_errors()
        if self._valid:
            self.cleaned_config = config
            self.cleaned_secrets = secrets
            self.credential_refs = refs
            self.kept_secrets = frozenset(self._kept)

    def _choose(self, path: tuple, options: list, instance: Any) -> int | None:
        oneof = self._oneofs.get(tuple(map(str, path)))
        if oneof is not None and oneof.chosen_option is not None:
            return oneof.chosen_option.index
        resolved = [resolve(o, self.schema) for o in options]
        if not all(isinstance(o, Mapping) for o in resolved):
            return None
        return match_option(
            resolved, instance, discriminator_of(resolved, self.schema), self.schema
        )

    def _field_for(self, path: tuple) -> SpecField | None:
        """The deepest visible field on the error's path (a list item -> the list)."""
        parts = tuple(map(str, path))
        for end in range(len(parts), 0, -1):
            item = self.fields.get(to_pointer(parts[:end]))
            if item is not None:
                return item
        return None

    @staticmethod
    def _add_field_error(item: SpecField, message: str) -> None:
        if message not in item.errors:
            item.errors.append(message)

    def _has_errors(self) -> bool:
        return bool(self._non_field_errors) or any(
            f.errors for f in self.fields.values()
        )

    # --- the Django-form-like surface ----------------------------------------------

    def is_valid(self) -> bool:
        """True when the bound POST produced a config the spec accepts."""
        self.full_clean()
        return self.is_bound and self._valid

    @property
    def errors(self) -> dict[str, list[str]]:
        """Errors by JSON pointer, with ``__all__`` for those no field holds."""
        self.full_clean()
        found = {p: list(f.errors) for p, f in self.fields.items() if f.errors}
        if self._non_field_errors:
            found[NON_FIELD_ERRORS] = list(self._non_field_errors)
        return found

    def non_field_errors(self) -> list[str]:
        self.full_clean()
        return list(self._non_field_errors)

    def add_error(self, pointer: str | None, error: str | ValidationError) -> None:
        """Show an error (a service's, say) beside the field at ``pointer``."""
        if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            for key, items in error.error_dict.items():
                for item in items:
                    self.add_error(key if key in self.fields else None, item)
            return
        messages = error.messages if isinstance(error, ValidationError) else [error]
        item = self.fields.get(pointer) if pointer else None
        for message in messages:
            if item is None:
                if message not in self._non_field_errors:
                    self._non_field_errors.append(str(message))
            else:
                self._add_field_error(item, str(message))
        self._valid = False

    def cleaned(self) -> SpecFormResult:
        """Config, secrets and credential references of a valid form."""
        if not self.is_valid():
            raise ValueError("cleaned() needs a valid form; call is_valid() first.")
        assert self.cleaned_config is not None
        assert self.cleaned_secrets is not None
        assert self.credential_refs is not None
        return SpecFormResult(
            self.cleaned_config,
            self.cleaned_secrets,
            self.credential_refs,
            self.kept_secrets,
        )

    def render(self) -> SafeString:
        return render_to_string("connectors/_spec_form.html", {"form": self})

    def __str__(self) -> str:
        return self.render()

    def __html__(self) -> SafeString:
        return self.render()

    def __repr__(self) -> str:
        title = self.schema.get("title") or "spec"
        return f"<SpecForm {title!r} bound={self.is_bound}>"


def _nested_secret_keys(schema: Any, root: Mapping, depth: int = 0) -> frozenset:
    """Names of the ``airbyte_secret`` properties anywhere inside ``schema``."""
    schema = resolve(schema, root)
    if not isinstance(schema, Mapping) or depth > 30:
        return frozenset()
    found: set[str] = set()
    for key, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping) and resolve(sub, root).get("airbyte_secret"):
            found.add(key)
        found |= _nested_secret_keys(sub, root, depth + 1)
    children = [schema.get("items")]
    for keyword in ("oneOf", "anyOf", "allOf"):
        children += schema.get(keyword) or []
    for child in children:
        found |= _nested_secret_keys(child, root, depth + 1)
    return frozenset(found)


def _unmask(posted: Any, stored: Any) -> Any:
    """``posted`` with each MASK replaced by the stored value at the same place."""
    if posted == MASK and stored is not MISSING:
        return stored
    if isinstance(posted, dict) and isinstance(stored, Mapping):
        return {k: _unmask(v, stored.get(k, MISSING)) for k, v in posted.items()}
    if isinstance(posted, list) and isinstance(stored, list):
        return [
            _unmask(v, stored[i] if i < len(stored) else MISSING)
            for i, v in enumerate(posted)
        ]
    return posted


def _to_int(text: str) -> int | None:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    number = _to_number(text)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return None


def _to_number(text: str) -> int | float | None:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
