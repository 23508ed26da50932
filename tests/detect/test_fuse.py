"""The input conversion folded into the graph (``edge.detect.fuse``): same outputs as the model on its own,
clear reasons where a model doesn't qualify, and frames fed without a copy and never written to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import edge.detect.model as model_mod
from edge.detect.engine import OnnxDetector
from edge.detect.model import load_model
from edge.detect.preprocess import preprocess
from edge.detect.settings import DetectorSettings, PreprocessSettings
from edge.types import Frame

from .conftest import ONNX_TYPES

DEFAULT = Path(__file__).resolve().parents[2] / "models" / "edge-default.onnx"


def conv_model(
    path: Path,
    channels: int = 3,
    hw: Sequence[int | str] = (64, 96),
    dtype: type = np.float32,
    twin: bool = False,
    extra_consumer: str = "",
    group: int = 1,
) -> Path:
    """A YOLOv8-layout net ([1, 7, N]: 3 classes) whose image input feeds a padded strided 3x3 convolution
    (``twin``: and a second one sharing its weights; ``extra_consumer``: and a node of that op type; ``group``:
    a grouped convolution instead)."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((6, channels // group, 3, 3)).astype(dtype)
    conv = {"pads": [1, 1, 1, 1], "strides": [2, 2], "group": group}
    nodes = [helper.make_node("Conv", ["images", "w0", "b0"], ["c0"], name="stem", **conv)]
    x = "c0"
    if twin:
        nodes += [
            helper.make_node("Conv", ["images", "w0"], ["c1"], name="twin", **conv),
            helper.make_node("Add", ["c0", "c1"], ["c01"]),
        ]
        x = "c01"
    if extra_consumer:
        nodes += [
            helper.make_node(extra_consumer, ["images", "images"], ["e"]),
            helper.make_node("ReduceMean", ["e"], ["em"], keepdims=0),
            helper.make_node("Add", [x, "em"], ["ce"]),
        ]
        x = "ce"
    nodes += [
        helper.make_node("Relu", [x], ["r"]),
        helper.make_node("Conv", ["r", "wh"], ["head"]),
        helper.make_node("Reshape", ["head", "shape"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(w0, "w0"),
        numpy_helper.from_array(rng.standard_normal(6).astype(dtype), "b0"),
        numpy_helper.from_array((rng.standard_normal((7, 6, 1, 1)) * 0.3).astype(dtype), "wh"),
        numpy_helper.from_array(np.asarray([1, 7, -1], np.int64), "shape"),
    ]
    inp = helper.make_tensor_value_info("images", ONNX_TYPES[np.dtype(dtype)], [1, channels, *hw])
    out = helper.make_tensor_value_info("output0", ONNX_TYPES[np.dtype(dtype)], [1, 7, None])
    m = helper.make_model(
        helper.make_graph(nodes, "conv", [inp], [out], inits), opset_imports=[helper.make_opsetid("", 17)]
    )
    m.ir_version = 8
    m.metadata_props.append(onnx.StringStringEntryProto(key="names", value="{0: 'a', 1: 'b', 2: 'c'}"))
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def settings(model: Path, **kw: object) -> DetectorSettings:
    return DetectorSettings(model=str(model), providers=["cpu"], warmup_runs=0, **kw)  # type: ignore[arg-type]


def assert_same_outputs(s: DetectorSettings, frames: list[np.ndarray]) -> None:
    """The fused session on uint8 frames answers as the model does on its float input, to float32 rounding."""
    fused, fi = load_model(s)
    plain, pi = load_model(s.model_copy(update={"fuse_input": False}))
    assert fi.conversion.startswith("in the graph") and fi.spec.dtype == np.uint8
    assert pi.conversion.startswith("in Python") and pi.spec == pi.model_spec == fi.model_spec
    for img in frames:
        want = plain.run(None, {pi.input_name: preprocess(img, pi.spec, s.thermal)[0]})[0]
        got = fused.run(None, {fi.input_name: preprocess(img, fi.spec, s.thermal)[0]})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("channel_order", ["rgb", "bgr"])
@pytest.mark.parametrize("resize", ["letterbox", "stretch"])
@pytest.mark.parametrize("scale", [1 / 255, 1.0])
def test_fused_graph_answers_like_the_model(tmp_path: Path, channel_order: str, resize: str, scale: float) -> None:
    s = settings(
        conv_model(tmp_path / "m.onnx"),
        preprocess=PreprocessSettings(channel_order=channel_order, resize=resize, scale=scale),
    )
    rng = np.random.default_rng(0)
    # one frame at the input size (fed without a copy), one to letterbox or stretch
    assert_same_outputs(s, [rng.integers(0, 256, shape, np.uint8) for shape in ((64, 96, 3), (90, 100, 3))])


def test_std_one_channel_dynamic_size_and_shared_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (70, 130, 3), np.uint8)]
    grey = settings(conv_model(tmp_path / "g.onnx", channels=1), preprocess=PreprocessSettings(std=[0.5, 0.5, 0.5]))
    assert_same_outputs(grey, frames)
    dynamic = settings(
        conv_model(tmp_path / "d.onnx", hw=("h", "w")), preprocess=PreprocessSettings(input_size=[64, 96])
    )
    assert_same_outputs(dynamic, frames)
    assert_same_outputs(settings(conv_model(tmp_path / "t.onnx", twin=True)), frames)  # weights folded once


