"""Pytest fixtures for the Airbyte fake; ``tests/conftest.py`` imports them.

* ``airbyte_fake``: a fresh server for one test; the test fails at teardown if the
  fake saw any spec violation.
* ``airbyte_fake_session``: one server for the whole session (stable URL, for a
  Celery worker or a browser's live server). Use it through ``airbyte_fake_shared``,
  which resets it before each test and checks it after, like ``airbyte_fake``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.airbyte_fake.locate import specs_dir
from tests.services_plugin import skip_or_fail

if TYPE_CHECKING:
    from tests.airbyte_fake.server import AirbyteFake

SPECS_MISSING = (
    "needs the Airbyte API specs in ../shared/airbyte-api (set AIRBYTE_API_SPECS_DIR)"
)


def _start() -> AirbyteFake:
    if specs_dir() is None:
        skip_or_fail(SPECS_MISSING)
    # Imported here: openapi-core takes a second or two to import, and every test
    # session loads this module through tests/conftest.py.
    from tests.airbyte_fake.server import AirbyteFake

    return AirbyteFake().start()


def fail_on_violations(fake: AirbyteFake) -> None:
    """Fail the current test with every violation not reported yet."""
    try:
        fake.check_violations()
    except AssertionError as error:
        fake.violations.clear()  # reported once, here
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def airbyte_fake() -> Iterator[AirbyteFake]:
    fake = _start()
    try:
        yield fake
    finally:
        fake.stop()
    fail_on_violations(fake)


@pytest.fixture(scope="session")
def airbyte_fake_session() -> Iterator[AirbyteFake]:
    fake = _start()
    yield fake
    fake.stop()
    # Violations from a test that used this fixture without airbyte_fake_shared.
    fail_on_violations(fake)


@pytest.fixture
def airbyte_fake_shared(airbyte_fake_session: AirbyteFake) -> Iterator[AirbyteFake]:
    airbyte_fake_session.reset()
    yield airbyte_fake_session
    fail_on_violations(airbyte_fake_session)
