"""A YOLOv8n-shaped ONNX model built with onnx.helper: the layers, channels and operators of an Ultralytics YOLOv8n
export (640 x 640 input, 80 classes, output [1, 84, 8400]) with random weights. For speed figures only
(``edge bench`` part int8): what a model costs depends on its shape, not on what it learnt.

Conv = Conv2d (BatchNorm folded into its bias) + SiLU (Sigmoid, Mul), as the export writes it; C2f, SPPF, the
feature pyramid and the Detect head with its DFL box decoding as in Ultralytics' yolov8.yaml at scale n
(width 0.25, depth 0.33).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NC = 80
REG_MAX = 16


class _Graph:
    """Nodes and initializers of the graph being built; each method returns its output tensor's name."""

    def __init__(self, seed: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self.n = 0

    def _name(self, op: str) -> str:
        self.n += 1
        return f"{op}_{self.n}"

    def const(self, arr: np.ndarray) -> str:
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self._name(op)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        ends = [self.const(np.array(v)) for v in ([start], [end], [axis])]
        return self.op("Slice", [x, *ends])

    def conv(self, x: str, c1: int, c2: int, k: int = 1, s: int = 1, act: bool = True) -> str:
        w = self.rng.normal(0, np.sqrt(2.0 / (c1 * k * k)), (c2, c1, k, k)).astype(np.float32)
        b = self.rng.normal(0, 0.1, c2).astype(np.float32)
        y = self.op("Conv", [x, self.const(w), self.const(b)], kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4)
        return self.op("Mul", [y, self.op("Sigmoid", [y])]) if act else y

    def c2f(self, x: str, c1: int, c2: int, n: int, shortcut: bool) -> str:
        c = c2 // 2
        y = self.conv(x, c1, 2 * c)
        parts = [self.slice(y, 0, c, 1), self.slice(y, c, 2 * c, 1)]
        for _ in range(n):
            z = self.conv(self.conv(parts[-1], c, c, 3), c, c, 3)
            parts.append(self.op("Add", [parts[-1], z]) if shortcut else z)
        return self.conv(self.op("Concat", parts, axis=1), (2 + n) * c, c2)

    def sppf(self, x: str, c1: int, c2: int) -> str:
        y = [self.conv(x, c1, c1 // 2)]
        for _ in range(3):
            y.append(self.op("MaxPool", [y[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2]))
        return self.conv(self.op("Concat", y, axis=1), 2 * c1, c2)

    def up(self, x: str) -> str:
        return self.op("Resize", [x, "", self.const(np.array([1, 1, 2, 2], np.float32))], mode="nearest")


def _anchors(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(anchor centres (1, 2, 8400) in cells, strides (1, 1, 8400)) for strides 8, 16, 32."""
    pts, strides = [], []
    for s in (8, 16, 32):
        gy, gx = np.mgrid[0 : size // s, 0 : size // s] + 0.5
        pts.append(np.stack([gx.ravel(), gy.ravel()]))
        strides.append(np.full(gx.size, s))
    return np.concatenate(pts, 1)[None].astype(np.float32), np.concatenate(strides)[None, None].astype(np.float32)


def build(path: Path, size: int = 640, seed: int = 0) -> Path:
    """Write the YOLOv8n-shaped model to ``path`` (input ``images`` [1, 3, size, size], output [1, 84, N])."""
    g = _Graph(seed)
    x = g.conv(g.conv("images", 3, 16, 3, 2), 16, 32, 3, 2)
    x = g.c2f(x, 32, 32, 1, True)
    p3 = g.c2f(g.conv(x, 32, 64, 3, 2), 64, 64, 2, True)
    p4 = g.c2f(g.conv(p3, 64, 128, 3, 2), 128, 128, 2, True)
    p5 = g.sppf(g.c2f(g.conv(p4, 128, 256, 3, 2), 256, 256, 1, True), 256, 256)
    h4 = g.c2f(g.op("Concat", [g.up(p5), p4], axis=1), 384, 128, 1, False)
    o3 = g.c2f(g.op("Concat", [g.up(h4), p3], axis=1), 192, 64, 1, False)
    o4 = g.c2f(g.op("Concat", [g.conv(o3, 64, 64, 3, 2), h4], axis=1), 192, 128, 1, False)
    o5 = g.c2f(g.op("Concat", [g.conv(o4, 128, 128, 3, 2), p5], axis=1), 384, 256, 1, False)
    levels = []
    for feat, ch in ((o3, 64), (o4, 128), (o5, 256)):
        box = g.conv(g.conv(g.conv(feat, ch, 64, 3), 64, 64, 3), 64, 4 * REG_MAX, act=False)
        cls = g.conv(g.conv(g.conv(feat, ch, 80, 3), 80, 80, 3), 80, NC, act=False)
        levels.append(
            g.op("Reshape", [g.op("Concat", [box, cls], axis=1), g.const(np.array([1, 4 * REG_MAX + NC, -1]))])
        )
    allp = g.op("Concat", levels, axis=2)
    box, cls = (g.slice(allp, a, b, 1) for a, b in ((0, 4 * REG_MAX), (4 * REG_MAX, 4 * REG_MAX + NC)))
    # DFL: softmax over 16 bins per side, expectation by a 1x1 convolution with weights 0..15
    d = g.op("Transpose", [g.op("Reshape", [box, g.const(np.array([1, 4, REG_MAX, -1]))])], perm=[0, 2, 1, 3])
    d = g.op(
        "Conv", [g.op("Softmax", [d], axis=1), g.const(np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1))]
    )
    dist = g.op("Reshape", [d, g.const(np.array([1, 4, -1]))])
    anchors, strides = _anchors(size)
    lt, rb = g.slice(dist, 0, 2, 1), g.slice(dist, 2, 4, 1)
    a = g.const(anchors)
    x1y1, x2y2 = g.op("Sub", [a, lt]), g.op("Add", [a, rb])
    cxcy = g.op("Div", [g.op("Add", [x1y1, x2y2]), g.const(np.array(2.0, np.float32))])
    xywh = g.op("Concat", [cxcy, g.op("Sub", [x2y2, x1y1])], axis=1)
    out = g.op("Concat", [g.op("Mul", [xywh, g.const(strides)]), g.op("Sigmoid", [cls])], axis=1)
    g.nodes.append(helper.make_node("Identity", [out], ["output0"], name="output0"))
    graph = helper.make_graph(
        g.nodes,
        "yolov8n_shape",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + NC, None])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    names = "{" + ", ".join(f"{i}: 'class{i}'" for i in range(NC)) + "}"
    for k, v in {"names": names, "imgsz": f"[{size}, {size}]", "stride": "32", "task": "detect"}.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
