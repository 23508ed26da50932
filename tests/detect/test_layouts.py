"""Each output layout on ONNX graphs with known outputs: boxes match hand-worked original-image pixels (1 px)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.detect.engine import ModelError, OnnxDetector
from edge.detect.settings import DetectorSettings
from edge.types import Frame

MakeModel = Callable[..., Path]
NAMES3 = "{0: 'person', 1: 'vehicle', 2: 'boat'}"


def frame(w: int, h: int, bgr: tuple[int, int, int] = (0, 0, 0)) -> Frame:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bgr
    return Frame(img, 1.0, 1.0, 1)


def detector(model: Path, **kw: object) -> OnnxDetector:
    return OnnxDetector(DetectorSettings(model=str(model), providers=["cpu"], warmup_runs=1, **kw))


def test_yolov8_with_ultralytics_metadata_and_letterbox(make_const: MakeModel) -> None:
    # [1, 4 + 3, 3]: columns are anchors. Frame 1280x720 -> 640x640: r = 0.5, resized 640x360, pad top 140.
    out = np.zeros((1, 7, 3), np.float32)
    out[0, :, 0] = [320, 320, 100, 50, 0.9, 0.1, 0.0]  # model xyxy 270,295,370,345 -> 540,310,740,410
    out[0, :, 1] = [500, 500, 20, 20, 0.2, 0.2, 0.2]  # below threshold
    out[0, :, 2] = [100, 200, 40, 40, 0.0, 0.0, 0.8]  # model 80,180,120,220 -> 160,80,240,160
    meta = {"names": NAMES3, "imgsz": "[640, 640]", "stride": "32", "task": "detect"}
    det = detector(make_const({"output0": out}, input_shape=(1, 3, "height", "width"), metadata=meta))
    assert det.info.layout == "yolov8"
    assert det.class_names == ["person", "vehicle", "boat"]
    assert det.info.spec.size == (640, 640)
    d = det.detect(frame(1280, 720))
    order = np.argsort(d.class_id)
    np.testing.assert_allclose(d.xyxy[order], [[540, 310, 740, 410], [160, 80, 240, 160]], atol=1.0)
    np.testing.assert_allclose(d.score[order], [0.9, 0.8], atol=1e-6)
    assert list(d.class_id[order]) == [0, 2]


def test_yolov5_objectness_times_class(make_const: MakeModel) -> None:
    out = np.zeros((1, 20, 7), np.float32)  # [1, N, 5 + 2]
    out[0, 0] = [320, 320, 100, 50, 0.8, 0.25, 1.0]  # score 0.8, class 1
    out[0, 1] = [320, 100, 100, 50, 0.9, 0.3, 0.2]  # 0.9 * 0.3 = 0.27 < 0.35: dropped
    det = detector(make_const({"output0": out}), labels=["a", "b"])
    assert det.info.layout == "yolov5"
    d = det.detect(frame(1280, 720))
    assert len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], [540, 310, 740, 410], atol=1.0)
    assert d.score[0] == pytest.approx(0.8) and d.class_id[0] == 1


def test_end2end_xyxy_score_class(make_const: MakeModel) -> None:
    out = np.zeros((1, 10, 6), np.float32)  # [1, K, 6]
    out[0, 0] = [270, 295, 370, 345, 0.7, 2]
    out[0, 1] = [0, 0, 64, 64, 0.1, 0]
    det = detector(make_const({"output0": out}))
    assert det.info.layout == "end2end"
    d = det.detect(frame(1280, 720))
    assert len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], [540, 310, 740, 410], atol=1.0)
    assert d.class_id[0] == 2 and len(det.class_names) == 3  # generic names grown to cover class 2


def test_tf_boxes_scores_classes_count_nhwc_uint8_stretch(make_const: MakeModel) -> None:
    outs = {
        "detection_boxes": np.asarray([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 0.1, 0.1], [0.3, 0.3, 0.9, 0.9]]]),
        "detection_scores": np.asarray([[0.9, 0.2, 0.95]]),  # third is beyond num_detections
        "detection_classes": np.asarray([[1.0, 1.0, 1.0]]),
        "num_detections": np.asarray([2.0]),
    }
    model = make_const(outs, input_shape=(1, 300, 300, 3), input_dtype=np.uint8)
    det = detector(model, preprocess={"resize": "stretch"}, labels=["bg", "person"])
    assert det.info.layout == "tf" and det.info.spec.layout == "nhwc" and det.info.spec.scale == 1.0
    d = det.detect(frame(640, 480))
    # stretch: sx = 300/640, sy = 300/480; x1 = 0.2*300/sx = 128, y1 = 0.1*300/sy = 48, x2 = 384, y2 = 240
    assert len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], [128, 48, 384, 240], atol=1.0)
    assert d.class_id[0] == 1


def test_layout_override_checked(make_const: MakeModel) -> None:
    out = np.zeros((1, 7, 100), np.float32)
    with pytest.raises(ModelError, match=r"detector\.layout"):
        detector(make_const({"output0": out}), layout="yolov5")
    assert detector(make_const({"output0": out}), layout="yolov8").info.layout == "yolov8"


def test_labels_disagreeing_with_outputs_name_the_keys(make_const: MakeModel) -> None:
    out = np.zeros((1, 7, 100), np.float32)  # 3 classes
    with pytest.raises(ModelError, match=r"detector\.labels"):
        detector(make_const({"output0": out}), labels=["a", "b", "c", "d"])


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("missing", r"detector\.model: no model file"),
        ("garbage", r"detector\.model: .* is not a usable ONNX model"),
        ("rank4", r"detector\.layout"),
        ("two_inputs", r"detector\.model: the model has 2 inputs"),
        ("int_input", r"detector\.model: input type tensor\(int32\)"),
    ],
)
def test_bad_models_raise_model_error_naming_the_key(
    tmp_path: Path, make_const: MakeModel, case: str, expect: str
) -> None:
    if case == "missing":
        path = tmp_path / "nope.onnx"
    elif case == "garbage":
        path = tmp_path / "garbage.onnx"
        path.write_bytes(b"this is not protobuf \x00\xff" * 10)
    elif case == "rank4":
        path = make_const({"out": np.zeros((1, 2, 2, 2), np.float32)})
    else:
        import onnx
        from onnx import TensorProto, helper

        if case == "two_inputs":
            inputs = [
                helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3, 8, 8]),
                helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 8, 8]),
            ]
            node = helper.make_node("Add", ["a", "b"], ["out"])
            out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])
        else:
            inputs = [helper.make_tensor_value_info("a", TensorProto.INT32, [1, 3, 8, 8])]
            node = helper.make_node("Identity", ["a"], ["out"])
            out = helper.make_tensor_value_info("out", TensorProto.INT32, [1, 3, 8, 8])
        model = helper.make_model(
            helper.make_graph([node], "g", inputs, [out]), opset_imports=[helper.make_opsetid("", 17)]
        )
        model.ir_version = 8
        path = tmp_path / f"{case}.onnx"
        onnx.save(model, str(path))
    with pytest.raises(ModelError, match=expect):
        detector(path)


@pytest.mark.parametrize("suffix", [".labels", ".labels.txt"])
def test_labels_from_a_file_next_to_the_model(make_const: MakeModel, suffix: str) -> None:
    model = make_const({"output0": np.zeros((1, 6, 50), np.float32)})
    model.with_suffix(suffix).write_text("car\n\ntruck\n")
    det = detector(model)
    assert det.class_names == ["car", "truck"] and det.info.labels_source.startswith("file ")
