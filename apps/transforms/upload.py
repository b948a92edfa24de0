"""Reading an uploaded dbt project (zip or tar) into ``{path: text}``, safely.

Nothing is written to disk: members are read into memory one by one, and the
archive is refused when a member's path leaves its folder (``..``, an absolute
path), when it holds a link or a device, when it has too many files, or when its
members unpack to more than ``TRANSFORM_UNPACKED_MAX_BYTES`` (counted while
reading, never from the archive's own headers: a zip bomb lies in them). Files
that are not UTF-8 text are skipped with a note, as are dbt's and git's own
folders. One folder wrapping the whole project (``shop/dbt_project.yml``) is
stripped.
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings

CHUNK = 64 * 1024
MAX_PATH = 500
# Folders an upload may carry that are not the project: dbt's output and
# installed packages, git's and macOS's metadata.
SKIPPED_DIRS = {"target", "dbt_packages", "logs", ".git", "__MACOSX", ".venv"}
SKIPPED_FILES = {".DS_Store", "Thumbs.db"}


class UploadError(Exception):
    """The archive cannot become a project; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _limits() -> tuple[int, int, int]:
    return (
        int(getattr(settings, "TRANSFORM_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)),
        int(getattr(settings, "TRANSFORM_UNPACKED_MAX_BYTES", 50 * 1024 * 1024)),
        int(getattr(settings, "TRANSFORM_UPLOAD_MAX_FILES", 2000)),
    )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def clean_path(name: str) -> str:
    """A member's path, relative and inside the archive, or an UploadError."""
    raw = name.replace("\\", "/") if "\\" in name and "/" not in name else name
    if "\x00" in raw:
        raise UploadError("A file name in the archive holds a NUL character.")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UploadError(
            f"The archive holds an absolute path ({name}); every file must be "
            "inside the project's folder."
        )
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if ".." in parts:
        raise UploadError(
            f"The archive holds a path outside its folder ({name}); refusing it."
        )
    return "/".join(parts)


class _Counter:
    """Counts files and unpacked bytes against the limits while reading."""

    def __init__(self) -> None:
        _, self.max_bytes, self.max_files = _limits()
        self.bytes = 0
        self.files = 0

    def file(self) -> None:
        self.files += 1
        if self.files > self.max_files:
            raise UploadError(
                f"The archive holds more than {self.max_files} files; a dbt project "
                "needs far fewer. Leave target/, dbt_packages/ and logs/ out."
            )

    def add(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise UploadError(
                f"The archive unpacks to more than {_mb(self.max_bytes)}; refusing "
                "it (a dbt project is text and much smaller)."
            )


def _read(stream: IO[bytes], counter: _Counter) -> bytes:
    chunks = []
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return b"".join(chunks)
        counter.add(len(chunk))
        chunks.append(chunk)


def _zip_members(archive: zipfile.ZipFile, counter: _Counter) -> Iterator[Any]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if info.is_dir():
            continue
        if stat.S_ISLNK(mode):
            raise UploadError(
                f"The archive holds a link ({info.filename}); links are not allowed."
            )
        # Some zip tools store permission bits without a file type: only a type
        # that is there and not "regular file" is refused.
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            raise UploadError(
                f"The archive holds {info.filename}, which is not a regular file."
            )
        path = clean_path(info.filename)
        counter.file()
        if _skipped(path):
            yield path, None
            continue
        with archive.open(info) as stream:
            yield path, _read(stream, counter)


def _tar_members(archive: tarfile.TarFile, counter: _Counter) -> Iterator[Any]:
    for member in archive:
        if member.isdir():
            continue
        if member.issym() or member.islnk():
            raise UploadError(
                f"The archive holds a link ({member.name}); links are not allowed."
            )
        if not member.isfile():
            raise UploadError(
                f"The archive holds {member.name}, which is not a regular file."
            )
        path = clean_path(member.name)
        counter.file()
        # A tar member's size is exact (its data follows it): count it before
        # reading, so even a skipped member cannot unpack past the limit.
        counter.add(member.size)
        if _skipped(path):
            yield path, None
            continue
        stream = archive.extractfile(member)
        data = stream.read(member.size + 1) if stream is not None else b""
        if len(data) > member.size:
            raise UploadError(f"The archive's entry for {member.name} is corrupt.")
        yield path, data


def _skipped(path: str) -> bool:
    parts = path.split("/")
    return bool(SKIPPED_DIRS & set(parts[:-1])) or parts[-1] in SKIPPED_FILES


def _size(fileobj: IO[bytes]) -> int:
    position = fileobj.tell()
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(position)
    return size


def read_archive(
    fileobj: IO[bytes], *, filename: str, notes: list[str] | None = None
) -> dict[str, str]:
    """The project's text files, ``{relative path: text}``; see the module doc.

    ``notes`` (if given) receives a line for each file skipped.
    """
    notes = notes if notes is not None else []
    max_upload, _, _ = _limits()
    size = _size(fileobj)
    if size > max_upload:
        raise UploadError(
            f"{filename} is {_mb(size)}; an upload may be at most {_mb(max_upload)}."
        )
    if size == 0:
        raise UploadError(f"{filename} is empty.")
    counter = _Counter()
    raw: dict[str, bytes | None] = {}
    fileobj.seek(0)
    try:
        if zipfile.is_zipfile(fileobj):
            fileobj.seek(0)
            with zipfile.ZipFile(fileobj) as archive:
                members = list(_zip_members(archive, counter))
        else:
            fileobj.seek(0)
            with tarfile.open(fileobj=fileobj, mode="r:*") as archive:
                members = list(_tar_members(archive, counter))
    except UploadError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise UploadError(
            f"{filename} is not a zip or tar archive this console can read "
            f"({type(exc).__name__}: {exc})."
        ) from None
    except RuntimeError as exc:  # an encrypted zip member
        raise UploadError(f"{filename} could not be read: {exc}.") from None
    for path, data in members:
        if path in raw:
            raise UploadError(f"The archive holds {path} twice.")
        raw[path] = data
    raw = _strip_top_folder(raw)
    if "dbt_project.yml" not in raw:
        raise UploadError(
            "The archive has no dbt_project.yml at its top (or inside one folder "
            "at its top): it is not a dbt project."
        )
    files: dict[str, str] = {}
    for path, data in sorted(raw.items()):
        if data is None:
            notes.append(f"Skipped {path}: dbt and git make it themselves.")
            continue
        if len(path) > MAX_PATH:
            raise UploadError(f"The path {path[:80]}… is longer than {MAX_PATH}.")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            notes.append(f"Skipped {path}: not UTF-8 text.")
            continue
        if "\x00" in text:
            notes.append(f"Skipped {path}: a binary file.")
            continue
        files[path] = text
    return files


def _strip_top_folder(raw: dict[str, bytes | None]) -> dict[str, bytes | None]:
    """Without the one folder that wraps the whole project, if there is one.

    Skipped entries (``__MACOSX/`` next to the folder) do not count, and those
    outside the folder are dropped.
    """
    if "dbt_project.yml" in raw:
        return raw
    kept = [path for path, data in raw.items() if data is not None]
    tops = {path.split("/", 1)[0] for path in kept}
    if len(tops) != 1 or any("/" not in path for path in kept):
        return raw
    prefix = tops.pop() + "/"
    return {
        path.removeprefix(prefix): data
        for path, data in raw.items()
        if path.startswith(prefix)
    }
