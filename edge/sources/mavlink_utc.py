"""The autopilot's GPS time as samples for the UTC clock (``edge.sources.clock``).

SYSTEM_TIME (``time_unix_usec`` with the ``time_boot_ms`` it was true at) is mapped onto our clock through the
link's boot-time map (TIMESYNC round trips and the least-delayed stamped messages), so its latency is taken out;
GPS_RAW_INT's ``time_usec`` counts when it is a UTC (ArduPilot and PX4 send a time since boot there) at our receive
time. Both only from the target autopilot while its GPS_RAW_INT reports a 3D fix (no later than ``FIX_MAX_AGE_S``):
before that, its UTC may be an unset or hand-set clock.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.clock import UtcClock

if TYPE_CHECKING:
    from edge.sources.mavlink import MavlinkLink

SOURCE = "gps-mavlink"
FIX_MAX_AGE_S = 5.0


class _UtcFeed:
    def __init__(self, link: MavlinkLink, clock: UtcClock) -> None:
        self.link, self.clock = link, clock
        self.fix_t = -math.inf  # receive time (monotonic s) of the last GPS_RAW_INT with a 3D fix

    def __call__(self, msg: Any, t_recv: float) -> None:
        if msg.get_srcComponent() != self.link.target_component:
            return
        mtype = msg.get_type()
        if mtype == "GPS_RAW_INT":
            self.fix_t = t_recv if msg.fix_type >= mavlink.GPS_FIX_TYPE_3D_FIX else -math.inf
            if self.fix_t == t_recv:
                self.clock.add(SOURCE, t_recv, msg.time_usec / 1e6)
        elif mtype == "SYSTEM_TIME" and t_recv - self.fix_t <= FIX_MAX_AGE_S and msg.time_unix_usec:
            t = self.link.to_mono(msg.time_boot_ms) if msg.time_boot_ms else None
            self.clock.add(SOURCE, min(t, t_recv) if t is not None else t_recv, msg.time_unix_usec / 1e6)


def attach_utc_feed(link: MavlinkLink, clock: UtcClock) -> None:
    """Feed ``clock`` with the GPS time of ``link``'s target autopilot."""
    link.add_listener(_UtcFeed(link, clock))
