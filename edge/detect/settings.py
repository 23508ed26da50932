"""Config section of the detector, ``[detector]`` and its sub-tables. (Owned by the vision work.)"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from edge.settings_base import FilePath, Section

DEFAULT_PROVIDERS = [
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
]


Point = Annotated[list[float], Field(min_length=2, max_length=2)]  # [x, y] in pixels
MAX_THREADS = 64  # thread counts above this are typing errors: onnxruntime would start them all, per session


class PreprocessSettings(Section):
    """How a frame becomes the model's input tensor; "auto" values are read from the model."""

    layout: Literal["auto", "nchw", "nhwc"] = Field(
        "auto", title="Tensor layout", description="auto: NHWC when the input's last dimension is 1 or 3."
    )
    channel_order: Literal["auto", "rgb", "bgr"] = Field(
        "auto", title="Channel order", description="auto: RGB (what Ultralytics, torchvision and TF models expect)."
    )
    scale: float = Field(
        -1.0,
        title="Pixel scale",
        description="Multiply 0..255 pixels by this (1/255 = 0.00392156...); -1 = auto: 1/255 for float inputs, "
        "1 for uint8 inputs.",
    )
    mean: list[float] = Field(
        [0.0, 0.0, 0.0],
        title="Mean",
        description="Subtracted per channel after scaling (model input units); one value per model input channel, "
        "or one for all.",
    )
    std: list[Annotated[float, Field(gt=0)]] = Field(
        [1.0, 1.0, 1.0], title="Std", description="Divided per channel after the mean (each > 0)."
    )
    resize: Literal["letterbox", "stretch"] = Field(
        "letterbox", title="Resize", description="letterbox keeps the aspect ratio and pads; stretch does not."
    )
    pad_value: int = Field(114, title="Letterbox pad", description="Grey level (0..255) of the padding.", ge=0, le=255)
    input_size: list[Annotated[int, Field(ge=1)]] = Field(
        [],
        title="Input size",
        description="[height, width] in pixels; empty = from the model (fixed shape or Ultralytics imgsz), 640x640 "
        "when the model's input is dynamic.",
    )
    dtype: Literal["auto", "float32", "float16", "uint8"] = Field(
        "auto", title="Input dtype", description="auto: the model's input element type."
    )
    stride: int = Field(
        32, title="Stride", description="Dynamic-size inputs are rounded up to a multiple of this (pixels).", ge=1
    )

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: float) -> float:
        if v != -1 and v <= 0:
            raise ValueError("must be > 0, or -1 for auto")
        return v

    @field_validator("input_size")
    @classmethod
    def _size(cls, v: list[int]) -> list[int]:
        if v and len(v) != 2:
            raise ValueError(f"{v} is not [height, width]; leave it empty to take the model's")
        return v


class ThermalSettings(Section):
    """Mapping 16-bit (or single-channel) thermal frames to the model's input."""

    gain: Literal["percentile", "fixed", "none"] = Field(
        "percentile",
        title="Gain control",
        description="percentile: stretch [low_pct, high_pct] percentiles to 0..255; fixed: stretch [low, high] "
        "raw counts; none: raw >> 8 for 16-bit frames.",
    )
    low_pct: float = Field(1.0, title="Low percentile", ge=0.0, le=100.0)
    high_pct: float = Field(99.0, title="High percentile", ge=0.0, le=100.0)
    low: float = Field(0.0, title="Fixed low", description="Raw count mapped to 0 (gain = fixed).")
    high: float = Field(65535.0, title="Fixed high", description="Raw count mapped to 255 (gain = fixed).")


class TilingSettings(Section):
    """Tiled inference for small objects seen from altitude."""

    cols: int = Field(1, title="Tile columns", description="1 x 1 disables tiling.", ge=1, le=8)
    rows: int = Field(1, title="Tile rows", ge=1, le=8)
    overlap: float = Field(
        0.2, title="Tile overlap", description="Fraction of a tile shared with its neighbour.", ge=0.0, lt=0.9
    )
    full_frame: bool = Field(True, title="Full-frame pass", description="Also run on the whole frame (large objects).")


