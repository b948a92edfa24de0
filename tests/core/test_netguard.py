"""The one address classifier webhooks and the Airbyte client share (#13 items 5, 6).

Each class of address is refused with a message that names it; private mode lets
loopback and private networks through and never link-local, metadata, multicast or
an IPv6 wrapper of a private IPv4 address. DNS is patched: nothing leaves the test.
"""

from __future__ import annotations

import socket

import pytest

from apps.core import netguard
from apps.core.netguard import AddressClass, BlockedAddress, classify


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.216.34", AddressClass.PUBLIC),
        ("2606:2800:220:1:248:1893:25c8:1946", AddressClass.PUBLIC),
        ("::ffff:93.184.216.34", AddressClass.PUBLIC),
        ("64:ff9b::5db8:d822", AddressClass.PUBLIC),
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.8.9.10", AddressClass.LOOPBACK),
        ("::1", AddressClass.LOOPBACK),
        ("10.1.2.3", AddressClass.PRIVATE),
        ("172.16.0.1", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("100.64.0.1", AddressClass.PRIVATE),
        ("fd12:3456::1", AddressClass.PRIVATE),
        ("240.0.0.1", AddressClass.RESERVED),
        ("255.255.255.255", AddressClass.RESERVED),
        ("192.0.2.1", AddressClass.RESERVED),
        ("169.254.169.254", AddressClass.LINK_LOCAL),
        ("fe80::1%eth0", AddressClass.LINK_LOCAL),
        ("fd00:ec2::254", AddressClass.METADATA),
        ("100.100.100.200", AddressClass.METADATA),
        ("224.0.0.251", AddressClass.MULTICAST),
        ("ff05::2", AddressClass.MULTICAST),
        ("0.0.0.0", AddressClass.UNSPECIFIED),  # noqa: S104
        ("::", AddressClass.UNSPECIFIED),
        ("::ffff:127.0.0.1", AddressClass.WRAPPED),
        ("::ffff:169.254.169.254", AddressClass.WRAPPED),
        ("::127.0.0.1", AddressClass.WRAPPED),
        ("64:ff9b::a00:1", AddressClass.WRAPPED),
        ("2002:c0a8:101::1", AddressClass.WRAPPED),
    ],
)
def test_each_address_has_its_class(address, kind):
    assert classify(address) is kind


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private-network address"),
        ("240.0.0.1", "a reserved or special-purpose address"),
        ("169.254.169.254", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata service address"),
        ("224.0.0.1", "a multicast address"),
        ("64:ff9b::a00:1", "an IPv6 form of a non-public IPv4 address"),
    ],
)
def test_strict_mode_refuses_every_non_public_class_by_name(address, words):
    reason = netguard.refusal(address, allow_private=False)
    assert reason.startswith(f"{address} is not a public address: it is {words}")


def test_private_mode_allows_loopback_and_private_but_never_metadata():
    allowed = ["127.0.0.1", "::1", "10.0.0.1", "192.168.0.10", "fd12::1", "240.0.0.1"]
    for address in allowed:
        assert netguard.refusal(address, allow_private=True) == "", address
    refused = [
        "169.254.169.254",
        "fd00:ec2::254",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104
        "::ffff:127.0.0.1",
        "2002:7f00:1::",
    ]
    for address in refused:
        assert netguard.refusal(address, allow_private=True), address


@pytest.fixture
def dns(monkeypatch):
    answers: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_every_resolved_address_is_checked(dns):
    dns["mixed.example.com"] = ["93.184.216.34", "fd00:ec2::254"]
    with pytest.raises(BlockedAddress) as exc:
        netguard.resolve("mixed.example.com", 443, allow_private=True)
    assert str(exc.value) == (
        "mixed.example.com resolves to fd00:ec2::254 is not a public address: it "
        "is a cloud metadata service address."
    )
    dns["ok.example.com"] = ["93.184.216.34"]
    assert netguard.resolve("ok.example.com", 443, allow_private=False) == (
        "93.184.216.34"
    )


def test_an_unknown_name_is_an_os_error_not_a_refusal(dns):
    with pytest.raises(OSError, match=r"Cannot resolve nowhere\.example\.com"):
        netguard.resolve("nowhere.example.com", 80, allow_private=False)


def test_literal_urls_are_checked_without_dns(dns):
    with pytest.raises(BlockedAddress, match="link-local"):
        netguard.check_literal("http://169.254.169.254/latest", allow_private=True)
    with pytest.raises(BlockedAddress, match="IPv6 form"):
        netguard.check_literal("http://[::ffff:a9fe:a9fe]/", allow_private=True)
    netguard.check_literal("http://example.com/", allow_private=False)
    netguard.check_literal("http://127.0.0.1:8000/", allow_private=True)
