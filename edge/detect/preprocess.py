"""Frame -> model input tensor (letterbox or stretch, channel order, scale, mean/std, layout, dtype) and back.

A ``Transform`` maps original pixels to model-input pixels: ``u_model = u * sx + px``, ``v_model = v * sy + py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from edge.detect.settings import ThermalSettings

# OpenCV's one-call image -> tensor conversion (OpenCV >= 4.8); None where the installed OpenCV lacks it
_TO_BLOB: Callable[..., np.ndarray] | None = getattr(cv2.dnn, "blobFromImageWithParams", None)
_BLOB_LAYOUTS = {"nchw": getattr(cv2, "DNN_LAYOUT_NCHW", None), "nhwc": getattr(cv2, "DNN_LAYOUT_NHWC", None)}


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

    ``out``: a buffer to fill when it has the right shape and dtype (saves a 4 MB allocation per frame). A uint8
    tensor whose pixels are already laid out as the model wants is a read-only view of them instead (no copy).
    Channel swap, layout change, dtype conversion, scale, mean and std: for a float32 tensor one OpenCV call
    (``blobFromImageWithParams``); otherwise one copy and an in-place gain and offset per plane (NCHW, each plane
    still in cache) or over the tensor (NHWC).
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
    if img.ndim == 2:
        img = img[:, :, None]
    swap = spec.rgb and spec.channels == 3
    src = img[:, :, ::-1] if swap else img
    src = src[None] if spec.layout == "nhwc" else src.transpose(2, 0, 1)[None]
    if spec.dtype == np.uint8 and src.flags.c_contiguous:
        view = src.view()  # the pixels as they are, no copy; read-only, so nothing downstream writes into a frame
        view.flags.writeable = False
        return view, tf
    if out is None or out.shape != src.shape or out.dtype != spec.dtype:
        out = np.empty(src.shape, spec.dtype)
    if spec.dtype == np.uint8:
        np.copyto(out, src)
        return out, tf
    params = _blob_params(spec) if img.dtype == np.uint8 else None
    if params is not None and _TO_BLOB is not None:
        # one OpenCV call that frees the GIL for the whole conversion: the numpy path below takes the GIL back
        # between its calls, each time waiting for it while the pipeline's track thread holds it
        return _TO_BLOB(np.ascontiguousarray(img), out, params), tf
    gain, offset = affine(spec)
    if spec.layout == "nchw" and img.dtype == np.uint8:
        planes = cv2.split(np.ascontiguousarray(img))
        for i, plane in enumerate(planes[::-1] if swap else planes):
            _scale_into(out[0, i], plane, gain[i], offset[i])
    else:
        np.copyto(out, src, casting="unsafe")
        if any(g != 1.0 for g in gain):
            out *= np.asarray(gain, out.dtype)
        if any(o != 0.0 for o in offset):
            out += np.asarray(offset, out.dtype)
    return out, tf


@lru_cache(maxsize=16)
def affine(spec: PreprocessSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per model-input channel (gain, offset) with ``x_model = pixel * gain + offset``: scale, mean and std in one."""
    c = spec.channels
    gain = tuple(spec.scale / sd for sd in spec.std[:c])
    offset = tuple(-m / sd for m, sd in zip(spec.mean[:c], spec.std[:c], strict=True))
    return gain, offset


@lru_cache(maxsize=16)
def _blob_params(spec: PreprocessSpec) -> Any:
    """OpenCV ``Image2BlobParams`` for a float32 tensor of this spec (channel swap, layout, per-channel scale and
    mean: ``(pixel - mean) * scalefactor``, the image already at the input size), or None where OpenCV can't."""
    gain, offset = affine(spec)
    layout = _BLOB_LAYOUTS[spec.layout]
    if _TO_BLOB is None or spec.dtype != np.float32 or layout is None or 0.0 in gain:
        return None
    pad = (0.0,) * (4 - len(gain))
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (*gain, *pad)
    params.mean = (*(-o / g for o, g in zip(offset, gain, strict=True)), *pad)
    params.swapRB = spec.rgb and spec.channels == 3
    params.ddepth = cv2.CV_32F
    params.datalayout = layout
    return params


def _scale_into(out: np.ndarray, plane: np.ndarray, gain: float, offset: float) -> None:
    """``out[...] = plane * gain + offset`` (out float, plane uint8, both (H, W)), in place."""
    np.copyto(out, plane, casting="unsafe")
    if gain != 1.0:
        out *= out.dtype.type(gain)
    if offset != 0.0:
        out += out.dtype.type(offset)


def to_original(xyxy: np.ndarray, tf: Transform) -> np.ndarray:
    """(N, 4) model-input pixel boxes -> original-image pixels, clipped to the image (letterbox undone)."""
    h, w = tf.src
    offset = np.asarray([tf.px, tf.py, tf.px, tf.py], np.float32)
    scale = np.asarray([tf.sx, tf.sy, tf.sx, tf.sy], np.float32)
    out = (np.asarray(xyxy, np.float32) - offset) / scale
    return np.clip(out, 0, np.asarray([w, h, w, h], np.float32), out=out)
