"""Fixtures for the emulator tests (the `emulator` fixture itself lives in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.helpers import Raw


@pytest.fixture
def raw(emulator: Any) -> Any:
    client = Raw(emulator.url)
    yield client
    client.session.close()
