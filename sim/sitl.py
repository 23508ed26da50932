"""The platform pose from ArduPilot SITL (live) or from a MAVLink tlog, as the simulator's ``platform_override``.

Both go through the daemon's own reader (``edge.sources.mavlink.MavlinkLink`` + ``PoseStore``), so what the
renderer follows is exactly what the daemon would make of the same telemetry.

* live (``tcp:127.0.0.1:5760``, ``udpin:...``): the newest pose (``pose_at(now)``), whatever sim time is asked;
  None until SITL has sent a position and an attitude (the world then uses its own pose).
* tlog (a file path): read at once, then sim time 0 is the log's first position and the pose is interpolated at
  ``t`` (clamped to the log's span, so the platform stays at its last pose after the end).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

from edge.sources.mavlink import MavlinkLink, attach_pose_feed
from edge.sources.pose import PoseStore
from edge.sources.settings import MavlinkSettings, PoseSettings
from edge.types import Pose

LOAD_TIMEOUT_S = 120.0


class _Follower:
    """Callable ``(t) -> Pose | None``; ``stop()`` ends a live link."""

    def __init__(self, link: MavlinkLink, store: PoseStore, span: tuple[float, float] | None) -> None:
        self.link, self.store, self.span = link, store, span

    def __call__(self, t: float) -> Pose | None:
        if self.span is None:
            return self.store.pose_at(time.monotonic())
        t0, t1 = self.span
        return self.store.pose_at(min(max(t0 + t, t0), t1))

    def stop(self) -> None:
        self.link.stop()


def pose_follower(url_or_tlog: str, ignore: Collection[tuple[int, int]] = ()) -> Callable[[float], Pose | None]:
    """Follow SITL at a MAVLink url, or replay a tlog file; ValueError for a bad url or a log without poses.

    ``ignore``: (system, component) pairs whose messages are not followed: the simulator's own gimbal, which
    ArduPilot forwards back to its SITL link when both are routed through it (else the camera follows its own
    noisy reports round and round, and walks away)."""
    replay = url_or_tlog.lower().endswith(".tlog")
    if replay and not Path(url_or_tlog).is_file():
        raise ValueError(f"no such tlog: {url_or_tlog}")
    settings = MavlinkSettings(url=url_or_tlog, system_id=255, replay_speed=0.0)
    link = MavlinkLink(settings, source_component=190)
    store = PoseStore(PoseSettings(history_s=1e7, max_extrapolation_s=2.0))
    times: list[float] = []
    attach_pose_feed(link, store, ignore)
    if replay:
        link.add_listener(lambda msg, _t: _stamp(link, msg, times))
    link.start()
    if not replay:
        return _Follower(link, store, None)
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while link.state != "ended" and time.monotonic() < deadline:
        time.sleep(0.05)
    link.stop()
    if len(times) < 2:
        raise ValueError(f"{url_or_tlog}: no GLOBAL_POSITION_INT with a 3D fix in the log")
    return _Follower(link, store, (times[0], times[-1]))


def _stamp(link: MavlinkLink, msg: object, times: list[float]) -> None:
    """Remember the (mapped) time of every position message, for the log's span."""
    if getattr(msg, "get_type", lambda: "")() == "GLOBAL_POSITION_INT":
        t = link.to_mono(msg.time_boot_ms)  # type: ignore[attr-defined]
        if t is not None:
            times.append(t)
