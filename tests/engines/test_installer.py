"""The installer: virtualenvs per package and version, atomic, locked, clear errors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.engines.embedded import installer
from apps.engines.embedded.runner import run_connector
from apps.engines.masking import SecretMasker
from tests.engines import fakes
from tests.engines.fixtures import FAKER

PACKAGE = fakes.PACKAGE


def spec_works(installation: installer.Installation) -> bool:
    result = run_connector(
        installation.command(), "spec", masker=SecretMasker(), timeout=10
    )
    return result.first("SPEC") is not None


def test_install_builds_a_venv_at_package_version_and_runs_spec(offline_connectors):
    lines: list[str] = []

    installation = installer.install(PACKAGE, "1.0.0", on_output=lines.append)

    assert installation.path == offline_connectors / f"{PACKAGE}-1.0.0"
    assert installation.entrypoint == "source-tiny"
    assert installation.spec["documentationUrl"] == "https://example.invalid/tiny"
    assert installer.installed(PACKAGE, "1.0.0") == installer.Installation(
        package=PACKAGE,
        version="1.0.0",
        path=installation.path,
        entrypoint="source-tiny",
        installed_at=installer.installed(PACKAGE, "1.0.0").installed_at,
        spec=installation.spec,
    )
    assert any("Successfully installed" in line for line in lines)
    assert spec_works(installation)
    # Nothing is left in the staging area.
    assert list((offline_connectors / ".tmp").iterdir()) == []


def test_installed_scripts_also_run_directly_after_the_move(offline_connectors):
    installation = installer.install(PACKAGE, "1.0.0")

    result = run_connector(
        [str(installation.bin_dir / "source-tiny")],
        "spec",
        masker=SecretMasker(),
        timeout=10,
    )

    assert result.first("SPEC") is not None


def test_ensure_installed_reuses_an_existing_install(offline_connectors, monkeypatch):
    first = installer.ensure_installed(PACKAGE, "1.0.0")
    monkeypatch.setattr(
        installer, "_install_locked", lambda *a: pytest.fail("installed twice")
    )

    assert installer.ensure_installed(PACKAGE, "1.0.0").path == first.path


def test_nonexistent_version_fails_clearly_and_keeps_the_previous_install(
    offline_connectors,
):
    previous = installer.install(PACKAGE, "1.0.0")

    with pytest.raises(installer.InstallError) as failure:
        installer.install(PACKAGE, "9.9.9")

    assert failure.value.message == (
        f"Version 9.9.9 of {PACKAGE} does not exist on the package index. "
        "The newest available is 4.0.0."
    )
    assert not (offline_connectors / f"{PACKAGE}-9.9.9").exists()
    assert spec_works(installer.installed(PACKAGE, "1.0.0"))
    assert installer.installed(PACKAGE, "1.0.0").path == previous.path


def test_incompatible_requires_python_says_which_python(offline_connectors):
    with pytest.raises(installer.InstallError) as failure:
        installer.install(PACKAGE, "4.0.0")

    assert "needs Python >=3.99" in failure.value.message
    assert "connectors here run on Python 3.11" in failure.value.message


def test_reinstall_whose_spec_crashes_keeps_the_working_install(offline_connectors):
    installer.install(PACKAGE, "1.0.0")
    # Build a broken 1.0.0 in a second index and force a reinstall from it only.
    broken = offline_connectors.parent / "broken-wheels"
    broken.mkdir()
    fakes.build_wheel(broken, "1.0.0", spec_mode="crash")
    from django.conf import settings

    settings.CONNECTOR_PIP_ARGS = ["--no-index", "--find-links", str(broken)]

    with pytest.raises(installer.InstallError) as failure:
        installer.install(PACKAGE, "1.0.0", force=True)

    assert "`source-tiny spec` failed" in failure.value.message
    assert "spec is broken in this version" in failure.value.message
    assert spec_works(installer.installed(PACKAGE, "1.0.0"))


def test_spec_that_hangs_fails_the_install_on_its_timeout(offline_connectors, settings):
    settings.CONNECTOR_TIMEOUTS = {"spec": 2}

    with pytest.raises(installer.InstallError) as failure:
        installer.install(PACKAGE, "2.0.0")

    assert "`spec` did not finish within 2 s" in failure.value.message
    assert installer.installed(PACKAGE, "2.0.0") is None


def test_two_concurrent_ensure_installed_calls_install_once(
    offline_connectors, monkeypatch
):
    runs: list[str] = []
    real = installer._install_locked
    barrier = threading.Barrier(2)

    def counting(*args):
        runs.append(args[1])
        return real(*args)

    monkeypatch.setattr(installer, "_install_locked", counting)

    def worker(_: int) -> installer.Installation:
        barrier.wait(timeout=10)
        return installer.ensure_installed(PACKAGE, "1.1.0")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(worker, range(2)))

    assert runs == ["1.1.0"]
    assert results[0].path == results[1].path
    assert spec_works(results[0])


def test_a_held_lock_makes_the_second_installer_wait(offline_connectors, settings):
    settings.CONNECTOR_INSTALL_TIMEOUT = -59  # lock timeout = 1 s
    lock = installer._lock(PACKAGE, "1.0.0")

    with lock, pytest.raises(installer.InstallError) as failure:
        installer.install(PACKAGE, "1.0.0")

    assert "Another install of" in failure.value.message


def test_uninstall_removes_every_version_of_the_package(offline_connectors):
    installer.install(PACKAGE, "1.0.0")
    installer.install(PACKAGE, "1.1.0")

    removed = installer.uninstall(PACKAGE)

    assert sorted(p.name for p in removed) == [f"{PACKAGE}-1.0.0", f"{PACKAGE}-1.1.0"]
    assert installer.installed(PACKAGE, "1.0.0") is None


@pytest.mark.parametrize(
    ("package", "version"),
    [("--index-url=http://evil", "1.0"), ("ok", "../../etc"), ("ok", "-e .")],
)
def test_names_that_are_not_pypi_names_are_refused(
    offline_connectors, package, version
):
    with pytest.raises(installer.InstallError):
        installer.install(package, version)


def test_pip_failure_messages():
    missing_dependency = [
        "ERROR: Could not find a version that satisfies the requirement "
        "pandas==99 (from airbyte-source-x) (from versions: 1.0, 2.0)",
        "ERROR: No matching distribution found for pandas==99",
    ]
    other = ["Collecting x", "error: subprocess-exited-with-error", "gcc failed"]
    ignored = [
        "ERROR: Ignored the following versions that require a different python "
        "version: 2.0 Requires-Python >=3.12; 2.1 Requires-Python >=3.12",
        "ERROR: Could not find a version that satisfies the requirement x==2.0 "
        "(from versions: 1.0)",
        "ERROR: No matching distribution found for x==2.0",
    ]

    assert installer.pip_failure_message(
        "airbyte-source-x", "1.0", missing_dependency
    ) == (
        "airbyte-source-x 1.0 depends on pandas==99, which pip could not find for "
        "Python 3.11.7."
    ).replace("3.11.7", ".".join(map(str, __import__("sys").version_info[:3])))
    assert installer.pip_failure_message("x", "1.0", other).endswith(
        "Collecting x | error: subprocess-exited-with-error | gcc failed"
    )
    assert installer.pip_failure_message("x", "2.0", ignored).startswith(
        "x 2.0 needs Python >=3.12"
    )


def test_real_pypi_nonexistent_version_keeps_faker_working(
    real_connectors, faker_installed
):
    with pytest.raises(installer.InstallError) as failure:
        installer.install(FAKER[0], "999.0.0")

    assert failure.value.message.startswith(
        "Version 999.0.0 of airbyte-source-faker does not exist on the package index."
    )
    assert "The newest available is" in failure.value.message
    assert spec_works(installer.installed(*FAKER))
