"""Thumbnail requests from the pilot's ground station: a COMMAND_LONG over the daemon's [mavlink] link.

``command`` 31010 (MAV_CMD_USER_1) addressed to us (component 191): param1 track id, param2 0 best / 1 latest
frame, param3 the byte limit, param4 the camera's index (0: the first camera). The request is for this boot; the
image goes to the centre through the spool like any other (``edge listen`` writes it). The ground station gets a
COMMAND_ACK (ACCEPTED with the image's bytes in result_param2, DENIED, or FAILED) and a STATUSTEXT in words.
The requester is ``gcs:<system>/<component>`` (on a signed link only signed messages get here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.mavlink import MavlinkLink
from edge.thumbs import wire
from edge.thumbs.service import ThumbnailService

log = logging.getLogger("edge.thumbs.gcs")
THUMBNAIL_COMMAND = 31010  # MAV_CMD_USER_1
_RESULT = {
    "ok": mavlink.MAV_RESULT_ACCEPTED,
    "refused": mavlink.MAV_RESULT_DENIED,
    "busy": 1,
}  # 1: TEMPORARILY_REJECTED


def attach_gcs_requests(link: MavlinkLink, service: ThumbnailService, cameras: Sequence[str]) -> None:
    """Answer thumbnail COMMAND_LONGs that reach ``link`` (from any system) with ``service``."""
    me = (link.source_system, link.source_component)

    def on_message(msg: Any, _t: float) -> None:
        if msg.get_type() != "COMMAND_LONG" or msg.command != THUMBNAIL_COMMAND:
            return
        if msg.target_system not in (0, me[0]) or msg.target_component not in (0, me[1]):
            return
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        requester = f"gcs:{src[0]}/{src[1]}"

        def reply(status: str, text: str) -> None:
            result = _RESULT.get(status, mavlink.MAV_RESULT_FAILED)
            link.send(mavlink.MAVLink_command_ack_message(THUMBNAIL_COMMAND, result, 100, 0, src[0], src[1]))
            severity = mavlink.MAV_SEVERITY_INFO if status == "ok" else mavlink.MAV_SEVERITY_WARNING
            link.send(mavlink.MAVLink_statustext_message(severity, f"thumb: {status}: {text}"[:50].encode()))

        index = int(msg.param4)
        if not 0 <= index < len(cameras) or msg.param1 < 0 or msg.param3 < 1 or msg.param2 not in (0, 1):
            log.warning("thumbnails: bad request from %s: %s", requester, msg)
            reply("bad-request", "param1 track, param2 0/1, param3 bytes, param4 camera")
            return
        req = wire.Request(
            id=f"mav{msg.get_seq()}-{int(msg.param1)}",
            camera=cameras[index],
            track=int(msg.param1),
            frame="latest" if msg.param2 == 1 else "best",
            max_bytes=int(msg.param3),
        )
        service.submit("mavlink", requester, req, reply)

    link.add_listener(on_message, any_system=True)
