"""Frame -> model input tensor (letterbox or stretch, channel order, scale, mean/std, layout, dtype) and back.

A ``Transform`` maps original pixels to model-input pixels: ``u_model = u * sx + px``, ``v_model = v * sy + py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from edge.detect.settings import ThermalSettings


@dataclass(frozen=True, slots=True)
class PreprocessSpec:
    """What the model wants. ``size`` is (height, width) px, or None for a dynamic input (fit ``max_size``)."""

    layout: str  # "nchw" | "nhwc"
    size: tuple[int, int] | None
    rgb: bool
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    letterbox: bool
    pad_value: int
    dtype: np.dtype
    channels: int  # 1 or 3
    max_size: tuple[int, int] = (640, 640)
    stride: int = 32

    def describe(self) -> str:
        size = f"{self.size[0]}x{self.size[1]}" if self.size else f"dynamic (fit {self.max_size[0]}x{self.max_size[1]})"
        norm = "" if self.mean == (0.0,) * 3 and self.std == (1.0,) * 3 else f", mean {self.mean}, std {self.std}"
        return (
            f"{self.layout.upper()} {self.dtype.name} {size}, {'RGB' if self.rgb else 'BGR'}"
            f"{' (1 channel)' if self.channels == 1 else ''}, scale {self.scale:.6g}{norm}, "
            f"{'letterbox (pad ' + str(self.pad_value) + ')' if self.letterbox else 'stretch'}"
        )


@dataclass(frozen=True, slots=True)
class Transform:
    """Original -> model pixels: ``u' = u * sx + px``, ``v' = v * sy + py``; ``src``/``dst`` are (h, w)."""

    sx: float
    sy: float
    px: float
    py: float
    src: tuple[int, int]
    dst: tuple[int, int]


def plan_resize(src_hw: tuple[int, int], spec: PreprocessSpec) -> tuple[tuple[int, int], tuple[int, int], Transform]:
    """(resized (h, w), padded (h, w), transform) for an image of ``src_hw`` pixels.

    Letterbox: scale r = min(H'/H, W'/W), resized to round(W*r) x round(H*r) and centred with
    pad (W' - w) // 2 left, (H' - h) // 2 top. Dynamic inputs pad only up to a multiple of ``stride``.
    """
    h, w = src_hw
    th, tw = spec.size or spec.max_size
    if not spec.letterbox:
        return (th, tw), (th, tw), Transform(tw / w, th / h, 0.0, 0.0, (h, w), (th, tw))
    r = min(th / h, tw / w)
    nh, nw = max(1, round(h * r)), max(1, round(w * r))
    if spec.size is None:
        th = -(-nh // spec.stride) * spec.stride
        tw = -(-nw // spec.stride) * spec.stride
    px, py = (tw - nw) // 2, (th - nh) // 2
    return (nh, nw), (th, tw), Transform(nw / w, nh / h, float(px), float(py), (h, w), (th, tw))


def thermal_to_u8(image: np.ndarray, t: ThermalSettings) -> np.ndarray:
    """(H, W) uint16/uint8/float thermal counts -> (H, W) uint8 by the configured gain control."""
    img = image if image.ndim == 2 else image[..., 0]
    if t.gain == "none":
        return (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else img.astype(np.uint8)
    if t.gain == "percentile":
        sample = img[::4, ::4]
        lo, hi = np.percentile(sample, (t.low_pct, t.high_pct))
    else:
        lo, hi = t.low, t.high
    gain = 255.0 / max(float(hi) - float(lo), 1e-6)
    out = cv2.convertScaleAbs(img.astype(np.float32), alpha=gain, beta=-float(lo) * gain)
    return np.asarray(out, np.uint8)


def to_model_image(image: np.ndarray, channels: int, thermal: ThermalSettings) -> np.ndarray:
    """Any frame -> uint8 BGR (H, W, 3) or grey (H, W) as the model's channel count wants."""
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image if channels == 3 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return to_model_image(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), channels, thermal)
    grey = thermal_to_u8(image, thermal) if image.dtype != np.uint8 or image.ndim == 3 else image
    return grey if channels == 1 else cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def preprocess(
    image: np.ndarray, spec: PreprocessSpec, thermal: ThermalSettings, out: np.ndarray | None = None
) -> tuple[np.ndarray, Transform]:
    """Frame image -> (1, C, H', W') or (1, H', W', C) tensor of ``spec.dtype`` and its transform.

    ``out``: a buffer to fill when it has the right shape and dtype (saves a 4 MB allocation per frame).
    Channel swap, layout change, dtype conversion, scale, mean and std: one table lookup per pixel
    (``cv2.LUT``, 256 entries per channel) straight into ``out``, per plane (NCHW) or over the image (NHWC).
    """
    img = to_model_image(image, spec.channels, thermal)
    (nh, nw), (th, tw), tf = plan_resize(img.shape[:2], spec)
    if img.shape[:2] != (nh, nw):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if (nh, nw) != (th, tw):
        top, left = int(tf.py), int(tf.px)
        img = cv2.copyMakeBorder(
            img, top, th - nh - top, left, tw - nw - left, cv2.BORDER_CONSTANT, value=(spec.pad_value,) * 3
        )
    c = spec.channels
    shape = (1, c, th, tw) if spec.layout == "nchw" else (1, th, tw, c)
    if out is None or out.shape != shape or out.dtype != spec.dtype:
        out = np.empty(shape, spec.dtype)
    swap = spec.rgb and c == 3
    if spec.dtype == np.uint8:
        src = img[:, :, ::-1] if swap else img.reshape(th, tw, c)
        np.copyto(out, src[None] if spec.layout == "nhwc" else src.transpose(2, 0, 1)[None])
        return out, tf
    tables = _tables(spec)  # (C, 1, 256): pixel value -> model input, per model channel
    if spec.layout == "nchw":
        planes = cv2.split(img) if c == 3 else (img,)
        for i, plane in enumerate(planes[::-1] if swap else planes):
            cv2.LUT(plane, tables[i], dst=out[0, i])
    elif c == 3:
        cv2.LUT(cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if swap else img, _tables_hwc(spec), dst=out[0])
    else:
        cv2.LUT(img, tables[0], dst=out[0, :, :, 0])
    return out, tf


@lru_cache(maxsize=16)
def _tables(spec: PreprocessSpec) -> np.ndarray:
    """(C, 1, 256) of ``spec.dtype``: model input for each pixel value 0..255, per model-input channel
    (``value * scale``, less the channel's mean, over its std; worked in float64)."""
    c = spec.channels
    v = np.arange(256.0)
    rows = [(v * spec.scale - m) / sd for m, sd in zip(spec.mean[:c], spec.std[:c], strict=True)]
    return np.stack(rows)[:, None, :].astype(spec.dtype)


@lru_cache(maxsize=16)
def _tables_hwc(spec: PreprocessSpec) -> np.ndarray:
    """The same tables as one (1, 256, C) multi-channel table, for an interleaved image."""
    return np.ascontiguousarray(_tables(spec).transpose(1, 2, 0))


def to_original(xyxy: np.ndarray, tf: Transform) -> np.ndarray:
    """(N, 4) model-input pixel boxes -> original-image pixels, clipped to the image (letterbox undone)."""
    h, w = tf.src
    offset = np.asarray([tf.px, tf.py, tf.px, tf.py], np.float32)
    scale = np.asarray([tf.sx, tf.sy, tf.sx, tf.sy], np.float32)
    out = (np.asarray(xyxy, np.float32) - offset) / scale
    return np.clip(out, 0, np.asarray([w, h, w, h], np.float32), out=out)
