"""One storage interface (``Store``), two backends: SQLite (embedded) and PostgreSQL + PostGIS (the centre)."""

from __future__ import annotations

from centre.store.base import Store


class StoreError(RuntimeError):
    """The database cannot be opened: the message names it (without a password) and says why."""


def open_store(url: str) -> Store:
    """``sqlite:///ABSOLUTE/PATH`` or ``postgresql://...``; the schema is created when missing. StoreError when
    the database is not there, cannot be reached or is not a database (a damaged file)."""
    try:
        if url.startswith("sqlite:///"):
            from centre.store.sqlite import SqliteStore

            return SqliteStore(url[len("sqlite://") :])
        from centre.store.postgis import PostgisStore

        return PostgisStore(url)
    except Exception as err:  # sqlite3, psycopg and OS errors
        reason = " ".join(str(err).split()) or type(err).__name__
        raise StoreError(f"database {url.split('@')[-1]}: {reason}") from None
