"""Installing dbt into its own virtualenvs (real pip, real dbt)."""

from __future__ import annotations

import subprocess

import pytest

from apps.transforms.dbt import install


def test_both_adapters_are_installed_and_load(dbt_settings):
    for adapter in install.ADAPTERS:
        env = install.dbt_installed(adapter)
        assert env is not None
        assert env.dbt.is_file()
        out = subprocess.run(
            [str(env.python), "-c", install.SMOKE_SCRIPT.format(adapter=adapter)],
            capture_output=True,
            text=True,
            check=True,
            env=install.safe_env(**install.dbt_env_extra()),
        ).stdout
        assert f"dbt-{adapter} {env.adapter_version}" in out


def test_unknown_adapter_names_the_supported_ones(settings, tmp_path):
    settings.DBT_DIR = tmp_path
    with pytest.raises(install.DbtInstallError) as raised:
        install.dbt_install("snowflake")
    assert "postgres, duckdb" in raised.value.message


def test_installed_env_runs_dbt_offline(dbt_settings):
    env = install.dbt_ensure("duckdb")
    assert env.core_version == "1.11.16"
    assert env.dbt == install.venv_path("duckdb") / "bin" / "dbt"
    # The duckdb venv carries the console's own duckdb, so both open the same files.
    assert any(r.startswith("duckdb==") for r in install.requirements("duckdb"))


def test_failed_install_leaves_nothing_half_done(settings, tmp_path):
    settings.DBT_DIR = tmp_path / "dbt"
    empty = tmp_path / "wheels"
    empty.mkdir()
    settings.DBT_PIP_ARGS = ["--no-index", "--find-links", str(empty)]
    lines: list[str] = []
    with pytest.raises(install.DbtInstallError) as raised:
        install.dbt_install("postgres", on_output=lines.append)
    assert "dbt-core==" in raised.value.message
    assert "could not find" in raised.value.message
    assert install.dbt_installed("postgres") is None
    assert not install.venv_path("postgres").exists()
    assert list((settings.DBT_DIR / ".tmp").iterdir()) == []
    assert any("Installing dbt-core==" in line for line in lines)


def test_changed_pins_mean_not_installed(dbt_settings, settings):
    assert install.dbt_installed("postgres") is not None
    settings.DBT_ADAPTER_VERSIONS = {
        **settings.DBT_ADAPTER_VERSIONS,
        "postgres": "9.9.9",
    }
    assert install.dbt_installed("postgres") is None


def test_uninstall_removes_the_venv(settings, tmp_path, dbt_ready):
    settings.DBT_DIR = tmp_path
    source = dbt_ready["duckdb"].path
    # A copy of the real marker in a scratch folder stands for an install.
    fake = install.venv_path("duckdb")
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "dbt").write_text("#!/bin/sh\n")
    (fake / install.MARKER).write_bytes((source / install.MARKER).read_bytes())
    assert install.dbt_installed("duckdb") is not None
    assert install.dbt_uninstall("duckdb") is True
    assert install.dbt_installed("duckdb") is None
    assert not fake.exists()
    assert install.dbt_uninstall("duckdb") is False
