"""The map's offline background: raster tiles from an MBTiles file, or one orthophoto (PNG/JPEG) with its bounds.

MBTiles is SQLite with a ``tiles(zoom_level, tile_column, tile_row, tile_data)`` table whose rows count from the
south (TMS); the map asks in XYZ order (from the north), so ``row = 2**z - 1 - y``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from edge.console.settings import ConsoleSettings


class BasemapError(ValueError):
    """A basemap that cannot be used; the message names the file and the key."""


class Basemap:
    """What the map page needs to draw the background: ``info()`` for the page, ``tile`` / ``image`` for bytes."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.kind = "grid"
        self.path: Path | None = None
        self.bounds = settings.basemap_bounds
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._zooms: tuple[int, int] = (0, 0)
        if not settings.basemap:
            return
        path = Path(settings.basemap)
        if not path.is_file():
            raise BasemapError(f"console.basemap: {path}: no such file")
        self.path = path
        if path.suffix.lower() == ".mbtiles":
            self._open_mbtiles(path)
        elif path.suffix.lower() in (".png", ".jpg", ".jpeg"):
            if self.bounds is None:
                raise BasemapError(f"console.basemap_bounds: must be set for the orthophoto {path}")
            self.kind = "image"
        else:
            raise BasemapError(f"console.basemap: {path}: use an .mbtiles file or a .png/.jpg orthophoto")

    def _open_mbtiles(self, path: Path) -> None:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            zmin, zmax = db.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
            meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
        except sqlite3.Error as err:
            raise BasemapError(f"console.basemap: {path}: not an MBTiles file: {err}") from None
        if zmin is None:
            raise BasemapError(f"console.basemap: {path}: holds no tiles")
        self._db, self._zooms, self.kind = db, (int(zmin), int(zmax)), "tiles"
        if self.bounds is None and "bounds" in meta:  # west,south,east,north
            w, s, e, n = (float(x) for x in str(meta["bounds"]).split(","))
            self.bounds = (s, w, n, e)

    def info(self) -> dict[str, Any]:
        """``{"kind": "grid" | "image" | "tiles", "bounds": [s, w, n, e] | None, "minzoom", "maxzoom"}``."""
        return {"kind": self.kind, "bounds": self.bounds, "minzoom": self._zooms[0], "maxzoom": self._zooms[1]}

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if self._db is None or not 0 <= y < 2**z:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, 2**z - 1 - y),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def image(self) -> tuple[bytes, str] | None:
        if self.kind != "image" or self.path is None:
            return None
        mime = "image/png" if self.path.suffix.lower() == ".png" else "image/jpeg"
        return self.path.read_bytes(), mime
