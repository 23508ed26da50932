"""What a subscriber sees: topics, retained birth/last-will status, message expiry, the historical flag, priorities,
over MQTT v5 and 3.1.1, against a real mosquitto."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.localbroker import LocalBroker
from edge.types import EventKind, FrameEvents, GeoEvent, Priority
from edge.uplink.codec import decode, encode
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool
from edge.uplink.transports.mqtt import mqtt_uplink

DRIVER = str(Path(__file__).with_name("uplink_driver.py"))

pytestmark = pytest.mark.integration


def _subscriber(port: int, topic: str) -> tuple[mqtt.Client, queue.SimpleQueue[Any]]:
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda _c, _u, m: inbox.put(m)
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    return c, inbox


def _next(inbox: queue.SimpleQueue[Any], topic: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = inbox.get(timeout=0.1)
        except queue.Empty:
            continue
        if m.topic == topic:
            return m
    raise AssertionError(f"nothing on {topic} within {timeout} s")


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_topics_priorities_expiry_and_historical(tmp_path: Path, protocol: str) -> None:
    def rec(seq: int, kind: EventKind) -> bytes:
        ev = GeoEvent(seq, 0, "person", 0.9, kind, (0.1, 0.1, 0.2, 0.2))
        return encode(FrameEvents("cam0", seq, time.time(), None, (ev,)), 4, seq)

    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings(ttl_update_s=3600.0))
    now = time.time()
    spool.insert([(Priority.UPDATE, now - 100, rec(0, EventKind.UPDATE))])  # backlog: historical
    spool.insert([(Priority.UPDATE, now, rec(1, EventKind.UPDATE)), (Priority.ALERT, now, rec(2, EventKind.NEW))])
    spool.replace_health(b"\xa1\x61a\x01")
    with LocalBroker(tmp_path / "broker") as broker:
        sub, inbox = _subscriber(broker.port, "edge/v1/#")
        time.sleep(0.3)
        uplink = mqtt_uplink(MqttSettings(url=f"mqtt://127.0.0.1:{broker.port}", protocol=protocol), spool, "v1")
        uplink.start()
        try:
            assert _next(inbox, "edge/v1/status").payload == b"online"
            got = [_next(inbox, "edge/v1/detections") for _ in range(3)]
            health = _next(inbox, "edge/v1/health")
        finally:
            uplink.flush(1.0)
        assert _next(inbox, "edge/v1/status").payload == b"offline"  # clean stop says offline too
        sub.loop_stop()
        sub.disconnect()
    recs = [decode(m.payload) for m in got]
    assert [r.seq for r in recs] == [2, 0, 1]  # the alert first, then updates oldest first
    assert [r.historical for r in recs] == [False, True, False]
    assert health.payload == b"\xa1\x61a\x01"
    if protocol == "5":
        expiry = [m.properties.MessageExpiryInterval for m in got]
        assert 7 * 86400 - 60 < expiry[0] <= 7 * 86400 and 3400 < expiry[1] <= 3500 and 3500 < expiry[2] <= 3600
        assert getattr(got[1].properties, "UserProperty", None) == [("historical", "1")]
    assert spool.rows == 0


def test_last_will_says_offline_when_the_daemon_dies(tmp_path: Path) -> None:
    with LocalBroker(tmp_path / "broker") as broker:
        sub, inbox = _subscriber(broker.port, "edge/chaos/status")
        state = tmp_path / "state"
        state.mkdir()
        drv = subprocess.Popen(
            [sys.executable, DRIVER, str(state), f"mqtt://127.0.0.1:{broker.port}", "10", "100"],
            stderr=subprocess.DEVNULL,
        )
        try:
            assert _next(inbox, "edge/chaos/status").payload == b"online"
            drv.send_signal(signal.SIGKILL)
            assert _next(inbox, "edge/chaos/status").payload == b"offline"
        finally:
            drv.kill()
            drv.wait(10)
            sub.loop_stop()
            sub.disconnect()


def test_inflight_window_stays_within_the_brokers_receive_maximum(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", SpoolSettings())
    ev = GeoEvent(1, 0, "person", 0.9, EventKind.UPDATE, (0.1, 0.1, 0.2, 0.2))
    spool.insert(
        [(Priority.UPDATE, time.time(), encode(FrameEvents("cam0", i, 0.0, None, (ev,)), 1, i)) for i in range(300)]
    )
    with LocalBroker(tmp_path / "broker", "max_inflight_messages 3\n") as broker:
        uplink = mqtt_uplink(MqttSettings(url=f"mqtt://127.0.0.1:{broker.port}", max_inflight=64), spool, "v1")
        uplink.start()
        deadline = time.monotonic() + 20
        while spool.rows and time.monotonic() < deadline:
            time.sleep(0.05)
        uplink.flush(1.0)
    assert spool.rows == 0
    assert uplink.health()["receive_max"] == 3 and uplink.stats["max_inflight_seen"] == 3
