"""How the MQTT transport reads each PUBACK reason code, and what the drainer does with it (real spool, no broker)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.types import Priority
from edge.uplink.conn import parse_url, publish_size
from edge.uplink.drainer import MAX_ATTEMPTS, Drainer
from edge.uplink.settings import MqttSettings, SpoolSettings
from edge.uplink.spool import Spool
from edge.uplink.transports.mqtt import MqttTransport, mqtt_uplink


def _uplink(tmp_path: Path) -> tuple[Drainer, MqttTransport, int]:
    spool = Spool(tmp_path / "s.sqlite", SpoolSettings())
    spool.insert([(Priority.ALERT, time.time(), b"x")])
    up = mqtt_uplink(MqttSettings(url="mqtt://127.0.0.1:1", quota_backoff_s=7.0), spool, "v")
    assert isinstance(up.transport, MqttTransport)
    return up, up.transport, spool.head(1)[0].id


def _puback(up: Drainer, tr: MqttTransport, row_id: int, code: int, mid: int = 1) -> None:
    """The row was sent as ``mid``; its PUBACK arrives with ``code``."""
    tr._mids[mid] = row_id
    up._inflight[row_id] = (time.monotonic(), Priority.ALERT)
    d = tr._on_puback(mid, ReasonCode(PacketTypes.PUBACK, identifier=code))
    up.deliver([d] if d else [], time.monotonic())


@pytest.mark.parametrize("code", [0x00, 0x10])  # success, no matching subscribers
def test_success_codes_ack(tmp_path: Path, code: int) -> None:
    up, tr, rid = _uplink(tmp_path)
    _puback(up, tr, rid, code)
    assert up.spool.rows == 0 and up.stats["acked"] == 1


@pytest.mark.parametrize("code", [0x87, 0x90, 0x99])
def test_permanent_refusals_go_to_dead_letter_at_once(tmp_path: Path, code: int) -> None:
    up, tr, rid = _uplink(tmp_path)
    _puback(up, tr, rid, code)
    (dl,) = up.spool.dead_letters()
    assert up.spool.rows == 0 and f"(0x{code:02X})" in dl.reason and dl.destination == "mqtt:edge/v/detections"


def test_quota_exceeded_backs_off_and_keeps_the_row(tmp_path: Path) -> None:
    up, tr, rid = _uplink(tmp_path)
    t = time.monotonic()
    _puback(up, tr, rid, 0x97)
    assert up.spool.rows == 1 and up._pause_until >= t + 7.0 and tr.stats["quota_backoffs"] == 1
    assert up._attempts[rid] == 0  # a quota pause is not a failed attempt


def test_other_refusals_retry_then_dead_letter(tmp_path: Path) -> None:
    up, tr, rid = _uplink(tmp_path)
    for i in range(MAX_ATTEMPTS - 1):
        _puback(up, tr, rid, 0x80, mid=i + 1)
        assert up.spool.rows == 1
    _puback(up, tr, rid, 0x80, mid=99)
    assert up.spool.rows == 0 and up.stats["dead_letter"] == 1


def test_late_puback_of_a_forgotten_mid_is_ignored(tmp_path: Path) -> None:
    _, tr, _ = _uplink(tmp_path)
    assert tr._on_puback(42, ReasonCode(PacketTypes.PUBACK, identifier=0)) is None


@pytest.mark.parametrize(
    "url, host, port, tls",
    [
        ("mqtt://broker:1884", "broker", 1884, False),
        ("mqtts://10.0.0.1", "10.0.0.1", 8883, True),
        ("mqtt://h", "h", 1883, False),
    ],
)
def test_parse_url(url: str, host: str, port: int, tls: bool) -> None:
    b = parse_url(url)
    assert (b.host, b.port, b.tls) == (host, port, tls)


@pytest.mark.parametrize("url", ["http://x:1", "mqtt://", "x", "mqtt://h:99999"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


def test_publish_size_by_hand() -> None:
    # 1 fixed header + 1 length + (2 + 3 topic "a/b") + 2 packet id + (1 + 5 properties) + 69 payload = 84
    assert publish_size("a/b", 69, 5, True) == 84
    assert publish_size("a/b", 69, 0, False) == 78
    assert publish_size("a/b", 200, 0, False) == 1 + 2 + 207  # remaining length needs 2 bytes above 127
