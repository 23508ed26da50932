"""Ground height models: flat ground, SRTM ``.hgt`` tiles and geographic GeoTIFF DEMs.

Every model answers ``height(lat, lon)`` (deg, arrays broadcast) in metres AMSL, NaN where it has no data.
SRTM: big-endian int16, rows north -> south, 1201 (3") or 3601 (1") samples a side, the outer rows/columns on
the whole-degree lines, file named by its south-west corner (N42E019.hgt), -32768 = void.
GeoTIFF: read with OpenCV (pixels) and a small TIFF tag reader (georeferencing: ModelPixelScale, ModelTiepoint,
GeoKeyDirectory, GDAL_NODATA); only geographic (lat/lon, e.g. EPSG:4326) rasters without rotation — reproject
others first (``gdalwarp -t_srs EPSG:4326``). No GDAL or tifffile needed.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
_HGT_NAME = re.compile(r"^([NS])(\d{2})([EW])(\d{3})$", re.IGNORECASE)


class TerrainError(ValueError):
    """A DEM that cannot be used; the message names the file and what to fix."""


class Terrain(Protocol):
    """Ground height (m AMSL) at lat/lon (deg); NaN where unknown."""

    def height(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64: ...


@dataclass(frozen=True)
class FlatGround:
    """Level ground at ``alt_m`` metres AMSL everywhere."""

    alt_m: float

    def height(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
        return np.full(np.broadcast(np.asarray(lat), np.asarray(lon)).shape, float(self.alt_m))


@dataclass(frozen=True)
class Grid:
    """A regular lat/lon raster: ``z`` (rows, cols) m with NaN voids; sample (0, 0) at (lat0, lon0) deg;
    rows go south by ``dlat`` deg, columns east by ``dlon`` deg. Sampled bilinearly, NaN outside."""

    z: F64
    lat0: float
    lon0: float
    dlat: float
    dlon: float

    def height(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
        lat_a, lon_a = np.broadcast_arrays(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
        r = (self.lat0 - lat_a) / self.dlat
        c = (lon_a - self.lon0) / self.dlon
        rows, cols = self.z.shape
        tol = 1e-9
        inside = (r >= -tol) & (r <= rows - 1 + tol) & (c >= -tol) & (c <= cols - 1 + tol)
        r = np.clip(np.where(inside, r, 0.0), 0.0, rows - 1.0)
        c = np.clip(np.where(inside, c, 0.0), 0.0, cols - 1.0)
        r0 = np.minimum(np.floor(r).astype(np.int64), max(rows - 2, 0))
        c0 = np.minimum(np.floor(c).astype(np.int64), max(cols - 2, 0))
        r1, c1 = np.minimum(r0 + 1, rows - 1), np.minimum(c0 + 1, cols - 1)
        fr, fc = r - r0, c - c0
        z = self.z
        top = z[r0, c0] * (1.0 - fc) + z[r0, c1] * fc
        bot = z[r1, c0] * (1.0 - fc) + z[r1, c1] * fc
        return np.where(inside, top * (1.0 - fr) + bot * fr, np.nan)


def read_hgt(path: Path) -> Grid:
    """One SRTM tile as a Grid (voids NaN)."""
    m = _HGT_NAME.match(path.stem)
    if m is None:
        raise TerrainError(f"{path}: an SRTM tile must be named like N42E019.hgt")
    lat_sw = int(m.group(2)) * (1 if m.group(1).upper() == "N" else -1)
    lon_sw = int(m.group(4)) * (1 if m.group(3).upper() == "E" else -1)
    raw = np.fromfile(path, dtype=">i2")
    side = math.isqrt(raw.size)
    if side * side != raw.size or side not in (1201, 3601):
        raise TerrainError(f"{path}: {raw.size} samples; an SRTM tile has 1201² or 3601²")
    z = raw.reshape(side, side).astype(np.float64)
    z[raw.reshape(side, side) == -32768] = np.nan
    step = 1.0 / (side - 1)
    return Grid(z, lat_sw + 1.0, float(lon_sw), step, step)


class SrtmTiles:
    """A set of SRTM tiles (one file, or every ``*.hgt`` in a folder), loaded when first needed."""

    def __init__(self, path: str | Path):
        path = Path(path)
        files = sorted(path.glob("*.hgt")) + sorted(path.glob("*.HGT")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise TerrainError(f"{path}: no SRTM .hgt tile there")
        self._files: dict[tuple[int, int], Path] = {}
        for f in files:
            m = _HGT_NAME.match(f.stem)
            if m is None:
                raise TerrainError(f"{f}: an SRTM tile must be named like N42E019.hgt")
            lat = int(m.group(2)) * (1 if m.group(1).upper() == "N" else -1)
            lon = int(m.group(4)) * (1 if m.group(3).upper() == "E" else -1)
            self._files[(lat, lon)] = f
        self._grids: dict[tuple[int, int], Grid] = {}

    def height(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
        lat_a, lon_a = np.broadcast_arrays(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
        out = np.full(lat_a.shape, np.nan)
        finite = np.isfinite(lat_a) & np.isfinite(lon_a)
        lat_f, lon_f = np.where(finite, lat_a, 0.0), np.where(finite, lon_a, 0.0)
        # a point on a whole-degree line also lies on the edge of the tile to its south / west
        for ki, kj in (
            (np.floor(lat_f), np.floor(lon_f)),
            (np.ceil(lat_f) - 1, np.floor(lon_f)),
            (np.floor(lat_f), np.ceil(lon_f) - 1),
            (np.ceil(lat_f) - 1, np.ceil(lon_f) - 1),
        ):
            todo = finite & np.isnan(out)
            for key in {(int(a), int(b)) for a, b in zip(ki[todo], kj[todo], strict=True)}:
                if key not in self._files:
                    continue
                if key not in self._grids:
                    self._grids[key] = read_hgt(self._files[key])
                sel = todo & (ki == key[0]) & (kj == key[1])
                out[sel] = self._grids[key].height(lat_a[sel], lon_a[sel])
        return out


# TIFF tag ids and field types used by the GeoTIFF reader
_PIXEL_SCALE, _TIEPOINT, _GEOKEYS, _NODATA = 33550, 33922, 34735, 42113
_TYPES = {1: ("B", 1), 2: ("s", 1), 3: ("H", 2), 4: ("I", 4), 11: ("f", 4), 12: ("d", 8), 16: ("Q", 8)}


def _tiff_tags(path: Path, wanted: set[int]) -> dict[int, tuple[float, ...] | str]:
    """Values of the ``wanted`` tags in a classic TIFF's first image directory."""
    data = path.read_bytes()
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        raise TerrainError(f"{path}: not a (classic, non-BigTIFF) TIFF file")
    end = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(end + "I", data, 4)
    (count,) = struct.unpack_from(end + "H", data, ifd)
    tags: dict[int, tuple[float, ...] | str] = {}
    for i in range(count):
        tag, typ, n, raw = struct.unpack_from(end + "HHI4s", data, ifd + 2 + 12 * i)
        if tag not in wanted or typ not in _TYPES:
            continue
        code, size = _TYPES[typ]
        blob = raw if n * size <= 4 else data[struct.unpack(end + "I", raw)[0] :][: n * size]
        if code == "s":
            tags[tag] = blob[:n].split(b"\x00")[0].decode("ascii", "replace")
        else:
            tags[tag] = struct.unpack(end + code * n, blob[: n * size])
    return tags


