"""Keeping the message rates the pose needs: measure what arrives, ask again for what is short, never ask for what
the autopilot does not offer.

Every ``CHECK_S`` the rate of each wanted message from the autopilot is measured (messages/s over the window).
One below ``NEEDED`` x its wanted rate is asked for again (SET_MESSAGE_INTERVAL), with a delay that doubles from
``CHECK_S`` to ``MAX_BACKOFF_S`` while it stays short and starts over once it is back: a ground station that joins
the same link and sets lower stream rates is answered within seconds, whenever it happens, and a message that
never comes costs one request a minute. The core messages (position, attitude, GPS, system time) are asked for
directly; every autopilot has them. The gimbal's messages are optional: ArduPilot answers a SET_MESSAGE_INTERVAL
for a message it does not have with "No ap_message for mavlink id (N)" on every ground station's screen, so we
first ask once with MAV_CMD_REQUEST_MESSAGE (refused silently) and set an interval only when it was accepted.
GIMBAL_DEVICE_ATTITUDE_STATUS is preferred; MOUNT_STATUS is tried only when the former is refused. A refusal
(COMMAND_ACK, or that text) is remembered for the connection: never asked again.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

CHECK_S = 3.0
FIRST_CHECK_S = 1.0  # after the autopilot's first HEARTBEAT
NEEDED = 0.7  # fraction of the wanted rate below which we ask again
MAX_BACKOFF_S = 60.0
ACK_TIMEOUT_S = 2.0
GIMBAL_V2 = mavlink.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS
MOUNT = mavlink.MAVLINK_MSG_ID_MOUNT_STATUS
OPTIONAL = (GIMBAL_V2, MOUNT)  # in order of preference
_NO_AP_MESSAGE = re.compile(r"No ap_message for mavlink id \((\d+)\)")
_OK = (mavlink.MAV_RESULT_ACCEPTED, mavlink.MAV_RESULT_IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class Request:
    """What to send: ``probe`` (MAV_CMD_REQUEST_MESSAGE, once) or ``interval`` (SET_MESSAGE_INTERVAL at ``hz``)."""

    kind: str
    msg_id: int
    hz: float


@dataclass
class _Want:
    hz: float
    optional: bool
    offered: bool | None = None  # optional ones: None until the autopilot answered a probe
    count: int = 0
    measured: float | None = None
    next_ask: float = 0.0
    delay: float = CHECK_S
    asks: int = 0


def message_name(msg_id: int) -> str:
    cls = mavlink.mavlink_map.get(msg_id)
    return cls.msgname if cls is not None else str(msg_id)


class RateKeeper:
    """Per connection: which messages to ask for and when. ``wanted``: Hz by message id."""

    def __init__(self, wanted: dict[int, float], now: float) -> None:
        self._want = {mid: _Want(hz, optional=mid in OPTIONAL) for mid, hz in wanted.items()}
        self.refused: set[int] = set()
        self._window_start = now
        self._next_check = now + FIRST_CHECK_S  # the first look is short: the pose is waiting
        self._probe: tuple[int, float] | None = None  # (msg id, sent at)
        self._pending_intervals: deque[tuple[int, float]] = deque()

    def seen(self, msg_id: int) -> None:
        """A message from the autopilot arrived."""
        w = self._want.get(msg_id)
        if w is not None:
            w.count += 1

    def on_ack(self, command: int, result: int, now: float) -> None:
        """A COMMAND_ACK from the autopilot: the answer to our probe or to a SET_MESSAGE_INTERVAL."""
        if command == mavlink.MAV_CMD_REQUEST_MESSAGE and self._probe is not None:
            mid = self._probe[0]
            self._probe = None
            if result in _OK:
                self._want[mid].offered = True
                self._want[mid].next_ask = now
            else:
                self._refuse(mid)
        elif command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL:
            while self._pending_intervals and now - self._pending_intervals[0][1] > ACK_TIMEOUT_S:
                self._pending_intervals.popleft()  # its answer was lost
            if self._pending_intervals:
                mid = self._pending_intervals.popleft()[0]
                if result not in _OK:
                    self._refuse(mid)

    def on_text(self, text: str) -> None:
        """A STATUSTEXT from the autopilot: ArduPilot's refusal of a message names its id."""
        m = _NO_AP_MESSAGE.search(text)
        if m:
            self._refuse(int(m.group(1)))

    def _refuse(self, mid: int) -> None:
        self.refused.add(mid)
        if mid in self._want:
            self._want[mid].offered = False

    def due(self, now: float) -> list[Request]:
        """The requests to send now (called often; measures and decides every ``CHECK_S``)."""
        out: list[Request] = []
        if self._probe is not None and now - self._probe[1] > ACK_TIMEOUT_S:
            self._probe = None  # no answer: probe again later, with the backoff
        if now >= self._next_check:
            self._measure(now)
        for mid, w in self._want.items():
            short = w.measured is not None and w.measured < NEEDED * w.hz
            if mid in self.refused or not short or now < w.next_ask:
                continue
            if w.optional and not self._optional_wanted(mid):
                continue
            if w.optional and not w.offered:
                if self._probe is not None:
                    continue
                self._probe = (mid, now)
                out.append(Request("probe", mid, w.hz))
            else:
                self._pending_intervals.append((mid, now))
                out.append(Request("interval", mid, w.hz))
            w.asks += 1
            w.next_ask = now + w.delay
            w.delay = min(w.delay * 2, MAX_BACKOFF_S)
        return out

    def _optional_wanted(self, mid: int) -> bool:
        """MOUNT_STATUS only when GIMBAL_DEVICE_ATTITUDE_STATUS is refused and not arriving."""
        if mid != MOUNT or GIMBAL_V2 not in self._want:
            return True
        v2 = self._want[GIMBAL_V2]
        return GIMBAL_V2 in self.refused and not v2.measured

    def _measure(self, now: float) -> None:
        span = max(1e-3, now - self._window_start)
        for w in self._want.values():
            w.measured = w.count / span
            w.count = 0
            if w.measured >= NEEDED * w.hz:  # back at rate: the next shortfall is answered at once
                w.delay, w.next_ask = CHECK_S, now
        self._window_start = now
        self._next_check = now + CHECK_S

    def rates(self) -> dict[str, float | None]:
        """Measured rate (1/s) by message name over the last window; None before the first."""
        return {
            message_name(mid): None if w.measured is None else round(w.measured, 1) for mid, w in self._want.items()
        }

    def refused_names(self) -> list[str]:
        """The messages refused on this connection (safe to call from another thread)."""
        return sorted(message_name(mid) for mid in list(self.refused))

    def asks(self) -> dict[str, int]:
        """Requests sent by message name on this connection."""
        return {message_name(mid): w.asks for mid, w in self._want.items() if w.asks}
