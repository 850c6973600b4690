"""Fixtures for the tests that drive the real agent CLIs against the loopback mock API."""

from __future__ import annotations

from tests.mockapi.fixture import mock_api

__all__ = ["mock_api"]
