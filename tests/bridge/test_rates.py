"""Stream rates through the bridge: a ground station's slower request never undoes the daemon's faster one."""

from __future__ import annotations

from pathlib import Path

from fwbridge.config import BridgeConfig
from fwbridge.frames import FrameParser, load_dialect
from fwbridge.rates import rewrite
from pymavlink.dialects.v20 import ardupilotmega as mavlink

TABLE = load_dialect()
POSITION = mavlink.MAV_DATA_STREAM_POSITION
GPI = mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT


def test_rewrite_sets_a_truncated_field_and_pymavlink_reads_it():
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    raw = bytes(mavlink.MAVLink_request_data_stream_message(1, 1, POSITION, 4, 0).pack(mav))  # start_stop 0: cut off
    out = rewrite(rewrite(raw, TABLE[66].crc_extra, "<H", 0, 10), TABLE[66].crc_extra, "<B", 5, 1)
    msg = mavlink.MAVLink(None).decode(bytearray(out))
    assert (msg.req_message_rate, msg.start_stop, msg.req_stream_id, msg.get_srcSystem()) == (10, 1, POSITION, 255)
    assert FrameParser(TABLE).feed(out)[0].payload[:2] == b"\x0a\x00"


def test_highest_rate_any_client_asked_for_reaches_the_fc(tmp_path: Path, fc_factory, gcs_factory, kit):
    fc = fc_factory().start()
    fc.link_to(tmp_path / "fc")
    gcs_port, daemon_port = kit.free_port(), kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "bridge": {"heartbeat_s": 0},
            "serial": {"path": str(tmp_path / "fc")},
            "endpoint": [{"name": "gcs", "port": gcs_port}, {"name": "daemon", "port": daemon_port}],
        }
    )
    gcs = gcs_factory(f"udpout:127.0.0.1:{gcs_port}", source_system=255, source_component=190)
    daemon = gcs_factory(f"udpout:127.0.0.1:{daemon_port}", source_system=1, source_component=191)

    def requests(n: int) -> list[tuple[str, int, float]]:
        kit.wait_for(
            lambda: len(fc.got("REQUEST_DATA_STREAM")) + len(fc.got("COMMAND_LONG")) >= n, 3, f"{n} requests at the FC"
        )
        out = []
        for m in list(fc.received):
            if m.get_type() == "REQUEST_DATA_STREAM":
                out.append((f"stream {m.req_stream_id}", m.get_srcComponent(), m.req_message_rate * m.start_stop))
            elif m.get_type() == "COMMAND_LONG":
                out.append((f"interval {int(m.param1)}", m.get_srcComponent(), m.param2))
        return out

    with kit.BridgeThread(cfg) as bridge:
        kit.wait_for(lambda: "1/1" in bridge.snapshot()["routes"].get("fc", []), 5, "autopilot seen")
        # the daemon asks 10 Hz position and a 20 Hz GLOBAL_POSITION_INT
        daemon.mav.request_data_stream_send(1, 1, POSITION, 10, 1)
        daemon.mav.command_long_send(1, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, GPI, 50000, 0, 0, 0, 0, 0)
        assert requests(2) == [("stream 6", 191, 10), (f"interval {GPI}", 191, 50000)]
        fc.received.clear()
        # a ground station joins with 4 Hz for every stream and 4 Hz for GLOBAL_POSITION_INT
        gcs.mav.request_data_stream_send(1, 0, mavlink.MAV_DATA_STREAM_ALL, 4, 1)  # component 0: the autopilot too
        gcs.mav.command_long_send(1, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, GPI, 250000, 0, 0, 0, 0, 0)
        assert requests(4) == [
            ("stream 0", 190, 4),  # its own request, unchanged (nobody holds more for ALL) ...
            ("stream 6", 241, 10),  # ... then, from the bridge, what ALL undid: the daemon's position stream
            (f"interval {GPI}", 241, 50000),  # and its message interval
            (f"interval {GPI}", 190, 50000),  # the GCS's slower interval goes out as the held faster one
        ]
        fc.received.clear()
        # the daemon stops asking: the GCS's rates are what is left
        daemon.mav.request_data_stream_send(1, 1, POSITION, 0, 0)
        daemon.mav.command_long_send(1, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, GPI, -1, 0, 0, 0, 0, 0)
        assert requests(3) == [
            ("stream 6", 191, 0),  # nobody else holds the position stream
            (f"interval {GPI}", 241, 50000),  # re-asked after a stream request, while the daemon still held it
            (f"interval {GPI}", 191, 250000),  # its withdrawal goes out as the GCS's 4 Hz
        ]
