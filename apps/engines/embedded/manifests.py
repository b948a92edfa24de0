"""Manifest-only connectors: a YAML manifest per version, run by the CDK's runner.

Airbyte ships many connectors as nothing but a low-code manifest (and sometimes a
``components.py`` of custom Python beside it) that the CDK's declarative runner
executes. The console runs them like the "Custom YAML manifest" source
(``apps.engines.declarative``): one ``airbyte-cdk`` virtualenv at
``settings.DECLARATIVE_CDK_VERSION`` (installed by ``installer`` like any
connector, entrypoint ``source-declarative-manifest``) takes the manifest inside
its config, under the connector's bubblewrap sandbox like any connector.

Where the manifests live: in the registered ``ManifestStore`` (the connectors
app's ``ConnectorManifest`` table), one row per connector and version. The
database row is the truth, shared by every host: a worker on another machine
finds the manifest there and only needs the CDK. A version, once stored, never
changes, so a source pinned to 1.0.0 keeps running 1.0.0 while 2.0.0 sits beside
it.

The four verbs of ``launch.py``:

- ``install``: download ``manifest.yaml`` and ``components.py`` (a 404 means none)
  for the version from ``<CONNECTOR_CDN_URL>/metadata/airbyte/<connector>/
  <version>/`` (the whole download within ``DOWNLOAD_DEADLINE``, redirects only
  within the CDN's own scheme, host and port), parse and validate it (the
  console's own checks, then the CDK's:
  the manifest is built by the CDK in the sandbox, which validates it against the
  CDK's component schema and compiles its components), make sure the CDK is
  installed, and only then store it. Anything that fails stores nothing. A version
  already stored (a previous install, or one published from the connector builder)
  is not downloaded again: the install only makes sure of the CDK.
- ``launch``: the CDK's command with the stored manifest (and components) injected
  into the config. A version not stored yet is installed first, as a PyPI
  connector's missing virtualenv is: a worker asked to run what the catalog pins
  does so rather than failing.
- ``installed``: the version is stored and the CDK is installed on this host.
- ``uninstall``: removes nothing and says 0. The CDK is shared by every manifest
  and the Custom YAML source; the stored manifests are the versioned record that
  pinned sources run, other hosts read and the connector builder publishes (those
  must never go), and they are small. The catalog's own install rows say whether
  the connector counts as installed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
from django.conf import settings

from apps.engines import declarative, registry
from apps.engines.base import (
    RUNTIME_MANIFEST,
    VERSION_RE,
    ConnectorRef,
    EngineError,
    StoredManifest,
)
from apps.engines.embedded import installer, protocol
from apps.engines.embedded.launch import Launch
from apps.engines.embedded.runner import run_connector
from apps.engines.masking import SecretMasker

OutputCallback = Callable[[str], None]

CDK_PACKAGE = "airbyte-cdk"
CDK_ENTRYPOINT = "source-declarative-manifest"
# Airbyte's connectors live under this owner on the CDN (and on Docker Hub).
CDN_OWNER = "airbyte/"
CONNECTOR_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$", re.IGNORECASE)
# The largest manifest Airbyte ships is a few hundred KB; anything near this cap is
# not a manifest.
MAX_FILE_BYTES = 10 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# Seconds for a version's whole download (manifest.yaml and components.py).
# DOWNLOAD_TIMEOUT bounds each read only: a CDN that drips a byte a minute would
# keep an install going for months, and so a sync whose worker installs the
# version before the sync's watchdog exists, which no cancel can then stop.
DOWNLOAD_DEADLINE = 120.0
# Redirects are followed by hand, and only to the CDN's own scheme, host and
# port: a CDN (or whoever answers for it) must not send the console to plain
# http, to another host or into its own network.
MAX_REDIRECTS = 3
# How much of the CDK's complaint about a manifest a message quotes.
MAX_REASON_CHARS = 600


class ManifestInstallError(EngineError):
    """A manifest could not be installed; ``message`` says why."""


# -- the four verbs -----------------------------------------------------------------


def install(ref: ConnectorRef, *, on_output: OutputCallback) -> dict[str, Any] | None:
    """Download, validate and store this manifest version; its raw SPEC."""
    emit = on_output or _quiet
    store = _store()
    stored = store.get(ref)
    if stored is not None:
        emit(f"{ref.name} {ref.version}: the manifest is already stored.")
        _cdk(emit)
        return declarative.manifest_raw_spec(stored.manifest)
    stored = _download(ref, emit)
    installation = _cdk(emit)
    emit(f"Checking the manifest with airbyte-cdk {installation.version}.")
    _cdk_validate(ref, stored, installation)
    store.put(ref, stored)
    if store.get(ref) is None:
        raise ManifestInstallError(
            f"{ref.name} is not in the catalog, so its manifest cannot be kept."
        )
    emit(f"Installed {ref.name} {ref.version} (manifest-only).")
    return declarative.manifest_raw_spec(stored.manifest)


def launch(ref: ConnectorRef, *, on_output: OutputCallback | None = None) -> Launch:
    """The CDK's runner with this version's manifest; installed first if needed."""
    stored = _store().get(ref)
    if stored is None:
        install(ref, on_output=on_output or _quiet)
        stored = _store().get(ref)
        if stored is None:  # pragma: no cover - install() checked it
            raise ManifestInstallError(f"{ref.name} {ref.version} is not installed.")
    installation = _cdk(on_output or _quiet)
    command = installation.command()
    custom_code = declarative.uses_custom_code(stored.manifest, stored.components)
    return Launch(
        runtime=RUNTIME_MANIFEST,
        label=f"{ref.name} {ref.version} (manifest)",
        prefix=lambda directory: list(command),
        bin_dir=installation.bin_dir,
        sandboxed=True,
        spec=declarative.manifest_raw_spec(stored.manifest),
        prepare_config=partial(config_for, stored),
        env={declarative.UNSAFE_CODE_ENV: "true"} if custom_code else {},
    )


def installed(ref: ConnectorRef) -> bool:
    """Stored (in the database every host shares) and the CDK is on this host."""
    if not ref.version or not VERSION_RE.match(ref.version):
        return False
    store = registry.manifest_store()
    if store is None or store.get(ref) is None:
        return False
    return installer.installed(CDK_PACKAGE, _cdk_version()) is not None


def uninstall(ref: ConnectorRef) -> int:
    """Nothing goes (see the module's docstring): the shared CDK and the stored
    versions stay."""
    return 0


# -- the config the runner reads ----------------------------------------------------


def config_for(stored: StoredManifest, config: dict[str, Any]) -> dict[str, Any]:
    """The user's config with the manifest, and its components, injected.

    Keys the console injects are dropped from the user's config first: a config
    must never bring code of its own.
    """
    user = {k: v for k, v in config.items() if k not in declarative.INJECTED_KEYS}
    try:
        full = declarative.build_config(stored.manifest, user)
    except declarative.ManifestError as exc:
        raise EngineError(str(exc)) from None
    if stored.components.strip():
        full[declarative.COMPONENTS_KEY] = stored.components
        full[declarative.COMPONENTS_CHECKSUMS_KEY] = {
            "sha256": hashlib.sha256(stored.components.encode()).hexdigest()
        }
    return full


# -- downloading ----------------------------------------------------------------------


def manifest_url(ref: ConnectorRef, filename: str = "manifest.yaml") -> str:
    """Where the registry's CDN keeps this version's ``filename``."""
    base = str(settings.CONNECTOR_CDN_URL).rstrip("/")
    return f"{base}/metadata/airbyte/{_connector(ref)}/{_version(ref)}/{filename}"


def _download(ref: ConnectorRef, emit: OutputCallback) -> StoredManifest:
    """The version's manifest and components from the CDN, parsed and validated."""
    what = f"The manifest of {ref.name} {ref.version}"
    deadline = time.monotonic() + DOWNLOAD_DEADLINE
    with httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=False) as client:
        text = _fetch(client, manifest_url(ref), "manifest.yaml", emit, deadline)
        if text is None:
            raise ManifestInstallError(
                f"Version {ref.version} of {ref.name} has no manifest on the "
                f"registry's CDN ({manifest_url(ref)} answered 404 Not Found). "
                "Pick a version the registry lists."
            )
        components = (
            _fetch(
                client,
                manifest_url(ref, "components.py"),
                "components.py",
                emit,
                deadline,
            )
            or ""
        )
    try:
        manifest = declarative.load_yaml(text, what=what)
        if not isinstance(manifest, dict):
            raise declarative.ManifestError(
                f"{what} is not a YAML mapping (version, streams, spec...)."
            )
        declarative.validate_manifest(manifest)
    except declarative.ManifestError as exc:
        message = str(exc)
        if not message.startswith(what):
            message = f"{what} cannot be used: {message}"
        raise ManifestInstallError(message) from None
    if components.strip():
        try:
            compile(components, "components.py", "exec")
        except SyntaxError as exc:
            raise ManifestInstallError(
                f"The components.py of {ref.name} {ref.version} is not valid Python "
                f"at line {exc.lineno}: {exc.msg}."
            ) from None
    return StoredManifest(manifest=manifest, components=components)


