"""Uplink benchmark: record sizes, spool insert rate (FULL vs NORMAL durability), backlog drain to a local broker.

Keys: bytes_per_detection / bytes_per_extra_detection (CBOR payload), mqtt_bytes_per_detection /
mqtt_bytes_per_extra_detection (the whole QoS 1 PUBLISH with MQTT v5 message expiry), spool_inserts_per_s (frames
per second through SpoolWriter at the default durability, synchronous=FULL, group-committed), the same at NORMAL,
spool_commits_per_s_full (one transaction per frame, no grouping), drain_msgs_per_s (backlog to mosquitto).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench.localbroker import LocalBroker
from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink import codec
from edge.uplink.conn import TOPIC_DETECTIONS, publish_size
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool, SpoolWriter
from edge.uplink.transports.mqtt import mqtt_uplink

POSE = Pose(0.0, 42.4312345, 19.2612345, 1234.5, roll=0.02, pitch=0.05, yaw=2.1, cam_pitch=-0.6, cam_yaw=0.3)


def frame(i: int, n: int) -> FrameEvents:
    """A typical frame: ``n`` located detections ~1 km from a drone at 1234 m, track ids in the thousands."""
    evs = tuple(
        GeoEvent(4000 + k, k % 3, "person", 0.83, EventKind.UPDATE, (0.41, 0.52, 0.44, 0.58),
                 42.4401234, 19.2701234 + 1e-4 * k, 812.3, 14.2)
        for k in range(n)
    )  # fmt: skip
    return FrameEvents("cam0", i, time.time(), POSE, evs)


def sizes() -> dict[str, float]:
    boot, seq = 0xA1B2C3D4, 123_456
    one, two = (len(codec.encode(frame(0, n), boot, seq)) for n in (1, 2))
    topic = TOPIC_DETECTIONS.format(vehicle="edge-01")
    m1, m2 = (publish_size(topic, n, 5, True) for n in (one, two))
    return {
        "bytes_per_detection": one,
        "bytes_per_extra_detection": two - one,
        "mqtt_bytes_per_detection": m1,
        "mqtt_bytes_per_extra_detection": m2 - m1,
    }


def insert_rate(tmp: Path, synchronous: str, frames: int, grouped: bool) -> float:
    """Frames (rows) per second into a fresh spool; grouped: through SpoolWriter's thread, else one commit each."""
    settings = SpoolSettings.model_validate({"synchronous": synchronous, "queue_frames": frames + 1})
    spool = Spool(tmp / f"spool-{synchronous}-{grouped}.sqlite", settings)
    writer = SpoolWriter(spool, "bench", 1)
    batches = [frame(i, 2) for i in range(frames)]
    t0 = time.perf_counter()
    if grouped:
        writer.start()
        for b in batches:
            writer.submit(b)
        deadline = time.monotonic() + 300
        while spool.rows < frames and time.monotonic() < deadline:
            time.sleep(0.001)
        writer.stop()
    else:
        for b in batches:
            writer.submit(b)
            writer.commit_pending()
    dt = time.perf_counter() - t0
    assert spool.rows == frames, f"spool holds {spool.rows} of {frames} frames"
    spool.close()
    return frames / dt


def drain_rate(tmp: Path, rows: int) -> float:
    """Messages per second from a spool backlog of ``rows`` records to a local mosquitto (QoS 1, PUBACK each)."""
    spool = Spool(tmp / "drain.sqlite", SpoolSettings())
    writer = SpoolWriter(spool, "bench", 2)
    for i in range(rows):
        writer.submit(frame(i, 2))
    writer.commit_pending()
    with LocalBroker(tmp / "broker") as broker:
        uplink = mqtt_uplink(MqttSettings(url=f"mqtt://127.0.0.1:{broker.port}"), spool, "bench")
        uplink.start()
        deadline = time.monotonic() + 20
        while uplink.transport.window() == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        t0 = time.perf_counter()
        while spool.rows and time.monotonic() < deadline + 120:
            time.sleep(0.005)
        dt = time.perf_counter() - t0
        left = spool.rows
        uplink.flush(1.0)
    spool.close()
    if left:
        raise RuntimeError(f"drain did not finish: {left} rows left ({uplink.health()['last_error']})")
    return rows / dt


def run_bench(out_dir: Path, quick: bool) -> dict[str, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = 5_000 if quick else 50_000
    with tempfile.TemporaryDirectory(prefix="edge-uplink-bench-", dir=out_dir) as d:
        tmp = Path(d)
        res: dict[str, float] = dict(sizes())
        res["spool_inserts_per_s"] = round(insert_rate(tmp, "FULL", frames, True))
        res["spool_inserts_per_s_normal"] = round(insert_rate(tmp, "NORMAL", frames, True))
        res["spool_commits_per_s_full"] = round(insert_rate(tmp, "FULL", frames // 10, False))
        res["spool_commits_per_s_normal"] = round(insert_rate(tmp, "NORMAL", frames // 10, False))
        res["drain_msgs_per_s"] = round(drain_rate(tmp, 5_000 if quick else 20_000))
    (out_dir / "uplink.json").write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    print(json.dumps(run_bench(Path("bench-out/uplink"), quick=True), indent=2))
