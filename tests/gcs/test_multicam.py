"""Several cameras at the ground station: each alert names its camera, the same track id of two cameras is two
tracks, and the health message sums and splits the frame rate by camera."""

from __future__ import annotations

from edge.gcs.alerts import GcsAlerter
from edge.gcs.health import summarize
from edge.gcs.settings import GcsSettings
from edge.types import EventKind, FrameEvents, GeoEvent
from tests.gcs.test_alerts import Recorder, event, run


def _batch(camera: str, *events: GeoEvent) -> FrameEvents:
    return FrameEvents(camera, 1, 0.0, None, tuple(events))


def test_alerts_name_the_camera_and_tracks_are_per_camera() -> None:
    rec = Recorder()
    s = GcsSettings(update_interval_s=2.0, msgs_per_s=0.0, bytes_per_s=0.0, tracking_status=False)
    a = GcsAlerter(s, rec, clock=lambda: rec.now, camera_names=True)
    a.submit(_batch("day", event(1)))
    a.submit(_batch("ir", event(1)))
    run(a, rec, 0.5)
    a.submit(_batch("ir", event(1, EventKind.LOST)))  # ir's track 1 ends; day's goes on
    a.submit(_batch("day", event(1, EventKind.UPDATE)))  # too soon for an update of day's track 1
    run(a, rec, 1.0)
    texts = [m.text for _, m in rec.sent]
    assert texts == ["day person 90% 42.60000 19.90000 +/-5 m #1", "ir person 90% 42.60000 19.90000 +/-5 m #1"]
    one = GcsAlerter(s, Recorder(), clock=lambda: 0.0)  # a single camera: no name, as before
    one.submit(_batch("cam0", event(1)))
    one.step(0.0)
    one._pump(0.0)
    assert one.link.sent[0][1].text.startswith("person 90%")  # type: ignore[attr-defined]


def test_health_sums_and_splits_the_frame_rate() -> None:
    stages = {"pipeline:day": {"fps": 4.0}, "pipeline:thermal": {"fps": 2.5}, "camera:day": {"state": "streaming"}}
    got = summarize({"stages": stages})
    assert got["detector_fps"] == 6.5 and got["fps_day"] == 4.0 and got["fps_therma"] == 2.5
    assert summarize({"stages": {"pipeline": {"fps": 3.0}}}) == {"detector_fps": 3.0}