def _fetch(
    client: httpx.Client,
    url: str,
    filename: str,
    emit: OutputCallback,
    deadline: float,
) -> str | None:
    """The text at ``url``; None on a 404; ManifestInstallError on anything else.

    Redirects are followed by hand (at most ``MAX_REDIRECTS``), each only if it
    stays on the CDN's origin; the download must end by ``deadline``
    (``time.monotonic()``).
    """
    first = url
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            got = _get(client, url, filename, emit, deadline)
        except httpx.TimeoutException as exc:
            if time.monotonic() >= deadline:
                raise _too_slow(filename, first) from None
            raise ManifestInstallError(
                f"Downloading {filename} from {url} failed: "
                f"{exc or type(exc).__name__}."
            ) from None
        except httpx.HTTPError as exc:
            raise ManifestInstallError(
                f"Downloading {filename} from {url} failed: "
                f"{exc or type(exc).__name__}."
            ) from None
        if isinstance(got, httpx.URL):
            _check_redirect(filename, url, got)
            url = str(got)
            continue
        if got is None:
            return None
        try:
            return got.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestInstallError(f"{filename} is not UTF-8 text.") from None
    raise ManifestInstallError(
        f"Downloading {filename} from {first} failed: it redirected more than "
        f"{MAX_REDIRECTS} times."
    )


