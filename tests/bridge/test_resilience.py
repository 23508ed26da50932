"""The serial port vanishes and comes back under a new name; endpoints come and go; the bridge keeps routing."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from fwbridge.config import BridgeConfig


def test_pty_pulled_and_back_under_new_name_resumes_within_5_s(tmp_path: Path, fc_factory, gcs_factory, kit):
    gcs_port = kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "serial": {"glob": str(tmp_path / "usb-ArduPilot-*"), "reconnect_max_s": 0.5},
            "endpoint": [{"name": "gcs", "mode": "udp-server", "port": gcs_port}],
        }
    )
    gcs = gcs_factory(f"udpout:127.0.0.1:{gcs_port}")
    fc1 = fc_factory(pos_hz=20).start()
    fc1.link_to(tmp_path / "usb-ArduPilot-A")
    with kit.BridgeThread(cfg) as bridge:
        assert [m for m in kit.collect(gcs, 1.0) if m.get_type() == "GLOBAL_POSITION_INT"]
        first_path = bridge.serial.path
        fc1.stop()  # cable pulled: the pty and its symlink are gone
        kit.wait_for(lambda: not bridge.serial.up, 3, "bridge noticing the lost port")
        lost = kit.collect(gcs, 0.5)
        assert any(m.get_type() == "STATUSTEXT" and "lost" in m.text for m in lost)
        fc2 = fc_factory(pos_hz=20).start()
        fc2.link_to(tmp_path / "usb-ArduPilot-B")
        t_back = time.monotonic()
        resumed = None
        while time.monotonic() - t_back < 5.0 and resumed is None:
            for m in kit.collect(gcs, 0.1):
                if m.get_type() == "GLOBAL_POSITION_INT":
                    resumed = time.monotonic() - t_back
        assert resumed is not None, "routing did not resume within 5 s"
        assert first_path.endswith("-A") and bridge.serial.path.endswith("-B")
        stats = bridge.snapshot()["links"]["fc"]
    assert stats["opens"] == 2 and stats["state"] == "up"


def test_missing_port_and_lost_endpoints_never_stop_the_bridge(tmp_path: Path, gcs_factory, kit):
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    busy_port = busy.getsockname()[1]
    tcp_port = kit.free_port(socket.SOCK_STREAM)
    ok_port = kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "serial": {"path": str(tmp_path / "no-such-tty")},
            "endpoint": [
                {"name": "blocked", "mode": "udp-server", "port": busy_port},
                {"name": "tcp", "mode": "tcp-server", "port": tcp_port},
                {"name": "gcs", "mode": "udp-server", "port": ok_port},
            ],
        }
    )
    with kit.BridgeThread(cfg) as bridge:
        kit.wait_for(lambda: bridge.snapshot()["links"]["gcs"]["state"] == "up", 3, "gcs endpoint up")
        assert bridge.snapshot()["links"]["blocked"]["state"] == "down"
        busy.close()  # the port frees up: the endpoint binds on a later retry
        kit.wait_for(lambda: bridge.snapshot()["links"]["blocked"]["state"] == "up", 5, "endpoint bound after retry")
        # TCP clients come and go; a UDP client on the other endpoint hears the TCP client's heartbeat
        gcs = gcs_factory(f"udpout:127.0.0.1:{ok_port}")
        gcs.mav.heartbeat_send(6, 8, 0, 0, 0)
        for _ in range(2):
            tcp = gcs_factory(f"tcp:127.0.0.1:{tcp_port}", source_system=42)
            tcp.mav.heartbeat_send(6, 8, 0, 0, 0)
            got = kit.collect(gcs, 0.6)
            assert any(m.get_type() == "HEARTBEAT" and m.get_srcSystem() == 42 for m in got)
            tcp.close()
        kit.wait_for(
            lambda: not [n for n in bridge.snapshot()["links"] if n.startswith("tcp-")], 3, "TCP links removed"
        )
        assert bridge.snapshot()["links"]["fc"]["state"] == "down"
