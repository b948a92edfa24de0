"""Where a files destination keeps its files: a local folder or an S3 bucket.

Both speak in keys, POSIX paths relative to the destination's root
(``public/users/20261204T225700Z_1a2b3c4d_00001.parquet``), so the writer never
knows which one it has. The operations are the few an object store does well: put a
finished file, put and get a small object, list a folder, move one key to another
and delete keys. A move is a rename on disk (atomic, the same filesystem) and a
server-side copy then a delete in S3, which has no rename.

S3 goes through boto3 (AWS's own SDK): ``ClientError`` carries S3's error code
(``AccessDenied``, ``NoSuchBucket``, ``InvalidAccessKeyId``), which is what a user
needs to read, and botocore retries throttling and 5xx answers itself. Credentials
are always the ones the destination holds: a workspace never borrows the server's
own (environment, instance profile), which could reach another tenant's buckets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from apps.engines.embedded.writers.base import DestinationError

# S3's DeleteObjects takes at most this many keys per call.
_DELETE_CHUNK = 1000


class Storage(Protocol):
    """A destination's root, addressed by relative keys (see the module docstring)."""

    #: What people read in messages: a folder path or ``s3://bucket/prefix``.
    where: str

    def put_file(self, path: Path, key: str) -> None:
        """Store a finished local file at ``key``; the local file is consumed."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object atomically (a reader sees the old or the new).

        What was put, moved or deleted before is durable first: the writer's
        state file, written last, never covers data a crash could still lose.
        """

    def get_bytes(self, key: str) -> bytes | None:
        """A small object's content, None when there is none."""

    def list(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix`` (recursive), sorted."""

    def move(self, source: str, target: str) -> None:
        """Put the object at ``source`` at ``target`` instead (replacing it)."""

    def delete(self, keys: Iterable[str]) -> None:
        """Remove these keys; a missing one is not an error."""

    def scratch(self) -> Path | None:
        """A local folder for files being written, on the same filesystem as the
        root when that makes ``put_file`` a rename; None: any temp folder."""

    def probe(self) -> None:
        """Write, list and delete a small object; raise DestinationError if not."""


# ---------------------------------------------------------------------------
# A local folder


class LocalStorage:
    """A folder on this host (already confined to its workspace by the caller).

    Durability: a part is fsynced before it is renamed into place, and the
    folders whose entries changed (a part put, moved or deleted, a folder made)
    are fsynced before the next small object (the state file) is written, which
    is itself fsynced, renamed, and its folder fsynced. Without that a host crash
    could keep a state file whose parts were still in the page cache, and the next
    sync would resume past data that is gone. The cost is one fsync per part and
    one per changed folder per commit, never one per row.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.where = str(self.root)
        #: Folders whose entries changed since the last put_bytes.
        self._unsynced: set[Path] = set()

    def _path(self, key: str) -> Path:
        # Keys are built by the writer from normalized names; this is the last
        # guard against one that would leave the root.
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise DestinationError(f"Refusing to write outside {self.root}: {key}")
        return path

    def put_file(self, path: Path, key: str) -> None:
        target = self._path(key)
        self._make_folder(target.parent)
        _fsync_path(path)
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != 18:  # EXDEV: another filesystem, copy instead
                raise
            shutil.copyfile(path, target)
            _fsync_path(target)
            path.unlink()
        self._unsynced.add(target.parent)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        self._make_folder(target.parent)
        self.sync()
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        _fsync_path(target.parent)

    def sync(self) -> None:
        """Make the folder entries changed since the last call durable."""
        pending, self._unsynced = self._unsynced, set()
        root = self.root.resolve()
        for folder in sorted(pending, key=lambda p: len(p.parts), reverse=True):
            # A folder pruned since has gone: its parent holds the change now.
            while not folder.is_dir() and folder != root and folder != folder.parent:
                folder = folder.parent
            with contextlib.suppress(FileNotFoundError):  # removed by someone else
                _fsync_path(folder)

    def _make_folder(self, folder: Path) -> None:
        """mkdir -p; each folder made is an entry of its parent to sync."""
        missing = []
        current = folder
        while not current.is_dir():
            missing.append(current)
            if current == current.parent:
                break
            current = current.parent
        if missing:
            folder.mkdir(parents=True, exist_ok=True)
            self._unsynced.update(made.parent for made in missing)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def list(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        root = self.root.resolve()
        return sorted(
            path.relative_to(root).as_posix()
            for path in folder.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )

    def move(self, source: str, target: str) -> None:
        destination = self._path(target)
        self._make_folder(destination.parent)
        origin = self._path(source)
        os.replace(origin, destination)
        self._unsynced.update((origin.parent, destination.parent))
        self._prune([origin.parent])

    def delete(self, keys: Iterable[str]) -> None:
        folders = set()
        for key in keys:
            path = self._path(key)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            folders.add(path.parent)
        self._unsynced.update(folders)
        self._prune(folders)

    def _prune(self, folders: Iterable[Path]) -> None:
        """Remove folders left empty (and their empty parents), up to the root, so
        a reset or swapped stream leaves no empty folder behind."""
        root = self.root.resolve()
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            while folder != root and folder.is_relative_to(root):
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent

    def scratch(self) -> Path | None:
        return self.root

    def probe(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            key = f"_airbyte_console_check_{uuid.uuid4().hex[:12]}"
            self.put_bytes(key, b"ok")
            self.delete([key])
        except OSError as exc:
            raise DestinationError(
                f"Cannot write in the folder {self.root}: "
                f"{exc.strerror or type(exc).__name__}.",
                failure_type="config_error",
            ) from None


def _fsync_path(path: Path) -> None:
    """fsync a file or a folder by its path (a folder: its entries)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------------------
# S3 and S3-compatible stores

# S3 error codes that mean "fix the settings", with what to say about them.
_CONFIG_ERRORS = {
    "AccessDenied": "refused the request (AccessDenied): the key has no right to "
    "write there, or a bucket policy forbids it",
    "AllAccessDisabled": "refused the request: all access to it is disabled",
    "NoSuchBucket": "does not exist",
    "InvalidAccessKeyId": "does not know this access key ID (InvalidAccessKeyId)",
    "SignatureDoesNotMatch": "refused the secret access key (SignatureDoesNotMatch)",
    "InvalidBucketName": "is not a valid bucket name",
    "PermanentRedirect": "is in another region: set the bucket's region",
    "AuthorizationHeaderMalformed": "is in another region: set the bucket's region",
    "IllegalLocationConstraintException": "is in another region: set its region",
    "AccountProblem": "refused the request: the account has a problem",
}


class S3Storage:
    """A prefix in an S3 bucket, on AWS or any S3-compatible endpoint."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        region: str = "",
        endpoint: str = "",
        access_key_id: str,
        secret_access_key: str,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.where = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client or make_client(
            region=region,
            endpoint=endpoint,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def put_file(self, path: Path, key: str) -> None:
        try:
            self._client.upload_file(str(path), self.bucket, self._key(key))
        except Exception as exc:
            raise self.error(exc, f"uploading {key}") from None
        path.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:
            raise self.error(exc, f"writing {key}") from None

    def get_bytes(self, key: str) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return answer["Body"].read()
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self.error(exc, f"reading {key}") from None

    def list(self, prefix: str) -> list[str]:
        folder = self._key(prefix.strip("/")) + "/"
        keys = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            for page in pages:
                keys += [item["Key"] for item in page.get("Contents") or ()]
        except Exception as exc:
            raise self.error(exc, f"listing {prefix}/") from None
        return sorted(self._relative(key) for key in keys)

    def move(self, source: str, target: str) -> None:
        try:
            self._client.copy(
                {"Bucket": self.bucket, "Key": self._key(source)},
                self.bucket,
                self._key(target),
            )
            self._client.delete_object(Bucket=self.bucket, Key=self._key(source))
        except Exception as exc:
            raise self.error(exc, f"moving {source} to {target}") from None

    def delete(self, keys: Iterable[str]) -> None:
        wanted = [self._key(key) for key in keys]
        try:
            for start in range(0, len(wanted), _DELETE_CHUNK):
                chunk = wanted[start : start + _DELETE_CHUNK]
                answer = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )
                errors = answer.get("Errors") or []
                if errors:
                    first = errors[0]
                    raise DestinationError(
                        f"S3 bucket {self.bucket!r} refused to delete "
                        f"{first.get('Key')}: {first.get('Code')} "
                        f"({first.get('Message')}).",
                        failure_type=_failure_type(str(first.get("Code") or "")),
                    )
        except DestinationError:
            raise
        except Exception as exc:
            raise self.error(exc, "deleting files") from None

    def scratch(self) -> Path | None:
        return None

    def probe(self) -> None:
        """Write, list and delete one small object: what every sync does."""
        key = f"_airbyte_console_check_{uuid.uuid4().hex[:12]}"
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=b"ok")
        except Exception as exc:
            raise self.error(exc, "writing a test file") from None
        try:
            self._client.list_objects_v2(
                Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1
            )
        except Exception as exc:
            raise self.error(exc, "listing files") from None
        self.delete([key])

    def error(self, exc: Exception, doing: str) -> DestinationError:
        """A DestinationError that names the bucket and S3's reason, never a secret."""
        code = _code(exc)
        if isinstance(exc, DestinationError):
            return exc
        if code in _CONFIG_ERRORS:
            why = _CONFIG_ERRORS[code]
            return DestinationError(
                f"S3 bucket {self.bucket!r} {why} (while {doing}).",
                failure_type="config_error",
            )
        name = type(exc).__name__
        if name in ("EndpointConnectionError", "ConnectTimeoutError"):
            return DestinationError(
                f"Cannot reach the S3 endpoint for bucket {self.bucket!r} "
                f"(while {doing}): {exc}",
                failure_type="transient_error",
            )
        if name in ("ReadTimeoutError", "ConnectionClosedError"):
            return DestinationError(
                f"The S3 endpoint stopped answering for bucket {self.bucket!r} "
                f"(while {doing}).",
                failure_type="transient_error",
            )
        message = _message(exc)
        return DestinationError(
            f"S3 bucket {self.bucket!r} failed while {doing}: "
            f"{code + ': ' if code else ''}{message}",
            failure_type=_failure_type(code),
        )


def make_client(
    *, region: str, endpoint: str, access_key_id: str, secret_access_key: str
) -> Any:
    """A boto3 S3 client with explicit credentials and timeouts."""
    import boto3
    from botocore.config import Config

    if not access_key_id or not secret_access_key:
        raise DestinationError(
            "An S3 destination needs an access key ID and a secret access key.",
            failure_type="config_error",
        )
    config = Config(
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 4, "mode": "standard"},
        # Most S3-compatible stores (MinIO, Ceph, moto) want path-style URLs.
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    # A session of its own: no profile, file or environment variable of the
    # server's can fill in what the destination does not say.
    session = boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region or "us-east-1",
    )
    return session.client("s3", endpoint_url=endpoint or None, config=config)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def _message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        text = str((response.get("Error") or {}).get("Message") or "")
        if text:
            return text
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _failure_type(code: str) -> str:
    if code in _CONFIG_ERRORS:
        return "config_error"
    if code in ("SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"):
        return "transient_error"
    if code.isdigit() and code.startswith("5"):
        return "transient_error"
    return "system_error"
