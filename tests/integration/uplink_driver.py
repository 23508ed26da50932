"""A stand-in daemon for the uplink chaos test: SpoolWriter + MqttUplink on a state dir, fed synthetic events.

``python uplink_driver.py STATE_DIR mqtt://HOST:PORT TOTAL RATE`` makes event i (track id i) for i from the number
of rows the spool already committed (so a restart after SIGKILL goes on where the last process stopped), at
RATE events/s, one event per frame; every process is a new boot (random id). It runs until killed (SIGTERM: flush).
"""

from __future__ import annotations

import logging
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool, SpoolWriter
from edge.uplink.transports.mqtt import mqtt_uplink


def main() -> None:
    state, url, total, rate = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s: %(message)s")
    spool = Spool(state / "spool.sqlite", SpoolSettings())
    boot = secrets.randbits(32)
    writer = SpoolWriter(spool, "chaos", boot)
    settings = MqttSettings(
        url=url, keepalive_s=2, connect_timeout_s=3, reconnect_min_s=0.2, reconnect_max_s=2, ack_timeout_s=10
    )
    uplink = mqtt_uplink(settings, spool, "chaos")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    writer.start()
    uplink.start()
    first = spool.value("inserted")
    logging.info("boot %08x starts at event %d", boot, first)
    pose = Pose(0.0, 42.5, 19.3, 1200.0, yaw=0.3, cam_pitch=-0.6)
    t0 = time.monotonic()
    for i in range(first, total):
        if stop.is_set():
            break
        ev = GeoEvent(i, i % 3, "x", 0.8, EventKind.NEW if i % 4 == 0 else EventKind.UPDATE, (0.1, 0.2, 0.3, 0.4),
                      42.51, 19.31, 1000.0, 15.0)  # fmt: skip
        writer.submit(FrameEvents("cam0", i, time.time(), pose, (ev,)))
        delay = t0 + (i - first + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    logging.info("all %d events submitted", total)
    stop.wait()
    writer.stop()
    uplink.flush(2.0)


if __name__ == "__main__":
    main()
