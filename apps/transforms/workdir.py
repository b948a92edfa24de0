"""A project's folder on a worker host.

``settings.TRANSFORMS_DIR/<project uuid>/`` (0700) holds ``project/`` (the files,
rebuilt before each run from the database or git) and ``target/`` (dbt's output,
kept between runs so dbt partial-parses).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from django.conf import settings

# Folders dbt (or a git checkout) owns inside a project folder; never pruned.
KEPT_DIRS = frozenset({"target", "logs", "dbt_packages", ".git"})
PROJECT_FILE = "dbt_project.yml"


def _mkdir_private(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def project_root(project_public_id) -> Path:
    root = Path(settings.TRANSFORMS_DIR)
    _mkdir_private(root)
    return _mkdir_private(root / str(project_public_id))


def source_dir(project_public_id) -> Path:
    return _mkdir_private(project_root(project_public_id) / "project")


def target_dir(project_public_id) -> Path:
    return _mkdir_private(project_root(project_public_id) / "target")


def safe_relative(path: str) -> PurePosixPath:
    """``path`` as a relative path inside a folder, or ValueError saying why not."""
    text = str(path).replace("\\", "/")
    if not text or "\x00" in text:
        raise ValueError(f"{path!r} is not a file path.")
    pure = PurePosixPath(text)
    if pure.is_absolute() or text.startswith("/"):
        raise ValueError(f"{path!r} is an absolute path; paths are relative.")
    if any(part == ".." for part in pure.parts):
        raise ValueError(f"{path!r} leaves the project folder ('..').")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise ValueError(f"{path!r} is not a file path.")
    return PurePosixPath(*parts)


def materialize(files: Iterable[tuple[str, str]], dest: Path) -> None:
    """Write ``(path, content)`` pairs under ``dest``; remove files no longer listed.

    Refuses absolute paths and '..'. dbt's folders (target/, logs/,
    dbt_packages/) are never touched.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted: dict[PurePosixPath, str] = {}
    for path, content in files:
        relative = safe_relative(path)
        if relative.parts[0] in KEPT_DIRS:
            raise ValueError(
                f"{path!r} is inside {relative.parts[0]}/, which dbt owns."
            )
        wanted[relative] = content
    resolved = dest.resolve()
    for relative, content in wanted.items():
        target = dest.joinpath(*relative.parts)
        if not target.parent.resolve().is_relative_to(resolved):
            raise ValueError(f"{relative} leaves the project folder.")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_dir():
            raise ValueError(f"{relative} is a folder or a link in the project folder.")
        data = content.encode("utf-8")
        # Unchanged files keep their mtime: dbt's partial parsing hashes contents,
        # but there is no reason to rewrite them either.
        try:
            if target.read_bytes() == data:
                continue
        except OSError:
            pass
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    _prune(dest, set(wanted))


def _prune(dest: Path, wanted: set[PurePosixPath]) -> None:
    """Remove unlisted files and the folders they leave empty (never dbt's)."""

    def walk(folder: Path, relative: PurePosixPath | None) -> None:
        for entry in list(folder.iterdir()):
            rel = (
                PurePosixPath(entry.name) if relative is None else relative / entry.name
            )
            if entry.is_dir() and not entry.is_symlink():
                if entry.name in KEPT_DIRS:
                    continue
                walk(entry, rel)
                if not any(entry.iterdir()):
                    entry.rmdir()
            elif rel not in wanted:
                entry.unlink()

    walk(dest, None)


def find_project_dir(root: Path) -> Path:
    """The folder holding dbt_project.yml: ``root`` itself or one level down."""
    root = Path(root)
    if (root / PROJECT_FILE).is_file():
        return root
    found = (
        sorted(
            child
            for child in root.iterdir()
            if child.is_dir()
            and child.name not in KEPT_DIRS
            and not child.name.startswith(".")
            and (child / PROJECT_FILE).is_file()
        )
        if root.is_dir()
        else []
    )
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(f"{c.name}/" for c in found)
        raise ValueError(
            f"More than one folder holds a {PROJECT_FILE} ({names}); keep one project "
            "per repository or archive."
        )
    raise ValueError(
        f"No {PROJECT_FILE} found at the top of the project or one folder down."
    )
