"""Forms generated from connector specs: rendering, validation, oneOf and secrets.

The specs under ``specs/`` are the real output of ``source-faker spec`` and
``source-file spec`` (their ``spec`` object), the console's PostgreSQL destination
spec, and a kitchen-sink spec holding every feature the form engine handles. Forms
are rendered through Django's template engine, read back the way a browser would
submit them, changed, and posted.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.template import Context, Template
from django.template.loader import render_to_string
from jsonschema import Draft7Validator

from apps.connectors.spec.config import (
    mask_config,
    merge_config,
    secret_pointers,
    split_config,
)
from apps.connectors.spec.errors import config_errors
from apps.connectors.spec.forms import SpecForm
from apps.connectors.spec.schema import connection_specification
from apps.core.forms import apply_validation_error
from apps.core.masking import MASK

SPECS = Path(__file__).parent / "specs"
CANARY = "canary-Zq8#secret-9f1c"


def load(name: str) -> dict:
    return json.loads((SPECS / f"{name}.json").read_text())


@pytest.fixture
def faker() -> dict:
    return load("source-faker")


@pytest.fixture
def file_spec() -> dict:
    return load("source-file")


@pytest.fixture
def postgres() -> dict:
    return load("destination-postgres")


@pytest.fixture
def sink() -> dict:
    return load("kitchen-sink")


# --- a tiny DOM, enough to read a rendered form the way a browser does --------------

VOID = {"input", "br", "hr", "img", "meta", "link", "source", "wbr", "col"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs) -> list[Node]:
        return [
            node
            for node in self.iter()
            if (tag is None or node.tag == tag)
            and all(node.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, **attrs) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def closest(self, css_class: str) -> Node:
        node = self.parent
        while node is not None and css_class not in node.attrs.get("class", "").split():
            node = node.parent
        assert node is not None, f"no ancestor with class {css_class}"
        return node


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: ("" if v is None else v) for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def dom(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    return builder.root


def submitted(html: str) -> QueryDict:
    """What a browser without JavaScript would post for this form, unchanged."""
    data = QueryDict(mutable=True)
    for node in dom(html).iter():
        name = node.attrs.get("name")
        if not name or "disabled" in node.attrs:
            continue
        if node.tag == "input":
            kind = node.attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in node.attrs:
                    data.appendlist(name, node.attrs.get("value", "on"))
            else:
                data.appendlist(name, node.attrs.get("value", ""))
        elif node.tag == "textarea":
            text = "".join(c for c in node.children if isinstance(c, str))
            data.appendlist(name, text.removeprefix("\n"))
        elif node.tag == "select":
            options = node.find_all("option")
            chosen = [o for o in options if "selected" in o.attrs]
            if not chosen and options and "multiple" not in node.attrs:
                chosen = options[:1]
            for option in chosen:
                data.appendlist(name, option.attrs.get("value", ""))
    return data


def render(form: SpecForm) -> str:
    return render_to_string("connectors/_spec_form.html", {"form": form})


def post(spec: dict, changes: dict, **kwargs) -> SpecForm:
    """Render the form, change some inputs like a user would, and bind the POST."""
    initial = SpecForm(
        spec,
        **{k: v for k, v in kwargs.items() if k != "credential_refs_posted"},
    )
    data = submitted(render(initial))
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        elif isinstance(value, list):
            data.setlist(name, value)
        else:
            data[name] = value
    return SpecForm(spec, data=data, **kwargs)


def field_block(html: str, input_id: str) -> Node:
    """The .spec-field (label, widget, help and errors) holding the input."""
    return dom(html).find(id=input_id).closest("spec-field")


def errors_of(block: Node) -> list[str]:
    return [n.text for n in block.find_all("small") if "error" in n.attrs["class"]]


def assert_valid_against_spec(spec: dict, config: dict) -> None:
    schema = connection_specification(spec)
    assert list(Draft7Validator(schema).iter_errors(config)) == []


# --- faker: integers, booleans, order, defaults --------------------------------------


def test_faker_form_shows_defaults_in_spec_order(faker):
    html = render(SpecForm(faker))
    page = dom(html)
    names = [n.attrs["name"] for n in page.find_all("input")]
    # order 0, 1, 2, 4, then the field without an order.
    assert names == [
        "cfg__count",
        "cfg__seed",
        "cfg__records_per_slice",
        "cfg__parallelism",
        "cfg__always_updated",
    ]
    count = page.find(id="id_cfg__count")
    assert count.attrs["value"] == "1000"
    assert count.attrs["type"] == "number"
    assert count.attrs["min"] == "1"
    assert "checked" in page.find(id="id_cfg__always_updated").attrs
    assert page.find("label", **{"for": "id_cfg__count"}).text == "Count"


def test_faker_defaults_post_back_as_a_typed_config_the_spec_accepts(faker):
    form = post(faker, {})
    assert form.is_valid(), form.errors
    assert form.cleaned_config == {
        "count": 1000,
        "seed": -1,
        "records_per_slice": 1000,
        "parallelism": 4,
        "always_updated": True,
    }
    assert form.cleaned_secrets == {}
    assert_valid_against_spec(faker, form.cleaned_config)


def test_faker_unchecked_box_posts_false(faker):
    form = post(faker, {"cfg__always_updated": None})
    assert form.is_valid()
    assert form.cleaned_config["always_updated"] is False


def test_faker_count_below_minimum_is_reported_beside_count(faker):
    form = post(faker, {"cfg__count": "0", "cfg__seed": "42"})
    assert not form.is_valid()
    assert form.errors == {"/count": ["Must be at least 1."]}
    html = render(form)
    block = field_block(html, "id_cfg__count")
    assert errors_of(block) == ["Must be at least 1."]
    count = dom(html).find(id="id_cfg__count")
    assert count.attrs["aria-invalid"] == "true"
    assert "id_cfg__count_error" in count.attrs["aria-describedby"].split()
    assert dom(html).find(id="id_cfg__count_error")
    # The other values the user typed are still there.
    assert dom(html).find(id="id_cfg__seed").attrs["value"] == "42"


def test_faker_text_in_an_integer_field_is_an_error_and_is_kept(faker):
    form = post(faker, {"cfg__count": "abc"})
    assert not form.is_valid()
    assert form.errors == {"/count": ["Enter a whole number."]}
    html = render(form)
    assert dom(html).find(id="id_cfg__count").attrs["value"] == "abc"
    assert errors_of(field_block(html, "id_cfg__count")) == ["Enter a whole number."]


def test_unbound_form_is_not_valid(faker):
    form = SpecForm(faker)
    assert not form.is_valid()
    assert form.errors == {}


# --- PostgreSQL: required, enum, pattern, secret -------------------------------------


def test_postgres_missing_host_is_reported_beside_host_and_input_is_kept(postgres):
    form = post(postgres, {"cfg__database": "warehouse", "cfg__username": "loader"})
    assert not form.is_valid()
    assert form.errors == {"/host": ["This field is required."]}
    html = render(form)
    assert errors_of(field_block(html, "id_cfg__host")) == ["This field is required."]
    assert dom(html).find(id="id_cfg__database").attrs["value"] == "warehouse"
    assert dom(html).find(id="id_cfg__username").attrs["value"] == "loader"
    assert "required" in dom(html).find(id="id_cfg__host").attrs


def test_postgres_form_lists_fields_by_order_with_defaults(postgres):
    page = dom(render(SpecForm(postgres)))
    names = [n.attrs["name"] for n in page.find_all() if n.tag in ("input", "select")]
    assert names == [
        "cfg__host",
        "cfg__port",
        "cfg__database",
        "cfg__schema",
        "cfg__username",
        "cfg__password",
        "cfg__ssl_mode",
    ]
    assert page.find(id="id_cfg__port").attrs["value"] == "5432"
    assert page.find(id="id_cfg__schema").attrs["value"] == "public"
    assert page.find(id="id_cfg__host").attrs["placeholder"] == "db.example.com"
    ssl = page.find(id="id_cfg__ssl_mode")
    assert [o.attrs["value"] for o in ssl.find_all("option")] == [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ]
    assert "selected" in ssl.find("option", value="prefer").attrs


def _valid_postgres(**extra) -> dict:
    return {
        "cfg__host": "127.0.0.1",
        "cfg__database": "warehouse",
        "cfg__username": "loader",
        **extra,
    }


def test_postgres_enum_outside_choices_is_reported(postgres):
    form = post(postgres, _valid_postgres(cfg__ssl_mode="sometimes"))
    assert not form.is_valid()
    assert form.errors == {
        "/ssl_mode": [
            "Must be one of: disable, allow, prefer, require, verify-ca, verify-full."
        ]
    }


def test_postgres_pattern_mismatch_is_reported_in_plain_words(postgres):
    form = post(postgres, _valid_postgres(cfg__schema="bad schema!"))
    assert not form.is_valid()
    assert form.errors == {"/schema": ["Must match pattern ^[A-Za-z_][A-Za-z0-9_]*$."]}
    html = render(form)
    assert dom(html).find(id="id_cfg__schema").attrs["value"] == "bad schema!"


def test_postgres_port_out_of_range_and_wrong_type(postgres):
    form = post(postgres, _valid_postgres(cfg__port="70000"))
    assert form.errors == {"/port": ["Must be at most 65536."]}
    form = post(postgres, _valid_postgres(cfg__port="54.5"))
    assert form.errors == {"/port": ["Enter a whole number."]}


def test_postgres_valid_post_splits_the_password_from_the_config(postgres):
    form = post(postgres, _valid_postgres(cfg__password=CANARY))
    assert form.is_valid(), form.errors
    assert form.cleaned_config == {
        "host": "127.0.0.1",
        "port": 5432,
        "database": "warehouse",
        "schema": "public",
        "username": "loader",
        "ssl_mode": "prefer",
    }
    assert form.cleaned_secrets == {"/password": CANARY}
    assert form.credential_refs == {}
    full = merge_config(form.cleaned_config, form.cleaned_secrets)
    assert full["password"] == CANARY
    assert_valid_against_spec(postgres, full)
    result = form.cleaned()
    assert (result.config, result.secrets) == (
        form.cleaned_config,
        {"/password": CANARY},
    )


def test_secret_without_stored_value_is_an_empty_password_input(postgres):
    page = dom(render(SpecForm(postgres)))
    password = page.find(id="id_cfg__password")
    assert password.attrs["type"] == "password"
    assert "value" not in password.attrs
    assert password.attrs["autocomplete"] == "new-password"


def test_stored_secret_renders_as_the_mask_and_never_itself(postgres):
    form = SpecForm(
        postgres,
        initial_config={"host": "db", "database": "w", "username": "u"},
        stored_secrets={"/password": CANARY},
    )
    html = render(form)
    assert CANARY not in html
    password = dom(html).find(id="id_cfg__password")
    assert password.attrs["value"] == MASK
    assert "required" not in password.attrs
    assert "A value is stored" in field_block(html, "id_cfg__password").text


def test_secret_passed_inside_the_initial_config_is_masked_too(postgres):
    form = SpecForm(postgres, initial_config={"host": "db", "password": CANARY})
    html = render(form)
    assert CANARY not in html
    assert dom(html).find(id="id_cfg__password").attrs["value"] == MASK


def test_posting_the_mask_back_keeps_the_stored_secret(postgres):
    stored = {"/password": CANARY}
    form = post(
        postgres,
        {},
        initial_config={"host": "db", "database": "w", "username": "u"},
        stored_secrets=stored,
    )
    assert form.data["cfg__password"] == MASK
    assert form.is_valid(), form.errors
    assert form.cleaned_secrets == {"/password": CANARY}
    assert MASK not in json.dumps(form.cleaned_config)


def test_typing_a_new_secret_replaces_the_stored_one(postgres):
    form = post(
        postgres,
        {"cfg__password": "new-password-1"},
        initial_config={"host": "db", "database": "w", "username": "u"},
        stored_secrets={"/password": CANARY},
    )
    assert form.is_valid()
    assert form.cleaned_secrets == {"/password": "new-password-1"}


def test_clearing_an_optional_secret_removes_it(postgres):
    form = post(
        postgres,
        {"cfg__password": ""},
        initial_config={"host": "db", "database": "w", "username": "u"},
        stored_secrets={"/password": CANARY},
    )
    assert form.is_valid()
    assert form.cleaned_secrets == {}


def test_new_secret_is_not_echoed_after_an_invalid_post(postgres):
    form = post(
        postgres,
        {"cfg__host": "", "cfg__password": CANARY},
        stored_secrets={"/password": "older-secret-value"},
    )
    assert not form.is_valid()
    html = render(form)
    assert CANARY not in html
    assert "older-secret-value" not in html
    password = dom(html).find(id="id_cfg__password")
    assert "value" not in password.attrs
    assert "Type this secret again" in field_block(html, "id_cfg__password").text


def test_secret_errors_never_quote_the_secret():
    spec = {
        "type": "object",
        "properties": {
            "token": {"type": "string", "airbyte_secret": True, "minLength": 40}
        },
    }
    form = SpecForm(spec, data=QueryDict(f"cfg__token={CANARY}"))
    assert not form.is_valid()
    assert form.errors == {"/token": ["Must be at least 40 characters long."]}
    assert CANARY not in json.dumps(form.errors)
    assert CANARY not in render(form)
    assert config_errors(spec, {"token": CANARY}) == [
        ("/token", "Must be at least 40 characters long.")
    ]


def test_credential_select_is_shown_only_when_there_are_credentials(postgres):
    page = dom(render(SpecForm(postgres)))
    assert page.find_all(id="id_cfg__password__credential") == []
    choices = [("5b9a0e52-7a0e-4c59-9d6a-2f0f2e1d9c11", "Warehouse login")]
    page = dom(render(SpecForm(postgres, credential_choices=choices)))
    select = page.find(id="id_cfg__password__credential")
    assert select.attrs["name"] == "cfg__password__credential"
    assert [o.attrs["value"] for o in select.find_all("option")] == [
        "",
        "5b9a0e52-7a0e-4c59-9d6a-2f0f2e1d9c11",
    ]
    assert page.find("label", **{"for": "id_cfg__password__credential"})


def test_secret_taken_from_a_credential_returns_a_credential_ref(postgres):
    credential = "5b9a0e52-7a0e-4c59-9d6a-2f0f2e1d9c11"
    form = post(
        postgres,
        _valid_postgres(cfg__password__credential=credential),
        credential_choices=[(credential, "Warehouse login")],
    )
    assert form.is_valid(), form.errors
    assert form.credential_refs == {"/password": credential}
    assert form.cleaned_secrets == {}
    assert "password" not in form.cleaned_config


def test_a_credential_ref_satisfies_a_required_secret():
    spec = {
        "type": "object",
        "required": ["api_key"],
        "properties": {
            # The stand-in for a referenced secret must not trip its own checks.
            "api_key": {"type": "string", "airbyte_secret": True, "minLength": 40}
        },
    }
    choices = [("c-1", "Key")]
    form = SpecForm(
        spec,
        data=QueryDict("cfg__api_key=&cfg__api_key__credential=c-1"),
        credential_choices=choices,
    )
    assert form.is_valid(), form.errors
    assert form.credential_refs == {"/api_key": "c-1"}
    missing = SpecForm(
        spec, data=QueryDict("cfg__api_key="), credential_choices=choices
    )
    assert missing.errors == {"/api_key": ["This field is required."]}


def test_existing_credential_ref_is_preselected_and_unknown_ones_refused(postgres):
    choices = [("c-1", "Warehouse login")]
    form = SpecForm(
        postgres,
        credential_choices=choices,
        initial_credential_refs={"/password": "c-1"},
    )
    select = dom(render(form)).find(id="id_cfg__password__credential")
    assert "selected" in select.find("option", value="c-1").attrs
    form = post(
        postgres,
        _valid_postgres(cfg__password__credential="c-404"),
        credential_choices=choices,
    )
    assert form.errors == {"/password": ["Select one of the listed credentials."]}


def test_html_in_descriptions_is_shown_as_text(postgres):
    html = render(SpecForm(postgres))
    help_text = dom(html).find(id="id_cfg__ssl_mode_help").text
    assert "the PostgreSQL docs (https://www.postgresql.org/docs/" in help_text
    assert "<a href" not in html
    spec = {
        "type": "object",
        "properties": {
            "x": {
                "type": "string",
                "description": "<script>alert(1)</script> &lt;b&gt;",
            }
        },
    }
    html = render(SpecForm(spec))
    assert "<script>" not in html
    assert "&lt;b&gt;" in html


# --- file: oneOf ---------------------------------------------------------------------


def test_file_provider_renders_every_option_with_its_radio(file_spec):
    page = dom(render(SpecForm(file_spec)))
    group = page.find("fieldset", data_spec_oneof="cfg__provider__storage")
    radios = group.find_all("input", type="radio")
    assert [r.attrs["value"] for r in radios] == [
        "HTTPS",
        "GCS",
        "S3",
        "AzBlob",
        "SSH",
        "SCP",
        "SFTP",
        "local",
    ]
    assert {r.attrs["name"] for r in radios} == {"cfg__provider__storage"}
    assert [r.attrs["value"] for r in radios if "checked" in r.attrs] == ["HTTPS"]
    assert len(group.find_all("fieldset", data_spec_oneof_body="")) == 8
    ssh = group.find("fieldset", data_spec_oneof_option="SSH")
    assert "SSH: Secure Shell" in ssh.find("legend").text
    host = ssh.find(id="id_cfg__provider__4__host")
    # A hidden option must not block the browser's submit.
    assert "required" not in host.attrs
    assert host.attrs["aria-required"] == "true"
    assert ssh.find(id="id_cfg__provider__4__port").attrs["value"] == "22"


def _file_base() -> dict:
    return {
        "cfg__dataset_name": "epidemiology",
        "cfg__url": "https://example.com/data.csv",
    }


def test_file_choosing_an_option_validates_only_its_fields(file_spec):
    # AzBlob requires storage_account and SSH requires user and host: neither is
    # chosen, so neither complains.
    form = post(file_spec, {**_file_base(), "cfg__provider__storage": "GCS"})
    assert form.is_valid(), form.errors
    assert form.cleaned_config == {
        "dataset_name": "epidemiology",
        "format": "csv",
        "url": "https://example.com/data.csv",
        "provider": {"storage": "GCS"},
    }
    assert_valid_against_spec(file_spec, form.cleaned_config)


def test_file_option_values_reach_the_config_with_their_secret(file_spec):
    form = post(
        file_spec,
        {
            **_file_base(),
            "cfg__provider__storage": "SFTP",
            "cfg__provider__6__user": "bob",
            "cfg__provider__6__host": "sftp.example.com",
            "cfg__provider__6__password": CANARY,
            # Typed into an option the user did not choose: ignored.
            "cfg__provider__4__user": "mallory",
        },
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_config["provider"] == {
        "storage": "SFTP",
        "user": "bob",
        "host": "sftp.example.com",
        "port": "22",
    }
    assert form.cleaned_secrets == {"/provider/password": CANARY}
    full = merge_config(form.cleaned_config, form.cleaned_secrets)
    assert_valid_against_spec(file_spec, full)


def test_file_invalid_option_keeps_the_choice_and_what_was_typed(file_spec):
    form = post(
        file_spec,
        {
            **_file_base(),
            "cfg__provider__storage": "SSH",
            "cfg__provider__4__user": "bob",
            "cfg__provider__4__port": "2222",
            # With JavaScript the options not chosen are disabled, so not posted.
            "cfg__provider__5__port": None,
        },
    )
    assert not form.is_valid()
    assert form.errors == {"/provider/host": ["This field is required."]}
    html = render(form)
    page = dom(html)
    checked = [
        r.attrs["value"]
        for r in page.find_all("input", type="radio")
        if "checked" in r.attrs
    ]
    assert checked == ["SSH"]
    assert errors_of(field_block(html, "id_cfg__provider__4__host")) == [
        "This field is required."
    ]
    assert page.find(id="id_cfg__provider__4__user").attrs["value"] == "bob"
    assert page.find(id="id_cfg__provider__4__port").attrs["value"] == "2222"
    # The other options keep their defaults and show no errors.
    assert page.find(id="id_cfg__provider__5__port").attrs["value"] == "22"
    assert errors_of(field_block(html, "id_cfg__provider__5__host")) == []
    assert page.find(id="id_cfg__dataset_name").attrs["value"] == "epidemiology"


def test_file_stored_config_selects_its_option(file_spec):
    form = SpecForm(
        file_spec,
        initial_config={
            "dataset_name": "d",
            "format": "json",
            "url": "sftp://x",
            "provider": {"storage": "SCP", "user": "carol", "host": "h", "port": "23"},
        },
        stored_secrets={"/provider/password": CANARY},
    )
    html = render(form)
    page = dom(html)
    assert "checked" in page.find(id="id_cfg__provider__storage_5").attrs
    assert page.find(id="id_cfg__provider__5__user").attrs["value"] == "carol"
    # Values stored for SCP do not leak into the other options that share names.
    assert "value" not in page.find(id="id_cfg__provider__4__user").attrs
    assert page.find(id="id_cfg__provider__5__password").attrs["value"] == MASK
    assert CANARY not in html
    # Posting it back unchanged keeps everything, the secret included.
    again = SpecForm(
        file_spec,
        data=submitted(html),
        stored_secrets={"/provider/password": CANARY},
    )
    assert again.is_valid(), again.errors
    assert again.cleaned_config["provider"] == {
        "storage": "SCP",
        "user": "carol",
        "host": "h",
        "port": "23",
    }
    assert again.cleaned_secrets == {"/provider/password": CANARY}


def test_file_post_without_a_provider_choice_asks_for_one(file_spec):
    form = post(file_spec, {**_file_base(), "cfg__provider__storage": None})
    assert not form.is_valid()
    assert form.errors["/provider"] == ["Choose one of the options."]


def test_file_switching_provider_drops_the_old_options_secret(file_spec):
    form = post(
        file_spec,
        {**_file_base(), "cfg__provider__storage": "HTTPS"},
        initial_config={"provider": {"storage": "GCS"}},
        stored_secrets={"/provider/service_account_json": CANARY},
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_config["provider"] == {"storage": "HTTPS", "user_agent": False}
    assert form.cleaned_secrets == {}


# --- kitchen sink: arrays, nested objects, formats, const, hidden, oneOf without a
# --- discriminator -----------------------------------------------------------------


def _sink_base() -> dict:
    return {
        "cfg__slug": "acme",
        "cfg__start_date": "2024-01-31",
        "cfg__tunnel__host": "bastion.example.com",
        "cfg__auth": "1",
    }


def test_sink_valid_post_coerces_every_kind(sink):
    form = post(
        sink,
        {
            **_sink_base(),
            "cfg__updated_since": "2024-05-01T10:30",
            "cfg__query": "select 1\r\nfrom t",
            "cfg__ratio": "0.25",
            "cfg__tags": "red\r\n\r\n  green  \r\n",
            "cfg__page_sizes": "10\n20",
            "cfg__regions": ["eu", "ap"],
            "cfg__extra": '{"retries": 3}',
            "cfg__api_version": "v999",  # a const cannot be changed
            "cfg__tunnel__private_key": "-----BEGIN KEY-----\r\nabc\r\n",
        },
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_config == {
        "slug": "acme",
        "start_date": "2024-01-31",
        "updated_since": "2024-05-01T10:30:00Z",
        "query": "select 1\nfrom t",
        "ratio": 0.25,
        "tags": ["red", "green"],
        "page_sizes": [10, 20],
        "regions": ["eu", "ap"],
        "api_version": "v2",
        "tunnel": {"host": "bastion.example.com", "port": 22},
        "extra": {"retries": 3},
        "auth": {"anonymous": True},
        "internal_flag": "keep-me",
    }
    assert form.cleaned_secrets == {"/tunnel/private_key": "-----BEGIN KEY-----\nabc\n"}
    assert_valid_against_spec(
        sink, merge_config(form.cleaned_config, form.cleaned_secrets)
    )


def test_sink_renders_widgets_for_each_kind(sink):
    form = SpecForm(sink, initial_config={"updated_since": "2024-05-01T12:30:00+02:00"})
    page = dom(render(form))
    assert page.find(id="id_cfg__start_date").attrs["type"] == "date"
    updated = page.find(id="id_cfg__updated_since")
    assert updated.attrs["type"] == "datetime-local"
    assert updated.attrs["value"] == "2024-05-01T10:30:00"
    assert page.find(id="id_cfg__query").tag == "textarea"
    tags = page.find(id="id_cfg__tags")
    assert tags.tag == "textarea"
    assert tags.children == ["\nalpha\nbeta"]
    assert "multiple" in page.find(id="id_cfg__regions").attrs
    const = page.find(id="id_cfg__api_version")
    assert (const.attrs["type"], const.attrs["value"]) == ("hidden", "v2")
    assert page.find_all(id="id_cfg__internal_flag") == []
    assert page.find(id="id_cfg__tunnel__private_key").tag == "textarea"
    tunnel = page.find("fieldset", id="id_cfg__tunnel")
    assert tunnel.find("legend").text.startswith("SSH tunnel")
    assert "bastion" in page.find(id="id_cfg__tunnel_help").text
    assert page.find(id="id_cfg__start_date_help").text == "Format: YYYY-MM-DD."


def test_sink_nested_object_errors_sit_beside_the_nested_fields(sink):
    form = post(
        sink, {**_sink_base(), "cfg__tunnel__host": "", "cfg__tunnel__port": "0"}
    )
    assert not form.is_valid()
    assert form.errors == {
        "/tunnel/host": ["This field is required."],
        "/tunnel/port": ["Must be at least 1."],
    }
    html = render(form)
    assert errors_of(field_block(html, "id_cfg__tunnel__port")) == [
        "Must be at least 1."
    ]
    assert dom(html).find(id="id_cfg__tunnel__port").attrs["value"] == "0"


def test_sink_list_errors_land_on_the_list(sink):
    form = post(sink, {**_sink_base(), "cfg__tags": "ok\nx", "cfg__page_sizes": "1\nx"})
    assert not form.is_valid()
    assert form.errors == {
        "/tags": ["Must be at least 2 characters long."],
        "/page_sizes": ["Line 2: enter a whole number."],
    }
    html = render(form)
    assert dom(html).find(id="id_cfg__page_sizes").children[0].endswith("1\nx")


def test_sink_formats_and_patterns(sink):
    form = post(
        sink,
        {
            **_sink_base(),
            "cfg__slug": "Acme",
            "cfg__start_date": "2024-13-01",
            "cfg__updated_since": "yesterday",
            "cfg__ratio": "0",
        },
    )
    assert form.errors == {
        "/slug": ["Must match pattern ^[a-z]+$."],
        "/start_date": ["Must be a date (YYYY-MM-DD)."],
        "/updated_since": ["Must be a date and time (YYYY-MM-DDTHH:MM:SSZ)."],
        "/ratio": ["Must be greater than 0."],
    }


def test_sink_bad_json_is_reported_and_kept(sink):
    form = post(sink, {**_sink_base(), "cfg__extra": "{retries: 3}"})
    assert not form.is_valid()
    [message] = form.errors["/extra"]
    assert message.startswith("Enter valid JSON:")
    assert "{retries: 3}" in render(form)


def test_sink_oneof_without_discriminator_is_chosen_by_index(sink):
    page = dom(render(SpecForm(sink)))
    radios = page.find_all("input", name="cfg__auth")
    assert [r.attrs["value"] for r in radios] == ["0", "1"]
    form = post(sink, {**_sink_base(), "cfg__auth": "0", "cfg__auth__0__api_key": ""})
    assert form.errors == {"/auth/api_key": ["This field is required."]}
    form = post(
        sink, {**_sink_base(), "cfg__auth": "0", "cfg__auth__0__api_key": CANARY}
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_config["auth"] == {}
    assert form.cleaned_secrets == {"/auth/api_key": CANARY}


def test_required_secret_left_empty_keeps_the_stored_value(sink):
    form = post(
        sink,
        {**_sink_base(), "cfg__auth": "0", "cfg__auth__0__api_key": ""},
        initial_config={"auth": {}},
        stored_secrets={"/auth/api_key": CANARY},
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_secrets == {"/auth/api_key": CANARY}


def test_sink_hidden_field_keeps_its_stored_value(sink):
    form = post(sink, _sink_base(), initial_config={"internal_flag": "from-before"})
    assert form.is_valid(), form.errors
    assert form.cleaned_config["internal_flag"] == "from-before"


# --- helpers used by other parts of the console -------------------------------------


def test_secret_pointers_cover_nested_objects_and_every_option(file_spec, sink):
    assert secret_pointers(file_spec) == {
        "/provider/service_account_json",
        "/provider/aws_secret_access_key",
        "/provider/sas_token",
        "/provider/shared_key",
        "/provider/password",
    }
    assert secret_pointers(sink) == {"/tunnel/private_key", "/auth/api_key"}
    assert secret_pointers(load("source-faker")) == set()


def test_mask_split_and_merge_round_trip(file_spec):
    full = {
        "dataset_name": "d",
        "provider": {"storage": "SSH", "user": "u", "password": CANARY},
    }
    masked = mask_config(full, file_spec)
    assert masked["provider"]["password"] == MASK
    assert CANARY not in json.dumps(masked)
    assert full["provider"]["password"] == CANARY  # the input is left alone
    plain, secrets = split_config(full, file_spec)
    assert secrets == {"/provider/password": CANARY}
    assert "password" not in plain["provider"]
    assert merge_config(plain, secrets) == full


def test_config_errors_name_the_json_path_of_each_problem(file_spec, faker):
    assert config_errors(faker, {"count": 0, "parallelism": "four"}) == [
        ("/count", "Must be at least 1."),
        ("/parallelism", "Must be a whole number."),
    ]
    assert config_errors(
        file_spec,
        {"dataset_name": "d", "url": "u", "provider": {"storage": "SSH"}},
    ) == [
        ("/format", "This field is required."),
        ("/provider/host", "This field is required."),
        ("/provider/user", "This field is required."),
    ]


def test_service_errors_reach_their_field_through_apply_validation_error(postgres):
    form = post(postgres, _valid_postgres())
    assert form.is_valid()
    apply_validation_error(
        form,
        ValidationError(
            {"/host": ["Could not connect to 127.0.0.1."], "name": ["Taken."]}
        ),
    )
    assert not form.is_valid()
    assert form.errors == {
        "/host": ["Could not connect to 127.0.0.1."],
        "__all__": ["Taken."],
    }
    html = render(form)
    assert errors_of(field_block(html, "id_cfg__host")) == [
        "Could not connect to 127.0.0.1."
    ]
    assert "Taken." in dom(html).find("div", role="alert").text


def test_form_is_included_with_a_prefix_and_labels_point_at_inputs(postgres):
    template = Template(
        '<form method="post">{% include "connectors/_spec_form.html" '
        "with form=spec_form %}</form>"
    )
    html = template.render(Context({"spec_form": SpecForm(postgres, prefix="dest")}))
    page = dom(html)
    assert page.find(id="id_dest__host").attrs["name"] == "dest__host"
    for label in page.find_all("label"):
        target = label.attrs.get("for")
        if target:
            assert page.find(id=target)
    for node in page.iter():
        for ref in node.attrs.get("aria-describedby", "").split():
            assert page.find(id=ref)
    # SpecForm renders itself too, like a Django form.
    assert str(SpecForm(postgres)) == render(SpecForm(postgres))


def test_option_whose_required_field_is_a_stored_secret_is_recognised():
    spec = {
        "type": "object",
        "properties": {
            "auth": {
                "type": "object",
                "oneOf": [
                    {
                        "title": "Anonymous",
                        "required": ["anonymous"],
                        "properties": {"anonymous": {"type": "boolean"}},
                    },
                    {
                        "title": "Token",
                        "required": ["token"],
                        "properties": {
                            "token": {"type": "string", "airbyte_secret": True}
                        },
                    },
                ],
            }
        },
    }
    form = SpecForm(
        spec, initial_config={"auth": {}}, stored_secrets={"/auth/token": CANARY}
    )
    html = render(form)
    assert "checked" in dom(html).find(id="id_cfg__auth_1").attrs
    assert dom(html).find(id="id_cfg__auth__1__token").attrs["value"] == MASK
    assert CANARY not in html


def test_secrets_inside_a_json_field_are_masked_and_restored():
    spec = {
        "type": "object",
        "properties": {
            "accounts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "key": {"type": "string", "airbyte_secret": True},
                    },
                },
            }
        },
    }
    stored = {"accounts": [{"name": "a", "key": CANARY}]}
    html = render(SpecForm(spec, initial_config=stored))
    assert CANARY not in html
    assert MASK in html
    form = SpecForm(spec, data=submitted(html), initial_config=stored)
    assert form.is_valid(), form.errors
    assert form.cleaned_config == stored


NESTED = {
    "type": "object",
    "required": ["method"],
    "properties": {
        "method": {
            "title": "Replication method",
            "type": "object",
            "oneOf": [
                {
                    "title": "Standard",
                    "properties": {"mode": {"type": "string", "const": "standard"}},
                },
                {
                    "title": "CDC",
                    "required": ["mode", "slot"],
                    "properties": {
                        "mode": {"type": "string", "const": "cdc"},
                        "slot": {"title": "Slot", "type": "string"},
                        "tunnel": {
                            "title": "Tunnel",
                            "type": "object",
                            "oneOf": [
                                {
                                    "title": "None",
                                    "properties": {
                                        "kind": {"type": "string", "const": "none"}
                                    },
                                },
                                {
                                    "title": "Password",
                                    "required": ["kind", "user"],
                                    "properties": {
                                        "kind": {"type": "string", "const": "pw"},
                                        "user": {"type": "string"},
                                        "secret": {
                                            "type": "string",
                                            "airbyte_secret": True,
                                        },
                                    },
                                },
                            ],
                        },
                    },
                },
            ],
        }
    },
}


def test_oneof_nested_in_an_option_validates_and_maps_errors():
    form = post(
        NESTED,
        {
            "cfg__method__mode": "cdc",
            "cfg__method__1__slot": "airbyte_slot",
            "cfg__method__1__tunnel__kind": "pw",
        },
    )
    assert form.errors == {"/method/tunnel/user": ["This field is required."]}
    html = render(form)
    assert errors_of(field_block(html, "id_cfg__method__1__tunnel__1__user")) == [
        "This field is required."
    ]
    form = post(
        NESTED,
        {
            "cfg__method__mode": "cdc",
            "cfg__method__1__slot": "airbyte_slot",
            "cfg__method__1__tunnel__kind": "pw",
            "cfg__method__1__tunnel__1__user": "me",
            "cfg__method__1__tunnel__1__secret": CANARY,
        },
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_config == {
        "method": {
            "mode": "cdc",
            "slot": "airbyte_slot",
            "tunnel": {"kind": "pw", "user": "me"},
        }
    }
    assert form.cleaned_secrets == {"/method/tunnel/secret": CANARY}
    assert secret_pointers(NESTED) == {"/method/tunnel/secret"}
