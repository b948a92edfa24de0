"""Pulling a dbt project from a git repository, with a token or a deploy key.

``git_sync`` clones a branch into a folder, or fetches and resets an existing
clone to the branch's tip, and returns the commit. The secret never reaches git's
argv, the URL, ``.git/config`` or a message: a token travels as an HTTP header in
git's environment (``GIT_CONFIG_KEY_n``, scoped to the repository's host), a deploy
key as a 0600 file in a private temporary folder named by ``GIT_SSH_COMMAND`` and
removed afterwards. git never prompts (``GIT_TERMINAL_PROMPT=0``), never reads the
host's global or system configuration (credential helpers included), and speaks
only https, http, ssh, git and file.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from apps.engines.masking import SecretMasker

KINDS = ("token", "basic", "ssh_key")
ALLOWED_PROTOCOLS = "https:http:ssh:git:file"
# What git may leave in a project folder that a pull must not wipe: dbt's own.
KEEP = ("target/", "dbt_packages/", "logs/")
# Environment variables git inherits from the worker; nothing else (the console's
# own secrets live in its environment).
SAFE_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")
SSH_KEY_FIELDS = ("ssh_private_key", "private_key", "deploy_key", "ssh_key")
TOKEN_FIELDS = ("token", "access_token", "api_key", "password")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)")


class GitError(Exception):
    """git could not give the project; ``message`` says why, secrets masked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def git_timeout() -> float:
    return float(getattr(settings, "GIT_TIMEOUT_SECONDS", 120))


