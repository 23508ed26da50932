"""The uplink's byte budget, measured on the wire by a TCP proxy in front of a real mosquitto.

The token bucket admits at most ``depth + rate * T + one message`` bytes in any window T, so its relative excess
shrinks as 1/T: holding 5 % over 20 s (bucket depth 0.5 s) implies holding it over a minute. The minute itself
is covered exactly, in simulated time, by tests/uplink/test_budget.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from bench.localbroker import LocalBroker
from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool, SpoolWriter
from edge.uplink.transports.mqtt import mqtt_uplink

sys.path.insert(0, str(Path(__file__).parent))
from uplink_helpers import Proxy

pytestmark = pytest.mark.integration
RATE = 3000.0  # bytes/s
WINDOW_S = 20.0


def test_byte_budget_holds_on_the_wire(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    writer = SpoolWriter(spool, "v1", 5)
    pose = Pose(0.0, 42.0, 19.0, 500.0)
    for i in range(3000):  # ~300 kB of backlog, far more than the window can carry
        evs = tuple(
            GeoEvent(i * 4 + k, 1, "vehicle", 0.7, EventKind.NEW if i % 5 == 0 else EventKind.UPDATE,
                     (0.1, 0.2, 0.3, 0.4), 42.01, 19.01, 480.0, 12.0)
            for k in range(1 + i % 4)
        )  # fmt: skip
        writer.submit(FrameEvents("cam0", i, time.time(), pose, evs))
    writer.commit_pending()
    with LocalBroker(tmp_path / "broker") as broker:
        proxy = Proxy(broker.port)
        settings = MqttSettings(url=f"mqtt://127.0.0.1:{proxy.port}", bytes_per_s=RATE, burst_s=0.5)
        uplink = mqtt_uplink(settings, spool, "v1")
        try:
            uplink.start()
            deadline = time.monotonic() + 10
            while uplink.health()["state"] != "connected" and time.monotonic() < deadline:
                time.sleep(0.01)
            assert uplink.health()["state"] == "connected", uplink.health()["last_error"]
            t0, b0 = time.monotonic(), proxy.c2s_bytes
            time.sleep(2.0)  # past the initial burst
            t1, b1 = time.monotonic(), proxy.c2s_bytes
            time.sleep(WINDOW_S)
            t2, b2 = time.monotonic(), proxy.c2s_bytes
        finally:
            uplink.flush(1.0)
            proxy.close()
    steady = (b2 - b1) / (t2 - t1)
    assert abs(steady - RATE) <= 0.05 * RATE, f"steady {steady:.0f} B/s against a budget of {RATE:.0f}"
    assert b2 - b0 <= RATE * (t2 - t0) + 0.5 * RATE + 300  # burst depth + one message + CONNECT
    assert spool.rows > 0  # the backlog was never the limit
    print(f"byte budget: {steady:.0f} B/s on the wire for a budget of {RATE:.0f} B/s")
