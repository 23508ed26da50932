"""/metrics: the snapshot and the per-frame histograms in the Prometheus text format."""

from __future__ import annotations

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from edge.console.hub import ConsoleHub
from edge.console.metrics import Metrics
from edge.types import EventKind, Frame, FrameEvents, GeoEvent

SNAPSHOT = {
    "stages": {
        "pipeline": {"fps": 12.5, "frames": 300, "errors": 0, "frame_age_ms": 40.0},
        "spool": {"state": "ok", "rows": 7, "bytes": 900, "evicted_full_update": 3, "evicted_expired_health": 1},
        "mqtt": {"state": "backoff", "sent": 20, "acked": 18, "sent_bytes": 4000, "inflight": 2},
        "mavlink": {"state": "connected", "messages": 1234, "heartbeat_age_s": 0.4},
        "camera:cam0": {"state": "streaming", "frames_dropped": 17},
    }
}


def _families(hub: ConsoleHub, metrics: Metrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    out: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(metrics.text().decode()):
        out[fam.name] = [(s.name, s.labels, s.value) for s in fam.samples]
    return out


def test_snapshot_events_and_latency_histograms() -> None:
    hub = ConsoleHub(clock=lambda: 10.0)
    metrics = Metrics(hub)
    hub.report_health(SNAPSHOT)
    ev = GeoEvent(1, 0, "person", 0.9, EventKind.NEW, (0, 0, 1, 1))
    hub.submit(FrameEvents("cam0", 1, 0.0, None, (ev, ev)))
    hub.drain()
    hub.observe(Frame(np.zeros((2, 2, 3), np.uint8), 9.8, 0.0, 1), 9.9)  # 0.2 s since capture, 0.1 s since inference
    fam = _families(hub, metrics)
    assert fam["edge_pipeline_fps"] == [("edge_pipeline_fps", {}, 12.5)]
    assert fam["edge_uplink_acked"] == [("edge_uplink_acked_total", {}, 18.0)]
    assert ("edge_spool_evictions_total", {"reason": "full_update"}, 3.0) in fam["edge_spool_evictions"]
    assert fam["edge_camera_frames_dropped"] == [("edge_camera_frames_dropped_total", {"camera": "cam0"}, 17.0)]
    assert {s[1]["link"]: s[2] for s in fam["edge_link_up"]} == {"mqtt": 0.0, "mavlink": 1.0}
    assert ("edge_stage_state", {"stage": "mqtt", "state": "backoff"}, 1.0) in fam["edge_stage_state"]
    assert fam["edge_events"] == [("edge_events_total", {"kind": "new", "class": "person"}, 2.0)]
    lat = {s[1].get("le"): s[2] for s in fam["edge_latency_seconds"] if s[0].endswith("_bucket")}
    assert lat["0.15"] == 0.0 and lat["0.2"] == 1.0
    inf = {s[1].get("le"): s[2] for s in fam["edge_inference_seconds"] if s[0].endswith("_bucket")}
    assert inf["0.05"] == 0.0 and inf["0.1"] == 1.0
    assert "edge_gpsd_fixes" not in fam  # no gpsd on this vehicle: no series rather than a made-up zero


def test_several_cameras_one_series_each() -> None:
    hub = ConsoleHub(clock=lambda: 10.0)
    metrics = Metrics(hub)
    pipes = {"pipeline:day": {"fps": 4.0, "frames": 40}, "pipeline:ir": {"fps": 2.0, "frames": 20}}
    hub.report_health({"stages": {**pipes, "detector:ir": {"inference_ms_mean": 80.0}}})
    hub.drain()
    fam = _families(hub, metrics)
    assert fam["edge_pipeline_fps"] == [
        ("edge_pipeline_fps", {"camera": "day"}, 4.0),
        ("edge_pipeline_fps", {"camera": "ir"}, 2.0),
    ]
    assert fam["edge_inference_ms_mean"] == [("edge_inference_ms_mean", {"camera": "ir"}, 80.0)]
