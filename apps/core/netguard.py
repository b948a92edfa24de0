"""Which addresses the console may send a request to: one answer for every caller.

The console calls servers that users name (webhook receivers, Airbyte servers), so
a user could name an address inside the console's own network instead: the cloud
metadata service, a database port, an admin page on loopback. Every address a host
name resolves to is classified here, and refused unless its class is allowed:

* **Always refused**, whatever the settings: link-local addresses (169.254.0.0/16,
  fe80::/10; the cloud metadata service lives at 169.254.169.254), the other
  metadata addresses (AWS's IPv6 ``fd00:ec2::254``, Alibaba's 100.100.100.200),
  multicast, the unspecified address (0.0.0.0 reaches loopback on Linux), and the
  IPv6 forms that wrap an IPv4 address that is not public (``::ffff:10.0.0.1``,
  the deprecated IPv4-compatible ``::10.0.0.1``, NAT64 ``64:ff9b::a00:1`` and 6to4
  ``2002:a00:1::``). Nobody runs a webhook receiver or an Airbyte server there, and
  these forms are how a guard that only looks at plain IPv4 is walked around.
* **Refused unless the caller allows private targets** (``WEBHOOKS_ALLOW_PRIVATE``,
  ``AIRBYTE_ALLOW_PRIVATE``; ``make run`` and the tests set them): loopback,
  private networks (RFC 1918, unique-local IPv6), shared address space
  (100.64.0.0/10), and every other reserved or special-purpose block.
* **Allowed**: public (global) addresses, including an IPv6 form that wraps a
  public IPv4 address.

Callers check twice: when a URL is saved (so the user hears about it in the form)
and when they connect (DNS answers change), connecting to the address they checked.
"""

from __future__ import annotations

import ipaddress
import socket
from enum import StrEnum
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services outside 169.254.0.0/16.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("fd00:ec2::254"),  # AWS, IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# Where private servers live: RFC 1918, shared address space, unique-local IPv6.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(block)
    for block in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    )
)


class AddressClass(StrEnum):
    """What an address is, as far as calling it goes."""

    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    RESERVED = "reserved"
    LINK_LOCAL = "link-local"
    METADATA = "metadata"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    WRAPPED = "wrapped"


# What each class is, in the words a refusal uses.
DESCRIPTIONS = {
    AddressClass.LOOPBACK: "a loopback address (this machine)",
    AddressClass.PRIVATE: "a private-network address",
    AddressClass.RESERVED: "a reserved or special-purpose address",
    AddressClass.LINK_LOCAL: "a link-local address (where cloud metadata lives)",
    AddressClass.METADATA: "a cloud metadata service address",
    AddressClass.MULTICAST: "a multicast address",
    AddressClass.UNSPECIFIED: "the unspecified address",
    AddressClass.WRAPPED: "an IPv6 form of a non-public IPv4 address",
}
ALWAYS_REFUSED = frozenset(
    {
        AddressClass.LINK_LOCAL,
        AddressClass.METADATA,
        AddressClass.MULTICAST,
        AddressClass.UNSPECIFIED,
        AddressClass.WRAPPED,
    }
)


class BlockedAddress(Exception):
    """The host is, or resolves to, an address the console must not call."""


def parse(address: str | IPAddress) -> IPAddress:
    """An address object; an IPv6 zone (``fe80::1%eth0``) is dropped."""
    if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return address
    return ipaddress.ip_address(address.split("%", 1)[0])


def wrapped_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(address: str | IPAddress) -> AddressClass:
    """The class of one address (see the module's docstring for what each means)."""
    ip = parse(address)
    inner = wrapped_ipv4(ip)
    if inner is not None:
        inner_class = classify(inner)
        if inner_class is AddressClass.PUBLIC:
            return AddressClass.PUBLIC
        return AddressClass.WRAPPED
    if ip in METADATA_ADDRESSES:
        return AddressClass.METADATA
    if ip.is_unspecified or ip in THIS_NETWORK:
        return AddressClass.UNSPECIFIED
    if ip.is_link_local:
        return AddressClass.LINK_LOCAL
    if ip.is_multicast:
        return AddressClass.MULTICAST
    if ip.is_loopback:
        return AddressClass.LOOPBACK
    if ip.is_global:
        return AddressClass.PUBLIC
    if any(
        ip in network for network in PRIVATE_NETWORKS if network.version == ip.version
    ):
        return AddressClass.PRIVATE
    return AddressClass.RESERVED


def refusal(address: str | IPAddress, *, allow_private: bool) -> str:
    """Why ``address`` may not be called ("" when it may)."""
    kind = classify(address)
    if kind is AddressClass.PUBLIC:
        return ""
    if allow_private and kind not in ALWAYS_REFUSED:
        return ""
    return f"{parse(address)} is not a public address: it is {DESCRIPTIONS[kind]}"


def literal_host(url: str) -> str:
    """The URL's host when it is an IP address literal, else ""."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return ""
    return host


def check_literal(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host is a literal address that may not be called."""
    host = literal_host(url)
    reason = refusal(host, allow_private=allow_private) if host else ""
    if reason:
        raise BlockedAddress(f"{reason}.")


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to, after checking every address ``host`` has.

    Raises ``BlockedAddress`` when any of them may not be called (one bad answer
    among good ones is enough: a client may pick any), and ``OSError`` when the
    name does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"Cannot resolve {host}: {exc.strerror or exc}") from exc
    except UnicodeError as exc:
        raise OSError(f"Cannot resolve {host}: not a valid host name") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"Cannot resolve {host}.")
    refused = [
        reason
        for reason in (refusal(a, allow_private=allow_private) for a in addresses)
        if reason
    ]
    if refused:
        literal = len(addresses) == 1 and addresses[0] == host.strip("[]")
        prefix = "" if literal else f"{host} resolves to "
        raise BlockedAddress(f"{prefix}{'; '.join(refused)}.")
    return addresses[0]
