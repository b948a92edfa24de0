"""Engine test fixtures live in fixtures.py, shared through tests/conftest.py."""
