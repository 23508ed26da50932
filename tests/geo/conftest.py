"""Synthetic DEM tiles for the geo tests."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

RISE_PER_COLUMN_M = 7  # the tilted tile climbs 7 m per 3" column eastwards (about 10 %)


def _write_hgt(path: Path, z: np.ndarray) -> Path:
    """An SRTM tile: big-endian int16, rows north -> south."""
    np.asarray(z, ">i2").tofile(path)
    return path


@pytest.fixture
def write_hgt() -> Callable[[Path, np.ndarray], Path]:
    return _write_hgt


@pytest.fixture
def tilted_hgt(tmp_path: Path) -> Path:
    """N42E019.hgt (3", 1201²): 500 m on its west edge, rising RISE_PER_COLUMN_M per column to the east."""
    cols = np.arange(1201)
    z = np.broadcast_to(500 + RISE_PER_COLUMN_M * cols, (1201, 1201))
    return _write_hgt(tmp_path / "N42E019.hgt", z)


def _ifd_entry(tag: int, typ: int, count: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")


@pytest.fixture
def write_geotiff() -> Callable[..., Path]:
    """Writes a little-endian, uncompressed float32 GeoTIFF with georeferencing tags."""

    def write(
        path: Path,
        z: np.ndarray,
        lon0: float,
        lat0: float,
        step: float,
        pixel_is_point: bool = False,
        model_type: int = 2,
        nodata: str | None = None,
    ) -> Path:
        z = np.ascontiguousarray(z, "<f4")
        h, w = z.shape
        scale = struct.pack("<3d", step, step, 0.0)
        tie = struct.pack("<6d", 0.0, 0.0, 0.0, lon0, lat0, 0.0)
        keys = struct.pack("<12H", 1, 1, 0, 2, 1024, 0, 1, model_type, 1025, 0, 1, 2 if pixel_is_point else 1)
        extra = [(33550, 12, 3, scale), (33922, 12, 6, tie), (34735, 3, 12, keys)]
        if nodata is not None:
            extra.append((42113, 2, len(nodata) + 1, nodata.encode() + b"\0"))
        n_entries = 10 + len(extra)
        ifd_size = 2 + 12 * n_entries + 4
        data_off = 8 + ifd_size
        blobs, blob_off = b"", data_off + z.nbytes
        entries = [
            _ifd_entry(256, 3, 1, struct.pack("<H", w)),
            _ifd_entry(257, 3, 1, struct.pack("<H", h)),
            _ifd_entry(258, 3, 1, struct.pack("<H", 32)),
            _ifd_entry(259, 3, 1, struct.pack("<H", 1)),
            _ifd_entry(262, 3, 1, struct.pack("<H", 1)),
            _ifd_entry(273, 4, 1, struct.pack("<I", data_off)),
            _ifd_entry(277, 3, 1, struct.pack("<H", 1)),
            _ifd_entry(278, 3, 1, struct.pack("<H", h)),
            _ifd_entry(279, 4, 1, struct.pack("<I", z.nbytes)),
            _ifd_entry(339, 3, 1, struct.pack("<H", 3)),
        ]
        for tag, typ, count, value in extra:
            if len(value) <= 4:
                entries.append(_ifd_entry(tag, typ, count, value))
            else:
                entries.append(_ifd_entry(tag, typ, count, struct.pack("<I", blob_off + len(blobs))))
                blobs += value
        ifd = struct.pack("<H", n_entries) + b"".join(entries) + struct.pack("<I", 0)
        path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + z.tobytes() + blobs)
        return path

    return write