def shown_url(url: str) -> str:
    """A repository URL fit for a message: ``https://user:token@host/r`` -> host/r."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return url


def url_problem(url: str) -> str:
    """Why a repository URL is refused, or "" when git may be given it."""
    url = (url or "").strip()
    if not url:
        return "Give the repository's URL."
    if url.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "This is not a repository URL."
    if "::" in url.split("/", 1)[0]:
        return "Remote helpers (transport::address) are not allowed."
    if _SCP_LIKE.match(url):
        return ""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ssh", "git"):
        # A token also works as the user of an https URL (https://<token>@host/):
        # only ssh may name a user (ssh://git@host/...).
        if parts.password or (parts.username and parts.scheme in ("http", "https")):
            return (
                "Do not put a password or token in the URL: store it as a "
                "credential and choose it for the project."
            )
        if not parts.hostname:
            return "The URL names no host."
        return ""
    if parts.scheme in ("file", ""):
        return ""
    return (
        f"git URLs start with https://, ssh:// or user@host: (not {parts.scheme}://)."
    )


def is_local(url: str) -> bool:
    """Does the URL name a repository on this host (file:// or a path)?"""
    url = (url or "").strip()
    if _SCP_LIKE.match(url):
        return False
    return urlsplit(url).scheme in ("file", "")


def git_credential_secret(credential: Any) -> tuple[str, str]:
    """``(secret, kind)`` for git from a workspace credential.

    An API key is a token; a username and password go as HTTP basic auth; a
    key/value credential holds a deploy key (``ssh_private_key``, ``private_key``,
    ``deploy_key``) or a token (``token``, ``access_token``).
    """
    payload = credential.get_payload()
    kind = credential.type
    if kind == "api_key" and payload.get("api_key"):
        return str(payload["api_key"]), "token"
    if kind == "basic_auth" and payload.get("password"):
        return f"{payload.get('username') or 'git'}:{payload['password']}", "basic"
    if kind == "generic":
        for name in SSH_KEY_FIELDS:
            if payload.get(name):
                return _ssh_key(str(payload[name])), "ssh_key"
        for name in TOKEN_FIELDS:
            if payload.get(name):
                return str(payload[name]), "token"
    raise GitError(
        f"The credential “{credential.name}” cannot open a git repository: use an "
        "API key (a token), a username and password, or key/value pairs with "
        "ssh_private_key (a deploy key) or token."
    )


def _ssh_key(text: str) -> str:
    # Keys pasted into a form come with CRLF or escaped newlines; ssh wants LF
    # and a final newline.
    key = text.replace("\\n", "\n").replace("\r\n", "\n").strip()
    return key + "\n"


def git_sync(
    *,
    url: str,
    branch: str,
    dest: Path,
    secret: str | None = None,
    secret_kind: str | None = None,
    timeout: float | None = None,
) -> str:
    """Make ``dest`` the tip of ``branch`` of ``url``; return its commit sha."""
    problem = url_problem(url)
    if problem:
        raise GitError(problem)
    url = url.strip()
    branch = (branch or "").strip() or "main"
    if secret and secret_kind not in KINDS:
        raise GitError(f"Unknown kind of git secret {secret_kind!r}.")
    dest = Path(dest)
    limit = timeout or git_timeout()
    deadline = time.monotonic() + limit
    masker = SecretMasker(_secret_forms(secret, secret_kind))
    with _environment(url, secret, secret_kind) as env:
        git = _Git(env, deadline, masker, url, branch, limit)
        git.check_branch()
        if (dest / ".git").is_dir():
            git.run("remote", "set-url", "origin", url, cwd=dest)
            git.run(
                "fetch",
                "--depth",
                "1",
                "--no-tags",
                "--prune",
                "origin",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
                cwd=dest,
            )
            git.run(
                "checkout",
                "--force",
                "-B",
                branch,
                f"refs/remotes/origin/{branch}",
                cwd=dest,
            )
            git.run("clean", "-ffdx", *[f"--exclude={k}" for k in KEEP], cwd=dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging = dest.parent / f".clone-{uuid.uuid4().hex}"
            try:
                git.run(
                    "clone",
                    "--depth",
                    "1",
                    "--single-branch",
                    "--no-tags",
                    "--branch",
                    branch,
                    "--",
                    url,
                    str(staging),
                    cwd=dest.parent,
                )
                if dest.exists() or dest.is_symlink():
                    _remove(dest)
                os.rename(staging, dest)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        return git.run("rev-parse", "HEAD", cwd=dest).strip()


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)


def _secret_forms(secret: str | None, kind: str | None) -> list[str]:
    if not secret:
        return []
    forms = [secret]
    if kind in ("token", "basic"):
        forms.append(_basic(secret, kind))
        forms.extend(secret.split(":", 1)[1:] if kind == "basic" else [])
    return forms


def _basic(secret: str, kind: str | None) -> str:
    # GitHub, GitLab and Gitea take a token as the password of any user;
    # x-access-token is the name GitHub documents.
    pair = secret if kind == "basic" else f"x-access-token:{secret}"
    return base64.b64encode(pair.encode()).decode()


@contextlib.contextmanager
def _environment(
    url: str, secret: str | None, kind: str | None
) -> Iterator[dict[str, str]]:
    """git's environment; a deploy key lives in a private folder for the call."""
    folder = Path(tempfile.mkdtemp(prefix="console-git-"))
    try:
        os.chmod(folder, 0o700)
        env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
        env.update(
            HOME=str(folder),
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="",
            SSH_ASKPASS="",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS,
            GIT_LFS_SKIP_SMUDGE="1",
        )
        config = [
            ("credential.helper", ""),
            ("advice.detachedHead", "false"),
            ("init.defaultBranch", "main"),
            ("protocol.file.allow", "always"),
            # A link in the repository is checked out as a file holding its target:
            # a project's "model" linking to a file of the worker's host would
            # otherwise be read by dbt and shown on its page.
            ("core.symlinks", "false"),
        ]
        if secret and kind in ("token", "basic"):
            parts = urlsplit(url)
            scope = f"{parts.scheme}://{parts.netloc}/"
            config.append(
                (
                    f"http.{scope}.extraHeader",
                    f"Authorization: Basic {_basic(secret, kind)}",
                )
            )
        ssh = [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f"UserKnownHostsFile={folder / 'known_hosts'}",
            "-o",
            "ConnectTimeout=15",
        ]
        if secret and kind == "ssh_key":
            key = folder / "deploy_key"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(_ssh_key(secret))
            ssh += ["-o", "IdentitiesOnly=yes", "-i", str(key)]
        env["GIT_SSH_COMMAND"] = " ".join(ssh)
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key_name, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key_name
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        yield env
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Git:
    """Runs git commands under one deadline and turns failures into GitErrors."""

    def __init__(
        self,
        env: dict[str, str],
        deadline: float,
        masker: SecretMasker,
        url: str,
        branch: str,
        limit: float,
    ) -> None:
        self.limit = limit
        self.env = env
        self.deadline = deadline
        self.masker = masker
        # Messages name the repository without a token written into its URL.
        self.url = shown_url(url)
        self.branch = branch

    def check_branch(self) -> None:
        if self.branch.startswith("-"):
            raise GitError(f"“{self.branch}” is not a branch name.")
        try:
            self.run("check-ref-format", "--branch", self.branch, cwd=Path("/"))
        except GitError:
            raise GitError(f"“{self.branch}” is not a branch name.") from None

    def run(self, *args: str, cwd: Path) -> str:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out()
        process = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise self._timed_out() from None
        if process.returncode != 0:
            raise GitError(self._explain(args[0], err))
        return out

    def _timed_out(self) -> GitError:
        return GitError(
            f"git did not finish within {self.limit:g} s talking to "
            f"{self.masker.mask(self.url)}: the host does not answer, or the "
            "repository is too large."
        )

    def _explain(self, command: str, stderr: str) -> str:
        lines = [
            line.strip()
            for line in self.masker.mask(stderr or "").splitlines()
            if line.strip() and not line.startswith(("warning:", "hint:"))
        ]
        detail = lines[-1] if lines else f"git {command} failed"
        text = (stderr or "").lower()
        where = self.masker.mask(self.url)
        if "could not resolve host" in text or "could not resolve hostname" in text:
            reason = f"The host of {where} is unknown (its name does not resolve)."
        elif any(
            s in text
            for s in (
                "connection refused",
                "failed to connect",
                "connection timed out",
                "no route to host",
                "network is unreachable",
            )
        ):
            reason = f"Could not connect to {where}: nothing answers there."
        elif any(
            s in text
            for s in (
                "authentication failed",
                "could not read username",
                "could not read password",
                "permission denied",
                "the requested url returned error: 401",
                "the requested url returned error: 403",
                "host key verification failed",
            )
        ):
            reason = (
                f"{where} refused access: choose a credential that may read the "
                "repository (a token or a deploy key), or check the one chosen."
            )
        elif "remote branch" in text or "couldn't find remote ref" in text:
            reason = f"The branch “{self.branch}” does not exist in {where}."
        elif any(
            s in text
            for s in (
                "does not appear to be a git repository",
                "repository not found",
                "not found",
                "does not exist",
            )
        ):
            reason = f"No git repository at {where}."
        else:
            reason = f"git {command} failed for {where}."
        return f"{reason} (git: {detail})"


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.communicate(timeout=5)
