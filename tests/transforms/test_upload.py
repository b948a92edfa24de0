"""Uploaded projects: real zip and tar archives, and the ones to refuse."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest

from apps.transforms.upload import UploadError, read_archive

PROJECT = {
    "shop/dbt_project.yml": "name: shop\nprofile: console\n",
    "shop/models/orders.sql": "select 1 as id -- café\n",
    "shop/models/schema.yml": "version: 2\n",
}


def make_zip(files: dict[str, bytes | str], *, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    buffer.seek(0)
    return buffer


def make_tar(members: list[tarfile.TarInfo | tuple[str, bytes]], mode="w:gz"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def test_a_zip_wrapped_in_one_folder_gives_its_files():
    files = read_archive(make_zip(PROJECT), filename="shop.zip")
    assert files == {
        "dbt_project.yml": "name: shop\nprofile: console\n",
        "models/orders.sql": "select 1 as id -- café\n",
        "models/schema.yml": "version: 2\n",
    }


def test_a_tar_gz_gives_its_files_and_skips_what_is_not_the_project():
    notes: list[str] = []
    archive = make_tar(
        [
            ("dbt_project.yml", b"name: shop\n"),
            ("models/a.sql", b"select 1\n"),
            ("seeds/logo.png", b"\x89PNG\r\n\x1a\n\xff\xfe"),
            ("target/manifest.json", b"{}"),
        ]
    )
    files = read_archive(archive, filename="shop.tar.gz", notes=notes)
    assert sorted(files) == ["dbt_project.yml", "models/a.sql"]
    assert "Skipped seeds/logo.png: not UTF-8 text." in notes
    assert any(n.startswith("Skipped target/manifest.json") for n in notes)


def test_macos_metadata_next_to_the_folder_does_not_stop_the_strip():
    files = read_archive(
        make_zip({**PROJECT, "__MACOSX/shop/._orders.sql": b"\x00\x05"}),
        filename="shop.zip",
    )
    assert "dbt_project.yml" in files


@pytest.mark.parametrize(
    "name", ["../evil.sql", "shop/../../evil.sql", "/etc/cron.d/evil", "C:/evil.sql"]
)
def test_paths_outside_the_folder_are_refused(name):
    with pytest.raises(UploadError) as error:
        read_archive(make_zip({**PROJECT, name: "x"}), filename="shop.zip")
    assert "outside" in error.value.message or "absolute" in error.value.message


def test_tar_paths_outside_the_folder_are_refused():
    archive = make_tar([("dbt_project.yml", b"x"), ("../../evil.sql", b"x")])
    with pytest.raises(UploadError) as error:
        read_archive(archive, filename="shop.tgz")
    assert "outside its folder" in error.value.message


def test_links_are_refused_in_tar_and_zip():
    link = tarfile.TarInfo("models/passwd.sql")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(UploadError) as error:
        read_archive(
            make_tar([("dbt_project.yml", b"x"), link]), filename="shop.tar.gz"
        )
    assert "links are not allowed" in error.value.message

    hard = tarfile.TarInfo("models/hard.sql")
    hard.type = tarfile.LNKTYPE
    hard.linkname = "dbt_project.yml"
    with pytest.raises(UploadError):
        read_archive(make_tar([("dbt_project.yml", b"x"), hard]), filename="a.tar")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dbt_project.yml", "name: x\n")
        info = zipfile.ZipInfo("models/passwd.sql")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    buffer.seek(0)
    with pytest.raises(UploadError) as error:
        read_archive(buffer, filename="shop.zip")
    assert "links are not allowed" in error.value.message


def test_a_zip_bomb_is_refused_while_reading(settings):
    settings.TRANSFORM_UNPACKED_MAX_BYTES = 1024 * 1024
    bomb = make_zip(
        {"dbt_project.yml": "name: x\n", "models/big.sql": b"0" * 8_000_000}
    )
    assert len(bomb.getvalue()) < 50_000  # small to upload, big unpacked
    with pytest.raises(UploadError) as error:
        read_archive(bomb, filename="bomb.zip")
    assert "unpacks to more than 1 MB" in error.value.message


def test_a_tar_bomb_is_refused_from_its_exact_sizes(settings):
    settings.TRANSFORM_UNPACKED_MAX_BYTES = 1024 * 1024
    bomb = make_tar([("dbt_project.yml", b"x"), ("target/run.json", b"0" * 3_000_000)])
    with pytest.raises(UploadError) as error:
        read_archive(bomb, filename="bomb.tar.gz")
    assert "unpacks to more than" in error.value.message


def test_too_many_files_and_too_large_uploads_are_refused(settings):
    settings.TRANSFORM_UPLOAD_MAX_FILES = 5
    many = make_zip({f"models/m{i}.sql": "select 1" for i in range(6)})
    with pytest.raises(UploadError) as error:
        read_archive(many, filename="many.zip")
    assert "more than 5 files" in error.value.message

    settings.TRANSFORM_UPLOAD_MAX_BYTES = 1000
    big = make_zip({"dbt_project.yml": "x" * 5000}, compression=zipfile.ZIP_STORED)
    with pytest.raises(UploadError) as error:
        read_archive(big, filename="big.zip")
    assert "an upload may be at most 1000 bytes" in error.value.message


def test_an_archive_without_a_project_or_not_an_archive_is_refused():
    with pytest.raises(UploadError) as error:
        read_archive(make_zip({"models/a.sql": "select 1"}), filename="a.zip")
    assert "no dbt_project.yml" in error.value.message
    with pytest.raises(UploadError) as error:
        read_archive(io.BytesIO(b"just some text, not an archive"), filename="a.zip")
    assert "not a zip or tar archive" in error.value.message
