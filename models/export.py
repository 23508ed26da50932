"""Export the trained network to ONNX (opset 17) in the YOLOv8 layout with Ultralytics-style metadata.

Output ``output0`` is (1, 4 + nc, N): box centre x, centre y, width, height in input pixels, then per-class
scores after a sigmoid; input ``images`` is (1, 3, H, W) float32 RGB in [0, 1], letterboxed with grey 114.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import onnx
import torch
from detnet import DetNet, ExportWrapper

OPSET = 17


def names_literal(names: list[str]) -> str:
    """Class names as Ultralytics writes them: ``{0: 'person', 1: 'vehicle'}``."""
    return "{" + ", ".join(f"{i}: {n!r}" for i, n in enumerate(names)) + "}"


def export_onnx(net: DetNet, path: Path, size: tuple[int, int], names: list[str], description: str) -> None:
    """Write ``net`` to ``path`` for a fixed (H, W) input, BatchNorm folded, with metadata and a labels file."""
    net = net.eval()
    wrapper = ExportWrapper(net, *size).eval()
    dummy = torch.zeros(1, 3, *size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(tmp),
            input_names=["images"],
            output_names=["output0"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load(str(tmp))
    tmp.unlink()
    meta = {
        "description": description,
        "author": "edge models/train.py",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "version": "edge-default-1",
        "task": "detect",
        "batch": "1",
        "stride": "32",
        "imgsz": f"[{size[0]}, {size[1]}]",
        "names": names_literal(names),
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    model.producer_name = "edge-models-train"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    path.with_name(path.name.removesuffix(".onnx") + ".labels.txt").write_text("\n".join(names) + "\n")
