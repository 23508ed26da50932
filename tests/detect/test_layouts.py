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


def test_rtdetr_normalised_cxcywh_sigmoid_scores(make_const: MakeModel) -> None:
    out = np.zeros((1, 300, 7), np.float32)  # [1, K, 4 + 3]
    out[0, 0] = [0.5, 0.5, 100 / 640, 50 / 640, 0.1, 0.9, 0.2]  # model 270,295,370,345 -> 540,310,740,410
    out[0, 1] = [0.2, 0.2, 0.1, 0.1, 0.3, 0.2, 0.1]  # below threshold
    meta = {"names": NAMES3, "imgsz": "[640, 640]", "description": "Ultralytics RT-DETR-l model trained on x.yaml"}
    det = detector(make_const({"output0": out}, metadata=meta))
    assert det.info.layout == "rtdetr" and det.info.layout_source.startswith("recognised")
    d = det.detect(frame(1280, 720))
    assert len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], [540, 310, 740, 410], atol=1.0)
    assert d.class_id[0] == 1 and d.score[0] == pytest.approx(0.9)


def test_rtdetr_recognised_by_class_count_without_description(make_const: MakeModel) -> None:
    out = np.zeros((1, 300, 84), np.float32)  # 80 classes: [1, 300, 4 + 80]
    det = detector(make_const({"output0": out}), labels=[f"c{i}" for i in range(80)])
    assert det.info.layout == "rtdetr"


def test_yolox_raw_head_grid_decoded(make_const: MakeModel) -> None:
    # input 64 x 64: strides 8, 16, 32 give 8x8 + 4x4 + 2x2 = 84 anchor points; frame 128 x 128 -> r = 0.5, no pad
    out = np.zeros((1, 84, 7), np.float32)  # [1, N, 5 + 2]
    # point 64 + 1*4 + 2 = 70: stride 16, cell (x 2, y 1). cx = (0.5 + 2) * 16 = 40, cy = (0.25 + 1) * 16 = 20,
    # w = 1.5 * 16 = 24, h = 0.5 * 16 = 8 -> model 28,16,52,24 -> frame 56,32,104,48; score 0.9 * 1.0, class 1
    out[0, 70] = [0.5, 0.25, np.log(1.5), np.log(0.5), 0.9, 0.2, 1.0]
    out[0, 3] = [0, 0, 0, 0, 0.3, 1.0, 1.0]  # objectness below threshold
    det = detector(make_const({"output": out}, input_shape=(1, 3, 64, 64)), layout="yolox", labels=["a", "b"])
    assert det.info.layout == "yolox" and det.info.reads() == "output"
    d = det.detect(frame(128, 128))
    assert len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], [56, 32, 104, 48], atol=1.0)
    assert d.class_id[0] == 1 and d.score[0] == pytest.approx(0.9)


def test_yolox_anchor_count_must_match_the_input(make_const: MakeModel) -> None:
    out = np.zeros((1, 80, 7), np.float32)  # 80 != 84 anchor points of a 64 x 64 input
    det = detector(make_const({"output": out}, input_shape=(1, 3, 64, 64)), layout="yolox")
    with pytest.raises(ValueError, match="84"):
        det.detect(frame(64, 64))


def test_ssd_corner_boxes_with_background_column(make_const: MakeModel) -> None:
    boxes = np.zeros((1, 50, 4), np.float32)
    scores = np.zeros((1, 50, 3), np.float32)  # softmax over background, person, car
    scores[0, :, 0] = 1.0
    boxes[0, 0] = [270 / 640, 295 / 640, 370 / 640, 345 / 640]  # -> 540,310,740,410
    scores[0, 0] = [0.05, 0.1, 0.85]
    det = detector(make_const({"scores": scores, "boxes": boxes}), labels=["BACKGROUND", "person", "car"])
    assert det.info.layout == "ssd" and det.info.background
    assert det.class_names == ["person", "car"] and det.info.reads() == "boxes = boxes, scores = scores"
    d = det.detect(frame(1280, 720))
    assert len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], [540, 310, 740, 410], atol=1.0)
    assert det.class_names[d.class_id[0]] == "car" and d.score[0] == pytest.approx(0.85)


def test_ssd_offsets_from_tf_ordered_anchors(make_const: MakeModel, tmp_path: Path) -> None:
    # anchor (cy .5, cx .5, h .1, w .2); offsets (ty 1, tx -2, th 0, tw 5 ln 2) with TF's scales 10, 10, 5, 5:
    # cy = .5 + 1 * .1 * .1 = .51, cx = .5 - 2 * .1 * .2 = .46, h = .1, w = .2 * 2 = .4 -> x .26-.66, y .46-.56
    # model px (640): 166.4, 294.4, 422.4, 358.4 -> frame 1280x720 (r .5, pad top 140): 332.8, 308.8, 844.8, 436.8
    n = 10
    anchors = np.tile(np.asarray([0.5, 0.5, 0.1, 0.2], np.float32), (n, 1))
    np.save(tmp_path / "anchors.npy", anchors)
    boxes = np.zeros((1, n, 4), np.float32)
    boxes[0, 4] = [1.0, -2.0, 0.0, 5 * np.log(2.0)]
    scores = np.zeros((1, n, 2), np.float32)
    scores[0, 4] = [0.2, 0.7]
    model = make_const({"box_encodings": boxes, "class_predictions": scores})
    det = detector(model, labels=["person", "car"], anchors={"file": str(tmp_path / "anchors.npy"), "order": "yxhw"})
    assert det.info.layout == "ssd" and not det.info.background
    d = det.detect(frame(1280, 720))
    assert len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], [332.8, 308.8, 844.8, 436.8], atol=1.0)
    assert d.class_id[0] == 1


def test_ssd_anchor_file_of_the_wrong_shape_names_the_key(make_const: MakeModel, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("0.5 0.5 0.1 0.1\n" * 3)
    model = make_const({"boxes": np.zeros((1, 10, 4), np.float32), "scores": np.zeros((1, 10, 2), np.float32)})
    with pytest.raises(ModelError, match=r"detector\.anchors\.file: .*\[10, 4\]"):
        detector(model, anchors={"file": str(tmp_path / "a.txt")})
