"""Fixtures shared by the centre's integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from centre.localpg import LocalPostgres


@pytest.fixture(params=["postgis", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store: a throw-away PostgreSQL + PostGIS, or a SQLite file."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/centre.db"
        return
    with LocalPostgres() as pg:
        yield pg.url
