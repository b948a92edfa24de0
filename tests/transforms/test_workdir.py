"""Project folders on a worker: files from the database, dbt's target/ kept."""

from __future__ import annotations

import stat

import pytest

from apps.transforms import workdir


def test_folders_live_under_transforms_dir_and_are_private(settings, tmp_path):
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    project_id = "6f1c2c1e-2f0b-4c7e-9c1b-1a2b3c4d5e6f"
    source = workdir.source_dir(project_id)
    target = workdir.target_dir(project_id)
    root = workdir.project_root(project_id)
    assert source == root / "project" and target == root / "target"
    assert root.parent == settings.TRANSFORMS_DIR
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_materialize_writes_prunes_and_keeps_dbt_folders(tmp_path):
    dest = tmp_path / "project"
    workdir.materialize(
        [("dbt_project.yml", "name: a\n"), ("models/old/x.sql", "select 1")], dest
    )
    (dest / "target").mkdir()
    (dest / "target" / "manifest.json").write_text("{}")
    (dest / "dbt_packages").mkdir()
    (dest / "dbt_packages" / "p.yml").write_text("x")
    workdir.materialize(
        [("dbt_project.yml", "name: b\n"), ("models/y.sql", "select 2")], dest
    )
    assert (dest / "dbt_project.yml").read_text() == "name: b\n"
    assert (dest / "models" / "y.sql").read_text() == "select 2"
    assert not (dest / "models" / "old").exists()
    assert (dest / "target" / "manifest.json").read_text() == "{}"
    assert (dest / "dbt_packages" / "p.yml").exists()


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../escape.sql", "models/../../x.sql", "", "target/x"]
)
def test_materialize_refuses_paths_outside_the_project(tmp_path, path):
    with pytest.raises(ValueError):
        workdir.materialize([(path, "x")], tmp_path / "project")
    assert not (tmp_path / "escape.sql").exists()


def test_find_project_dir_at_top_or_one_down(tmp_path):
    (tmp_path / "top").mkdir()
    (tmp_path / "top" / "dbt_project.yml").write_text("name: a\n")
    assert workdir.find_project_dir(tmp_path / "top") == tmp_path / "top"
    nested = tmp_path / "repo" / "analytics"
    nested.mkdir(parents=True)
    (nested / "dbt_project.yml").write_text("name: a\n")
    assert workdir.find_project_dir(tmp_path / "repo") == nested
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"No dbt_project\.yml"):
        workdir.find_project_dir(tmp_path / "empty")
    (tmp_path / "repo" / "second").mkdir()
    (tmp_path / "repo" / "second" / "dbt_project.yml").write_text("name: b\n")
    with pytest.raises(ValueError, match="More than one"):
        workdir.find_project_dir(tmp_path / "repo")
