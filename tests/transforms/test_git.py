"""Pulling projects from real git repositories: local ones and one over HTTP."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apps.transforms.git import GitError, git_credential_secret, git_sync, url_problem

TOKEN = "ghp_SECRETcanary1234567890"


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.test",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.test",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    for path, content in files.items():
        target = repo / path
        if content is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture
def origin(tmp_path) -> dict:
    """A repository with two commits on main and a third on the branch dev."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    first = commit(
        repo,
        {"dbt_project.yml": "name: shop\n", "models/a.sql": "select 1 as id\n"},
        "first",
    )
    second = commit(
        repo,
        {"models/b.sql": "select 2 as id\n", "models/a.sql": None},
        "second",
    )
    git("checkout", "-q", "-b", "dev", cwd=repo)
    dev = commit(repo, {"models/dev.sql": "select 3 as id\n"}, "dev")
    git("checkout", "-q", "main", cwd=repo)
    return {"repo": repo, "first": first, "second": second, "dev": dev}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_clone_gives_the_tip_of_the_branch(origin, tmp_path):
    dest = tmp_path / "work" / "project"
    sha = git_sync(url=str(origin["repo"]), branch="main", dest=dest)
    assert sha == origin["second"]
    assert (dest / "models" / "b.sql").read_text() == "select 2 as id\n"
    assert not (dest / "models" / "a.sql").exists()


def test_a_second_pull_follows_new_commits_and_a_branch_switch(origin, tmp_path):
    dest = tmp_path / "project"
    url = f"file://{origin['repo']}"
    assert git_sync(url=url, branch="main", dest=dest) == origin["second"]
    # dbt's folders survive a pull; anything else not in git does not.
    (dest / "target").mkdir()
    (dest / "target" / "manifest.json").write_text("{}")
    (dest / "stray.sql").write_text("select 0")
    (dest / "models" / "b.sql").write_text("edited on the worker")
    third = commit(origin["repo"], {"models/c.sql": "select 4 as id\n"}, "third")

    assert git_sync(url=url, branch="main", dest=dest) == third
    assert (dest / "models" / "c.sql").exists()
    assert (dest / "models" / "b.sql").read_text() == "select 2 as id\n"
    assert not (dest / "stray.sql").exists()
    assert (dest / "target" / "manifest.json").exists()

    assert git_sync(url=url, branch="dev", dest=dest) == origin["dev"]
    assert (dest / "models" / "dev.sql").exists()
    assert not (dest / "models" / "c.sql").exists()


def test_a_missing_branch_says_so(origin, tmp_path):
    with pytest.raises(GitError) as error:
        git_sync(url=str(origin["repo"]), branch="nope", dest=tmp_path / "p")
    assert "“nope” does not exist" in error.value.message
    assert not (tmp_path / "p").exists()


def test_a_url_that_does_not_answer_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/shop.git"
    with pytest.raises(GitError) as error:
        git_sync(url=url, branch="main", dest=tmp_path / "p", timeout=30)
    assert f"Could not connect to {url}: nothing answers there." in error.value.message


def test_a_token_written_into_the_url_is_refused_without_repeating_it(tmp_path):
    port = free_port()
    url = f"http://oauth2:tok-canary-77@127.0.0.1:{port}/shop.git"
    with pytest.raises(GitError) as error:
        git_sync(url=url, branch="main", dest=tmp_path / "p", timeout=30)
    assert "store it as a credential" in error.value.message
    assert "tok-canary-77" not in error.value.message


def test_a_path_that_is_no_repository_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GitError) as error:
        git_sync(url=str(tmp_path / "empty"), branch="main", dest=tmp_path / "p")
    assert "No git repository at" in error.value.message


def test_bad_urls_and_branches_are_refused_before_git_runs(tmp_path):
    assert "password or token" in url_problem(f"https://me:{TOKEN}@example.com/r.git")
    assert url_problem("ext::sh -c touch% /tmp/pwned")
    assert url_problem("--upload-pack=touch /tmp/x")
    assert url_problem("git@github.com:acme/dbt.git") == ""
    # A token works as the user of an https URL too; ssh names its user.
    assert "password or token" in url_problem(f"https://{TOKEN}@example.com/r.git")
    assert url_problem("ssh://git@example.com/acme/dbt.git") == ""
    with pytest.raises(GitError):
        git_sync(url="-oProxyCommand=x", branch="main", dest=tmp_path / "p")
    with pytest.raises(GitError) as error:
        git_sync(url=str(tmp_path), branch="--orphan", dest=tmp_path / "p")
    assert "not a branch name" in error.value.message


# -- a private repository over HTTP ---------------------------------------------


