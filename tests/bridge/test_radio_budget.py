"""A 57,600-baud radio budget holds under detection bursts; the autopilot's heartbeat and position keep flowing;
alerts outrank everything: under full-rate telemetry every alert arrives and the bulk is thinned instead."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from pathlib import Path

from fwbridge.config import BridgeConfig
from fwbridge.frames import FrameParser, load_dialect
from pymavlink.dialects.v20 import ardupilotmega as mavlink

RADIO_BYTES_PER_S = 5760.0  # 57,600 baud, 10 bits per byte


def test_radio_budget_sheds_detections_first(tmp_path: Path, fc_factory, gcs_factory, kit):
    fc = fc_factory(pos_hz=10).start()
    fc.link_to(tmp_path / "fc")
    radio = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    radio.bind(("127.0.0.1", 0))
    radio.settimeout(0.05)
    daemon_port = kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "bridge": {"heartbeat_s": 0},
            "serial": {"path": str(tmp_path / "fc")},
            "endpoint": [
                {
                    "name": "radio",
                    "mode": "udp-client",
                    "port": radio.getsockname()[1],
                    "bytes_per_s": RADIO_BYTES_PER_S,
                },
                {"name": "daemon", "mode": "udp-server", "port": daemon_port},
            ],
        }
    )
    daemon = gcs_factory(f"udpout:127.0.0.1:{daemon_port}", source_system=1, source_component=191)
    parser = FrameParser(load_dialect())
    frames = []
    with kit.BridgeThread(cfg) as bridge:
        kit.wait_for(lambda: bridge.serial.up, 5, "serial open")
        time.sleep(0.5)
        while True:  # drain what came before the measured window
            try:
                radio.recv(65535)
            except TimeoutError:
                break
        t0 = time.monotonic()
        next_burst = t0
        duration = 4.0
        while (now := time.monotonic()) - t0 < duration:
            if now >= next_burst:  # 60 detection updates (not alerts) every 100 ms: ~600 msg/s, ~40 kB/s offered
                next_burst += 0.1
                for i in range(30):
                    daemon.mav.statustext_send(
                        mavlink.MAV_SEVERITY_INFO, f"person 87% 42.6123{i % 10} 19.94512 +-6 m".encode()
                    )
                    daemon.mav.camera_tracking_image_status_send(1, 0, 0, 0.4, 0.4, 0, 0.4, 0.4, 0.5, 0.5)
            try:
                data = radio.recv(65535)
            except TimeoutError:
                continue
            frames += [(time.monotonic(), f) for f in parser.feed(data)]
        t_end = time.monotonic() + 0.3  # what was already on its way when the flood stopped
        while time.monotonic() < t_end:
            with contextlib.suppress(TimeoutError):
                frames += [(time.monotonic(), f) for f in parser.feed(radio.recv(65535))]
        stats = bridge.snapshot()["links"]["radio"]
    fc_hb = [f for _, f in frames if f.msgid == 0 and f.compid == 1]
    fc_pos = [f for _, f in frames if f.msgid == 33]
    detections = [f for _, f in frames if f.compid == 191 and f.msgid in (253, 275)]
    total_bytes = sum(len(f.raw) for _, f in frames)
    assert len(fc_hb) >= duration - 1  # 1 Hz
    # 10 Hz, none shed: the FC stamps them 100 ms apart, so every stamp between the first and last must be there
    stamps = sorted(struct.unpack_from("<I", f.payload)[0] for f in fc_pos)
    expected = round((stamps[-1] - stamps[0]) / 100) + 1
    assert expected >= 10 * duration - 5 and len(stamps) >= expected - 1, (len(stamps), expected)
    assert detections, "some detection traffic fits in the budget"
    assert total_bytes <= RADIO_BYTES_PER_S * (duration + 0.3 + 1.0)  # rate x time + one bucket depth (burst_s = 1)
    assert stats["drop_rate"] > 100


def test_every_alert_arrives_while_bulk_telemetry_is_thinned(tmp_path: Path, gcs_factory, kit):
    """Full-rate autopilot telemetry (~8 kB/s, over the radio's 5,760 B/s) and bursts of 11 alerts a second
    from the daemon (STATUSTEXT warning and critical, CAMERA_TRACKING_GEO_STATUS): no alert is lost."""
    radio = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    radio.bind(("127.0.0.1", 0))
    radio.settimeout(0.002)
    ap_port, daemon_port = kit.free_port(), kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "bridge": {"heartbeat_s": 0},
            "endpoint": [
                {
                    "name": "radio",
                    "mode": "udp-client",
                    "port": radio.getsockname()[1],
                    "bytes_per_s": RADIO_BYTES_PER_S,
                },
                {"name": "ap", "port": ap_port},
                {"name": "daemon", "port": daemon_port},
            ],
        }
    )
    autopilot = gcs_factory(f"udpout:127.0.0.1:{ap_port}", source_system=1, source_component=1)
    daemon = gcs_factory(f"udpout:127.0.0.1:{daemon_port}", source_system=1, source_component=191)
    parser = FrameParser(load_dialect())
    frames = []
    sent_alerts: list[str] = []
    sent_bulk = 0
    duration = 5.0
    with kit.BridgeThread(cfg) as bridge:
        kit.wait_for(lambda: bridge.snapshot()["links"]["ap"]["state"] == "up", 3, "endpoints up")
        t0 = time.monotonic()
        next_bulk = next_burst = t0
        tick = 0
        while (now := time.monotonic()) - t0 < duration:
            while now >= next_bulk:  # 100 Hz position and attitude, 1 Hz heartbeat: ~8 kB/s
                next_bulk += 0.01
                tick += 1
                ms = int((next_bulk - t0) * 1000)
                autopilot.mav.global_position_int_send(ms, 426123400, 199451200, 500000, 100000, 1, 2, 3, 4500)
                autopilot.mav.attitude_send(ms, 0.01, 0.02, 0.3, 0.001, 0.002, 0.003)
                sent_bulk += 2
                if tick % 100 == 0:
                    autopilot.mav.heartbeat_send(2, 3, 0, 0, 4)
                    daemon.mav.heartbeat_send(18, 8, 0, 0, 4)
            if now >= next_burst and now - t0 < duration - 1.0:  # 11 alerts at once, every second
                next_burst += 1.0
                for i in range(6):
                    text = f"person 87% 42.6123{i} 19.94512 +-6 m #{len(sent_alerts)}"
                    sev = mavlink.MAV_SEVERITY_CRITICAL if i % 2 else mavlink.MAV_SEVERITY_WARNING
                    daemon.mav.statustext_send(sev, text.encode())
                    sent_alerts.append(text)
                for _ in range(5):
                    lat = 426123400 + len(sent_alerts)  # tells the alerts apart
                    daemon.mav.camera_tracking_geo_status_send(1, lat, 199451200, 500.0, 6, 9, 0, 0, 0, 0, 300, 0, 0)
                    sent_alerts.append(f"geo {lat}")
            with contextlib.suppress(TimeoutError):
                frames += parser.feed(radio.recv(65535))
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            with contextlib.suppress(TimeoutError):
                frames += parser.feed(radio.recv(65535))
        stats = bridge.snapshot()["links"]["radio"]
    got_alerts = []
    for f in frames:
        if f.msgid == 253 and f.compid == 191:
            got_alerts.append(f.payload[1:51].rstrip(b"\0").decode())
        elif f.msgid == 276:
            got_alerts.append(f"geo {struct.unpack_from('<i', f.payload)[0]}")
    bulk = [f for f in frames if f.msgid in (30, 33)]
    assert len(sent_alerts) == 44
    assert sorted(got_alerts) == sorted(sent_alerts), set(sent_alerts) - set(got_alerts)
    assert 0 < len(bulk) < sent_bulk and stats["drop_rate"] > 50, (len(bulk), sent_bulk, stats)  # bulk thinned
    assert sum(len(f.raw) for f in frames) <= RADIO_BYTES_PER_S * (duration + 1.0 + 1.0)
