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
