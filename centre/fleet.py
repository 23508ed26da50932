"""A synthetic fleet for tests and the benchmark: N vehicles publishing wire records through the codec at a rate.

Each vehicle drives slowly near ``origin`` and sees ``dets_per_record`` people around it. Records go to
``edge/<vehicle>/detections`` with QoS 1, exactly as ``edge run`` sends them (one boot per vehicle, seq from 0).
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.codec import encode


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """vehicles x records each, dets_per_record detections per record, at rate_hz records/s per vehicle (0: max)."""

    vehicles: int = 3
    records: int = 100
    dets_per_record: int = 2
    rate_hz: float = 50.0
    origin: tuple[float, float] = (48.0, 17.0)
    t0: float = 1_780_000_000.0
    seed: int = 1


def make_payloads(plan: FleetPlan) -> dict[str, list[bytes]]:
    """Encoded records per vehicle id (``veh-00`` ...), in sequence order."""
    rng = random.Random(plan.seed)
    out: dict[str, list[bytes]] = {}
    for v in range(plan.vehicles):
        vid = f"veh-{v:02d}"
        boot = rng.randrange(2**32)
        lat0 = plan.origin[0] + 0.01 * v
        lon0 = plan.origin[1]
        recs = []
        for s in range(plan.records):
            lat = lat0 + 1e-6 * s
            pose = Pose(0.0, lat, lon0, 300.0, cam_pitch=-0.3)
            events = tuple(
                GeoEvent(
                    track_id=k + 1,
                    class_id=k % 3,
                    class_name="",
                    confidence=0.8,
                    kind=EventKind.NEW if s == 0 else EventKind.UPDATE,
                    bbox_norm=(0.1, 0.1, 0.2, 0.3),
                    lat=lat + 0.002 * math.cos(k),
                    lon=lon0 + 0.002 * math.sin(k),
                    alt=250.0,
                    error_m=8.0,
                )
                for k in range(plan.dets_per_record)
            )
            frame = FrameEvents("cam0", s, plan.t0 + s / max(plan.rate_hz, 1.0), pose, events)
            recs.append(encode(frame, boot, s))
        out[vid] = recs
    return out


def publish(port: int, payloads: dict[str, list[bytes]], rate_hz: float, timeout: float = 120.0) -> float:
    """Publish every record once with QoS 1 to 127.0.0.1:``port`` and wait for all PUBACKs; returns seconds taken."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"fleet-{random.randrange(10**9)}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = 0
    done = threading.Event()
    total = sum(len(p) for p in payloads.values())
    lock = threading.Lock()

    def on_publish(_c: object, _u: object, _mid: int, _rc: object, _p: object) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked >= total:
                done.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.monotonic()
    n = max(len(p) for p in payloads.values())
    for s in range(n):
        for vid, recs in payloads.items():
            if s < len(recs):
                client.publish(f"edge/{vid}/detections", recs[s], qos=1)
        if rate_hz > 0:
            time.sleep(max(0.0, start + (s + 1) / rate_hz - time.monotonic()))
    ok = done.wait(timeout)
    took = time.monotonic() - start
    client.disconnect()
    client.loop_stop()
    if not ok:
        raise TimeoutError(f"only {acked} of {total} records acknowledged by the broker in {timeout} s")
    return took
