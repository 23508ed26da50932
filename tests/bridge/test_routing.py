"""The bridge routes real MAVLink bytes between a pty flight controller and UDP/TCP endpoints."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from fwbridge.config import BridgeConfig
from pymavlink.dialects.v20 import ardupilotmega as mavlink


def _cfg(tmp_path: Path, endpoints: list[dict[str, Any]], stats_port: int = 0) -> BridgeConfig:
    return BridgeConfig.model_validate(
        {
            "bridge": {"stats_file": str(tmp_path / "stats.json"), "stats_interval_s": 0.2, "stats_port": stats_port},
            "serial": {"glob": str(tmp_path / "fc-*")},
            "endpoint": endpoints,
        }
    )


def test_telemetry_reaches_udp_server_client_and_daemon_and_commands_reach_fc(tmp_path, fc_factory, gcs_factory, kit):
    fc = fc_factory().start()
    fc.link_to(tmp_path / "fc-A")
    gcs_port, daemon_port, out_port, stats_port, hb_port = (kit.free_port() for _ in range(5))
    cfg = _cfg(
        tmp_path,
        [
            {"name": "gcs", "mode": "udp-server", "port": gcs_port},
            {"name": "daemon", "mode": "udp-server", "port": daemon_port},
            {"name": "radio", "mode": "udp-client", "port": out_port},
            {"name": "hb-only", "mode": "udp-client", "port": hb_port, "allow_out_ids": [0], "block_in_ids": [0]},
        ],
        stats_port=stats_port,
    )
    radio = gcs_factory(f"udpin:127.0.0.1:{out_port}")
    hb_only = gcs_factory(f"udpin:127.0.0.1:{hb_port}", source_system=77)
    gcs = gcs_factory(f"udpout:127.0.0.1:{gcs_port}")
    daemon = gcs_factory(f"udpout:127.0.0.1:{daemon_port}", source_system=1, source_component=191)
    with kit.BridgeThread(cfg) as bridge:
        kit.wait_for(lambda: bridge.serial is not None and bridge.serial.up, 5, "serial open")
        gcs.mav.heartbeat_send(6, 8, 0, 0, 0)
        daemon.mav.heartbeat_send(18, 8, 0, 0, 4)
        got_gcs = kit.collect(gcs, 1.5)
        got_radio = kit.collect(radio, 0.3, keepalive=False)
        got_daemon = kit.collect(daemon, 0.3, keepalive=False)
        got_hb_only = kit.collect(hb_only, 0.3)  # its own heartbeats are refused by block_in_ids
        fc.skip_seq(5)  # five frames lost on the serial line
        # a command from the GCS for the autopilot (1/1) reaches the FC, not the daemon
        gcs.mav.command_long_send(1, 1, mavlink.MAV_CMD_REQUEST_MESSAGE, 0, 33, 0, 0, 0, 0, 0, 0)
        kit.wait_for(lambda: fc.got("COMMAND_LONG"), 3, "COMMAND_LONG at the FC")
        time.sleep(0.2)
        daemon_after = kit.collect(daemon, 0.3, keepalive=False)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as q:  # statistics over UDP, as JSON
            q.settimeout(2)
            q.sendto(b"?", ("127.0.0.1", stats_port))
            queried = json.loads(q.recv(65535))
    for got in (got_gcs, got_radio, got_daemon):
        types = [m.get_type() for m in got]
        assert types.count("GLOBAL_POSITION_INT") >= 2, types
        assert any(m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 for m in got)
    # the GCS sees the daemon's heartbeat (component 191) too
    assert any(m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 191 for m in got_gcs)
    assert not [m for m in daemon_after if m.get_type() == "COMMAND_LONG"]
    stats = queried["links"]
    assert stats["fc"]["rx_msgs"] > 5 and stats["gcs"]["tx_msgs"] > 5 and stats["fc"]["crc_errors"] == 0
    assert stats["fc"]["seq_lost"] == 5
    assert stats["gcs"]["peers"] == 1 and stats["radio"]["peers"] == 1 and "peers" not in stats["fc"]
    assert got_hb_only and {m.get_type() for m in got_hb_only} == {"HEARTBEAT"}  # allow_out_ids = [0]
    assert stats["hb-only"]["drop_filter"] > 0 and "hb-only" not in queried["routes"]
    assert "1/1" in queried["routes"]["fc"] and "1/191" in queried["routes"]["daemon"]
    assert json.loads((tmp_path / "stats.json").read_text())["links"]["radio"]["tx_msgs"] > 0
