"""onnxruntime sessions: providers by preference with fallback, thread counts, and ModelError."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


class ModelError(Exception):
    """A model that cannot be used; the message says what is wrong and which config key fixes it."""


def resolve_providers(wanted: Sequence[str], available: Sequence[str] | None = None) -> list[str]:
    """Providers from ``wanted`` (full or short names) that this onnxruntime has, in order; CPU always last."""
    have = list(ort.get_available_providers() if available is None else available)
    out: list[str] = []
    for name in wanted:
        full = PROVIDER_ALIASES.get(name.lower(), name)
        if full in have and full not in out:
            out.append(full)
    if "CPUExecutionProvider" not in out:
        out.append("CPUExecutionProvider")
    return out


def open_session(
    path: str | Path,
    providers: Sequence[str],
    intra: int = 0,
    inter: int = 0,
    spin: bool = True,
    spin_between_runs: bool = False,
    model: bytes | None = None,
) -> ort.InferenceSession:
    """An InferenceSession on the first usable provider; raise ModelError for a missing or unreadable file.

    intra/inter: thread counts (0 = onnxruntime's default); spin: let idle worker threads busy-wait for work
    during a run; spin_between_runs: and go on spinning after it returns (else they stop at once and the cores
    go to the rest of the pipeline until the next run); model: the model's bytes (changed in memory) to run
    instead of the file at ``path``, which still names it in messages."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"detector.model: no model file at {str(p)!r}; set detector.model to an .onnx file")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra:
        opts.intra_op_num_threads = intra
    if inter:
        opts.inter_op_num_threads = inter
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    elif not spin_between_runs:
        opts.add_session_config_entry("session.force_spinning_stop", "1")
    chosen = resolve_providers(providers)
    try:
        sess = ort.InferenceSession(str(p) if model is None else model, sess_options=opts, providers=chosen)
    except Exception as err:  # onnxruntime raises several unrelated types for a bad file
        msg = str(err).splitlines()[0][:300]
        raise ModelError(
            f"detector.model: {str(p)!r} is not a usable ONNX model ({msg}); set detector.model to a valid .onnx file"
        ) from None
    running = sess.get_providers()[0] if sess.get_providers() else "?"
    skipped = [w for w in providers if PROVIDER_ALIASES.get(w.lower(), w) not in chosen]
    log.info(
        "detector: %s runs on %s%s", p.name, running, f" (not available here: {', '.join(skipped)})" if skipped else ""
    )
    return sess
