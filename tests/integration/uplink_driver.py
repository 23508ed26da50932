"""A stand-in daemon for the uplink tests: SpoolWriter + the MQTT uplink on a state dir, fed synthetic events.

``python uplink_driver.py STATE_DIR mqtt://HOST:PORT TOTAL RATE [MAVLINK_URL]`` makes event i (track id i) for i from the number
of rows the spool already committed (so a restart after SIGKILL goes on where the last process stopped), at
RATE events/s, one event per frame (every 4th a new track); every process is a new boot (random id). It runs until
killed (SIGTERM: flush). With MAVLINK_URL it also runs the daemon's MAVLink link, the GCS alerter and the radio
uplink on the alerter's byte budget (``[gcs]`` and ``[radio]`` defaults), as ``edge run`` does.
"""

from __future__ import annotations

import logging
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from edge.gcs.alerts import GcsAlerter
from edge.gcs.settings import GcsSettings
from edge.sources.mavlink import MavlinkLink
from edge.sources.settings import MavlinkSettings
from edge.stages import EventSink, Stage
from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.settings import MqttSettings, RadioSettings, SpoolSettings
from edge.uplink.spool import Spool, SpoolWriter
from edge.uplink.transports.mavlink_radio import radio_uplink
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
    stages: list[Stage] = [writer, mqtt_uplink(settings, spool, "chaos")]
    sinks: list[EventSink] = [writer]
    if len(sys.argv) > 5:
        link = MavlinkLink(MavlinkSettings(url=sys.argv[5]))
        gcs = GcsAlerter(GcsSettings(), link)
        radio = radio_uplink(link, RadioSettings(enabled=True), spool, "chaos", gcs.budget)
        stages += [link, gcs, radio]
        sinks.append(gcs)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for stage in stages:
        stage.start()
    first = spool.value("inserted")
    logging.info("boot %08x starts at event %d", boot, first)
    pose = Pose(0.0, 42.5, 19.3, 1200.0, yaw=0.3, cam_pitch=-0.6)
    t0 = time.monotonic()
    for i in range(first, total):
        if stop.is_set():
            break
        ev = GeoEvent(i, i % 3, "x", 0.8, EventKind.NEW if i % 4 == 0 else EventKind.UPDATE, (0.1, 0.2, 0.3, 0.4),
                      42.51, 19.31, 1000.0, 15.0)  # fmt: skip
        for sink in sinks:
            sink.submit(FrameEvents("cam0", i, time.time(), pose, (ev,)))
        delay = t0 + (i - first + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    logging.info("all %d events submitted", total)
    stop.wait()
    writer.stop()
    for stage in reversed(stages[1:]):
        stage.stop()


if __name__ == "__main__":
    main()
