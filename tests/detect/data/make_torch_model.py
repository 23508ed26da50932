"""Export tiny_grid_yolov8.onnx: a small PyTorch detector with YOLOv8 output layout [1, 4 + 2, 100].

Run once with a torch environment (torch is never a runtime dependency of edge):
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 onnx
    /tmp/torchvenv/bin/python tests/detect/data/make_torch_model.py

The network is real PyTorch (Conv2d, sigmoid, concat over a registered anchor grid) with hand-set weights:
input [1, 3, 320, 320] RGB scaled 1/255; a 32x32-pixel stride-32 convolution scores each grid cell for
class 0 "red" (mean R - G - B) and class 1 "blue" (mean B - R - G); each cell's box is the cell itself.
So a pure red square exactly covering one cell gives a box equal to that cell. Ultralytics-style metadata
(names as a python-dict string, imgsz, stride) is added to the file, as Ultralytics exports do.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from torch import nn

STRIDE, SIZE = 32, 320


class TinyGrid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Conv2d(3, 2, kernel_size=STRIDE, stride=STRIDE)
        k = 12.0 / (STRIDE * STRIDE)
        with torch.no_grad():
            self.score.weight.zero_()
            self.score.weight[0, 0], self.score.weight[0, 1], self.score.weight[0, 2] = k, -k, -k  # red
            self.score.weight[1, 2], self.score.weight[1, 0], self.score.weight[1, 1] = k, -k, -k  # blue
            self.score.bias.fill_(-6.0)
        g = SIZE // STRIDE
        ys, xs = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        cx = (xs.reshape(-1).float() + 0.5) * STRIDE
        cy = (ys.reshape(-1).float() + 0.5) * STRIDE
        wh = torch.full_like(cx, float(STRIDE))
        self.register_buffer("boxes", torch.stack([cx, cy, wh, wh])[None])  # [1, 4, 100]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.score(images)).flatten(2)  # [1, 2, 100]
        return torch.cat([self.boxes.expand(images.shape[0], -1, -1), scores], dim=1)  # [1, 6, 100]


def main() -> None:
    out = Path(__file__).with_name("tiny_grid_yolov8.onnx")
    model = TinyGrid().eval()
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, SIZE, SIZE),),
        str(out),
        input_names=["images"],
        output_names=["output0"],
        opset_version=17,
        dynamo=False,
    )
    m = onnx.load(str(out))
    meta = {
        "names": "{0: 'red', 1: 'blue'}",
        "imgsz": f"[{SIZE}, {SIZE}]",
        "stride": str(STRIDE),
        "task": "detect",
        "author": "edge tests (PyTorch export)",
    }
    for k, v in meta.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(m, str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes) with torch {torch.__version__}")


if __name__ == "__main__":
    main()