@pytest.fixture
def http_repo(origin, tmp_path):
    """``git http-backend`` behind basic auth that only accepts TOKEN."""
    root = tmp_path / "served"
    root.mkdir()
    git("clone", "-q", "--bare", str(origin["repo"]), str(root / "shop.git"), cwd=root)
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.serve()

        def do_POST(self) -> None:
            self.serve()

        def serve(self) -> None:
            seen.append(self.path)
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            env = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(length),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "REMOTE_USER": "reader",
            }
            out = subprocess.run(
                ["git", "http-backend"],
                input=self.rfile.read(length),
                env=env,
                capture_output=True,
                check=False,
            ).stdout
            head, _, body = out.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode().split("\r\n"):
                name, _, value = line.partition(": ")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers.append((name, value))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/shop.git", "seen": seen}
    server.shutdown()
    server.server_close()


def test_a_token_opens_a_private_repository_and_is_stored_nowhere(
    http_repo, origin, tmp_path
):
    dest = tmp_path / "project"
    sha = git_sync(
        url=http_repo["url"],
        branch="main",
        dest=dest,
        secret=TOKEN,
        secret_kind="token",
    )
    assert sha == origin["second"]
    for path in (dest / ".git").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    # The fetch path sends it too.
    assert (
        git_sync(
            url=http_repo["url"],
            branch="dev",
            dest=dest,
            secret=TOKEN,
            secret_kind="token",
        )
        == origin["dev"]
    )


def test_without_the_token_the_refusal_is_clear_and_a_wrong_one_is_masked(
    http_repo, tmp_path
):
    with pytest.raises(GitError) as error:
        git_sync(url=http_repo["url"], branch="main", dest=tmp_path / "a")
    assert "refused access" in error.value.message
    wrong = "ghp_WRONGtoken0987654321"
    with pytest.raises(GitError) as error:
        git_sync(
            url=http_repo["url"],
            branch="main",
            dest=tmp_path / "b",
            secret=wrong,
            secret_kind="token",
        )
    assert "refused access" in error.value.message
    assert wrong not in error.value.message


def test_a_deploy_key_file_is_private_and_removed_afterwards(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: dict = {}
    real_popen = subprocess.Popen

    def spy(args, **kwargs):
        command = kwargs["env"]["GIT_SSH_COMMAND"]
        key = Path(command.split(" -i ")[1].split()[0])
        seen["mode"] = key.stat().st_mode & 0o777
        seen["key"] = key.read_text()
        seen["argv"] = " ".join(args)
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    url = f"ssh://git@127.0.0.1:{free_port()}/shop.git"
    with pytest.raises(GitError) as error:
        git_sync(
            url=url,
            branch="main",
            dest=tmp_path / "p",
            secret="-----BEGIN KEY-----\\nAAAA\\n-----END KEY-----",
            secret_kind="ssh_key",
            timeout=30,
        )
    assert "Could not connect" in error.value.message
    assert seen["mode"] == 0o600
    assert seen["key"] == "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n"
    assert "BEGIN KEY" not in seen["argv"]
    assert list(scratch.iterdir()) == []


class _Credential:
    def __init__(self, type_: str, payload: dict) -> None:
        self.type, self.name, self._payload = type_, "Repo", payload

    def get_payload(self) -> dict:
        return self._payload


def test_credentials_become_tokens_or_deploy_keys():
    assert git_credential_secret(_Credential("api_key", {"api_key": TOKEN})) == (
        TOKEN,
        "token",
    )
    assert git_credential_secret(
        _Credential("basic_auth", {"username": "ci", "password": "pw123"})
    ) == ("ci:pw123", "basic")
    secret, kind = git_credential_secret(
        _Credential("generic", {"ssh_private_key": "KEY"})
    )
    assert (secret, kind) == ("KEY\n", "ssh_key")
    with pytest.raises(GitError) as error:
        git_credential_secret(_Credential("oauth2", {"client_id": "x"}))
    assert "cannot open a git repository" in error.value.message


def test_links_in_the_repository_are_checked_out_as_plain_files(origin, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("the worker's own file")
    (origin["repo"] / "models" / "leak.sql").symlink_to(secret)
    commit(origin["repo"], {}, "a link")
    dest = tmp_path / "project"
    git_sync(url=str(origin["repo"]), branch="main", dest=dest)
    leak = dest / "models" / "leak.sql"
    assert not leak.is_symlink()
    assert leak.read_text() == str(secret)


def test_a_host_that_accepts_but_never_answers_times_out(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)  # connections complete, nothing ever answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}/shop.git"
        with pytest.raises(GitError) as error:
            git_sync(url=url, branch="main", dest=tmp_path / "p", timeout=2)
    assert "git did not finish within 2 s" in error.value.message
    assert "does not answer" in error.value.message
    assert not (tmp_path / "p").exists()
