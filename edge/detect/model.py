"""What a model is: its input, outputs, metadata, labels, output layout and the preprocessing it gets.

``load_model`` opens the session, reads everything the model says about itself, applies config overrides,
and runs one probe inference on a blank input to see the real output shapes (dynamic dims included). Where the
model qualifies, it then swaps in the model with the input conversion folded into its graph (``edge.detect.fuse``),
once that gives the same outputs as the unchanged model on a test frame.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.detect.decoders import LAYOUTS, LayoutError, fits, recognise, ssd_roles, tf_roles
from edge.detect.fuse import CannotFuse, fuse_input, fused_spec
from edge.detect.preprocess import PreprocessSpec, preprocess
from edge.detect.session import ModelError, open_session
from edge.detect.settings import DetectorSettings

log = logging.getLogger(__name__)

DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


@dataclass
class ModelInfo:
    """Everything ``edge model inspect`` prints and the engine uses."""

    path: str
    provider: str
    input_name: str
    input_shape: list[int | str | None]
    input_type: str
    outputs: list[tuple[str, list[int | str | None], str]]
    output_shapes: list[tuple[int, ...]]
    metadata: dict[str, str]
    labels: list[str]
    labels_source: str
    layout: str
    layout_source: str
    model_spec: PreprocessSpec  # what the model file's input wants
    spec: PreprocessSpec  # what the Python side does: model_spec, or uint8 NHWC BGR when the conversion is in the graph
    conversion: str  # where frames become the model's input ("in the graph (...)" / "in Python: why not")
    sources: dict[str, str] = field(default_factory=dict)  # preprocessing aspect -> where its value came from
    roles: dict[str, int] = field(default_factory=dict)  # output index by role: output, or boxes/scores/classes/count
    anchors: np.ndarray | None = None  # ssd: (N, 4) float32 cx, cy, w, h, in the box output's units
    background: bool = False  # ssd: score column 0 is the background class

    def reads(self) -> str:
        """Which outputs the decoder reads, by role."""
        names = [o[0] for o in self.outputs]
        return ", ".join(names[i] if r == "output" else f"{r} = {names[i]}" for r, i in self.roles.items())


def parse_names(text: str) -> list[str] | None:
    """Class names from metadata: a python-dict string {0: 'person', ...} (Ultralytics), a JSON/python list,
    or comma-separated names; None when unreadable."""
    try:
        val = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:
            val = json.loads(text)
        except ValueError:
            val = [n.strip() for n in text.split(",")] if "," in text else None
    if isinstance(val, dict):
        try:
            return [str(val[k]) for k in sorted(val, key=int)]
        except (TypeError, ValueError):
            return None
    if isinstance(val, (list, tuple)) and all(isinstance(v, str) for v in val):
        return list(val)
    return None


def _labels(s: DetectorSettings, meta: dict[str, str]) -> tuple[list[str] | None, str]:
    if s.labels:
        return list(s.labels), "config detector.labels"
    for key in ("names", "labels", "classes"):
        if key in meta and (names := parse_names(meta[key])):
            return names, f"model metadata '{key}'"
    for side in (Path(s.model).with_suffix(".labels"), Path(s.model).with_suffix(".labels.txt")):
        if side.is_file():
            names = [ln.strip() for ln in side.read_text(encoding="utf-8").splitlines() if ln.strip()]
            if names:
                return names, f"file {side}"
    return None, ""


def _imgsz(meta: dict[str, str]) -> tuple[int, int] | None:
    try:
        val = ast.literal_eval(meta.get("imgsz", ""))
    except (ValueError, SyntaxError):
        return None
    if isinstance(val, int):
        return (val, val)
    if isinstance(val, (list, tuple)) and len(val) == 2 and all(isinstance(v, int) for v in val):
        return (int(val[0]), int(val[1]))
    return None


def make_spec(s: DetectorSettings, shape: list[int | str | None], type_: str, meta: dict[str, str]) -> PreprocessSpec:
    """The preprocessing for an input of ``shape`` / ``type_``, config values overriding what the model says."""
    p = s.preprocess
    if len(shape) != 4:
        raise ModelError(
            f"detector.model: the model's input has shape {shape}; only image inputs [1, C, H, W] or [1, H, W, C] "
            "are supported"
        )
    if type_ not in DTYPES:
        raise ModelError(f"detector.model: input type {type_} is not supported (float32, float16 or uint8 inputs only)")
    model_dtype = np.dtype(DTYPES[type_])
    if p.dtype != "auto" and np.dtype(p.dtype) != model_dtype:
        raise ModelError(
            f"detector.preprocess.dtype: {p.dtype} but the model's input is {model_dtype.name}; set it to auto"
        )
    layout = p.layout
    if layout == "auto":
        layout = "nhwc" if shape[3] in (1, 3) and shape[1] not in (1, 3) else "nchw"
    c = shape[1] if layout == "nchw" else shape[3]
    hw = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    channels = c if isinstance(c, int) and c in (1, 3) else 3
    fixed = (hw[0], hw[1]) if isinstance(hw[0], int) and isinstance(hw[1], int) and hw[0] > 0 and hw[1] > 0 else None
    size: tuple[int, int] | None = fixed
    if p.input_size:
        if len(p.input_size) != 2 or min(p.input_size) <= 0:
            raise ModelError(f"detector.preprocess.input_size: {p.input_size} is not [height, width]")
        want = (p.input_size[0], p.input_size[1])
        if fixed and want != fixed:
            raise ModelError(
                f"detector.preprocess.input_size: {list(want)} but the model's input is fixed at {list(fixed)}; "
                "leave input_size empty"
            )
        size = want
    size = size or _imgsz(meta)
    try:
        stride = int(meta.get("stride", p.stride))
    except ValueError:
        stride = p.stride
    scale = p.scale if p.scale >= 0 else (1.0 if model_dtype == np.uint8 else 1.0 / 255.0)
    mean, std = _per_channel("mean", p.mean, channels), _per_channel("std", p.std, channels)
    return PreprocessSpec(
        layout=layout,
        size=size,
        rgb=p.channel_order != "bgr",
        scale=scale,
        mean=mean,
        std=std,
        letterbox=p.resize == "letterbox",
        pad_value=p.pad_value,
        dtype=model_dtype,
        channels=channels,
        stride=stride,
    )


def _per_channel(key: str, values: list[float], channels: int) -> tuple[float, float, float]:
    """``detector.preprocess.<key>`` as three values: one per model input channel, or one for all (a 1-channel
    model also takes three equal values, the defaults' form); ModelError for any other length."""
    v = [float(x) for x in values]
    if len(v) == 1 or (channels == 1 and len(v) == 3 and len(set(v)) == 1):
        return (v[0], v[0], v[0])
    if len(v) == channels == 3:
        return (v[0], v[1], v[2])
    raise ModelError(
        f"detector.preprocess.{key}: {len(v)} values but the model's input has {channels} channel"
        f"{'s' if channels > 1 else ''}; give one value per channel, or one for all"
    )


def _is_ultralytics(meta: dict[str, str]) -> bool:
    return "imgsz" in meta and ("stride" in meta or "task" in meta)


def preprocess_sources(s: DetectorSettings, shape: list[int | str | None], meta: dict[str, str]) -> dict[str, str]:
    """Where each preprocessing value comes from: "config", "model: <what>" or "guess: <what>"; a model carries
    only its input's shape and type, so channel order, scale, mean/std and resizing are conventions unless the
    model says which exporter made it (Ultralytics metadata)."""
    p = s.preprocess
    known = "model: Ultralytics export convention" if _is_ultralytics(meta) else ""
    shaped = all(isinstance(d, int) and d > 0 for d in shape[1:]) if len(shape) == 4 else False
    size = "model: input shape" if shaped else "model: imgsz metadata" if "imgsz" in meta else "guess: up to 640x640"
    out = {
        "layout": "config" if p.layout != "auto" else "model: input shape",
        "size": "config" if p.input_size else size,
        "dtype": "model: input type",
        "channel_order": "config" if p.channel_order != "auto" else known or "guess: RGB",
        "scale": "config" if p.scale >= 0 else known or "guess: 1/255 for float inputs, 1 for uint8",
        "mean_std": "config" if (list(p.mean), list(p.std)) != ([0.0] * 3, [1.0] * 3) else known or "guess: none",
        "resize": "config" if "resize" in p.model_fields_set else known or "guess: letterbox",
    }
    return out


def _class_count(layout: str, shapes: list[tuple[int, ...]]) -> int | None:
    rank3 = [s for s in shapes if len(s) == 3]
    if layout == "yolov8" and rank3:
        return rank3[0][1] - 4
    if layout in ("yolov5", "yolox") and rank3:
        return rank3[0][2] - 5
    if layout == "rtdetr" and rank3:
        return rank3[0][2] - 4
    if layout == "ssd" and (roles := ssd_roles(shapes)):
        return shapes[roles["scores"]][2]
    return None


def _roles(layout: str, names: list[str], shapes: list[tuple[int, ...]]) -> dict[str, int]:
    if layout == "tf":
        return tf_roles(names)
    if layout == "ssd":
        return ssd_roles(shapes)
    return {"output": next(i for i, sh in enumerate(shapes) if len(sh) == 3)}


def _anchors(s: DetectorSettings, rows: int) -> np.ndarray | None:
    """The ssd anchors of ``s.anchors.file`` as (rows, 4) float32 cx, cy, w, h; None when not configured."""
    a = s.anchors
    if not a.file:
        return None
    path = Path(a.file) if Path(a.file).is_absolute() else Path(s.model).parent / a.file
    try:
        arr = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as err:
        raise ModelError(f"detector.anchors.file: cannot read {path}: {err}") from None
    arr = np.asarray(arr, np.float32).reshape(-1, 4) if np.size(arr) % 4 == 0 else np.asarray(arr)
    if arr.ndim != 2 or arr.shape != (rows, 4) or not np.isfinite(arr).all():
        raise ModelError(
            f"detector.anchors.file: {path} holds an array of shape {list(np.shape(arr))}; the model's box output "
            f"needs [{rows}, 4] finite rows"
        )
    return arr[:, [1, 0, 3, 2]].copy() if a.order == "yxhw" else arr


def _background(s: DetectorSettings, labels: list[str] | None, columns: int) -> bool:
    if s.anchors.background != "auto":
        return s.anchors.background == "yes"
    if not labels:
        return False
    return columns == len(labels) + 1 or labels[0].strip("_ ").lower() in ("background", "bg")


def load_model(s: DetectorSettings) -> tuple[ort.InferenceSession, ModelInfo]:
    """Open ``s.model`` and work out labels, layout and preprocessing; raise ModelError naming the config key."""
    sess = _open(s)
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ModelError(
            f"detector.model: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
            "only models with one image input are supported"
        )
    inp = inputs[0]
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    spec = make_spec(s, list(inp.shape), inp.type, meta)
    sources = preprocess_sources(s, list(inp.shape), meta)
    guessed = [k for k, v in sources.items() if v.startswith("guess")]
    if guessed:
        log.warning(
            "detector: the model does not say its %s; using %s (check the model's documentation and set "
            "detector.preprocess: `edge model inspect` lists what is guessed)",
            ", ".join(guessed),
            spec.describe(),
        )
    h, w = spec.size or spec.max_size
    probe_shape = (1, spec.channels, h, w) if spec.layout == "nchw" else (1, h, w, spec.channels)
    names = [o.name for o in sess.get_outputs()]
    try:
        outs = sess.run(None, {inp.name: np.zeros(probe_shape, spec.dtype)})
    except Exception as err:
        raise ModelError(
            f"detector.preprocess: the model rejects a {spec.describe()} input {probe_shape} "
            f"({str(err).splitlines()[0][:200]}); set detector.preprocess.layout / input_size to match the model"
        ) from None
    shapes = [tuple(np.asarray(o).shape) for o in outs]
    labels, labels_source = _labels(s, meta)
    nc = len(labels) if labels else None
    layout: str = s.layout
    layout_source = "config detector.layout"
    try:
        if layout == "auto":
            layout_source = "recognised from outputs and metadata"
            layout = recognise(names, shapes, meta, nc)
        elif layout == "tf" and not tf_roles(names):
            raise LayoutError(f"output names {names} do not name boxes, scores and classes")
        elif layout != "tf" and not fits(layout, shapes):
            raise LayoutError(f"output shapes {shapes} do not fit the {layout} layout")
    except LayoutError as err:
        hint = f"; detector.labels / the model's names give {nc} classes" if nc is not None else ""
        raise ModelError(
            f"detector.layout: cannot decode outputs {dict(zip(names, shapes, strict=False))}: {err}{hint}; set detector.layout "
            f"to one of {', '.join(LAYOUTS)} (and detector.labels to the model's classes)"
        ) from None
    roles = _roles(layout, names, shapes)
    anchors: np.ndarray | None = None
    background = False
    if layout == "ssd":
        boxes_shape, scores_shape = shapes[roles["boxes"]], shapes[roles["scores"]]
        anchors = _anchors(s, boxes_shape[1])
        background = _background(s, labels, scores_shape[2])
        if labels and len(labels) == scores_shape[2] and background:
            labels = labels[1:]  # the background's name goes with its column
    if labels is None:
        count = max((_class_count(layout, shapes) or 1) - background, 1)
        labels, labels_source = [f"class{i}" for i in range(count)], "none found (generic names)"
    model_spec, conversion = spec, "in Python (detector.fuse_input is off)"
    if s.fuse_input:
        try:
            sess, spec, conversion = _fused(s, sess, inp.name, spec)
        except CannotFuse as why:
            conversion = f"in Python: {why}"
            log.info("detector: frame conversion stays in Python: %s", why)
    return sess, ModelInfo(
        path=s.model,
        provider=sess.get_providers()[0],
        input_name=inp.name,
        input_shape=list(inp.shape),
        input_type=inp.type,
        outputs=[(o.name, list(o.shape), o.type) for o in sess.get_outputs()],
        output_shapes=shapes,
        metadata=meta,
        labels=labels,
        labels_source=labels_source,
        layout=layout,
        layout_source=layout_source,
        model_spec=model_spec,
        spec=spec,
        conversion=conversion,
        sources=sources,
        roles=roles,
        anchors=anchors,
        background=background,
    )


def _open(s: DetectorSettings, model: bytes | None = None) -> ort.InferenceSession:
    return open_session(
        s.model, s.providers, s.intra_op_threads, s.inter_op_threads, s.spin_wait, s.spin_between_runs, model
    )


def _fused(
    s: DetectorSettings, plain: ort.InferenceSession, name: str, spec: PreprocessSpec
) -> tuple[ort.InferenceSession, PreprocessSpec, str]:
    """(session, spec, description) of the model with its input conversion in the graph; raises CannotFuse, also
    when onnxruntime rejects the changed graph or it answers a test frame otherwise than the unchanged model."""
    model, convs = fuse_input(s.model, name, spec)
    try:
        sess = _open(s, model)
    except ModelError as err:
        raise CannotFuse(f"onnxruntime rejects the changed graph ({err})") from None
    new_spec = fused_spec(spec)
    h, w = spec.size or spec.max_size
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    want = plain.run(None, {name: preprocess(frame, spec, s.thermal)[0]})
    try:
        got = sess.run(None, {name: preprocess(frame, new_spec, s.thermal)[0]})
    except Exception as err:  # onnxruntime raises several unrelated types
        raise CannotFuse(f"the changed graph fails on a test frame ({str(err).splitlines()[0][:200]})") from None
    # an int8 (QDQ) model rounds each activation to its grid: the fold's float rounding moves a few values by one step,
    # and the step propagates, so it is held to the mean difference (a wrong fold moves it by percents)
    quantized = b"DequantizeLinear" in model
    for a, b in zip(want, got, strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        top = max(float(np.abs(a).max()), 1.0)
        if a.shape != b.shape:
            same = False
        elif quantized:
            same = float(np.abs(a - b).mean()) <= 1e-3 * top
        else:
            same = np.allclose(a, b, rtol=1e-4, atol=1e-4 * top)
        if not same:
            raise CannotFuse("the changed graph answers a test frame otherwise than the model")
    what = "scale and RGB order" if spec.rgb and spec.channels == 3 else "scale"
    return (
        sess,
        new_spec,
        (f"in the graph (frames go in as uint8 NHWC BGR; {what} folded into {convs} convolution{'s' * (convs > 1)})"),
    )


def check_classes(s: DetectorSettings, names: list[str]) -> None:
    """ModelError when detector.classes or detector.class_thresholds name a class the model does not have."""
    for key, given in (("classes", list(s.classes)), ("class_thresholds", list(s.class_thresholds))):
        unknown = [c for c in given if c not in names]
        if unknown:
            raise ModelError(f"detector.{key}: {unknown} are not classes of this model ({names})")


def check_model(s: DetectorSettings) -> ModelInfo:
    """What ``load_model`` refuses for ``s``, checked on the CPU without folding the input conversion (the same
    reading of the model, labels, layout and preprocessing, without a GPU session or engine build)."""
    _, info = load_model(s.model_copy(update={"providers": ["CPUExecutionProvider"], "fuse_input": False}))
    check_classes(s, info.labels)
    return info
