"""Preprocessing variants, seen through a probe model whose score is what it received in input channel 0."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect import preprocess as pre_mod
from edge.detect.engine import ModelError, OnnxDetector
from edge.detect.preprocess import PreprocessSpec, plan_resize, preprocess, thermal_to_u8, to_original
from edge.detect.settings import DetectorSettings, ThermalSettings
from edge.types import Frame

MakeModel = Callable[..., Path]
B, G, R = 10, 20, 200  # the uniform test frame, BGR


def run(
    model: Path, w: int = 64, h: int = 64, image: np.ndarray | None = None, **kw: object
) -> tuple[float, np.ndarray]:
    s = DetectorSettings(
        model=str(model), providers=["cpu"], warmup_runs=0, conf_threshold=0.0, min_box_px=0, labels=["obj"], **kw
    )
    det = OnnxDetector(s)
    if image is None:
        image = np.empty((h, w, 3), np.uint8)
        image[:] = (B, G, R)
    d = det.detect(Frame(image, 0.0, 0.0, 1))
    assert len(d) == 1
    return float(d.score[0]), d.xyxy[0]


@pytest.mark.parametrize(
    ("shape", "nhwc", "dtype", "pre", "expect"),
    [
        ((1, 3, 32, 32), False, np.float32, {}, R / 255),  # NCHW, RGB, 1/255
        ((1, 3, 32, 32), False, np.float32, {"channel_order": "bgr"}, B / 255),
        ((1, 32, 32, 3), True, np.float32, {}, R / 255),  # NHWC inferred
        ((1, 32, 32, 3), True, np.float32, {"channel_order": "bgr"}, B / 255),
        ((1, 3, 32, 32), False, np.float32, {"scale": 1.0}, R),  # no scaling
        (
            (1, 3, 32, 32),
            False,
            np.float32,
            {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            (R / 255 - 0.485) / 0.229,
        ),
        (
            (1, 32, 32, 3),
            True,
            np.float32,
            {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            (R / 255 - 0.485) / 0.229,
        ),
        ((1, 3, 32, 32), False, np.float16, {}, R / 255),
        ((1, 32, 32, 3), True, np.uint8, {}, R),  # uint8: scale auto = 1
        ((1, 3, 32, 32), False, np.uint8, {}, R),
        ((1, 1, 32, 32), False, np.float32, {}, (0.114 * B + 0.587 * G + 0.299 * R) / 255),  # one channel: grey
    ],
)
def test_variant_feeds_the_model_the_right_values(
    make_probe: MakeModel, shape: tuple[int, ...], nhwc: bool, dtype: type, pre: dict[str, object], expect: float
) -> None:
    score, _ = run(make_probe(shape, nhwc, input_dtype=dtype), preprocess=pre)
    assert score == pytest.approx(expect, abs=2e-3 * max(1.0, abs(expect)))


def test_letterbox_pads_and_stretch_does_not(make_probe: MakeModel) -> None:
    model = make_probe((1, 3, 32, 32), False)
    # 64x32 frame into 32x32: letterbox resizes to 32x16 and pads 8 rows on top with 114
    assert run(model, w=64, h=32)[0] == pytest.approx(114 / 255, abs=1e-3)
    assert run(model, w=64, h=32, preprocess={"resize": "stretch"})[0] == pytest.approx(R / 255, abs=1e-3)
    assert run(model, w=64, h=32, preprocess={"pad_value": 0})[0] == pytest.approx(0.0, abs=1e-3)


def test_dynamic_input_size_and_box_back_to_original(make_probe: MakeModel) -> None:
    # dynamic input, no size given: fit 640x640 -> 64x32 frame scaled by 10 to 640x320 (already a multiple of 32)
    model = make_probe((1, 3, "h", "w"), False, box=(320, 160, 100, 100))
    score, box = run(model, w=64, h=32)
    assert score == pytest.approx(R / 255, abs=1e-3)
    np.testing.assert_allclose(box, [27, 11, 37, 21], atol=1.0)  # (270,110,370,210) / 10
    # configured size 64x128 (h, w): scale 2, no padding
    score, box = run(model, w=64, h=32, preprocess={"input_size": [64, 128]})
    np.testing.assert_allclose(box, [64, 32, 64, 32], atol=1.0)  # (270,110,370,210)/2 clipped to the 64x32 frame


def test_fixed_input_rejects_other_size(make_probe: MakeModel) -> None:
    with pytest.raises(ModelError, match=r"detector\.preprocess\.input_size"):
        run(make_probe((1, 3, 32, 32), False), preprocess={"input_size": [64, 64]})
    with pytest.raises(ModelError, match=r"detector\.preprocess\.dtype"):
        run(make_probe((1, 3, 32, 32), False), preprocess={"dtype": "uint8"})


def test_thermal_16bit_percentile_stretch_to_model(make_probe: MakeModel) -> None:
    img = np.full((64, 64), 30000, np.uint16)
    img[32:, :] = 20000  # top half hot: percentile stretch maps 20000 -> 0 and 30000 -> 255
    score, _ = run(make_probe((1, 1, 32, 32), False), image=img)
    assert score == pytest.approx(1.0, abs=1e-2)
    score, _ = run(make_probe((1, 3, 32, 32), False), image=img, thermal={"gain": "fixed", "low": 10000, "high": 40000})
    assert score == pytest.approx((30000 - 10000) / 30000, abs=1e-2)


@pytest.mark.parametrize(
    ("gain", "raw", "expect"),
    [("none", 0x8000, 128), ("fixed", 1500, 128), ("fixed", 999, 0), ("fixed", 3000, 255)],
)
def test_thermal_gain_table(gain: str, raw: int, expect: int) -> None:
    t = ThermalSettings(gain=gain, low=1000, high=2000)
    out = thermal_to_u8(np.full((4, 4), raw, np.uint16), t)
    assert out.dtype == np.uint8 and abs(int(out[0, 0]) - expect) <= 1


@pytest.mark.parametrize(
    ("src", "size", "letterbox", "resized", "padded", "sx", "px", "py"),
    [
        ((720, 1280), (640, 640), True, (360, 640), (640, 640), 0.5, 0, 140),
        ((480, 640), (640, 640), True, (480, 640), (640, 640), 1.0, 0, 80),
        ((1000, 500), (640, 640), True, (640, 320), (640, 640), 0.64, 160, 0),
        ((720, 1280), (640, 640), False, (640, 640), (640, 640), 0.5, 0, 0),
        ((720, 1280), None, True, (360, 640), (384, 640), 0.5, 0, 12),  # dynamic: pad to a multiple of 32
    ],
)
def test_plan_resize_table(
    src: tuple[int, int],
    size: tuple[int, int] | None,
    letterbox: bool,
    resized: tuple[int, int],
    padded: tuple[int, int],
    sx: float,
    px: float,
    py: float,
) -> None:
    spec = PreprocessSpec("nchw", size, True, 1 / 255, (0.0,) * 3, (1.0,) * 3, letterbox, 114, np.dtype(np.float32), 3)
    r, p, tf = plan_resize(src, spec)
    assert (r, p, tf.sx, tf.px, tf.py) == (resized, padded, pytest.approx(sx), px, py)
    x, tf2 = preprocess(np.zeros((*src, 3), np.uint8), spec, ThermalSettings())
    assert x.shape == (1, 3, *padded) and tf2 == tf
    back = to_original(np.asarray([[px, py, px + r[1], py + r[0]]], np.float32), tf)
    np.testing.assert_allclose(back[0], [0, 0, src[1], src[0]], atol=1e-3)


@pytest.mark.parametrize("opencv_blob", [True, False])  # False: an OpenCV without blobFromImageWithParams
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("rgb", [True, False])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
    ("dtype", "scale", "mean", "std"),
    [
        (dtype, scale, mean, std)
        for dtype in (np.float32, np.float16)
        for scale, mean, std in (
            (1 / 255, (0.0,) * 3, (1.0,) * 3),
            (1.0, (0.0,) * 3, (1.0,) * 3),
            (1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        )
    ]
    + [(np.uint8, 1.0, (0.0,) * 3, (1.0,) * 3)],  # uint8 inputs take the pixels as they are
)
def test_tensor_values_match_the_definition(
    monkeypatch: pytest.MonkeyPatch,
    opencv_blob: bool,
    layout: str,
    rgb: bool,
    channels: int,
    dtype: type,
    scale: float,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> None:
    """Every pixel against (value * scale - mean) / std worked in float64, channels and layout as the spec says,
    letterbox rows included (30 rows of image, 9 + 9 of grey 114)."""
    if not opencv_blob:
        monkeypatch.setattr(pre_mod, "_TO_BLOB", None)
    spec = PreprocessSpec(layout, (48, 64), rgb, scale, mean, std, True, 114, np.dtype(dtype), channels)
    img = np.random.default_rng(1).integers(0, 256, (30, 64, 3), np.uint8)
    buf: np.ndarray = np.empty((1, channels, 48, 64) if layout == "nchw" else (1, 48, 64, channels), dtype)
    got, tf = preprocess(img, spec, ThermalSettings(), buf)
    if np.dtype(dtype) == np.uint8 and (layout == "nhwc" or channels == 1) and not (rgb and channels == 3):
        assert not got.flags.writeable  # the letterboxed pixels as they are, read-only: no copy at all
    else:
        assert got is buf  # filled in place: no allocation per frame
    assert (tf.px, tf.py, tf.sx, tf.sy) == (0.0, 9.0, 1.0, 1.0)
    padded = np.full((48, 64, 3), 114, np.uint8)
    padded[9:39] = img
    if channels == 1:
        planes = [cv2.cvtColor(padded, cv2.COLOR_BGR2GRAY).astype(np.float64)]
    else:
        planes = [padded[:, :, i].astype(np.float64) for i in ((2, 1, 0) if rgb else (0, 1, 2))]
    want = np.stack([(p * scale - m) / s for p, m, s in zip(planes, mean, std, strict=False)])
    want = want[None] if layout == "nchw" else want.transpose(1, 2, 0)[None]
    # float16: two roundings (the gain, then the offset) of at most half a unit in the last place, 0.002 at |x| < 2.7
    atol = {"float32": 1e-5, "float16": 4e-3, "uint8": 0.0}[np.dtype(dtype).name]
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=1e-6, atol=atol)
