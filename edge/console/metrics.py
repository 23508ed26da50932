"""``/metrics`` in the Prometheus text format (prometheus-client), for a fleet scraped by an existing Prometheus.

Two histograms are observed per frame on the pipeline's track thread (a few microseconds): capture -> tracked
detections (end-to-end latency) and inference start -> tracked detections. Everything else is read at scrape time
from the newest health snapshot (the same as ``edge status``) and the console's event counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from edge.console.hub import ConsoleHub
from edge.types import Frame

BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)

# (metric, help, stage, key, counter?) read from the snapshot's stages
SNAPSHOT: tuple[tuple[str, str, str, str, bool], ...] = (
    ("edge_pipeline_fps", "Frames/s through the detection pipeline", "pipeline", "fps", False),
    ("edge_pipeline_frames", "Frames tracked since start", "pipeline", "frames", True),
    ("edge_pipeline_errors", "Frames whose inference or tracking failed", "pipeline", "errors", True),
    ("edge_frame_age_ms", "Largest recent frame age at inference, ms", "pipeline", "frame_age_ms", False),
    ("edge_inference_ms_mean", "Mean model run time, ms", "detector", "inference_ms_mean", False),
    ("edge_spool_rows", "Rows waiting in the spool", "spool", "rows", False),
    ("edge_spool_bytes", "Bytes waiting in the spool", "spool", "bytes", False),
    ("edge_spool_dropped_frames", "Frames' events the spool writer dropped", "spool", "dropped_frames", True),
    ("edge_uplink_sent", "Messages published to the broker", "mqtt", "sent", True),
    ("edge_uplink_acked", "Messages the broker acknowledged", "mqtt", "acked", True),
    ("edge_uplink_sent_bytes", "Payload bytes published", "mqtt", "sent_bytes", True),
    ("edge_uplink_inflight", "Messages published and not yet acknowledged", "mqtt", "inflight", False),
    ("edge_mavlink_messages", "MAVLink messages received", "mavlink", "messages", True),
    (
        "edge_mavlink_heartbeat_age_seconds",
        "Seconds since the autopilot's last heartbeat",
        "mavlink",
        "heartbeat_age_s",
        False,
    ),
    ("edge_gpsd_fixes", "gpsd fixes used", "gpsd", "fixes", True),
    ("edge_gcs_sent", "Messages sent to the ground station", "gcs", "sent", True),
)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class _SnapshotCollector(Collector):
    def __init__(self, hub: ConsoleHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        snap: dict[str, Any] = self.hub.health or {}
        stages: dict[str, Any] = snap.get("stages", {}) if isinstance(snap.get("stages"), dict) else {}
        cams = {name: h for name, h in stages.items() if name.startswith("camera") and isinstance(h, dict)}
        for metric, text, stage, key, counter in SNAPSHOT:
            per_camera = {
                n.partition(":")[2]: h for n, h in stages.items() if n.partition(":")[0] == stage and ":" in n
            }
            if per_camera and stage in ("pipeline", "detector"):  # several cameras: "pipeline:<id>", a label each
                fam = (
                    CounterMetricFamily(metric, text, labels=["camera"])
                    if counter
                    else GaugeMetricFamily(metric, text, labels=["camera"])
                )
                for cam, h in per_camera.items():
                    if (v := _num((h if isinstance(h, dict) else {}).get(key))) is not None:
                        fam.add_metric([cam], v)
                yield fam
                continue
            value = _num((stages.get(stage) or {}).get(key))
            if value is None:
                continue
            fam = CounterMetricFamily(metric, text) if counter else GaugeMetricFamily(metric, text)
            fam.add_metric([], value)
            yield fam
        dropped = CounterMetricFamily(
            "edge_camera_frames_dropped", "Frames the camera's one-slot buffer replaced", labels=["camera"]
        )
        for name, h in cams.items():
            if (v := _num(h.get("frames_dropped"))) is not None:
                dropped.add_metric([name.partition(":")[2] or name], v)
        yield dropped
        evict = CounterMetricFamily("edge_spool_evictions", "Spool rows evicted (full or expired)", labels=["reason"])
        for key, v in (stages.get("spool") or {}).items():
            if key.startswith("evicted_") and (n := _num(v)) is not None:
                evict.add_metric([key.removeprefix("evicted_")], n)
        yield evict
        state = GaugeMetricFamily("edge_stage_state", "1 for each stage's current state", labels=["stage", "state"])
        for name, h in stages.items():
            if isinstance(h, dict) and isinstance(h.get("state"), str):
                state.add_metric([name, h["state"]], 1.0)
        yield state
        up = GaugeMetricFamily("edge_link_up", "1 when the link is connected", labels=["link"])
        for link in ("mqtt", "mavlink", "gpsd"):
            link_h = stages.get(link)
            if isinstance(link_h, dict) and "state" in link_h:
                up.add_metric([link], 1.0 if link_h["state"] in ("connected", "ok", "3D fix") else 0.0)
        yield up
        events = CounterMetricFamily("edge_events", "Track events by kind and class", labels=["kind", "class"])
        for (kind, cls), n in sorted(self.hub.counts.items()):
            events.add_metric([kind, cls], float(n))
        yield events
        dropped_b = CounterMetricFamily("edge_console_dropped_batches", "Event batches the console dropped")
        dropped_b.add_metric([], float(self.hub.dropped_batches))
        yield dropped_b


class Metrics:
    """The console's registry: per-frame histograms plus the snapshot read at scrape time."""

    def __init__(self, hub: ConsoleHub) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "edge_latency_seconds", "Capture to tracked detections, s", buckets=BUCKETS_S, registry=self.registry
        )
        self.inference = Histogram(
            "edge_inference_seconds",
            "Model run start to tracked detections (inference, decoding, tracking, geolocation), s",
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(_SnapshotCollector(hub))
        hub.on_frame(self._observe)

    def _observe(self, frame: Frame, t_infer: float, t_done: float) -> None:
        self.latency.observe(max(0.0, t_done - frame.t_mono))
        self.inference.observe(max(0.0, t_done - t_infer))

    def text(self) -> bytes:
        return generate_latest(self.registry)