@pytest.mark.parametrize(
    ("make", "extra", "reason"),
    [
        ({"dtype": np.float16}, {}, "float16"),
        ({}, {"preprocess": PreprocessSettings(mean=[0.4, 0.4, 0.4])}, "detector.preprocess.mean"),
        ({"extra_consumer": "Mul"}, {}, "feeds a Mul node"),
        ({"group": 3}, {}, "no weights stored in the file"),
        ({}, {"fuse_input": False}, "detector.fuse_input is off"),
    ],
)
def test_models_that_do_not_qualify_keep_the_python_conversion(
    tmp_path: Path, make: dict[str, object], extra: dict[str, object], reason: str
) -> None:
    s = settings(conv_model(tmp_path / "m.onnx", **make), **extra)  # type: ignore[arg-type]
    _, info = load_model(s)
    assert info.conversion.startswith("in Python") and reason in info.conversion
    assert info.spec == info.model_spec and info.spec.dtype != np.uint8


def test_a_changed_graph_that_answers_otherwise_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check at load against the unchanged model: a fold that went wrong (here: weights off by 10 %) is caught
    and the model runs with the Python conversion."""
    real = model_mod.fuse_input

    def off_by_ten_percent(*args: object) -> tuple[bytes, int]:
        data, n = real(*args)  # type: ignore[arg-type]
        m = onnx.load_from_string(data)
        for i, w in enumerate(m.graph.initializer):
            if w.name.endswith("/fused_input"):
                m.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.1, w.name))
        return m.SerializeToString(), n

    monkeypatch.setattr(model_mod, "fuse_input", off_by_ten_percent)
    _, info = load_model(settings(conv_model(tmp_path / "m.onnx")))
    assert info.conversion == "in Python: the changed graph answers a test frame otherwise than the model"


def test_default_model_detects_the_same_and_frames_are_never_written(sim_frames: list[np.ndarray]) -> None:
    fused = OnnxDetector(settings(DEFAULT))
    plain = OnnxDetector(settings(DEFAULT, fuse_input=False))
    assert fused.info.conversion.startswith("in the graph")
    seen = 0
    for i, img in enumerate(sim_frames):
        before = img.copy()
        a, b = fused.detect(Frame(img, 0.0, 0.0, i)), plain.detect(Frame(img, 0.0, 0.0, i))
        np.testing.assert_array_equal(img, before)  # fed to the model as it is, and left as it was
        assert list(a.class_id) == list(b.class_id)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.01)
        np.testing.assert_allclose(a.score, b.score, atol=1e-5)
        seen += len(a)
    assert seen > 0


@pytest.fixture(scope="module")
def sim_frames() -> list[np.ndarray]:
    """Four 640x480 simulator frames of the border scenario (targets in view)."""
    from sim.render import Renderer
    from sim.scenario import load_scenario
    from sim.world import World

    scenario = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml"
    r = Renderer(World(load_scenario(scenario)))
    return [r.render(5.0 + 1.5 * i)[0] for i in range(4)]
