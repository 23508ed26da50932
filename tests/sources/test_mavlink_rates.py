"""Asking an ArduPilot-like autopilot (real UDP sockets) for the rates the pose needs: nothing it lacks is asked for
in a way that puts text on the pilot's screen, and a ground station that lowers the stream rates on the same link
is overridden again every time it does, with the measured rates in health."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.mavlink import MavlinkLink
from edge.sources.mavlink_rates import RateKeeper
from edge.sources.settings import MavlinkSettings

sys.path.insert(0, str(Path(__file__).parent))
from ardupilot_stub import ArduPilotStub

from bench.waits import wait_for

POS, ATT = mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, mavlink.MAVLINK_MSG_ID_ATTITUDE
GIMBAL_V2, MOUNT = mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS, mavlink.MAVLINK_MSG_ID_MOUNT_STATUS


@pytest.mark.parametrize("unknown", [(), (GIMBAL_V2,)], ids=["ardupilot-4.7", "no-gimbal-messages"])
def test_no_text_on_the_pilots_screen_for_messages_the_autopilot_lacks(
    udp_port: int, cleanup: list[Any], unknown: tuple[int, ...]
) -> None:
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}"))
    cleanup.append(link)
    link.start()
    ap = ArduPilotStub(udp_port, rates={POS: 10.0, ATT: 20.0}, unknown=unknown)
    cleanup.append(ap.start())
    assert wait_for(lambda: link.connected), link.health()
    lacking = {MOUNT, *unknown}
    if unknown:  # without gimbal v2 messages, MOUNT_STATUS is tried next; both refused silently
        refused = {mavlink.mavlink_map[m].msgname for m in lacking}
        assert wait_for(lambda: refused <= set(link.health()["refused"]), 10.0), link.health()
    else:  # it offers GIMBAL_DEVICE_ATTITUDE_STATUS (the probe is accepted): the rate is set, MOUNT_STATUS not asked
        assert wait_for(lambda: GIMBAL_V2 in ap.intervals(), 10.0), link.health()
    time.sleep(4.0)  # another round of rate checks: nothing it lacks is asked for again
    assert ap.texts == [], "the daemon made the autopilot put text on the ground stations' screens"
    probes = [int(m.param1) for m in ap.commands(mavlink.MAV_CMD_REQUEST_MESSAGE)]
    assert all(probes.count(m) <= 1 for m in lacking), probes
    core_short = {mavlink.MAVLINK_MSG_ID_GPS_RAW_INT, mavlink.MAVLINK_MSG_ID_SYSTEM_TIME}  # not sent until asked
    assert core_short <= ap.intervals() and not ap.intervals() & lacking


def test_a_ground_station_lowering_the_rates_is_overridden_every_time(udp_port: int, cleanup: list[Any]) -> None:
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{udp_port}", position_hz=10.0, attitude_hz=20.0))
    cleanup.append(link)
    link.start()
    ap = ArduPilotStub(udp_port, rates={POS: 4.0, ATT: 4.0})
    cleanup.append(ap.start())

    def measured() -> bool:
        rates = link.health()["rates_hz"]
        return (rates["GLOBAL_POSITION_INT"] or 0) >= 8.0 and (rates["ATTITUDE"] or 0) >= 16.0

    for round_ in range(4):  # each time a GCS joining the shared link asks for 4 Hz streams (MAVProxy's default)
        assert wait_for(lambda: ap.rates[POS] == 10.0 and ap.rates[ATT] == 20.0, 15.0), (round_, link.health())
        assert wait_for(measured, 10.0), (round_, link.health())  # and the link measures them back at rate
        ap.set_stream(mavlink.MAV_DATA_STREAM_POSITION, 4.0)
        ap.set_stream(mavlink.MAV_DATA_STREAM_EXTRA1, 4.0)
    assert wait_for(lambda: ap.rates[POS] == 10.0 and ap.rates[ATT] == 20.0, 15.0), link.health()
    assert link.health()["rate_requests"]["GLOBAL_POSITION_INT"] >= 5  # at connection, then after each override


def test_rate_keeper_backs_off_forgets_nothing_refused_and_starts_over_when_back() -> None:
    """RateKeeper alone (no link): the asking schedule of a short message, a refusal by text and by COMMAND_ACK."""
    k = RateKeeper({POS: 10.0, ATT: 10.0, MOUNT: 10.0}, now=0.0)
    k.on_text("No ap_message for mavlink id (158)")  # ArduPilot's words for a message it lacks
    asked: list[float] = []
    t = 0.0
    while t < 60.0:  # position never arrives: asked at 1 s, then 3, 6, 12, 24 s apart
        if any(r.msg_id == POS for r in k.due(t)):
            asked.append(t)
        for _ in range(10):
            k.seen(ATT)  # attitude arrives at 10 Hz: never asked for
        t += 0.1
    assert [round(b - a) for a, b in itertools.pairwise(asked)] == [3, 6, 12, 24]
    assert k.asks() == {"GLOBAL_POSITION_INT": 5}
    for _ in range(40):  # position back at rate for a window: the next shortfall is answered at once
        k.seen(POS)
    k.due(62.0)
    assert [r.msg_id for r in k.due(66.0)] == [POS, ATT]  # attitude stopped too
    k.on_ack(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAV_RESULT_DENIED, 66.1)  # the first is refused after all
    k.on_ack(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAV_RESULT_ACCEPTED, 66.1)
    assert all(r.msg_id == ATT for s in range(67, 200) for r in k.due(float(s)))  # position never again
    assert k.refused == {MOUNT, POS}