def _get(
    client: httpx.Client,
    url: str,
    filename: str,
    emit: OutputCallback,
    deadline: float,
) -> bytes | httpx.URL | None:
    """One GET: the body, where a redirect points, or None on a 404."""
    timeout = _timeout(filename, url, deadline)
    with client.stream("GET", url, timeout=timeout) as response:
        if response.is_redirect:
            return response.url.join(response.headers["location"])
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ManifestInstallError(
                f"Downloading {filename} failed: {url} answered "
                f"{response.status_code} {response.reason_phrase}."
            )
        length = response.headers.get("content-length", "")
        size = int(length) if length.isdigit() else None
        if size is not None and size > MAX_FILE_BYTES:
            raise _too_big(filename)
        emit(
            f"Downloading {filename}"
            + (f" ({_size(size)})" if size is not None else "")
            + "."
        )
        data = bytearray()
        # Counted as it arrives: without a Content-Length (or with a false one)
        # only this count caps what the CDN sends.
        for chunk in response.iter_bytes():
            data.extend(chunk)
            if len(data) > MAX_FILE_BYTES:
                raise _too_big(filename)
            if time.monotonic() > deadline:
                raise _too_slow(filename, url)
    return bytes(data)


def _timeout(filename: str, url: str, deadline: float) -> httpx.Timeout:
    """DOWNLOAD_TIMEOUT, cut to what is left before the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _too_slow(filename, url)
    return httpx.Timeout(
        min(float(DOWNLOAD_TIMEOUT.read or left), left),
        connect=min(float(DOWNLOAD_TIMEOUT.connect or left), left),
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


def _check_redirect(filename: str, url: str, target: httpx.URL) -> None:
    """ManifestInstallError unless ``target`` is on the CDN's own origin."""
    cdn = httpx.URL(str(settings.CONNECTOR_CDN_URL))
    if _origin(target) == _origin(cdn):
        return
    # The target without its query string, which may carry a signature.
    shown = f"{target.scheme}://{target.netloc.decode('ascii')}{target.path}"
    origin = f"{cdn.scheme}://{cdn.netloc.decode('ascii')}"
    raise ManifestInstallError(
        f"Downloading {filename} from {url} failed: it redirected to {shown}, "
        f"which is not the registry's CDN ({origin}). The console follows "
        "redirects only within the CDN."
    )


def _too_slow(filename: str, url: str) -> ManifestInstallError:
    return ManifestInstallError(
        f"{filename} did not finish downloading within {DOWNLOAD_DEADLINE:g} s "
        f"({url}): the registry's CDN sends it too slowly. Try again later."
    )


def _too_big(filename: str) -> ManifestInstallError:
    return ManifestInstallError(
        f"{filename} is larger than {_size(MAX_FILE_BYTES)}; that is no manifest."
    )


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


# -- the CDK ------------------------------------------------------------------------


