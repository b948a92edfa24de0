"""The sandbox connector and dbt processes run in: a ``bwrap`` command line.

It lives beside the engine interface, not inside the embedded engine, because the
embedded engine's connectors and the transforms app's dbt both run code a user
chose (a package from PyPI, a project's SQL and Python models) and both must not
reach the console's keys. ``CONNECTOR_SANDBOX`` turns it on for both.

Connectors are arbitrary code from PyPI, and without a sandbox they run as the
console's user: a File source pointed at ``var/secret_key`` reads the console's key.
Under ``CONNECTOR_SANDBOX=bwrap`` a connector sees a new, almost empty root with:

- its own virtualenv and the Python install it points at (``pyvenv.cfg``'s
  ``home``), read-only;
- the system's read-only libraries and tools (``/usr``, ``/lib*``, ``/bin``) and
  the few files of ``/etc`` that name resolution, TLS and user lookups need;
- the private folder holding its 0600 config, catalog and state (read-write, so
  it may keep scratch files next to them), and an empty ``/tmp``;
- a new ``/proc`` (a new PID namespace: no other process of the machine is
  visible) and a minimal ``/dev``;
- when the caller names a workspace, that workspace's data folder
  (``LOCAL_FILES_DIR/<workspace>``) read-write at ``/local``, like Airbyte's
  ``/local`` mount.

Nothing else of the host: not ``DATA_DIR`` (keys, database, other workspaces'
files), not the console's source tree, not ``/etc/shadow``. The network is shared:
sources and destinations talk to APIs and databases.

Stopping it: the runner starts ``bwrap`` as the leader of a new process group and
signals that group (cancel, timeout, the reaper). ``bwrap`` dies of the SIGTERM;
``--die-with-parent`` then SIGKILLs the sandbox's init, and the end of a PID
namespace's init takes every process in it, the connector's children included. So
a sandboxed connector is killed rather than asked to stop, which the callers
already treat alike (the open batch is rolled back). ``--new-session`` keeps a
connector from reaching a terminal; ``--die-with-parent`` also ends the sandbox when
the console process (the thread that started it) dies.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from django.conf import settings

BWRAP = "bwrap"
NONE = "none"

# Where the workspace's data folder appears inside the sandbox.
LOCAL_MOUNT = "/local"
# The sandbox's own /tmp: a fresh tmpfs per run, not the host's shared one.
SANDBOX_TMP = "/tmp"  # noqa: S108

# The system's read-only parts, bound when they exist (a symlink stays a symlink,
# so merged-/usr systems keep /lib -> usr/lib).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The pieces of /etc a connector needs: name resolution, TLS roots, users, time
# zone and the dynamic linker's cache. Never /etc/shadow, /etc/gshadow or a key.
ETC_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/nsswitch.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    # Certificates only: /etc/ssl/private and /etc/pki/tls/private hold the
    # machine's own TLS keys.
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki/ca-trust",
    "/etc/pki/tls/certs",
    "/etc/pki/tls/cert.pem",
    "/etc/pki/tls/openssl.cnf",
    "/etc/crypto-policies",
    "/etc/mime.types",
)

_WORKSPACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def default_mode() -> str:
    """``bwrap`` where bubblewrap is installed, else ``none`` (what settings use)."""
    return BWRAP if shutil.which(BWRAP) else NONE


def mode() -> str:
    """The sandbox in force (``settings.CONNECTOR_SANDBOX``)."""
    return getattr(settings, "CONNECTOR_SANDBOX", None) or default_mode()


def enabled() -> bool:
    return mode() == BWRAP


def local_files_dir() -> Path:
    return Path(getattr(settings, "LOCAL_FILES_DIR", Path(settings.DATA_DIR) / "local"))


def local_dir(workspace_id: str | None) -> Path | None:
    """The workspace's data folder (made on first use), or None without one."""
    if not workspace_id:
        return None
    if not _WORKSPACE_ID.match(workspace_id):
        raise ValueError(f"{workspace_id!r} is not a workspace id.")
    folder = local_files_dir() / workspace_id
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def virtualenv_of(python: str) -> Path | None:
    """The virtualenv an interpreter path belongs to (``<venv>/bin/python``).

    The path is not resolved: a venv's ``bin/python`` is a symlink to the base
    Python, and the venv is what holds the connector's packages.
    """
    venv = Path(python).parent.parent
    return venv if (venv / "pyvenv.cfg").is_file() else None


def python_home(venv: Path) -> Path | None:
    """The Python install a virtualenv runs on (the prefix above ``home``)."""
    try:
        lines = (venv / "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            home = Path(value.strip())
            return home.parent if home.name == "bin" else home
    return None


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def wrap(
    argv: list[str],
    *,
    private_dir: Path | None = None,
    workspace_id: str | None = None,
    writable: tuple[Path, ...] = (),
    readable: tuple[Path, ...] = (),
    new_session: bool = True,
) -> list[str]:
    """``argv`` run inside bubblewrap (``argv[0]`` a virtualenv's python or script).

    What the sandbox binds comes from the command itself: the virtualenv of
    ``argv[0]`` and the Python it runs on, and ``argv[1]`` (the connector's
    script) when it lives outside that virtualenv. The private folder is bound at
    its own path, so the ``--config`` paths in ``argv`` stay valid inside.
    ``writable`` and ``readable`` folders are bound at their own paths too (a dbt
    project, its ``target/``, a DuckDB file's folder).

    ``new_session=False`` is for a caller that already starts the sandbox in a
    session of its own (``start_new_session``: no controlling terminal either) and
    wants a signal to its process group to reach the program inside, as dbt needs
    SIGINT to cancel its open queries.
    """
    command = [BWRAP, "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if new_session:
        command += ["--new-session"]
    command += ["--cap-drop", "ALL"]
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", SANDBOX_TMP]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            command += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            command += ["--ro-bind", path, path]
    for path in ETC_FILES:
        command += ["--ro-bind-try", path, path]
    bound: list[Path] = [Path("/usr")]
    venv = virtualenv_of(argv[0])
    if venv is not None:
        venv = venv.absolute()
        home = python_home(venv)
        if home is not None and not _under(home, bound):
            command += ["--ro-bind", str(home), str(home)]
            bound.append(home)
        command += ["--ro-bind", str(venv), str(venv)]
        bound.append(venv)
    if len(argv) > 1 and os.path.isabs(argv[1]) and os.path.isfile(argv[1]):
        script = Path(argv[1])
        if not _under(script, bound):
            command += ["--ro-bind", str(script), str(script)]
    for path in readable:
        command += ["--ro-bind", str(path), str(path)]
    for path in writable:
        command += ["--bind", str(path), str(path)]
    if private_dir is not None:
        command += ["--bind", str(private_dir), str(private_dir)]
        command += ["--chdir", str(private_dir)]
    local = local_dir(workspace_id)
    if local is not None:
        command += ["--bind", str(local), LOCAL_MOUNT]
    return [*command, "--", *argv]


def environment(env: dict[str, str]) -> dict[str, str]:
    """The connector's environment adjusted to the sandbox's filesystem.

    ``HOME`` and ``TMPDIR`` of the console name folders the sandbox does not have;
    both point at the sandbox's own empty ``/tmp``.
    """
    return {**env, "HOME": SANDBOX_TMP, "TMPDIR": SANDBOX_TMP}
