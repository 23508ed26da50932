"""GcsAlerter pacing, priorities and health, driven by a fake clock (the sender only records)."""

from __future__ import annotations

import time

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.gcs.alerts import GcsAlerter
from edge.gcs.settings import GcsSettings
from edge.types import EventKind, FrameEvents, GeoEvent


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[float, mavlink.MAVLink_message]] = []
        self.now = 0.0

    def send(self, msg: mavlink.MAVLink_message) -> bool:
        self.sent.append((self.now, msg))
        return True

    def types(self) -> list[str]:
        return [m.get_type() for _, m in self.sent]


def batch(*events: GeoEvent) -> FrameEvents:
    return FrameEvents("cam0", 1, 0.0, None, tuple(events))


def event(tid: int, kind: EventKind = EventKind.NEW, cls: str = "person") -> GeoEvent:
    return GeoEvent(tid, 0, cls, 0.9, kind, (0.1, 0.1, 0.2, 0.3), 42.6, 19.9, 500.0, 5.0, 300.0)


def run(alerter: GcsAlerter, rec: Recorder, until: float, dt: float = 0.05) -> None:
    while rec.now < until:
        alerter.step(rec.now)
        alerter._pump(rec.now)
        rec.now = round(rec.now + dt, 6)


def test_burst_of_new_tracks_alerts_first_within_budget():
    rec = Recorder()
    s = GcsSettings(msgs_per_s=4.0, bytes_per_s=0.0, burst_s=2.0, queue_size=64, max_age_s=10.0)
    a = GcsAlerter(s, rec, clock=lambda: rec.now)
    a.submit(batch(*[event(i) for i in range(30)]))
    run(a, rec, 12.0)
    # depth 8 messages at t=0, then 4/s: 8 + 4 * 10 s before the rest expires at 10 s
    assert 46 <= len(rec.sent) <= 49
    texts = [m for _, m in rec.sent if m.get_type() == "STATUSTEXT"]
    assert len(texts) == 30 and rec.types()[:30] == ["STATUSTEXT"] * 30  # every alert before any status
    assert texts[0].severity == mavlink.MAV_SEVERITY_CRITICAL and texts[0].text.startswith("person 90% ")
    assert a.counts["queue_full"] == 90 - 64 and a.counts["expired"] > 0
    for t in range(1, 12):  # never more than depth + rate * t by time t
        assert sum(1 for ts, _ in rec.sent if ts <= t) <= 8 + 4 * t


def test_updates_paced_per_track_and_severity_by_class():
    rec = Recorder()
    s = GcsSettings(update_interval_s=2.0, msgs_per_s=0.0, bytes_per_s=0.0, tracking_status=False)
    a = GcsAlerter(s, rec, clock=lambda: rec.now)
    a.submit(batch(event(1, cls="boat")))
    a.step(0.0)
    for i in range(1, 50):  # UPDATE every 0.1 s for 4.9 s
        a.submit(batch(event(1, EventKind.UPDATE, "boat")))
        rec.now = i * 0.1
        a.step(rec.now)
        a._pump(rec.now)
    times = [round(t, 1) for t, _ in rec.sent]
    assert times == [0.1, 2.0, 4.0]  # the NEW alert goes with the first pump
    assert [m.severity for _, m in rec.sent] == [mavlink.MAV_SEVERITY_WARNING] + [mavlink.MAV_SEVERITY_INFO] * 2
    assert rec.sent[1][1].text.startswith("upd boat")


def test_health_flags_as_text_and_values_periodically_in_a_thread():
    rec = Recorder()
    s = GcsSettings(health_interval_s=0.2, msgs_per_s=0.0, bytes_per_s=0.0)
    a = GcsAlerter(s, rec)
    a.start()
    try:
        a.report_health({"detector_fps": 7.5, "camera_ok": True, "uplink_connected": True, "spool_backlog": 3})
        time.sleep(0.1)
        a.report_health({"detector_fps": 0.0, "camera_ok": False, "uplink_connected": True, "spool_backlog": 3})
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and rec.types().count("NAMED_VALUE_FLOAT") < 2:
            time.sleep(0.02)
    finally:
        a.stop()
    texts = [m.text for _, m in rec.sent if m.get_type() == "STATUSTEXT"]
    assert texts == ["edge: camera FAILED"]
    ints = {m.name: m.value for _, m in rec.sent if m.get_type() == "NAMED_VALUE_INT"}
    assert ints == {"cam_ok": 0, "uplink": 1, "spool": 3}  # the latest periodic values
    floats = [m.value for _, m in rec.sent if m.get_type() == "NAMED_VALUE_FLOAT"]
    assert floats[-1] == 0.0


def test_idle_worker_sleeps():
    rec = Recorder()
    a = GcsAlerter(GcsSettings(health_interval_s=5.0), rec)
    a.start()
    try:
        time.sleep(0.1)
        cpu0 = time.process_time()
        time.sleep(0.5)
        used = time.process_time() - cpu0
    finally:
        a.stop()
    assert used < 0.1, f"the idle alerter used {used:.2f} s of CPU in 0.5 s"
    assert rec.sent == []


def test_byte_budget():
    rec = Recorder()
    s = GcsSettings(msgs_per_s=0.0, bytes_per_s=300.0, burst_s=1.0, queue_size=200, max_age_s=60.0)
    a = GcsAlerter(s, rec, clock=lambda: rec.now)
    a.submit(batch(*[event(i) for i in range(40)]))
    run(a, rec, 10.0)
    mav = mavlink.MAVLink(None)
    sizes = [(t, len(m.pack(mav))) for t, m in rec.sent]
    for t in range(11):  # bytes sent by time t never exceed the bucket depth plus rate x t
        assert sum(n for ts, n in sizes if ts <= t) <= 300 + 300 * t
    assert sum(n for _, n in sizes) >= 300 * 9  # and the budget is used, not wasted
