"""Tile grids for small objects: windows over the frame, optionally plus the full frame."""

from __future__ import annotations

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in original pixels


def tile_windows(width: int, height: int, cols: int, rows: int, overlap: float, full_frame: bool) -> list[Window]:
    """Windows of a ``cols`` x ``rows`` grid covering a ``width`` x ``height`` image, neighbours sharing
    ``overlap`` of a tile; the full frame first when ``full_frame`` (or when the grid is 1 x 1).

    Tile width = W / (cols - (cols - 1) * overlap), step = tile width * (1 - overlap); the last tile ends at W.
    """
    if cols == 1 and rows == 1:
        return [(0, 0, width, height)]
    out: list[Window] = [(0, 0, width, height)] if full_frame else []
    xs = _spans(width, cols, overlap)
    ys = _spans(height, rows, overlap)
    out.extend((x0, y0, x1, y1) for y0, y1 in ys for x0, x1 in xs)
    return out


def _spans(length: int, n: int, overlap: float) -> list[tuple[int, int]]:
    if n == 1:
        return [(0, length)]
    size = length / (n - (n - 1) * overlap)
    step = size * (1 - overlap)
    spans = []
    for i in range(n):
        a = round(i * step)
        b = length if i == n - 1 else min(length, round(i * step + size))
        spans.append((a, b))
    return spans
