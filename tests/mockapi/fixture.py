"""The `mock_api` pytest fixture: a started mock per test, stopped afterwards.

Use it from a conftest.py or a test module with `from tests.mockapi.fixture import mock_api`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mockapi.server import MockAPI


@pytest.fixture
def mock_api() -> Iterator[MockAPI]:
    mock = MockAPI().start()
    try:
        yield mock
    finally:
        mock.stop()
