"""``edge model inspect FILE [--config FILE]``: what the model is and how the daemon will run it.

Exit 0 with a report; exit 2 with a message naming the config key for an unreadable or unsupported model.
"""

from __future__ import annotations

import argparse
import sys

from edge.detect.model import ModelInfo, load_model
from edge.detect.session import ModelError


def report(info: ModelInfo) -> str:
    """A human-readable description of ``info``."""

    def shape(s: list[int | str | None]) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in s) + "]"

    lines = [f"model:     {info.path}", f"provider:  {info.provider}"]
    lines.append(f"input:     {info.input_name} {shape(info.input_shape)} {info.input_type}")
    for (name, decl, type_), actual in zip(info.outputs, info.output_shapes, strict=True):
        lines.append(f"output:    {name} {shape(decl)} {type_} (probe run: {list(actual)})")
    lines.append(f"layout:    {info.layout} ({info.layout_source}); reads {info.reads()}")
    if info.layout == "yolov5":
        lines.append(
            "           (a raw YOLOX head, exported without decode_in_inference, looks the same: set detector.layout = yolox)"
        )
    if info.layout == "ssd":
        anchors = (
            f"{len(info.anchors)} anchors from detector.anchors.file" if info.anchors is not None else "no anchors"
        )
        lines.append(f"           ({anchors}; score column 0 {'is' if info.background else 'is not'} the background)")
    lines.append(f"labels:    {len(info.labels)} from {info.labels_source}: {', '.join(info.labels[:20])}")
    if len(info.labels) > 20:
        lines[-1] += f", ... ({len(info.labels) - 20} more)"
    lines.append(f"preprocess: {info.model_spec.describe()}")
    for aspect, source in info.sources.items():
        mark = (
            "  <- GUESSED: set detector.preprocess if the model wants otherwise" if source.startswith("guess") else ""
        )
        lines.append(f"           {aspect}: {source}{mark}")
    lines.append(f"conversion: {info.conversion}")
    for k in sorted(info.metadata):
        v = info.metadata[k].replace("\n", " ")
        lines.append(f"metadata:  {k} = {v[:100]}{'...' if len(v) > 100 else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="edge model inspect", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("model", help="ONNX file")
    p.add_argument("--config", help="daemon config whose [detector] overrides apply (its model path is ignored)")
    args = p.parse_args(argv)
    from edge.config import ConfigError, detector_settings

    try:
        settings = detector_settings(args.config, args.model).model_copy(update={"warmup_runs": 0})
    except ConfigError as err:
        print(f"edge model inspect: {err}", file=sys.stderr)
        return 2
    try:
        _, info = load_model(settings)
    except ModelError as err:
        print(f"edge model inspect: {err}", file=sys.stderr)
        return 2
    print(report(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