def read_geotiff(path: str | Path) -> Grid:
    """A single-band geographic GeoTIFF DEM as a Grid (GDAL_NODATA and non-finite values -> NaN)."""
    path = Path(path)
    if not path.is_file():
        raise TerrainError(f"{path}: no such DEM file")
    tags = _tiff_tags(path, {_PIXEL_SCALE, _TIEPOINT, _GEOKEYS, _NODATA})
    scale, tie = tags.get(_PIXEL_SCALE), tags.get(_TIEPOINT)
    if not isinstance(scale, tuple) or not isinstance(tie, tuple) or len(tie) < 6:
        raise TerrainError(f"{path}: no ModelPixelScale/ModelTiepoint tags (not a georeferenced GeoTIFF)")
    keys = tags.get(_GEOKEYS)
    geo = {}
    if isinstance(keys, tuple):
        for k in range(4, 4 + 4 * int(keys[3]), 4):
            if keys[k + 1] == 0:  # value stored inline
                geo[int(keys[k])] = int(keys[k + 3])
    if geo.get(1024, 2) != 2:
        raise TerrainError(f"{path}: projected GeoTIFF; reproject to lat/lon first (gdalwarp -t_srs EPSG:4326)")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 2:
        raise TerrainError(f"{path}: OpenCV cannot read it as a single-band raster")
    z = img.astype(np.float64)
    nodata = tags.get(_NODATA)
    if isinstance(nodata, str) and nodata.strip():
        z[z == float(nodata)] = np.nan
    z[~np.isfinite(z)] = np.nan
    half = 0.0 if geo.get(1025, 1) == 2 else 0.5  # PixelIsPoint vs PixelIsArea (tiepoint at the pixel corner)
    i, j, x, y = float(tie[0]), float(tie[1]), float(tie[3]), float(tie[4])
    lon0 = x + (half - i) * float(scale[0])
    lat0 = y - (half - j) * float(scale[1])
    return Grid(z, lat0, lon0, float(scale[1]), float(scale[0]))


def open_dem(path: str | Path) -> Terrain:
    """A DEM from an ``.hgt`` tile, a folder of them, or a ``.tif``/``.tiff`` GeoTIFF."""
    path = Path(path)
    if not path.exists():
        raise TerrainError(f"{path}: no such DEM file or folder")
    if path.suffix.lower() in (".tif", ".tiff"):
        return read_geotiff(path)
    if path.is_file() and path.suffix.lower() != ".hgt":
        raise TerrainError(f"{path}: a DEM must be .hgt (SRTM), a folder of .hgt tiles, or .tif (GeoTIFF)")
    return SrtmTiles(path)
