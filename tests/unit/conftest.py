"""The store on both backends, for the store tests that run against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetctl.store import StateStore


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    state = StateStore(tmp_path / "state", url)
    yield state
    state.close()
