"""An httpx transport that connects only to the address ``netguard`` checked.

Checking a host name's addresses, then letting the HTTP client resolve the name
again to connect, leaves a gap: a DNS server can answer a public address to the
check and 127.0.0.1 (or the metadata service) to the connect a moment later (DNS
rebinding), and the request lands inside the console's own network. This
transport has no such gap: it resolves the name once per request, through
``netguard.resolve`` (which refuses the name when any of its addresses may not be
called), and connects to that very address. The name stays where the server sees
it: in the ``Host`` header and, for HTTPS, as the TLS server name (SNI and the
certificate check), so virtual hosts and certificates work as before.

Every hop is a new request, so a redirect followed by the client is resolved and
checked again. Environment proxies are not used (httpx ignores them when a
transport is given): a proxy would do its own resolving.

Used by every caller that fetches a URL someone else names: the Airbyte client
(``apps.airbyte.client``) and the catalog's icon downloads
(``apps.connectors.catalog.icons``).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from apps.core import netguard


class PinnedTransport(httpx.BaseTransport):
    """Connect only to a checked address of the request's host (see the module).

    ``allow_private`` is a flag, or a callable read at each request (a setting a
    test or an administrator may change while a client lives). A refused address
    raises ``netguard.BlockedAddress`` before anything is sent; a name that does
    not resolve raises ``httpx.ConnectError``.
    """

    def __init__(self, *, allow_private: bool | Callable[[], bool]) -> None:
        self._allow_private = allow_private
        self._inner = httpx.HTTPTransport(retries=0)

    def _allows_private(self) -> bool:
        if callable(self._allow_private):
            return bool(self._allow_private())
        return bool(self._allow_private)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            address = netguard.resolve(host, port, allow_private=self._allows_private())
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        # The Host header was set from the name when the request was built; only
        # the address connected to changes here.
        request.url = request.url.copy_with(host=address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