class GatingSettings(Section):
    """Skip inference while nothing moves relative to the ground (compensating the platform's own motion)."""

    enabled: bool = Field(False, title="Motion gating", description="Skip inference on static scenes.")
    width: int = Field(160, title="Analysis width", description="Frames are downscaled to this width (px).", ge=32)
    diff_threshold: int = Field(
        20, title="Pixel change", description="Grey-level change (0..255) that counts as motion.", ge=1, le=255
    )
    min_changed: float = Field(
        0.002,
        title="Changed fraction",
        description="Fraction of pixels that must change (after aligning the platform's motion) to run inference.",
        gt=0.0,
        lt=1.0,
    )
    slew_px: float = Field(
        8.0,
        title="Slew threshold",
        description="Platform motion since the last inference (px at analysis width) above which inference must run.",
        gt=0.0,
    )
    max_interval_s: float = Field(
        2.0, title="Max interval", description="Run at least this often (s) regardless.", gt=0.0
    )


class AnchorSettings(Section):
    """Anchor boxes of an SSD-style model whose box output is offsets from anchors (layout ssd)."""

    file: str = Field(
        "",
        title="Anchor file",
        description="Anchors as rows cx, cy, w, h (in the units of the box output, usually input fractions), one "
        "per box output row: a .npy array [N, 4] or a text file of 4 numbers a line (relative to the model's "
        "folder); empty = the box output is already x1, y1, x2, y2.",
    )
    variance: list[float] = Field(
        [0.1, 0.1, 0.2, 0.2],
        title="Box variance",
        description="dx, dy, dw, dh multipliers (TF's box-coder scale factors 10, 10, 5, 5 are 0.1, 0.1, 0.2, 0.2).",
        min_length=4,
        max_length=4,
    )
    order: Literal["xywh", "yxhw"] = Field(
        "xywh",
        title="Offset order",
        description="Order of the four offsets and of the anchor columns: xywh (pytorch-ssd) or yxhw (TF "
        "object detection).",
    )
    background: Literal["auto", "yes", "no"] = Field(
        "auto",
        title="Background column",
        description="Whether score column 0 is the background class; auto: yes when there is one more score "
        "column than class names, or the first name is 'background'.",
    )


