"""Procedural, seamlessly tiling ground textures (BGR uint8) with their mip pyramids.

Each surface kind is a recipe of periodic fractal noise; ``make_texture(kind, seed)`` is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

SURFACES = ("grass", "rock", "sand", "snow", "road", "sea")
TEX_SIZE = 1024  # texels per side
TEXEL_M = 0.2  # metres per texel at level 0 (tile period 204.8 m)
MACRO_SIZE = 256
MACRO_TEXEL_M = 12.0  # low-frequency colour/brightness variation, period ~3 km
F32 = npt.NDArray[np.float32]


def periodic_noise(rng: np.random.Generator, size: int, cells: int) -> F32:
    """Smooth noise (size, size), about N(0, 1)-scaled, that tiles seamlessly; ``cells`` features per side."""
    r = rng.standard_normal((cells, cells)).astype(np.float32)
    pad = 2
    big = np.pad(r, pad, mode="wrap")
    scale = size / cells
    out = cv2.resize(big, (round((cells + 2 * pad) * scale),) * 2, interpolation=cv2.INTER_CUBIC)
    o = round(pad * scale)
    tile = out[o : o + size, o : o + size]
    return np.asarray(tile / (tile.std() + 1e-6), np.float32)


def fractal(rng: np.random.Generator, size: int, octaves: list[tuple[int, float]]) -> F32:
    """Sum of periodic noises, each (cells, amplitude)."""
    acc = np.zeros((size, size), np.float32)
    for cells, amp in octaves:
        acc += amp * periodic_noise(rng, size, min(cells, size))
    return acc


def _mix(a: tuple[float, float, float], b: tuple[float, float, float], w: F32) -> F32:
    """Per-texel blend (size, size, 3) of BGR colours a and b with weight w in [0, 1]."""
    ca, cb = np.array(a, np.float32), np.array(b, np.float32)
    return ca + (cb - ca) * np.clip(w, 0, 1)[..., None]


def make_texture(kind: str, seed: int, size: int = TEX_SIZE) -> npt.NDArray[np.uint8]:
    """A tiling BGR texture (size, size, 3) uint8 of one surface kind."""
    if kind not in SURFACES:
        raise ValueError(f"unknown surface {kind!r}; one of {SURFACES}")
    rng = np.random.default_rng([seed, SURFACES.index(kind)])
    fine = fractal(rng, size, [(256, 0.5), (512, 0.35)])
    mid = fractal(rng, size, [(16, 0.6), (48, 0.4)])
    if kind == "grass":
        base = _mix((50, 112, 70), (70, 140, 150), 0.5 + 0.35 * mid)  # green to dry yellow
        bush = fractal(rng, size, [(40, 1.0), (120, 0.4)]) > 1.6
        base[bush] = base[bush] * 0.55
        lum = 1 + 0.14 * fine
    elif kind == "rock":
        base = _mix((95, 105, 115), (130, 135, 140), 0.5 + 0.4 * mid)
        ridge = np.abs(fractal(rng, size, [(24, 1.0), (64, 0.5)]))
        lum = 1 + 0.18 * fine - 0.35 * (ridge < 0.12)
    elif kind == "sand":
        yy = np.arange(size, dtype=np.float32)[:, None]
        ripple = np.sin(2 * np.pi * (yy / size * 96 + 2.0 * mid))
        base = _mix((140, 180, 200), (160, 200, 220), 0.5 + 0.4 * mid)
        lum = 1 + 0.05 * ripple + 0.06 * fine
    elif kind == "snow":
        base = _mix((225, 228, 230), (240, 236, 232), 0.5 + 0.4 * mid)
        rock = fractal(rng, size, [(30, 1.0), (90, 0.5)]) > 1.8
        base[rock] = (90, 95, 100)
        lum = 1 + 0.04 * fine
    elif kind == "road":
        base = _mix((80, 82, 85), (100, 102, 104), 0.5 + 0.3 * mid)
        lum = 1 + 0.1 * fine
    else:  # sea
        waves = fractal(rng, size, [(64, 0.6), (160, 0.4)])
        base = _mix((85, 55, 20), (120, 90, 45), 0.5 + 0.25 * mid)
        lum = 1 + 0.12 * waves
    img = base * lum[..., None]
    return np.asarray(np.clip(img, 0, 255), np.uint8)


def make_macro(seed: int, size: int = MACRO_SIZE) -> F32:
    """Low-frequency multiplier (size, size, 3) around 1.0: brightness and slight hue drift over kilometres."""
    rng = np.random.default_rng([seed, 99])
    lum = 1 + 0.12 * fractal(rng, size, [(6, 0.7), (20, 0.3)])
    hue = 0.05 * fractal(rng, size, [(8, 1.0)])
    out = np.stack([lum - hue, lum, lum + hue], axis=-1)
    return np.asarray(out, np.float32)


@dataclass(frozen=True)
class MipTexture:
    """A texture and its halvings; level k has texel size TEXEL_M * 2**k."""

    levels: tuple[npt.NDArray[Any], ...]

    @classmethod
    def build(cls, img: npt.NDArray[Any], min_size: int = 16) -> MipTexture:
        levels = [img]
        while levels[-1].shape[0] > min_size:
            prev = levels[-1]
            levels.append(cv2.resize(prev, (prev.shape[1] // 2, prev.shape[0] // 2), interpolation=cv2.INTER_AREA))
        return cls(tuple(levels))
