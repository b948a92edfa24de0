"""The SSRF guard: every address a name resolves to must be global.

DNS is patched, and ``socket.connect`` too, so no test here reaches the network.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.core.exceptions import ValidationError

from apps.webhooks import delivery as http
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import dispatch, endpoints


@pytest.fixture
def dns(monkeypatch):
    """``dns["name"] = [addresses]``; ``dns["lookups"]`` lists the names looked up."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            lookups.append(host)
        else:
            # The connect step resolves the literal it was given: no DNS.
            answers.setdefault(host, [host])
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port),
            )
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    answers["lookups"] = lookups  # type: ignore[assignment]
    return answers


@pytest.fixture
def connects(monkeypatch) -> list[object]:
    """Every address a socket tried to connect to; the connect itself fails."""
    seen: list[object] = []

    def connect(self, address):
        seen.append(address)
        raise ConnectionRefusedError("blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


@pytest.fixture
def strict(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["192.168.1.10"],
        ["::1"],
        ["fd00::1"],
        ["::ffff:127.0.0.1"],
        ["100.64.0.1"],
        # One bad answer among good ones is enough to refuse.
        ["93.184.216.34", "10.1.2.3"],
    ],
)
def test_name_resolving_to_a_non_global_address_is_refused(
    strict, dns, connects, addresses
):
    dns["hooks.example.com"] = addresses
    result = http.post("https://hooks.example.com/in", b"{}", {})
    assert result.status_code is None
    assert "not a public address" in result.error
    assert result.transient is False
    assert connects == []


def test_the_checked_address_is_the_one_connected_to(strict, dns, connects):
    dns["hooks.example.com"] = ["93.184.216.34"]
    result = http.post("http://hooks.example.com:8080/in", b"{}", {})
    # The name is resolved once; the connection goes to that address, not to a
    # second lookup
    # (which a rebinding DNS server could answer with a private address).
    assert dns["lookups"] == ["hooks.example.com"]
    assert connects == [("93.184.216.34", 8080)]
    assert result.transient is True


def test_host_header_keeps_the_name(dns, receiver):
    # WEBHOOKS_ALLOW_PRIVATE is on (the tests' default): a name pointed at the
    # local receiver is called by its address with the name in Host.
    port = receiver.url.split(":")[2].split("/")[0]
    dns["hooks.example.com"] = ["127.0.0.1"]
    result = http.post(f"http://hooks.example.com:{port}/in", b"{}", {})
    assert result.status_code == 200
    assert receiver.received[0].headers["host"] == f"hooks.example.com:{port}"


def test_unresolvable_name_is_retried(dns, connects):
    result = http.post("https://nowhere.example.com/in", b"{}", {})
    assert result.transient is True and "Cannot resolve" in result.error
    assert connects == []


def test_blocked_delivery_fails_without_retry(
    strict, dns, connects, workspace, admin, enqueued
):
    dns["internal.example.com"] = ["10.0.0.7"]
    endpoint, _ = endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="internal",
        url="https://internal.example.com/hook",
        events="sync_failed",
    )
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempt_count == 1
    assert "10.0.0.7" in delivery.last_error
    assert connects == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]:80/x"],
)
def test_literal_private_url_is_refused_when_saved(strict, workspace, admin, url):
    with pytest.raises(ValidationError) as exc:
        endpoints.webhook_endpoint_create(
            actor=admin, workspace=workspace, name="x", url=url, events="sync_failed"
        )
    assert "url" in exc.value.message_dict


def test_loopback_is_allowed_only_by_the_setting(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    assert not http.address_allowed("127.0.0.1")
    assert http.address_allowed("93.184.216.34")
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert http.address_allowed("127.0.0.1")


def test_redirect_target_is_never_connected_to(strict, dns, connects, monkeypatch):
    # The guard has no redirect to check because none is followed: the one
    # request made is to the checked address, whatever the answer says.
    dns["hooks.example.com"] = ["93.184.216.34"]
    http.post("http://hooks.example.com/in", b"{}", {})
    assert connects == [("93.184.216.34", 80)]


# -- #13 item 6: addresses refused even when private receivers are allowed -------------

ALWAYS_REFUSED = [
    ("169.254.169.254", "link-local"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fd00:ec2::254", "cloud metadata"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "IPv6 form of a non-public IPv4"),
    ("::ffff:10.0.0.1", "IPv6 form of a non-public IPv4"),
    ("::10.0.0.1", "IPv6 form of a non-public IPv4"),
    ("64:ff9b::a9fe:a9fe", "IPv6 form of a non-public IPv4"),
    ("64:ff9b::7f00:1", "IPv6 form of a non-public IPv4"),
    ("2002:a00:1::1", "IPv6 form of a non-public IPv4"),
    ("2002:a9fe:a9fe::", "IPv6 form of a non-public IPv4"),
]


@pytest.mark.parametrize(("address", "named"), ALWAYS_REFUSED)
def test_metadata_link_local_multicast_and_wrapped_are_refused_even_when_private_is_allowed(  # noqa: E501
    settings, dns, connects, address, named
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    dns["hooks.example.com"] = [address]
    result = http.post("https://hooks.example.com/in", b"{}", {})
    assert result.status_code is None
    assert result.transient is False
    assert named in result.error and "not a public address" in result.error
    assert connects == []


@pytest.mark.parametrize(("address", "named"), ALWAYS_REFUSED)
def test_literal_metadata_url_is_refused_when_saved_even_in_private_mode(
    settings, workspace, admin, address, named
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ValidationError) as exc:
        endpoints.webhook_endpoint_create(
            actor=admin,
            workspace=workspace,
            name="x",
            url=f"http://{host}/hook",
            events="sync_failed",
        )
    assert named in exc.value.message_dict["url"][0]
    assert not WebhookDelivery.objects.exists()


def test_wrapped_forms_of_private_ipv4_are_refused_in_strict_mode_too(
    strict, dns, connects
):
    # Python calls 64:ff9b::a00:1 and 2002:a00:1:: "global"; the guard does not.
    for address in ("64:ff9b::a00:1", "2002:a00:1::", "::a00:1"):
        dns["hooks.example.com"] = [address]
        result = http.post("https://hooks.example.com/in", b"{}", {})
        assert "not a public address" in result.error, address
    assert connects == []


def test_plain_private_and_loopback_are_allowed_only_in_private_mode(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert http.address_allowed("10.0.0.5")
    assert http.address_allowed("::1")
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    assert not http.address_allowed("10.0.0.5")
    assert not http.address_allowed("::1")


def test_form_help_says_which_mode_is_in_force(settings, workspace, editor, login):
    from django.urls import reverse

    page_url = reverse("webhooks:create", args=[workspace.public_id])
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    strict_page = login(editor).get(page_url).text
    assert "Only public addresses are called" in strict_page
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    private_page = login(editor).get(page_url).text
    assert "Only public addresses are called" not in private_page
    assert "private and loopback ones" in private_page
    assert "never link-local, cloud metadata or multicast" in private_page
