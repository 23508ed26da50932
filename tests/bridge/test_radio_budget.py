"""A 57,600-baud radio budget holds under detection bursts; the autopilot's heartbeat and position keep flowing."""

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
            if now >= next_burst:  # 60 detection messages every 100 ms: ~600 msg/s, ~45 kB/s offered
                next_burst += 0.1
                for i in range(30):
                    daemon.mav.statustext_send(
                        mavlink.MAV_SEVERITY_CRITICAL, f"person 87% 42.6123{i % 10} 19.94512 +-6 m".encode()
                    )
                    daemon.mav.camera_tracking_geo_status_send(
                        1, 426123400, 199451200, 500.0, 6, 9, 0, 0, 0, 0, 300, 0, 0
                    )
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
    detections = [f for _, f in frames if f.compid == 191 and f.msgid in (253, 276)]
    total_bytes = sum(len(f.raw) for _, f in frames)
    assert len(fc_hb) >= duration - 1  # 1 Hz
    # 10 Hz, none shed: the FC stamps them 100 ms apart, so every stamp between the first and last must be there
    stamps = sorted(struct.unpack_from("<I", f.payload)[0] for f in fc_pos)
    expected = round((stamps[-1] - stamps[0]) / 100) + 1
    assert expected >= 10 * duration - 5 and len(stamps) >= expected - 1, (len(stamps), expected)
    assert detections, "some detection traffic fits in the budget"
    assert total_bytes <= RADIO_BYTES_PER_S * (duration + 0.3 + 1.0)  # rate x time + one bucket depth (burst_s = 1)
    assert stats["drop_rate"] > 100
