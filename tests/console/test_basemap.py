"""The map's offline basemap: MBTiles rows count from the south; an orthophoto needs its bounds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.console.basemap import Basemap, BasemapError
from edge.console.settings import ConsoleSettings


def test_mbtiles_tiles_are_found_by_xyz(tmp_path: Path) -> None:
    path = tmp_path / "area.mbtiles"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)")
    db.execute("INSERT INTO metadata VALUES ('bounds', '19.9,42.5,20.0,42.7')")
    db.execute("INSERT INTO tiles VALUES (3, 4, 5, ?)", (b"tile-3-4-5",))  # TMS row 5 = XYZ row 8 - 1 - 5 = 2
    db.commit()
    db.close()
    bm = Basemap(ConsoleSettings(basemap=str(path)))
    assert bm.info() == {"kind": "tiles", "bounds": (42.5, 19.9, 42.7, 20.0), "minzoom": 3, "maxzoom": 3}
    assert bm.tile(3, 4, 2) == b"tile-3-4-5"
    assert bm.tile(3, 4, 5) is None and bm.tile(3, 4, 9) is None


def test_an_orthophoto_needs_bounds_and_unusable_files_are_named(tmp_path: Path) -> None:
    img = tmp_path / "ground.png"
    img.write_bytes(b"\x89PNG fake")
    with pytest.raises(BasemapError, match=r"console\.basemap_bounds"):
        Basemap(ConsoleSettings(basemap=str(img)))
    bm = Basemap(ConsoleSettings(basemap=str(img), basemap_bounds=(42.5, 19.9, 42.7, 20.0)))
    assert bm.info()["kind"] == "image" and bm.image() == (b"\x89PNG fake", "image/png")
    with pytest.raises(BasemapError, match=r"console\.basemap: .*missing\.mbtiles: no such file"):
        Basemap(ConsoleSettings(basemap=str(tmp_path / "missing.mbtiles")))
    bad = tmp_path / "bad.mbtiles"
    bad.write_text("not sqlite")
    with pytest.raises(BasemapError, match="not an MBTiles file"):
        Basemap(ConsoleSettings(basemap=str(bad)))
    assert Basemap(ConsoleSettings()).info()["kind"] == "grid"