def _cdk_version() -> str:
    return str(settings.DECLARATIVE_CDK_VERSION)


def _cdk(emit: OutputCallback) -> installer.Installation:
    """The declarative runner's virtualenv, installed first if this host lacks it."""
    return installer.ensure_installed(
        CDK_PACKAGE, _cdk_version(), entrypoint=CDK_ENTRYPOINT, on_output=emit
    )


# Run by the CDK virtualenv's python as ``python -c VALIDATE spec --config F``: the
# runner's own ``spec`` answers a generic spec whatever the manifest, so this builds
# the manifest the way ``check`` and ``read`` will (reference resolution, the
# component schema, components.py compiled), makes sure its check reads streams it
# defines (the CDK itself only finds out at ``check``, with a generic message), and
# answers the manifest's SPEC, or an ERROR trace that says what the CDK refused.
VALIDATE = r"""
import json, logging, sys

def reason(exc):
    text = str(exc)
    cause = exc.__cause__
    if cause is not None:
        detail = getattr(cause, "message", None) or str(cause)
        path = "/".join(str(p) for p in getattr(cause, "absolute_path", ()))
        text += ": " + detail + (" (at " + path + ")" if path else "")
    return text

def main():
    with open(sys.argv[sys.argv.index("--config") + 1]) as handle:
        config = json.load(handle)
    try:
        from airbyte_cdk.entrypoint import AirbyteEntrypoint
        from airbyte_cdk.models import AirbyteMessage, Type
        from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
            ConcurrentDeclarativeSource,
        )
        source = ConcurrentDeclarativeSource(
            config=config,
            source_config=config["__injected_declarative_manifest"],
            custom_components_trusted=False,
        )
        resolved = source.resolved_manifest
        if not resolved.get("dynamic_streams"):
            names = {s.get("name") for s in resolved.get("streams") or []}
            wanted = (resolved.get("check") or {}).get("stream_names") or []
            missing = [name for name in wanted if name not in names]
            if missing:
                raise ValueError(
                    "its check reads streams it does not define: "
                    + ", ".join(map(str, missing)))
        spec = source.spec(logging.getLogger("airbyte"))
        print(AirbyteEntrypoint.airbyte_message_to_string(
            AirbyteMessage(type=Type.SPEC, spec=spec)))
    except Exception as exc:
        print(json.dumps({"type": "TRACE", "trace": {"type": "ERROR",
            "emitted_at": 0, "error": {"message": reason(exc),
            "failure_type": "config_error"}}}))
        sys.exit(1)

main()
"""


def _cdk_validate(
    ref: ConnectorRef, stored: StoredManifest, installation: installer.Installation
) -> None:
    """Have the CDK build the manifest (sandboxed); ManifestInstallError if it won't."""
    custom_code = declarative.uses_custom_code(stored.manifest, stored.components)
    result = run_connector(
        [str(installation.python), "-c", VALIDATE],
        "spec",
        masker=SecretMasker(),
        config=config_for(stored, {}),
        timeout=installer.spec_timeout(),
        bin_dir=installation.bin_dir,
        extra_env={declarative.UNSAFE_CODE_ENV: "true"} if custom_code else None,
    )
    if result.first(protocol.SPEC) is not None:
        return
    reason = result.failure_message("spec", installer.spec_timeout())
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + "…"
    raise ManifestInstallError(
        f"airbyte-cdk {installation.version} refused the manifest of {ref.name} "
        f"{ref.version}: {reason}",
        logs=tuple(result.logs),
    )


# -- helpers --------------------------------------------------------------------------


def _store() -> Any:
    store = registry.manifest_store()
    if store is None:
        raise EngineError(
            "No manifest store is registered, so manifest-only connectors cannot "
            "run here."
        )
    return store


def _connector(ref: ConnectorRef) -> str:
    """``source-foo`` of ``airbyte/source-foo``: its folder on the CDN."""
    name = ref.docker_repository.removeprefix(CDN_OWNER)
    if not CONNECTOR_RE.match(name):
        raise ManifestInstallError(
            f"{ref.name} names no Airbyte connector ({ref.docker_repository!r}), "
            "so there is no manifest to download for it."
        )
    return name


def _version(ref: ConnectorRef) -> str:
    if not VERSION_RE.match(ref.version or ""):
        raise ManifestInstallError(
            f"{ref.name} has no valid manifest version pinned ({ref.version!r})."
        )
    return ref.version


def _quiet(line: str) -> None:
    return None
