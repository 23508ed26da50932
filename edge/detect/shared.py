"""Model sessions shared between cameras: a model file used by several cameras is loaded once.

Two cameras share a session when every setting that shapes the session and its reading of the model is the same
(``SESSION_KEYS``: the file, labels, layout, preprocessing, anchors, providers, threads, input folding); what each
camera does with the outputs (thresholds, classes, masks, tiling, gating, thermal gain) stays its own.
"""

from __future__ import annotations

import json

import onnxruntime as ort

from edge.detect.model import ModelInfo, load_model
from edge.detect.settings import DetectorSettings

SESSION_KEYS = frozenset(
    {
        "model",
        "labels",
        "layout",
        "preprocess",
        "anchors",
        "providers",
        "intra_op_threads",
        "inter_op_threads",
        "spin_wait",
        "spin_between_runs",
        "fuse_input",
    }
)


class SharedModels:
    """Loaded models by the settings that shape them; ``loads`` counts the files actually read."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple[ort.InferenceSession, ModelInfo]] = {}
        self.loads = 0

    def load(self, s: DetectorSettings) -> tuple[ort.InferenceSession, ModelInfo]:
        """The session and reading of ``s.model``; raises ModelError (see ``load_model``) the first time only."""
        key = json.dumps(s.model_dump(include=set(SESSION_KEYS), mode="json"), sort_keys=True)
        if key not in self._loaded:
            self._loaded[key] = load_model(s)
            self.loads += 1
        return self._loaded[key]
