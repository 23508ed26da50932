"""One storage interface (``Store``), two backends: SQLite (embedded) and PostgreSQL + PostGIS (the centre)."""

from __future__ import annotations

from centre.store.base import Store


def open_store(url: str) -> Store:
    """``sqlite:///ABSOLUTE/PATH`` or ``postgresql://...``; the schema is created when missing."""
    if url.startswith("sqlite:///"):
        from centre.store.sqlite import SqliteStore

        return SqliteStore(url[len("sqlite://") :])
    from centre.store.postgis import PostgisStore

    return PostgisStore(url)
