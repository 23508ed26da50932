"""Thumbnail requests from the pilot's ground station: a COMMAND_LONG over the daemon's [mavlink] link.

``command`` 31010 (MAV_CMD_USER_1) addressed to us (component 191): param1 track id, param2 0 best / 1 latest
frame, param3 the byte limit, param4 the camera's index (0: the first camera). The request is for this boot; the
image goes to the centre through the spool like any other (``edge listen`` writes it). The ground station gets a
COMMAND_ACK (ACCEPTED, DENIED, TEMPORARILY_REJECTED or FAILED) and a STATUSTEXT in words.
The requester is ``gcs:<system>/<component>`` (on a signed link only signed messages get here).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.mavlink import MavlinkLink
from edge.thumbs.service import ThumbnailService

THUMBNAIL_COMMAND = 31010  # MAV_CMD_USER_1
_RESULT = {
    "ok": mavlink.MAV_RESULT_ACCEPTED,
    "refused": mavlink.MAV_RESULT_DENIED,
    "busy": 1,
}  # 1: TEMPORARILY_REJECTED


def _int(v: float) -> int:
    """A COMMAND_LONG parameter as an integer; -1 for NaN or infinity (answered as a bad request)."""
    return int(v) if math.isfinite(v) else -1


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

        track, which, limit, index = (_int(p) for p in (msg.param1, msg.param2, msg.param3, msg.param4))
        request = {  # checked like any request (bad values are answered and audited, not dropped)
            "id": f"mav{msg.get_seq()}-{track}",
            "camera": cameras[index] if 0 <= index < len(cameras) else f"camera index {index}",
            "track": track,
            "frame": {0: "best", 1: "latest"}.get(which, f"param2 {which}"),
            "max_bytes": limit,
        }
        service.submit("mavlink", requester, json.dumps(request).encode(), reply)

    link.add_listener(on_message, any_system=True)