class DetectorSettings(Section):
    """The ONNX detector."""

    model: FilePath = Field(
        "models/edge-default.onnx",
        title="Model path",
        description="ONNX file; like every file path here, relative to the config file's folder unless absolute.",
    )
    labels: list[str] = Field(
        [],
        title="Class names",
        description="Overrides the model's names; else the model's metadata ('names'), else a '<model>.labels' or "
        "'<model>.labels.txt' file next to it (one name a line), else class0, class1, ...",
    )
    layout: Literal["auto", "yolov5", "yolov8", "end2end", "tf", "rtdetr", "yolox", "ssd"] = Field(
        "auto",
        title="Output layout",
        description="yolov5 [1,N,5+nc]; yolov8 [1,4+nc,N] (also YOLO11); end2end [1,K,6] x1,y1,x2,y2,score,class "
        "(YOLOv10, YOLO26, NMS in the graph); tf: separate boxes/scores/classes/count outputs; rtdetr [1,K,4+nc] "
        "cx,cy,w,h fractions + sigmoid scores (Ultralytics RT-DETR); yolox: [1,N,5+nc] raw YOLOX head (exported "
        "without decode_in_inference; strides 8, 16, 32); ssd: boxes [1,N,4] + scores [1,N,C] (see "
        "detector.anchors). auto: recognised from outputs and metadata (a raw YOLOX head reads as yolov5: name it).",
    )
    boxes_normalized: Literal["auto", "yes", "no"] = Field(
        "auto",
        title="Normalised boxes",
        description="Whether output boxes are fractions of the input size; auto: yes for tf, else when all "
        "coordinates are <= 1.5.",
    )
    conf_threshold: float = Field(0.35, title="Confidence threshold", ge=0.0, le=1.0)
    class_thresholds: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        {},
        title="Per-class thresholds",
        description="Class name -> confidence threshold (0..1) overriding conf_threshold.",
    )
    classes: list[str] = Field([], title="Class allow-list", description="Only report these class names; empty = all.")
    iou_threshold: float = Field(0.5, title="NMS IoU", description="Class-aware NMS overlap threshold.", gt=0.0, le=1.0)
    agnostic_nms: bool = Field(
        False,
        title="Class-agnostic NMS",
        description="Let boxes of different classes suppress each other (one label per object).",
    )
    max_detections: int = Field(300, title="Max detections", description="Per frame, after NMS.", ge=1)
    min_box_px: float = Field(
        2.0, title="Minimum box size", description="Drop boxes narrower or shorter than this (original pixels).", ge=0.0
    )
    exclusion_masks: list[Annotated[list[Point], Field(min_length=3)]] = Field(
        [],
        title="Exclusion masks",
        description="Polygons [[x, y], ...] in original-image pixels; a detection whose bottom-centre falls inside "
        "one is dropped.",
    )
    providers: list[str] = Field(
        DEFAULT_PROVIDERS,
        title="Execution providers",
        description="onnxruntime providers in order of preference (short names like cuda, cpu work); unavailable "
        "ones are skipped and the one that runs is logged.",
    )
    intra_op_threads: int = Field(
        0, title="Intra-op threads", description="0 = onnxruntime default (one per core).", ge=0, le=MAX_THREADS
    )
    inter_op_threads: int = Field(
        0, title="Inter-op threads", description="0 = onnxruntime default.", ge=0, le=MAX_THREADS
    )
    spin_wait: bool = Field(
        True,
        title="Spin-wait threads",
        description="onnxruntime's worker threads busy-wait for work during a run (lower latency); false frees "
        "the CPU for the camera and other work on small boards.",
    )
    spin_between_runs: bool = Field(
        False,
        title="Spin between runs",
        description="Worker threads go on busy-waiting after a run returns; false (default) stops them at once, "
        "so decoding, tracking and the next frame's preprocessing get the cores between runs.",
    )
    opencv_threads: int = Field(
        1,
        title="OpenCV threads",
        description="Worker threads OpenCV may use for resizing and converting frames (process-wide); 1 (default) "
        "= none besides the caller: the model's threads already use every core, and OpenCV's busy-waiting workers "
        "only take cores from them (pipeline / raw 0.942 -> 0.950 on 2 cores); 0 = OpenCV's default (one per core).",
        ge=0,
    )
    fuse_input: bool = Field(
        True,
        title="Input conversion in the model",
        description="Fold the conversion of camera pixels to the model's float input (channel order, scale, layout) "
        "into the model graph, checked against the unchanged model at start: frames go in as uint8 without a "
        "per-frame float conversion in Python (pipeline / raw 0.938 -> 0.963, paired on 2 cores; on a GPU a quarter of "
        "the bytes to upload). Applies to float32 NCHW models whose input feeds only convolutions and that "
        "subtract no mean (every YOLO export); `edge model inspect` says whether a model qualifies and why not.",
    )
    warmup_runs: int = Field(2, title="Warm-up runs", description="Inferences on a blank input at start.", ge=0)
    preprocess: PreprocessSettings = Field(default_factory=PreprocessSettings, title="Preprocessing")
    anchors: AnchorSettings = Field(default_factory=AnchorSettings, title="SSD anchors")
    thermal: ThermalSettings = Field(default_factory=ThermalSettings, title="Thermal gain")
    tiling: TilingSettings = Field(default_factory=TilingSettings, title="Tiling")
    gating: GatingSettings = Field(default_factory=GatingSettings, title="Motion gating")
