"""The input conversion folded into the model graph: the session takes the camera's uint8 pixels as they are.

A float32 NCHW model whose image input feeds only convolutions with constant weights (every YOLO export does)
gets, in memory, a uint8 input in the camera's layout and channel order ([N, H, W, C], BGR), a Cast and a Transpose
in front, and those convolutions' weights scaled by the per-channel gain (scale / std) and reordered for BGR.
Exact: with no mean to subtract, a zero-padded border stays zero. The Python side is left with resizing or
letterboxing uint8 pixels, and a frame already at the input size goes in without a copy. Measured on 2 cores
(default model, 640x480): the Cast and Transpose add 0.24 ms to a 19 ms run, and the 0.55 ms float conversion
between runs is gone. Models that don't qualify keep the Python conversion; ``CannotFuse`` says why.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.detect.preprocess import PreprocessSpec, affine


class CannotFuse(Exception):
    """The model's input conversion can't be folded into its graph exactly; the message says why."""


def fused_spec(spec: PreprocessSpec) -> PreprocessSpec:
    """What the Python side still does for a fused model: resize/letterbox, uint8 NHWC in the camera's BGR order."""
    return dataclasses.replace(
        spec, layout="nhwc", rgb=False, scale=1.0, mean=(0.0,) * 3, std=(1.0,) * 3, dtype=np.dtype(np.uint8)
    )


def fuse_input(path: str, input_name: str, spec: PreprocessSpec) -> tuple[bytes, int]:
    """(the serialised model with a uint8 camera-layout input named ``input_name``, number of convolutions whose
    weights took the gain and channel order); raises CannotFuse."""
    if spec.dtype != np.float32:
        raise CannotFuse(f"the input is {spec.dtype.name}: the gain is folded into float32 weights only")
    if spec.layout != "nchw":
        raise CannotFuse("the input is NHWC: only NCHW inputs feed convolutions directly")
    gain, offset = affine(spec)
    if any(o != 0.0 for o in offset):
        raise CannotFuse("a mean is subtracted (detector.preprocess.mean): that can't be folded through zero padding")
    try:
        model = onnx.load(path)
    except Exception as err:  # protobuf and file errors of several types
        raise CannotFuse(f"the onnx package cannot read the file ({str(err).splitlines()[0][:200]})") from None
    graph = model.graph
    inp = next((i for i in graph.input if i.name == input_name), None)
    if inp is None or any(o.name == input_name for o in graph.output):
        raise CannotFuse(f"the input {input_name!r} is not a plain graph input")
    consumers = [n for n in graph.node if input_name in n.input]
    if not consumers:
        raise CannotFuse(f"no node of the main graph reads the input {input_name!r}")
    inits = {i.name: i for i in graph.initializer}
    overridable = {i.name for i in graph.input}
    for node in consumers:
        _check_conv(node, input_name, inits, overridable, spec.channels)
    order = [2, 1, 0] if spec.rgb and spec.channels == 3 else list(range(spec.channels))
    g = np.asarray(gain, np.float64)[None, :, None, None]
    nchw = f"{input_name}/nchw"
    folded: dict[str, str] = {}  # original weights -> folded copy (weights two convolutions share are folded once)
    for node in consumers:
        name = node.input[1]
        if name not in folded:
            w = (numpy_helper.to_array(inits[name]).astype(np.float64) * g)[:, order]
            folded[name] = f"{name}/fused_input"
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w, np.float32), folded[name]))
        node.input[0], node.input[1] = nchw, folded[name]
    used = {x for n in graph.node for x in n.input}
    for name in set(folded) - used:
        graph.initializer.remove(inits[name])
    dims = inp.type.tensor_type.shape.dim
    n, c, h, w_ = (_dim(d) for d in dims)
    graph.input.remove(inp)
    graph.input.insert(0, helper.make_tensor_value_info(input_name, TensorProto.UINT8, [n, h, w_, c]))
    front = [
        helper.make_node("Cast", [input_name], [f"{input_name}/float"], to=TensorProto.FLOAT, name="edge/cast"),
        helper.make_node("Transpose", [f"{input_name}/float"], [nchw], perm=[0, 3, 1, 2], name="edge/nchw"),
    ]
    for node in reversed(front):
        graph.node.insert(0, node)
    return model.SerializeToString(), len(consumers)


def _check_conv(
    node: onnx.NodeProto, name: str, inits: dict[str, onnx.TensorProto], overridable: set[str], channels: int
) -> None:
    """Raise CannotFuse unless ``node`` is a Conv taking ``name`` as its data input with constant weights over all
    ``channels`` (group 1)."""
    if node.op_type != "Conv" or node.input[0] != name or name in node.input[1:]:
        raise CannotFuse(f"the input feeds a {node.op_type} node ({node.name or '?'}), not only convolutions")
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    w = None if node.input[1] in overridable else inits.get(node.input[1])
    if w is None or group != 1 or len(w.dims) != 4 or w.dims[1] != channels:
        raise CannotFuse(
            f"convolution {node.name or '?'} has no weights stored in the file over all {channels} input channels "
            "(an initializer, group 1)"
        )
    if w.data_type != TensorProto.FLOAT:
        raise CannotFuse(f"convolution {node.name or '?'} has weights that are not float32")


def _dim(d: onnx.TensorShapeProto.Dimension) -> int | str | None:
    if d.HasField("dim_value"):
        return int(d.dim_value)
    return d.dim_param or None
