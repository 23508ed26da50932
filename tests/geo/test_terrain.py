"""DEM readers: SRTM tiles (single, folder, voids, bad files) and geographic GeoTIFFs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.geo.terrain import FlatGround, Grid, SrtmTiles, TerrainError, open_dem, read_geotiff

RISE_PER_COLUMN_M = 7  # as the tilted_hgt fixture
WriteHgt = Callable[[Path, np.ndarray], Path]


def test_flat_ground_broadcasts() -> None:
    assert FlatGround(12.5).height([1.0, 2.0], 3.0).tolist() == [12.5, 12.5]


@pytest.mark.parametrize(
    ("lat", "lon", "alt"),
    [
        (42.5, 19.0, 500.0),  # west edge
        (42.5, 20.0, 500.0 + RISE_PER_COLUMN_M * 1200),  # east edge
        (42.1, 19.5, 500.0 + RISE_PER_COLUMN_M * 600),  # middle column
        (42.9, 19.5 + 0.5 / 1200, 500.0 + RISE_PER_COLUMN_M * 600.5),  # half-way between columns: bilinear
        (43.5, 19.5, np.nan),  # outside the tile
    ],
)
def test_srtm_tile_heights(tilted_hgt: Path, lat: float, lon: float, alt: float) -> None:
    got = float(open_dem(tilted_hgt).height(lat, lon))
    assert got == pytest.approx(alt, nan_ok=True)


def test_srtm_folder_of_tiles_and_voids(tmp_path: Path, write_hgt: WriteHgt) -> None:
    a = np.full((1201, 1201), 100)
    a[600, 600] = -32768  # a void
    write_hgt(tmp_path / "N42E019.hgt", a)
    write_hgt(tmp_path / "N42E020.hgt", np.full((1201, 1201), 300))
    dem = open_dem(tmp_path)
    assert isinstance(dem, SrtmTiles)
    h = dem.height([42.3, 42.3, 42.5, 41.5], [19.2, 20.7, 19.5, 19.5])
    assert h[0] == 100 and h[1] == 300 and np.isnan(h[2]) and np.isnan(h[3])


def test_bad_srtm_files(tmp_path: Path, write_hgt: WriteHgt) -> None:
    write_hgt(tmp_path / "tile.hgt", np.zeros((1201, 1201)))
    with pytest.raises(TerrainError, match="named like"):
        open_dem(tmp_path / "tile.hgt")
    write_hgt(tmp_path / "N10E010.hgt", np.zeros((100, 100)))
    with pytest.raises(TerrainError, match="1201"):
        open_dem(tmp_path / "N10E010.hgt").height(10.5, 10.5)
    with pytest.raises(TerrainError, match="no such"):
        open_dem(tmp_path / "none.hgt")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(TerrainError, match=r"\.hgt"):
        open_dem(tmp_path / "x.txt")


@pytest.mark.parametrize("pixel_is_point", [False, True])
def test_geotiff(tmp_path: Path, write_geotiff: Callable[..., Path], pixel_is_point: bool) -> None:
    z = np.arange(20, dtype=np.float32).reshape(4, 5) * 10.0  # rises 10 m per column, 50 m per row southwards
    z[3, 4] = -9999.0
    path = write_geotiff(tmp_path / "dem.tif", z, 19.0, 43.0, 0.01, pixel_is_point, nodata="-9999")
    dem = open_dem(path)
    assert isinstance(dem, Grid)
    half = 0.0 if pixel_is_point else 0.005  # PixelIsArea: the tiepoint is the corner of the first pixel
    assert float(dem.height(43.0 - half, 19.0 + half)) == pytest.approx(0.0)
    assert float(dem.height(43.0 - half - 0.01, 19.0 + half + 0.025)) == pytest.approx(50.0 + 25.0)
    assert np.isnan(dem.height(43.0 - half - 0.03, 19.0 + half + 0.04))  # nodata
    assert np.isnan(dem.height(44.0, 19.0))


def test_projected_geotiff_refused(tmp_path: Path, write_geotiff: Callable[..., Path]) -> None:
    path = write_geotiff(tmp_path / "utm.tif", np.zeros((2, 2)), 500000.0, 4700000.0, 30.0, model_type=1)
    with pytest.raises(TerrainError, match="gdalwarp"):
        read_geotiff(path)
    (tmp_path / "plain.tif").write_bytes(b"not a tiff")
    with pytest.raises(TerrainError, match="TIFF"):
        read_geotiff(tmp_path / "plain.tif")
