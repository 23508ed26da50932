"""Builders of tiny ONNX detectors (onnx.helper) whose outputs are known tensors.

``const_model``: every output is a fixed tensor (plus 0 x the input's mean, so the input is really consumed).
``probe_model``: a YOLOv8-layout model whose single box's score is the mean of input channel 0 at one pixel
region, so tests can see what the preprocessing fed the model.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ONNX_TYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.uint8): TensorProto.UINT8,
}


def _save(graph: onnx.GraphProto, path: Path, metadata: Mapping[str, str] | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def const_model(
    path: Path,
    outputs: Mapping[str, np.ndarray],
    input_shape: Sequence[int | str] = (1, 3, 640, 640),
    input_dtype: type = np.float32,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """A model with one image input and ``outputs`` as fixed float32 tensors (name -> array)."""
    nodes = [
        helper.make_node("Cast", ["images"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["xf"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, arr in outputs.items():
        arr = np.asarray(arr, np.float32)
        inits.append(numpy_helper.from_array(arr, f"{name}_const"))
        nodes.append(helper.make_node("Add", [f"{name}_const", "z"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(arr.shape)))
    inp = helper.make_tensor_value_info("images", ONNX_TYPES[np.dtype(input_dtype)], list(input_shape))
    return _save(helper.make_graph(nodes, "const", [inp], outs, inits), path, metadata)


def probe_model(
    path: Path,
    input_shape: Sequence[int | str],
    nhwc: bool,
    input_dtype: type = np.float32,
    box: Sequence[float] = (16, 16, 8, 8),
) -> Path:
    """YOLOv8 layout [1, 5, 1] (one class): box ``box`` (cx, cy, w, h in input pixels), score = mean of input
    channel 0 over rows/cols 0..3 (so a uniform frame gives the preprocessed value of its first channel)."""
    starts = [0, 0, 0, 0]
    ends = [1, 4, 4, 1] if nhwc else [1, 1, 4, 4]
    nodes = [
        helper.make_node("Cast", ["images"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Slice", ["xf", "starts", "ends"], ["patch"]),
        helper.make_node("ReduceMean", ["patch"], ["m"], keepdims=0),
        helper.make_node("Reshape", ["m", "shape111"], ["score"]),
        helper.make_node("Concat", ["boxes", "score"], ["output0"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(np.asarray(starts, np.int64), "starts"),
        numpy_helper.from_array(np.asarray(ends, np.int64), "ends"),
        numpy_helper.from_array(np.asarray([1, 1, 1], np.int64), "shape111"),
        numpy_helper.from_array(np.asarray(box, np.float32).reshape(1, 4, 1), "boxes"),
    ]
    inp = helper.make_tensor_value_info("images", ONNX_TYPES[np.dtype(input_dtype)], list(input_shape))
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, 1])
    return _save(helper.make_graph(nodes, "probe", [inp], [out], inits), path, None)


@pytest.fixture
def make_const(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(outputs: Mapping[str, np.ndarray], **kw: object) -> Path:
        return const_model(tmp_path / f"const{next(counter)}.onnx", outputs, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_probe(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(input_shape: Sequence[int | str], nhwc: bool, **kw: object) -> Path:
        return probe_model(tmp_path / f"probe{next(counter)}.onnx", input_shape, nhwc, **kw)  # type: ignore[arg-type]

    return make


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is a test dependency"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture
def real_photos(tmp_path: Path) -> Path:
    """A folder of real photos that ship inside registry packages (scikit-image's data, matplotlib's sample data),
    hand-labelled in data/real_photos/labels: astronaut, camera (people), motorcycle_left, coffee (nothing),
    grace_hopper (a person). Nothing is downloaded."""
    dest = tmp_path / "real_photos"
    dest.mkdir()
    sk = _package_dir("skimage") / "data"
    for name in ("astronaut.png", "camera.png", "motorcycle_left.png", "coffee.png"):
        shutil.copy(sk / name, dest / name)
    shutil.copy(_package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg", dest)
    return dest


@pytest.fixture(scope="session")
def sim_export(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, int], Path]:
    """``export(frames, seed)``: a labelled set of drone-border frames written by `edge sim --export-dataset`."""
    repo = Path(__file__).resolve().parents[2]

    def export(frames: int, seed: int) -> Path:
        out = tmp_path_factory.mktemp(f"simset{seed}")
        scenario = repo / "sim" / "scenarios" / "drone-border.toml"
        args = ["--export-dataset", str(out), "--frames", str(frames), "--seed", str(seed), "--scenario", str(scenario)]
        subprocess.run([sys.executable, "-m", "edge", "sim", *args], check=True, capture_output=True, cwd=repo)
        return out

    return export
